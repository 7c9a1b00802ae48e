"""The book as readers meet it: every page of the built book opened in headless Chromium (swr_tutor.pages).

The session fixture builds the book once (Sphinx warnings are errors) unless _build/html is newer than every
source, which a fresh clone never is. The first screen of every notebook page is kept in _build/screenshots/.
Skipped, with the reason, only where no Chromium is installed; .ci/run installs Debian's chromium.
"""
import matplotlib.image
import pytest

from swr_tutor import chapters, pages

no_browser = pytest.mark.skipif(pages.browser() is None,
                                reason=f"no Chromium binary ({', '.join(pages.BROWSERS)}): apt-get install -y chromium")


def needs_browser(test):
    """Opens the built book in Chromium (and builds the book first when a source changed): slow."""
    return pytest.mark.slow(no_browser(test))
ENTRIES = pages.toc_entries()
EXPLORER_PAGES = ["chapters/01_scalar_recurrence", "chapters/04_sliding_window_recurrences"]


@pytest.fixture(scope="session")
def report():
    pages.build_book()
    return pages.check_book()


@needs_browser
@pytest.mark.parametrize("entry", ENTRIES)
def test_page_has_nothing_a_reader_would_trip_over(report, entry):
    assert report[f"{entry}.html"] == []


@needs_browser
@pytest.mark.parametrize("path", chapters.notebook_paths(), ids=lambda p: p.stem)
def test_first_screen_of_every_notebook_page_is_kept(report, path):
    image = matplotlib.image.imread(pages.SCREENSHOTS / f"{path.stem}.png")
    assert image.shape[:2] == (pages.FIRST_SCREEN[1], pages.FIRST_SCREEN[0])
    assert image[..., :3].std() > 0.05, "a blank first screen"


@needs_browser
@pytest.mark.parametrize("entry", EXPLORER_PAGES)
def test_explorer_widgets_draw_and_their_fallbacks_play(report, entry):
    page = pages.HTML / f"{entry}.html"
    parsed = pages.parse(pages.render(page))
    assert parsed.widget_views >= 1 and all(parsed.widget_areas) and len(parsed.widget_areas) == parsed.widget_views
    played = pages.animations_play(page)
    assert played and all(played)


# ---- the checks themselves, on a small hand-made site (no browser needed) ------------------------------------

def _site(tmp_path, body: str, *, notebook: bool = True):
    html = tmp_path / "html"
    (html / "chapters").mkdir(parents=True)
    (html / "_static").mkdir()
    (html / "_static" / "here.png").write_bytes(b"png")
    (html / "chapters" / "other.html").write_text('<html><body><h1 id="there">x</h1></body></html>')
    if notebook:
        (html / "_sources" / "chapters").mkdir(parents=True)
        (html / "_sources" / "chapters" / "page.ipynb").write_text("{}")
    page = html / "chapters" / "page.html"
    page.write_text(f"<html><body>{body}</body></html>")
    return html, page


def _problems(html, page):
    return pages.page_problems(page, pages.parse(page.read_text()), lambda p: pages.parse(p.read_text()).ids, html)


LAUNCH = f'<a href="{chapters.colab_url("chapters/page.ipynb")}">Colab</a>'
CLEAN = LAUNCH + """
<img src="../_static/here.png"><a href="other.html#there">ok</a><a href="#top" id="top">top</a>
<div class="cell tag_raises-exception"><div class="cell_output"><div class="output traceback">Error</div></div></div>
<div class="cell_output"><div class="widget-subarea"><div class="jupyter-widgets widget-slider"></div></div>
<script type="application/vnd.jupyter.widget-view+json">{}</script></div>
<div class="animation"><img id="_anim_img1" src="data:image/png;base64,AA">
<input type="range" class="anim-slider" min="0" max="4"></div>
"""


def test_a_clean_page_has_no_problems(tmp_path):
    assert _problems(*_site(tmp_path, CLEAN)) == []


@pytest.mark.parametrize("broken, problem", [
    ('<img src="../_static/gone.png">', "missing file ../_static/gone.png"),
    ('<script src="https://cdn.example/x.js"></script>', "loads https://cdn.example/x.js from the network"),
    ('<a href="missing.html">x</a>', "broken link missing.html"),
    ('<a href="other.html#nowhere">x</a>', "broken anchor other.html#nowhere"),
    ('<div class="cell"><div class="output traceback">NameError</div></div>', "1 cell error(s) outside"),
    ('<div class="widget-subarea"></div><script type="application/vnd.jupyter.widget-view+json">{}</script>',
     "2 stored widget view(s), 1 drawn"),
    ('<div class="animation"><img id="_anim_img2"><input class="anim-slider" max="3"></div>',
     "an animation player that cannot play (first frame shown: False, frames: 4)"),
])
def test_each_kind_of_problem_is_reported(tmp_path, broken, problem):
    found = _problems(*_site(tmp_path, CLEAN + broken))
    assert len(found) == 1 and found[0].startswith(problem), found


def test_a_notebook_page_needs_its_launch_button_and_a_markdown_page_does_not(tmp_path):
    without_button = CLEAN.replace(LAUNCH, "")
    assert _problems(*_site(tmp_path / "nb", without_button)) == ["no Colab launch button for chapters/page.ipynb"]
    assert _problems(*_site(tmp_path / "md", without_button, notebook=False)) == []


def test_the_fixture_and_the_table_of_contents_agree():
    assert ENTRIES[0] == "book/intro" and "book/solutions" in ENTRIES and "book/benchmarks" in ENTRIES
    assert {f"chapters/{p.stem}" for p in chapters.chapter_paths()} <= set(ENTRIES)
