import importlib
import inspect
import pkgutil

import pytest
import torch

from swr_tutor import exercises
from swr_tutor.exercises import Case, ExerciseError, run_cases


def square(v):
    return v * v


def test_run_cases_praises_a_right_answer(capsys):
    run_cases("squares", square, [Case((2.0,), 4.0), Case((torch.tensor([3.0]),), torch.tensor([9.0]))])
    assert "✓ squares: all 2 cases pass" in capsys.readouterr().out


def test_run_cases_says_what_is_wrong():
    with pytest.raises(ExerciseError, match=r"case 2: square\(3.0\) returned 9.0, expected 10.0\n  hint: think"):
        run_cases("squares", square, [Case((2.0,), 4.0), Case((3.0,), 10.0, hint="think")])


def test_run_cases_on_an_unwritten_stub():
    def stub(v):
        raise NotImplementedError

    with pytest.raises(ExerciseError, match="not written yet"):
        run_cases("squares", stub, [Case((2.0,), 4.0)])


def test_run_cases_reports_a_crash_and_a_wrong_shape():
    with pytest.raises(ExerciseError, match="raised ZeroDivisionError"):
        run_cases("inverse", lambda v: 1 / v, [Case((0,), 1.0)])
    with pytest.raises(ExerciseError, match=r"tensor of shape \(2,\)"):
        run_cases("shape", lambda v: v, [Case((torch.zeros(2),), torch.zeros(3))])
    with pytest.raises(TypeError, match="pass your function itself"):
        run_cases("squares", 4.0, [])


def test_a_notebook_shows_only_the_message():
    from swr_tutor.exercises import _show_message_only

    published = []

    class Shell:
        def _showtraceback(self, etype, value, shown):
            published.append(shown)

    shown = _show_message_only(Shell(), ExerciseError, ExerciseError("squares: case 1: wrong"), None)
    assert shown == published[0] == ["ExerciseError: squares: case 1: wrong"]


def test_converted_results_compare_as_numbers():
    from swr_tutor.exercises import as_number, converted

    def third(v):
        return torch.tensor([v / 3])

    assert converted(third, as_number)(3.0) == 1.0 and converted(third, as_number).__name__ == "third"
    assert as_number(torch.zeros(2)).shape == (2,) and as_number("text") == "text"


def _all_checkers():
    for module in pkgutil.iter_modules(exercises.__path__):
        chapter = importlib.import_module(f"swr_tutor.exercises.{module.name}")
        yield from (f for name, f in inspect.getmembers(chapter, inspect.isfunction)
                    if name.startswith("check_") and f.__module__ == chapter.__name__)


CHECKERS = list(_all_checkers())


def test_every_chapter_from_1_to_10_has_its_checkers():
    assert {f.__module__.rsplit(".", 1)[1] for f in CHECKERS} == {f"ch{n:02d}" for n in range(1, 11)}


@pytest.mark.parametrize("checker", CHECKERS, ids=[f"{f.__module__.rsplit('.', 1)[1]}.{f.__name__}" for f in CHECKERS])
def test_every_checker_reports_the_unwritten_stub(checker):
    def stub(*args):
        raise NotImplementedError  # your code here

    name = checker.__name__.removeprefix("check_")
    with pytest.raises(ExerciseError, match=f"{name}: not written yet.\n  Replace 'raise NotImplementedError'"):
        checker(stub)
