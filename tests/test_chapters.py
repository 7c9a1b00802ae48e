"""The chapters as stored: generated opening cells, no outputs, one kernelspec, all in the book."""
import json
import re
from pathlib import Path

import pytest
import yaml

from swr_tutor import chapters

ROOT = chapters.ROOT
PATHS = chapters.chapter_paths()


def test_there_are_chapters():
    assert len(PATHS) >= 3


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_chapter_is_stored_normalised(path):
    assert chapters.problems(path) == []


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_setup_cell_is_identical_in_every_chapter(path):
    cells = json.loads(path.read_text())["cells"]
    assert cells[2]["cell_type"] == "code"
    assert cells[2]["source"] == chapters.setup_cell_source()
    assert f"chapters/{path.name}" in cells[1]["source"]


def test_setup_cell_installs_from_the_configured_repository():
    config = chapters.book_config()
    source = chapters.setup_cell_source(config)
    assert f"git+{config['repository']['url']}@{config['repository']['branch']}" in source
    assert 'os.environ["TRITON_INTERPRET"] = "1"' in source
    assert source.index("TRITON_INTERPRET") < source.index("import swr_tutor")


def test_problems_reports_outputs_and_foreign_kernels(tmp_path):
    stored = json.loads(PATHS[0].read_text())
    stored["cells"][2]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "hi"}]
    stored["metadata"]["kernelspec"] = {"name": "other", "display_name": "Other", "language": "python"}
    bad = tmp_path / PATHS[0].name
    bad.write_text(json.dumps(stored))
    found = chapters.problems(bad)
    assert any("outputs" in p for p in found) and any("kernelspec" in p for p in found)
    assert chapters.sync([bad]) == [bad] and chapters.problems(bad) == []


def test_a_chapter_needs_a_title_cell(tmp_path):
    stored = json.loads(PATHS[0].read_text())
    stored["cells"] = stored["cells"][1:]
    bad = tmp_path / "untitled.ipynb"
    bad.write_text(json.dumps(stored))
    assert any("first cell must be markdown" in p for p in chapters.problems(bad))


def _toc_files(node) -> list[str]:
    found = [node["file"]] if isinstance(node, dict) and "file" in node else []
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    return found + [f for child in children for f in _toc_files(child)]


def test_every_chapter_is_in_the_table_of_contents():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    listed = set(_toc_files(toc))
    assert {f"chapters/{p.stem}" for p in PATHS} <= listed
    for entry in listed | {toc["root"]}:
        assert any((ROOT / f"{entry}{ext}").is_file() for ext in (".md", ".ipynb")), entry


def test_every_citation_is_in_the_bibliography():
    keys = set(re.findall(r"^@\w+\{([^,]+),", (ROOT / "book/references.bib").read_text(), re.M))
    sources = [p.read_text() for p in PATHS] + [p.read_text() for p in (ROOT / "book").glob("*.md")]
    cited = {key.strip() for text in sources for group in re.findall(r"\{cite[pt]?\}`([^`]+)`", text)
             for key in group.split(",")}
    assert cited, "no chapter cites anything"
    assert cited <= keys, f"cited but not in references.bib: {sorted(cited - keys)}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_chapter_follows_the_anatomy(path):
    cells = json.loads(path.read_text())["cells"]
    text = "\n".join(c["source"] for c in cells)
    assert cells[0]["source"].startswith("# ")
    assert re.search(r"^## .*Exercises", text, re.M), "an Exercises section"
    assert re.search(r"^## .*(Summary|Takeaways)", text, re.M), "a Summary section"
    assert "check(" in text, "results checked against a reference"
    checker_cells = [c for c in cells if "raises-exception" in c["metadata"].get("tags", [])]
    assert checker_cells and all("check_" in c["source"] for c in checker_cells)


def _display_math_glued_to_text(markdown: str) -> list[str]:
    """Lines opening a $$ block right under a line of text (MyST then renders the dollars literally)."""
    glued, inside, previous = [], False, ""
    for line in markdown.splitlines():
        stripped = line.strip()
        if inside:
            inside = not stripped.endswith("$$")
        elif stripped.startswith("$$"):
            if previous.strip():
                glued.append(stripped[:60])
            inside = stripped == "$$" or not stripped[2:].rstrip().endswith("$$")
        previous = line
    return glued


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_display_math_starts_a_paragraph(path):
    cells = json.loads(path.read_text())["cells"]
    glued = [line for c in cells if c["cell_type"] == "markdown" for line in _display_math_glued_to_text(c["source"])]
    assert glued == [], f"put a blank line before these $$ blocks: {glued}"


def test_display_math_check_finds_glued_blocks():
    assert _display_math_glued_to_text("text\n$$x$$\n") == ["$$x$$"]
    assert _display_math_glued_to_text("text\n\n$$\nx\n$$\nmore") == []


# ---- the appendix notebooks, the README's badges, citations and solutions ------------------------------------

APPENDICES = chapters.appendix_paths()


def test_there_are_appendix_notebooks():
    assert {p.name for p in APPENDICES} >= {"benchmarks.ipynb", "solutions.ipynb"}


@pytest.mark.parametrize("path", APPENDICES, ids=lambda p: p.name)
def test_appendix_notebook_opens_like_a_chapter(path):
    assert chapters.problems(path) == []
    cells = json.loads(path.read_text())["cells"]
    assert cells[2]["source"] == chapters.setup_cell_source()
    assert chapters.colab_url(f"book/{path.name}") in cells[1]["source"]


def test_colab_link_names_the_notebook_and_its_folder():
    assert chapters.colab_url("chapters/01_x.ipynb").endswith("/swr-tutor/swr-tutor/blob/main/chapters/01_x.ipynb")
    assert chapters.colab_cell_source("book/solutions.ipynb").startswith("[Open this page in Colab](")
    assert chapters.book_path(ROOT / "chapters" / "01_x.ipynb") == "chapters/01_x.ipynb"


def test_readme_has_a_colab_badge_for_every_chapter():
    readme = (ROOT / "README.md").read_text()
    missing = [p.name for p in PATHS
               if f"[![Open in Colab]({chapters.COLAB_BADGE})]({chapters.colab_url(f'chapters/{p.name}')})" not in readme]
    assert missing == [], f"README.md lacks a Colab badge for {missing}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_chapter_cites_its_sources(path):
    assert re.search(r"\{cite[pt]?\}`", path.read_text()), "no {cite} in the chapter"


def test_every_checker_is_solved_in_the_appendix():
    import importlib
    import inspect
    import pkgutil

    from swr_tutor import exercises

    code = "\n".join(c["source"] for c in json.loads((ROOT / "book" / "solutions.ipynb").read_text())["cells"]
                     if c["cell_type"] == "code")
    checkers = [f"{module.name}.{name}" for module in pkgutil.iter_modules(exercises.__path__)
                for name, fn in inspect.getmembers(importlib.import_module(f"swr_tutor.exercises.{module.name}"))
                if name.startswith("check_") and inspect.isfunction(fn) and fn.__module__.endswith(module.name)]
    assert "ch01.check_half_life" in checkers and "ch09.check_rotate_by_position" in checkers
    unsolved = [checker for checker in checkers if f"{checker}(" not in code]
    assert unsolved == [], f"book/solutions.ipynb does not solve {unsolved}"


def test_every_glossary_term_is_linked_from_a_chapter():
    """Every glossary term but the appendix's "calibration" is linked ({term} role) from the chapter prose."""
    glossary = (ROOT / "book" / "glossary.md").read_text()
    block = glossary.split("```{glossary}")[1].split("```")[0]
    terms = {line for line in block.splitlines() if line and not line.startswith(" ")}
    prose = " ".join(cell["source"] for path in PATHS for cell in json.loads(path.read_text())["cells"]
                     if cell["cell_type"] == "markdown")
    linked = set(re.findall(r"\{term\}`(?:[^`<]*<)?([^`<>]+?)>?`", prose))
    assert terms - linked == {"calibration"}
    assert linked <= terms, linked - terms
