"""The built book: a strict Jupyter Book build, then headless Chromium on the HTML.

The build is ``jupyter-book build . -W -n --keep-going`` into ``_build`` (what ``make book`` runs), so it
reuses Jupyter Book's execution cache and Sphinx's incremental build; on a fresh checkout it executes
every notebook once. A clean build leaves a stamp (``_build/.book_ok``); while the stamp is newer than
every source of the book (chapters, notebooks, ``ndic/``, ``results/``, benchmark CSVs, configuration),
the build is reused as it is. Chromium (Debian's, driven by Playwright)
then checks that every image of every page loads, that the RD figures and the tables of the results and
RD-curve pages are there, and saves screenshots in ``_build/screenshots/``.

Select it with ``-m book``; deselect with ``-m "not book"``.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

pytestmark = pytest.mark.book

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
BUILD = ROOT / "_build"
HTML = BUILD / "html"
SCREENSHOTS = BUILD / "screenshots"
STAMP = BUILD / ".book_ok"
SOURCES = ["book", "notebooks", "ndic", "results", "benchmarks/results", "_config.yml", "_toc.yml", "references.bib"]
# pages whose figures are RD curves, and whose tables must have rows
RD_PAGES = ["book/results", "notebooks/05_rd_curves"]
TABLE_PAGES = ["book/results", "notebooks/05_rd_curves", "book/performance", "notebooks/04_baselines"]


def toc_pages() -> list[str]:
    """Every document of ``_toc.yml`` (root and chapters), without suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [chapter["file"] for chapter in part.get("chapters", [])]
    return pages


def newest_source() -> float:
    """Modification time of the newest file the book is built from."""
    times = [0.0]
    for name in SOURCES:
        path = ROOT / name
        files = (
            [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        )
        times += [p.stat().st_mtime for p in files]
    return max(times)


@pytest.fixture(scope="module")
def built_book() -> Path:
    """Build the book strictly (incrementally, with the execution cache) and return the HTML folder."""
    if STAMP.is_file() and STAMP.stat().st_mtime > newest_source() and (HTML / "index.html").is_file():
        return HTML  # the last strict build is newer than every source
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    if not jupyter_book.exists():
        pytest.skip(f"{jupyter_book} is missing: install the book extra (make env)")
    start = time.perf_counter()
    env = dict(os.environ, PYTHONWARNINGS="ignore::DeprecationWarning")
    run = subprocess.run(
        [str(jupyter_book), "build", ".", "-W", "-n", "--keep-going"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=1500,
    )
    log = run.stdout + run.stderr
    problems = [line for line in log.splitlines() if "WARNING" in line and "Kernel is running over TCP" not in line]
    assert run.returncode == 0, "the book did not build cleanly:\n" + "\n".join(
        problems[-30:] or log.splitlines()[-40:]
    )
    print(f"book built in {time.perf_counter() - start:.0f} s")
    STAMP.write_text(f"strict build passed in {time.perf_counter() - start:.0f} s\n")
    return HTML


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) for the browser test")
    playwright = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (dev extra)")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_page(browser, html: Path, page_name: str):
    path = html / f"{page_name}.html"
    assert path.is_file(), f"{path} was not built (is {page_name} in _toc.yml?)"
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(path.as_uri(), wait_until="load")
    return page


def images(page) -> list[dict]:
    """Every image of the page's article: source, loaded, natural width."""
    return page.eval_on_selector_all(
        "article img",
        "els => els.map(e => ({src: e.getAttribute('src'), complete: e.complete, width: e.naturalWidth}))",
    )


def table_rows(page) -> list[int]:
    """The number of body rows of every table in the page's article."""
    return page.eval_on_selector_all("article table", "els => els.map(t => t.querySelectorAll('tbody tr').length)")


def test_every_page_was_built_and_its_images_load(built_book, browser):
    broken = {}
    for name in toc_pages():
        page = open_page(browser, built_book, name)
        bad = [image["src"] for image in images(page) if not (image["complete"] and image["width"] > 0)]
        if bad:
            broken[name] = bad
        page.close()
    assert not broken, f"images that do not load: {broken}"


@pytest.mark.parametrize("name", RD_PAGES)
def test_rd_figures_load(built_book, browser, name):
    page = open_page(browser, built_book, name)
    found = [image for image in images(page) if image["src"] and image["src"].endswith(".png")]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name.replace('/', '_')}.png"), full_page=True)
    page.close()
    assert found, f"{name}: no figure in the page"
    assert all(image["complete"] and image["width"] > 0 for image in found), f"{name}: a figure does not load: {found}"
    # the RD figures are wide (two panels and a legend): a thumbnail or an icon would be an error
    assert max(image["width"] for image in found) >= 800, f"{name}: no RD-sized figure among {found}"


@pytest.mark.parametrize("name", TABLE_PAGES)
def test_tables_render(built_book, browser, name):
    page = open_page(browser, built_book, name)
    rows = table_rows(page)
    text = page.inner_text("article")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name.replace('/', '_')}_tables.png"), full_page=False)
    page.close()
    assert rows and max(rows) > 0, f"{name}: no table with rows (row counts {rows})"
    assert "Traceback" not in text, f"{name}: a cell raised an error"


def test_quick_profile_is_labelled(built_book, browser):
    """Pages that train in the quick profile say so in their text (titles of figures are images)."""
    for name in [
        "notebooks/00_quickstart",
        "notebooks/02_train",
        "notebooks/03_evaluate",
        "notebooks/06_side_information",
    ]:
        page = open_page(browser, built_book, name)
        text = page.inner_text("article").lower()
        page.close()
        assert "quick profile" in text, f"{name} does not say that it shows the quick profile"
