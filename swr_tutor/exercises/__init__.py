"""Exercise checkers: each chapter's ``check_*`` functions, built on ``run_cases``.

A checker calls the reader's function on a few cases and either prints one line of praise or raises
``ExerciseError`` saying which case failed, what was expected and what came back.
Chapter modules: ``swr_tutor.exercises.ch01`` and so on.
"""
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch


class ExerciseError(AssertionError):
    """The reader's solution is not right yet; the message says why."""


def _show_message_only(shell, etype, value, tb, tb_offset=None):
    """In a notebook an ExerciseError shows as its message: the checker's traceback would only distract."""
    shown = [f"{etype.__name__}: {value}"]
    shell._showtraceback(etype, value, shown)  # IPython ignores a handler's return value: publish it here
    return shown


def _register_with_ipython() -> None:
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.set_custom_exc((ExerciseError,), _show_message_only)


_register_with_ipython()


@dataclass
class Case:
    args: tuple
    expected: object
    kwargs: dict = field(default_factory=dict)
    hint: str = ""


def _close(got, expected, atol: float, rtol: float) -> bool:
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
            return False
        return torch.allclose(got.detach().to("cpu", torch.float64), expected.to("cpu", torch.float64),
                              atol=atol, rtol=rtol, equal_nan=True)
    if isinstance(expected, float):
        return isinstance(got, (int, float)) and (got == expected or abs(got - expected) <= atol + rtol * abs(expected))
    return got == expected


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        shown = value.flatten()[:6].tolist()
        return f"tensor of shape {tuple(value.shape)} starting {shown}"
    return repr(value)


def _hint(case: Case) -> str:
    return f"\n  hint: {case.hint}" if case.hint else ""


def run_cases(exercise: str, fn: Callable, cases: Iterable[Case], *, atol: float = 1e-8, rtol: float = 1e-6) -> None:
    """Run ``fn`` on every case; raise ExerciseError at the first wrong answer."""
    __tracebackhide__ = True  # IPython and pytest show the reader's frame, not this one
    if not callable(fn):
        raise TypeError(f"{exercise}: pass your function itself (not its result), got {type(fn).__name__}")
    cases = list(cases)
    for number, case in enumerate(cases, 1):
        call = f"{fn.__name__}({', '.join(map(_describe, case.args))})"
        try:
            got = fn(*case.args, **case.kwargs)
        except NotImplementedError:
            raise ExerciseError(f"{exercise}: not written yet.\n  Replace 'raise NotImplementedError' "
                                f"in the cell above with your solution.") from None
        except Exception as e:  # the reader's code failed: say where, keep the cause attached
            raise ExerciseError(f"{exercise}: case {number}: {call} raised {type(e).__name__}: {e}"
                                f"{_hint(case)}") from e
        if not _close(got, case.expected, atol, rtol):
            raise ExerciseError(f"{exercise}: case {number}: {call} returned {_describe(got)}, "
                                f"expected {_describe(case.expected)}{_hint(case)}")
    print(f"✓ {exercise}: all {len(cases)} cases pass")


def decays_with_zeros_and_ones(T: int, seed: int, zeros: tuple[int, ...] = (), ones: tuple[int, ...] = ()) -> torch.Tensor:
    """Decays in [0.5, 1) (float64), with exact 0 and 1 at the given positions."""
    a = 0.5 + 0.5 * torch.rand(T, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    a[list(zeros)] = 0.0
    a[list(ones)] = 1.0
    return a


def name_the_mistake(exercise: str, fn: Callable, args: tuple, expected, mistakes: list[tuple[object, str]]) -> None:
    """Raise ExerciseError explaining the first mistake whose result ``fn(*args)`` reproduces."""
    try:
        got = fn(*args)
    except Exception:  # stubs and crashes are reported by run_cases
        return
    if _close(got, expected, 1e-10, 1e-8):
        return
    for wrong, explanation in mistakes:
        if _close(got, wrong, 1e-10, 1e-8):
            raise ExerciseError(f"{exercise}: {explanation}")


def converted(fn: Callable, convert: Callable) -> Callable:
    """fn whose result goes through ``convert`` before it is compared (e.g. a one-element tensor to a number)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return convert(fn(*args, **kwargs))

    return wrapper


def as_number(value):
    """A one-element tensor as a Python number; anything else unchanged."""
    return value.item() if isinstance(value, torch.Tensor) and value.numel() == 1 else value


def int_pair(value):
    """A pair of integral numbers as ints, so that 6.0 and 6 compare equal; anything else unchanged."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return tuple(int(v) if isinstance(v, (int, float)) and float(v).is_integer() else v for v in value)
    return value
