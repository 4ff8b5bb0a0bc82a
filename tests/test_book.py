"""The built book: a strict Jupyter Book build, then headless Chromium on the HTML.

The build is ``jupyter-book build . -W -n --keep-going`` into ``_build`` (what ``make book`` runs), so it
reuses Jupyter Book's execution cache and Sphinx's incremental build; on a fresh checkout it executes
every notebook once. A clean build leaves a stamp (``_build/.book_ok``); while the stamp is newer than
every source of the book (chapters, notebooks, ``ndic/``, ``results/``, benchmark CSVs, configuration),
the build is reused as it is. Chromium (Debian's, driven by Playwright, with every request outside
the build refused, as on an offline GPU node) then opens every page of ``_toc.yml`` and fails on raw TeX
(MathJax must render from the build itself), a broken image, a table wider than its column outside a
scroll container, an empty table, a table cell cut short, or a path of the machine that built the book; it
also checks that the RD figures and the tables of the results and RD-curve pages are there, that the
introduction links every model to its section, fidelity row, released-weights command and RD curve (each
link landing on an element that exists), and saves screenshots in ``_build/screenshots/``.

Select it with ``-m book``; deselect with ``-m "not book"``.
"""

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

import pytest
import yaml

from conftest import ROOT
from ndic.book_inputs import drop_stale_cache

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
SOURCES = [
    "book",
    "notebooks",
    "ndic",
    "results",
    "checkpoints",
    "benchmarks/results",
    "_config.yml",
    "_toc.yml",
    "references.bib",
    "_static",
    "_ext",
]
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
    drop_stale_cache(ROOT)  # as `make book` does: a page never shows numbers of files that changed since
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
    """The page, opened offline: every request that leaves the build folder is refused."""
    path = html / f"{page_name}.html"
    assert path.is_file(), f"{path} was not built (is {page_name} in _toc.yml?)"
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    inside = html.resolve().as_uri()
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(inside) else route.abort())
    page.goto(path.as_uri(), wait_until="load")
    return page


def wait_for_math(page) -> None:
    """Wait until MathJax has typeset the page (at once where MathJax did not load or is absent)."""
    page.evaluate(
        "async () => { if (window.MathJax && MathJax.startup && MathJax.startup.promise)"
        " await MathJax.startup.promise; }"
    )


# text on a page that would be TeX MathJax did not render (in prose: code blocks may show TeX on purpose)
RAW_TEX_SCRIPT = r"""() => {
  const article = document.querySelector('article');
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  const found = [];
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement.closest('pre, code, .highlight, mjx-container, script, style')) continue;
    const text = node.textContent;
    for (const mark of ['\\(', '\\)', '\\[', '$$']) {
      if (text.includes(mark)) found.push(text.trim().slice(0, 80));
    }
  }
  return found;
}"""

# tables wider than the text column with no scrolling container between them and the column
WIDE_TABLES_SCRIPT = """() => {
  const article = document.querySelector('article');
  const column = article.getBoundingClientRect().width;
  const bad = [];
  for (const table of article.querySelectorAll('table')) {
    const width = table.getBoundingClientRect().width;
    if (width === 0 || width <= column + 1) continue;
    let scrolls = false;
    for (let el = table.parentElement; el && el !== article; el = el.parentElement) {
      const overflow = getComputedStyle(el).overflowX;
      if ((overflow === 'auto' || overflow === 'scroll') && el.getBoundingClientRect().width <= column + 1) {
        scrolls = true;
        break;
      }
    }
    if (!scrolls) bad.push(`wide table: ${Math.round(width)} px in a ${Math.round(column)} px column`);
  }
  return bad;
}"""


def local_paths() -> list[str]:
    """Strings that only a path of the machine that built the book would contain."""
    marks = [str(ROOT.resolve()), str(ROOT), "/root/", "/work/", "../shared", str(Path.home()) + "/"]
    return sorted({mark for mark in marks if mark not in ("/", "")})


def images(page) -> list[dict]:
    """Every image of the page's article: source, loaded, natural width."""
    return page.eval_on_selector_all(
        "article img",
        "els => els.map(e => ({src: e.getAttribute('src'), complete: e.complete, width: e.naturalWidth}))",
    )


def cut_cells(page) -> list[str]:
    """Table cells that pandas cut short (display.max_colwidth ends them with "...")."""
    return page.eval_on_selector_all(
        "article table td", "els => els.map(e => e.textContent.trim()).filter(t => t.length > 3 && t.endsWith('...'))"
    )


def table_rows(page) -> list[int]:
    """The number of body rows of every table in the page's article."""
    return page.eval_on_selector_all("article table", "els => els.map(t => t.querySelectorAll('tbody tr').length)")


def check_page(page, source: Path) -> list[str]:
    """What is wrong with an open page: broken images, raw TeX, wide tables, empty tables, and paths of the
    build machine in its HTML file ``source`` (the live page has absolute file:// URLs of its own)."""
    problems = [f"image does not load: {i['src']}" for i in images(page) if not (i["complete"] and i["width"] > 0)]
    wait_for_math(page)
    problems += [f"raw TeX: {text!r}" for text in page.evaluate(RAW_TEX_SCRIPT)]
    problems += page.evaluate(WIDE_TABLES_SCRIPT)
    problems += [f"a table without rows ({rows} rows)" for rows in table_rows(page) if rows == 0]
    problems += [f"a table cell cut short: {text[-60:]!r}" for text in cut_cells(page)]
    html = source.read_text(errors="replace")
    problems += [f"build-machine path {mark!r} in the page" for mark in local_paths() if mark in html]
    return problems


def test_every_page_reads_well_offline(built_book, browser):
    """Every page of _toc.yml: images load, formulas render, tables fit or scroll, no local paths."""
    found = {}
    for name in toc_pages():
        page = open_page(browser, built_book, name)
        problems = check_page(page, built_book / f"{name}.html")
        page.close()
        if problems:
            found[name] = problems
    assert not found, "pages with problems:\n" + "\n".join(f"{name}: {p}" for name, p in found.items())


def test_formulas_render_from_the_build(built_book, browser):
    """MathJax comes from the build (no CDN) and typesets the formulas of a page that has some."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    mathjax_path = config["sphinx"]["config"]["mathjax_path"]
    assert "://" not in mathjax_path, f"mathjax_path is a URL ({mathjax_path}): the book must serve MathJax itself"
    assert (built_book / "_static" / mathjax_path).is_file(), f"_static/{mathjax_path} is missing from the build"
    page = open_page(browser, built_book, "notebooks/02_train")
    wait_for_math(page)
    rendered = page.eval_on_selector_all("article mjx-container", "els => els.length")
    page.close()
    assert rendered > 0, "no formula was rendered by MathJax on notebooks/02_train"


def test_the_page_check_catches_each_problem(browser, tmp_path):
    """The checks of test_every_page_reads_well_offline fail on each problem they look for."""
    cases = {
        "raw TeX": r"<p>the loss \(L = R + \lambda D\)</p>",
        "wide table": "<table style='width:3000px'><tbody><tr><td>x</td></tr></tbody></table>",
        "without rows": "<table><thead><tr><th>x</th></tr></thead><tbody></tbody></table>",
        "build-machine path": f"<p>{ROOT.resolve()}/results/kodak/bpg.csv</p>",
        "image does not load": "<img src='missing.png'>",
        "cell cut short": "<table><tbody><tr><td>the claim holds when it saves more...</td></tr></tbody></table>",
    }
    (tmp_path / "fine.html").write_text(
        "<html><body><article><p>fine</p>"
        "<div style='overflow-x:auto'><table style='width:3000px'><tbody>"
        "<tr><td>x</td></tr></tbody></table></div></article></body></html>"
    )
    page = open_page(browser, tmp_path, "fine")
    assert check_page(page, tmp_path / "fine.html") == []
    page.close()
    for problem, body in cases.items():
        (tmp_path / "case.html").write_text(f"<html><body><article>{body}</article></body></html>")
        page = open_page(browser, tmp_path, "case")
        found = check_page(page, tmp_path / "case.html")
        page.close()
        assert any(problem in text for text in found), f"{problem}: not caught ({found})"


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


def open_url(browser, root: Path, url: str):
    """A page of ``root`` by its file:// URL, opened offline as ``open_page`` opens one."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    inside = root.resolve().as_uri()
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(inside) else route.abort())
    page.goto(url, wait_until="load")
    return page


def article_links(page) -> list[str]:
    """The absolute URL of every link in the page's article."""
    return page.eval_on_selector_all("article a[href]", "els => els.map(a => a.href)")


def unresolved(browser, root: Path, urls: list[str]) -> list[str]:
    """The links among ``urls`` into ``root`` whose fragment names no element of their page (or no page)."""
    inside = root.resolve().as_uri() + "/"
    wanted: dict[str, set[str]] = {}
    for url in urls:
        address, _, fragment = url.partition("#")
        if address.startswith(inside) and fragment:
            wanted.setdefault(address, set()).add(unquote(fragment))
    problems = []
    for address, ids in sorted(wanted.items()):
        name = address[len(inside) :]
        if not Path(url2pathname(urlparse(address).path)).is_file():
            problems += [f"{name}#{target}: the page does not exist" for target in sorted(ids)]
            continue
        page = open_url(browser, root, address)
        present = page.evaluate("ids => ids.filter(id => document.getElementById(id) !== null)", sorted(ids))
        page.close()
        problems += [f"{name}#{target}: no element with this id" for target in sorted(ids) if target not in present]
    return problems


def test_the_link_check_catches_missing_targets(browser, tmp_path):
    """unresolved() passes a link to an existing id and names a missing id and a missing page."""
    (tmp_path / "target.html").write_text("<html><body><article><h2 id='here'>here</h2></article></body></html>")
    (tmp_path / "index.html").write_text(
        "<html><body><article><a href='target.html#here'>fine</a> <a href='target.html#gone'>no id</a>"
        " <a href='missing.html#here'>no page</a> <a href='target.html'>no fragment</a></article></body></html>"
    )
    page = open_page(browser, tmp_path, "index")
    links = article_links(page)
    page.close()
    assert len(links) == 4
    assert unresolved(browser, tmp_path, links) == [
        "missing.html#here: the page does not exist",
        "target.html#gone: no element with this id",
    ]


# the introduction's table of models: one row per model, each cell a link into the book or a stated absence
MODEL_ROWS_SCRIPT = """() => {
  const rows = [];
  for (const table of document.querySelectorAll('article table')) {
    if (!table.querySelector('a[href*="#model-"]')) continue;
    for (const tr of table.querySelectorAll('tbody tr')) {
      rows.push(Array.from(tr.querySelectorAll('td'), td => ({
        text: td.innerText.trim(), links: Array.from(td.querySelectorAll('a[href]'), a => a.href)})));
    }
  }
  return rows;
}"""
# what an RD-curve cell without a link must say instead
NO_CURVE_YET = ("pending", "not in a figure yet")


def test_intro_links_every_model_to_its_section_fidelity_weights_and_curve(built_book, browser):
    """From the introduction, each model of the registry links to its section of the models chapter, to the
    fidelity table, and to its released-weights command and RD curve, or says it has none yet; every link of
    the introduction lands on an element that exists."""
    from ndic import models

    page = open_page(browser, built_book, "book/intro")
    rows = page.evaluate(MODEL_ROWS_SCRIPT)
    links = article_links(page)
    page.close()
    chapter = (built_book / "book" / "models.html").resolve().as_uri()
    sections = {f"{chapter}#model-{name.replace('_', '-')}": name for name in models.names()}
    found = {}
    for cells in rows:
        assert len(cells) == 4, f"a row of the models table has {len(cells)} cells, not 4: {cells}"
        model, fidelity, weights, curve = cells
        for link in model["links"]:
            if link in sections:
                found[sections[link]] = cells
        assert any(link.startswith(chapter + "#") for link in fidelity["links"]), f"no fidelity link: {cells}"
        assert weights["links"] or "none" in weights["text"], f"no released-weights link nor 'none': {cells}"
        assert curve["links"] or any(words in curve["text"] for words in NO_CURVE_YET), f"RD curve cell: {cells}"
    missing = sorted(set(models.names()) - set(found))
    assert not missing, f"the introduction's models table has no row linking to the section of {missing}"
    assert unresolved(browser, built_book, links) == []
