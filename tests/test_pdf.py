"""`make pdf`: the book as one PDF, its single-page HTML build printed by Debian's chromium.

The build executes and renders the whole book once more (the single-page builder) and then prints it, which
takes minutes: it runs only when ``NDIC_TEST_PDF=1`` is set, so CI stays fast. The PDF must be new, hold
every chapter of the single-page build, and show its formulas typeset by MathJax: none of the TeX sources
of the page's formulas may be left as text, and MathJax's glyphs must be embedded (Type 3 fonts; chromium
embeds the pages' ordinary fonts as TrueType). The same checks are first shown to fail on a page printed
without MathJax, which runs whenever chromium and poppler-utils are installed.

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
SINGLEHTML = ROOT / "_build" / "singlehtml" / "index.html"
BUILD_TIMEOUT_S = 3600  # the whole book, notebooks re-executed where their cache is stale, on 2 shared cores


def chapter_count() -> int:
    """The documents of ``_toc.yml``: the root and every chapter."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return 1 + sum(len(part.get("chapters", [])) for part in toc.get("parts", []))


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
    titles = [h1.get_text(" ", strip=True) for h1 in soup.select("article h1, main h1, body > h1")]
    formulas = [node.get_text() for node in soup.select(".math")]
    return list(dict.fromkeys(titles)), formulas


def pdf_problems(pdf: Path, html: Path) -> list[str]:
    """What is wrong with ``pdf``, the print of ``html``: missing chapters, formulas left as TeX, no MathJax."""
    pages = subprocess.run([poppler("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True).stdout
    count = int(re.search(r"^Pages:\s+(\d+)", pages, re.MULTILINE).group(1))
    text = subprocess.run([poppler("pdftotext"), str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    fonts = subprocess.run([poppler("pdffonts"), str(pdf)], capture_output=True, text=True, check=True).stdout
    titles, formulas = html_parts(html)
    flat = squeeze(text)
    problems = [f"chapter missing from the PDF: {title!r}" for title in titles if squeeze(title) not in flat]
    problems += [f"formula printed as TeX: {tex.strip()[:60]!r}" for tex in formulas if squeeze(tex) in flat]
    if formulas and "Type 3" not in fonts:
        problems.append(f"no MathJax glyphs embedded in the {count}-page PDF: the formulas were not typeset")
    return problems


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


def test_the_pdf_check_catches_untypeset_formulas_and_missing_chapters(chromium, tmp_path):
    """A page printed without MathJax fails the check; the check names the chapter the PDF lacks."""
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
    html.write_text(html.read_text().replace("</article>", "<h1>A chapter never printed</h1></article>"))
    assert "chapter missing from the PDF: 'A chapter never printed'" in pdf_problems(pdf, html)


def test_make_pdf_prints_the_whole_book_with_its_formulas(chromium):
    """``make pdf`` writes a new _build/pdf/book.pdf with every chapter and its formulas typeset."""
    if os.environ.get("NDIC_TEST_PDF") != "1":
        pytest.skip("the PDF build takes minutes (the whole book again, then chromium): set NDIC_TEST_PDF=1 to run it")
    poppler("pdfinfo")
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
    titles, formulas = html_parts(SINGLEHTML)
    assert len(titles) >= chapter_count(), f"{SINGLEHTML} lacks chapters of _toc.yml: it has {titles}"
    assert formulas, f"{SINGLEHTML} has no formula: the MathJax check would prove nothing"
    assert pdf_problems(PDF, SINGLEHTML) == []
