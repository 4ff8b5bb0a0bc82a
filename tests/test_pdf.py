"""`make pdf`: the book as one PDF, its single-page HTML build printed by Debian's chromium.

The build executes and renders the whole book once more (the single-page builder) and then prints it, which
takes minutes: it runs only when ``NDIC_TEST_PDF=1`` is set, so CI stays fast. The PDF must be new and hold
every chapter of the single page; its formulas must be typeset by MathJax (none of the TeX sources of the
page's formulas left as text, and MathJax's glyphs embedded: chromium embeds the pages' ordinary fonts as
TrueType and MathJax's as Type 3); its links within the book must stay links inside the PDF (not file://
URLs of the machine that built it); and nothing may be cut off on paper (the page, laid out for print at the
width of a Letter page, has no table or code block wider than the text nor one that scrolls or clips). The
checks themselves are first shown to fail on small pages that have each fault, which runs whenever chromium
and poppler-utils are installed.

Select it with ``-m book``; deselect with ``-m "not book"``.
"""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

pytestmark = pytest.mark.book

CHROMIUM = Path("/usr/bin/chromium")
PDF = ROOT / "_build" / "pdf" / "book.pdf"
BUILD_TIMEOUT_S = 3600  # the whole book, notebooks re-executed where their cache is stale, on 2 shared cores
PRINT_WIDTH_PX = 740  # a Letter page (8.5 in at 96 px/in) less chromium's default print margins


def toc() -> dict:
    return yaml.safe_load((ROOT / "_toc.yml").read_text())


def single_page() -> Path:
    """The single-page build: the root document of ``_toc.yml`` (``index.html`` only redirects there)."""
    return ROOT / "_build" / "singlehtml" / f"{toc()['root']}.html"


def chapter_count() -> int:
    """The documents of ``_toc.yml``: the root and every chapter."""
    return 1 + sum(len(part.get("chapters", [])) for part in toc().get("parts", []))


def poppler(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is missing: install poppler-utils (apt-get install poppler-utils) to read the PDF")
    return path


def squeeze(text: str) -> str:
    """Text without whitespace: the PDF's line breaks fall elsewhere than the HTML's."""
    return re.sub(r"\s+", "", text)


def html_parts(html: Path) -> tuple[list[str], list[str]]:
    """The chapter titles (h1) and the TeX source of every formula of a printed HTML page."""
    bs4 = pytest.importorskip("bs4", reason="reading the HTML needs beautifulsoup4 (a dependency of the book extra)")
    soup = bs4.BeautifulSoup(html.read_text(encoding="utf-8"), "html.parser")
    for link in soup.select("a.headerlink"):
        link.decompose()  # the "#" after each heading
    # the root document's title is an h1; the single-page builder demotes every chapter's title to an h2
    headings = soup.select("article h1, span[id^='document-'] + section > h2")
    titles = [heading.get_text(" ", strip=True) for heading in headings]
    formulas = [node.get_text() for node in soup.select(".math")]
    return list(dict.fromkeys(titles)), formulas


def pdf_problems(pdf: Path, html: Path) -> list[str]:
    """What is wrong with ``pdf``, the print of ``html``: missing chapters, formulas left as TeX, no MathJax."""
    text = subprocess.run([poppler("pdftotext"), str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    fonts = subprocess.run([poppler("pdffonts"), str(pdf)], capture_output=True, text=True, check=True).stdout
    titles, formulas = html_parts(html)
    flat = squeeze(text)
    problems = [f"chapter missing from the PDF: {title!r}" for title in titles if squeeze(title) not in flat]
    problems += [f"formula printed as TeX: {tex.strip()[:60]!r}" for tex in formulas if squeeze(tex) in flat]
    if formulas and "Type 3" not in fonts:
        problems.append("no MathJax glyphs embedded in the PDF: the formulas were not typeset")
    # a link from the page to itself must stay inside the PDF, and nothing may point at a file of this machine
    # (the HTML page itself, or a download such as a figure's SVG): the PDF is read on other machines
    urls = {url.decode("latin-1") for url in re.findall(rb"/URI \((file://[^)#]*)", pdf.read_bytes())}
    if html.resolve().as_uri() in urls:
        problems.append(f"links within the book printed as file:// URLs of this machine: {html.resolve().as_uri()}")
    problems += [f"a link to a file of this machine: {url}" for url in sorted(urls - {html.resolve().as_uri()})]
    return problems


# tables and code wider than the text, and boxes that scroll or clip what they hold: paper shows neither
CUT_OFF_SCRIPT = """() => {
  const article = document.querySelector('article');
  const right = article.getBoundingClientRect().right;
  const what = el => {
    const section = el.closest('section');
    const text = el.textContent.trim().replace(/\\s+/g, ' ').slice(0, 40);
    return `${el.tagName.toLowerCase()} in #${section ? section.id : '?'}: ${text}`;
  };
  const found = [];
  for (const el of article.querySelectorAll('table, pre, img')) {
    const past = el.getBoundingClientRect().right - right;
    if (past > 2) found.push(`${Math.round(past)} px past the page: ${what(el)}`);
  }
  const boxes = 'pre, div.highlight, .pst-scrollable-table-container, .cell_output, .output';
  for (const el of article.querySelectorAll(boxes)) {
    const style = getComputedStyle(el);
    if (style.overflowX !== 'visible' && el.scrollWidth > el.clientWidth + 2)
      found.push(`${el.scrollWidth - el.clientWidth} px cut off on the right: ${what(el)}`);
    if (style.overflowY !== 'visible' && el.clientHeight > 0 && el.scrollHeight > el.clientHeight + 2)
      found.push(`${el.scrollHeight - el.clientHeight} px cut off at the bottom: ${what(el)}`);
  }
  return found;
}"""


def cut_off(html: Path) -> list[str]:
    """What of ``html`` would not reach paper: the page laid out for print, offline, at a Letter page's width."""
    playwright = pytest.importorskip("playwright.sync_api", reason="the layout check needs playwright (dev extra)")
    inside = html.parent.resolve().as_uri()
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": PRINT_WIDTH_PX, "height": 1000})
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(inside) else route.abort())
        page.emulate_media(media="print")
        page.goto(html.resolve().as_uri(), wait_until="load")
        found = page.evaluate(CUT_OFF_SCRIPT)
        browser.close()
    return found


def print_pdf(html: Path, pdf: Path, budget_ms: int = 60000) -> None:
    """``html`` printed to ``pdf`` as the Makefile's pdf target does."""
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer"]
    command += [f"--virtual-time-budget={budget_ms}", f"--print-to-pdf={pdf}", html.resolve().as_uri()]
    subprocess.run(command, capture_output=True, timeout=300, check=True)


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to print the book")
    return CHROMIUM


def test_the_pdf_checks_catch_each_fault(chromium, tmp_path):
    """A page printed without MathJax fails the formula checks; a chapter absent from the PDF is named; a code
    line that scrolls and a table wider than the page are found cut off; a link of a page to itself by file name
    under a <base> (printed as a file:// URL) is found, and the same link as a bare #fragment passes."""
    html = tmp_path / "page.html"
    html.write_text(
        "<html><body><article><h1>Only chapter</h1><p>The rate "
        '<span class="math notranslate nohighlight">\\(H(X \\mid Y)\\)</span> is achievable.</p></article>'
        "</body></html>",
        encoding="utf-8",
    )
    pdf = tmp_path / "page.pdf"
    print_pdf(html, pdf, budget_ms=2000)
    problems = pdf_problems(pdf, html)
    assert any("formula printed as TeX" in p for p in problems), problems
    assert any("no MathJax glyphs" in p for p in problems), problems
    assert not any("chapter missing" in p for p in problems), problems
    assert cut_off(html) == []
    html.write_text(
        html.read_text().replace(
            "</article>",
            "<h1>A chapter never printed</h1><pre style='overflow-x: auto'>" + "x = 1; " * 200 + "</pre>"
            "<table style='width: 3000px'><tbody><tr><td>wide</td></tr></tbody></table></article>",
        )
    )
    assert "chapter missing from the PDF: 'A chapter never printed'" in pdf_problems(pdf, html)
    found = cut_off(html)
    assert any("cut off on the right: pre" in p for p in found), found
    assert any("past the page: table" in p for p in found), found
    # the single page's situation: written in a subfolder, a <base> at the top folder, links to itself by name
    (tmp_path / "book").mkdir()
    for name, href in (("by_name", "book/by_name.html#end"), ("fragment", "#end")):
        html = tmp_path / "book" / f"{name}.html"
        html.write_text(
            f"<html><head><base href='../'></head><body><article><h1>Title</h1><a href='{href}'>to the end</a>"
            "<div style='height: 3000px'></div><h2 id='end'>End</h2></article></body></html>"
        )
        print_pdf(html, tmp_path / f"{name}.pdf", budget_ms=2000)
    assert any("file:// URLs" in p for p in pdf_problems(tmp_path / "by_name.pdf", tmp_path / "book" / "by_name.html"))
    assert pdf_problems(tmp_path / "fragment.pdf", tmp_path / "book" / "fragment.html") == []


def test_make_pdf_prints_the_whole_book_with_its_formulas(chromium):
    """``make pdf`` writes a new _build/pdf/book.pdf with every chapter, its formulas typeset, nothing cut off."""
    if os.environ.get("NDIC_TEST_PDF") != "1":
        pytest.skip("the PDF build takes minutes (the whole book again, then chromium): set NDIC_TEST_PDF=1 to run it")
    poppler("pdftotext")
    start = time.time()
    env = dict(os.environ, PYTHONWARNINGS="ignore::DeprecationWarning")
    run = subprocess.run(
        ["make", "pdf"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=BUILD_TIMEOUT_S, check=False
    )
    log = (run.stdout + run.stderr).splitlines()
    problems = [line for line in log if "WARNING" in line and "Kernel is running over TCP" not in line]
    assert run.returncode == 0, "make pdf failed:\n" + "\n".join(problems[-30:] or log[-40:])
    assert PDF.is_file() and PDF.stat().st_mtime >= start, f"make pdf did not write a new {PDF}"
    assert PDF.read_bytes()[:5] == b"%PDF-", f"{PDF} is not a PDF"
    page = single_page()
    titles, formulas = html_parts(page)
    assert len(titles) >= chapter_count(), f"{page} lacks chapters of _toc.yml: it has {titles}"
    assert formulas, f"{page} has no formula: the MathJax check would prove nothing"
    assert pdf_problems(PDF, page) == []
    assert cut_off(page) == []
