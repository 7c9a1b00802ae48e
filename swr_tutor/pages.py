"""The built book as a reader meets it: every page opened in headless Chromium and checked.

    python -m swr_tutor.pages                 # build the book if a source is newer, check every page, screenshots
    python -m swr_tutor.pages --readme        # ... and refresh the README's pictures in book/images/

A page is opened with its scripts run (widgets drawn by the vendored html-manager, animation players set up),
its DOM is dumped, and ``page_problems`` lists what a reader would trip over: a missing image, script or
stylesheet, a cell error outside the cells that are meant to raise, a broken internal link or anchor, a widget
area left empty, an animation player without frames, and, on a notebook's page, no Colab launch button.
``animations_play`` presses every player's Play button and watches the frame change.
"""
import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .chapters import ROOT, colab_url

HTML = ROOT / "_build" / "html"
BUILT = ROOT / "_build" / ".book-built"  # touched when a build finished without warnings (and by `make book`)
SCREENSHOTS = ROOT / "_build" / "screenshots"
IMAGES = ROOT / "book" / "images"
SOURCES = ("_config.yml", "_toc.yml", "chapters", "book", "swr_tutor", "kernels")
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FIRST_SCREEN = (1280, 900)
EXTERNAL = ("http:", "https:", "mailto:", "data:", "blob:", "javascript:")
# Network stylesheets a page may name because the book draws without them: matplotlib's animation player links
# Font Awesome 4 from a CDN for its button icons, and the theme's own Font Awesome draws them offline.
COVERED_OFFLINE = ("font-awesome",)
PLAY_HARNESS = """<html><body><iframe id="page" src="{page}" width="1280" height="900"></iframe>
<pre id="result">pending</pre>
<script>
document.getElementById("page").onload = function () {{
  var players = Array.from(this.contentDocument.querySelectorAll("div.animation"));
  var first = players.map(function (p) {{ return p.querySelector("img").src; }});
  players.forEach(function (p) {{ p.querySelector("button[title='Play']").click(); }});
  setTimeout(function () {{
    var moved = players.map(function (p, i) {{ return p.querySelector("img").src !== first[i]; }});
    document.getElementById("result").textContent = JSON.stringify(moved);
  }}, {wait_ms});
}};
</script></body></html>
"""

def browser() -> str | None:
    """The first Chromium-like browser on PATH, or None."""
    return next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)


def newest_source() -> float:
    """The latest modification time of anything the book is built from."""
    paths = [ROOT / name for name in SOURCES]
    files = [p for path in paths for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file()]
    return max(p.stat().st_mtime for p in files if "__pycache__" not in p.parts)


def build_book(force: bool = False) -> bool:
    """Build _build/html with Sphinx warnings as errors unless a clean build is newer than every source; True if
    it built."""
    if not force and BUILT.is_file() and BUILT.stat().st_mtime > newest_source():
        return False
    BUILT.unlink(missing_ok=True)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jupyter_book), "build", str(ROOT), "--all", "--warningiserror", "--keep-going"],
                            cwd=ROOT, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"jupyter-book build failed ({result.returncode}):\n{result.stdout[-6000:]}\n"
                           f"{result.stderr[-3000:]}")
    BUILT.touch()
    return True


def toc_entries() -> list[str]:
    """The book's documents in reading order, from _toc.yml: 'book/intro', 'chapters/01_scalar_recurrence', ..."""
    import yaml

    def files(node) -> list[str]:
        if isinstance(node, dict):
            return ([node["file"]] if "file" in node else []) + [f for value in node.values() for f in files(value)]
        return [f for child in node for f in files(child)] if isinstance(node, list) else []

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + files(toc["parts"])


def pages(html: Path = HTML) -> list[Path]:
    """The built page of every document in the table of contents."""
    return [html / f"{entry}.html" for entry in toc_entries()]


def render(page: Path, screenshot: Path | None = None, *, budget_ms: int = 5000, frames: bool = False) -> str:
    """The page's DOM after its scripts ran (``budget_ms`` of virtual time); its first screen to ``screenshot``.
    ``frames``: let the page read the documents of its iframes (file:// pages are otherwise foreign origins)."""
    if not page.is_file():
        raise FileNotFoundError(f"render: {page} is not built (python -m swr_tutor.pages --rebuild builds the book)")
    with tempfile.TemporaryDirectory() as profile:
        command = [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}",
                   *(["--allow-file-access-from-files"] if frames else []),
                   f"--window-size={FIRST_SCREEN[0]},{FIRST_SCREEN[1]}", "--hide-scrollbars"]
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            command.append(f"--screenshot={screenshot}")
        result = subprocess.run(command + ["--dump-dom", page.resolve().as_uri()], capture_output=True, text=True,
                                timeout=120)
    if result.returncode or "<html" not in result.stdout:
        raise RuntimeError(f"chromium could not render {page}: {result.stderr[-2000:]}")
    return result.stdout


def animations_play(page: Path, wait_ms: int = 3000) -> list[bool]:
    """Press Play on every animation player of ``page`` and report, per player, whether its frame changed within
    ``wait_ms`` (virtual time, so a slow machine waits no longer)."""
    with tempfile.TemporaryDirectory() as tmp:
        harness = Path(tmp) / "play.html"
        harness.write_text(PLAY_HARNESS.format(page=page.resolve().as_uri(), wait_ms=wait_ms))
        dom = render(harness, budget_ms=wait_ms + 5000, frames=True)
    result = re.search(r'<pre id="result">([^<]*)</pre>', dom).group(1)
    if result == "pending":
        raise RuntimeError(f"animations_play: {page} did not load within the time budget")
    return json.loads(result)


def pages_with_animations(html: Path = HTML) -> list[Path]:
    return [page for page in pages(html) if 'class="animation"' in page.read_text(errors="replace")]


class PageParser(HTMLParser):
    """What the checks need from a rendered page, in one pass."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []            # <a href>
        self.resources: list[str] = []        # <img src>, <script src>, <link rel=stylesheet href>
        self.errors = 0                       # traceback outputs outside raises-exception cells
        self.widget_views = 0                 # widget views stored in the page
        self.widget_areas: list[bool] = []    # per rendered widget area: drew something
        self.animations: list[tuple[bool, int]] = []  # per player: first frame shown, frames
        self._divs: list[set[str]] = []       # classes of the open <div>s
        self._script_type = None

    def _inside(self, cls: str) -> bool:
        return any(cls in classes for classes in self._divs)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = set((attrs.get("class") or "").split())
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        elif tag in ("img", "script") and attrs.get("src"):
            self.resources.append(attrs["src"])
        elif tag == "link" and "stylesheet" in (attrs.get("rel") or "") and attrs.get("href"):
            self.resources.append(attrs["href"])
        if tag == "script":
            self._script_type = attrs.get("type")
            self.widget_views += self._script_type == "application/vnd.jupyter.widget-view+json"
        if "jupyter-widgets" in classes and self._inside("widget-subarea") and self.widget_areas:
            self.widget_areas[-1] = True
        if tag == "img" and self._inside("animation"):
            self.animations.append(((attrs.get("src") or "").startswith("data:image"), 0))
        if tag == "input" and "anim-slider" in classes and self.animations:
            self.animations[-1] = (self.animations[-1][0], int(attrs.get("max") or 0) + 1)
        if tag == "div":
            if "traceback" in classes and not self._inside("tag_raises-exception"):
                self.errors += 1
            if "widget-subarea" in classes:
                self.widget_areas.append(False)
            self._divs.append(classes)

    def handle_endtag(self, tag):
        if tag == "div" and self._divs:
            self._divs.pop()
        if tag == "script":
            self._script_type = None


def parse(dom: str) -> PageParser:
    parser = PageParser()
    parser.feed(dom)
    return parser


def _target(page: Path, reference: str) -> tuple[Path, str]:
    parts = urlsplit(reference)
    path = (page.parent / unquote(parts.path)).resolve() if parts.path else page.resolve()
    return path, unquote(parts.fragment)


def notebook_source(page: Path, html: Path = HTML) -> str | None:
    """'chapters/01_x.ipynb' when the page was built from a notebook, else None."""
    relative = page.relative_to(html).with_suffix(".ipynb")
    return relative.as_posix() if (html / "_sources" / relative).is_file() else None


def page_problems(page: Path, parsed: PageParser, ids_of, html: Path = HTML) -> list[str]:
    """What is wrong with a rendered page; ``ids_of(path)`` gives the element ids of another built page."""
    found = []
    for reference in parsed.resources:
        if reference.startswith(("http:", "https:")) and not any(name in reference for name in COVERED_OFFLINE):
            found.append(f"loads {reference} from the network (the book must work offline)")
        elif not reference.startswith(EXTERNAL) and not _target(page, reference)[0].is_file():
            found.append(f"missing file {reference}")
    for reference in parsed.links:
        if reference.startswith(EXTERNAL):
            continue
        path, fragment = _target(page, reference)
        if not path.exists():
            found.append(f"broken link {reference}")
        elif fragment and path.suffix == ".html" and fragment not in ids_of(path):
            found.append(f"broken anchor {reference}")
    if parsed.errors:
        found.append(f"{parsed.errors} cell error(s) outside the cells tagged raises-exception")
    if parsed.widget_views and (len(parsed.widget_areas) < parsed.widget_views or not all(parsed.widget_areas)):
        found.append(f"{parsed.widget_views} stored widget view(s), {sum(parsed.widget_areas)} drawn")
    for shown, frames in parsed.animations:
        if not shown or frames < 2:
            found.append(f"an animation player that cannot play (first frame shown: {shown}, frames: {frames})")
    source = notebook_source(page, html)
    if source and not any(link.startswith(colab_url(source)) for link in parsed.links):
        found.append(f"no Colab launch button for {source}")
    return found


def check_book(screenshots: Path | None = SCREENSHOTS, html: Path = HTML) -> dict[str, list[str]]:
    """Render and check every page; screenshot the first screen of every notebook page. {page: problems}."""
    parsed = {}
    for page in pages(html):
        shot = screenshots / f"{page.stem}.png" if screenshots and notebook_source(page, html) else None
        parsed[page.resolve()] = parse(render(page, shot))

    def ids_of(path: Path) -> set[str]:
        if path not in parsed:
            parsed[path] = parse(path.read_text(errors="replace"))
        return parsed[path].ids

    rendered = list(parsed.items())  # ids_of adds the pages it reads on demand
    return {page.relative_to(html.resolve()).as_posix(): page_problems(page, p, ids_of, html) for page, p in rendered}


def readme_images(screenshots: Path = SCREENSHOTS, out: Path = IMAGES) -> list[Path]:
    """The README's pictures: chapter 1's first screen and the stored B2P benchmark plot."""
    import matplotlib

    matplotlib.use("Agg")
    from . import benchplots

    out.mkdir(parents=True, exist_ok=True)
    page = out / "chapter_page.png"
    shutil.copyfile(screenshots / "01_scalar_recurrence.png", page)
    record = benchplots.load_book_data("b2p_h100.json")
    figure = benchplots.plot_record(record)
    plot = out / "b2p_benchmark.png"
    figure.savefig(plot, dpi=110, bbox_inches="tight")
    return [page, plot]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m swr_tutor.pages", description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true", help="also write the README's pictures to book/images/")
    parser.add_argument("--rebuild", action="store_true", help="build the book even if it looks up to date")
    args = parser.parse_args(argv)
    if browser() is None:
        print(f"no Chromium found (looked for {', '.join(BROWSERS)}); e.g. apt-get install -y chromium", file=sys.stderr)
        return 2
    print("built the book" if build_book(args.rebuild) else f"{HTML} is newer than the sources: not rebuilt")
    report = check_book()
    for page, found in report.items():
        print(f"{page}: " + ("ok" if not found else "\n  " + "\n  ".join(found)))
    played = {page.relative_to(HTML).as_posix(): animations_play(page) for page in pages_with_animations()}
    for page, moved in played.items():
        print(f"{page}: animation players that play: {sum(moved)} of {len(moved)}")
    if args.readme:
        print("wrote", *map(str, readme_images()))
    return 1 if any(report.values()) or not all(all(moved) for moved in played.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
