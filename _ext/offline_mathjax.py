"""Sphinx extension: serve MathJax from the built book, so formulas render without the network.

The MathJax 3 files come from the pinned PyPI package ``django-static-mathjax`` (MathJax's own ``es5``
build, Apache-2.0; the package needs no Django to be installed). At the end of an HTML build they are
copied to ``_static/mathjax/`` of the output, which ``mathjax_path: mathjax/tex-mml-chtml.js`` in
``_config.yml`` points at. They are copied, not listed in ``html_static_path``: Jupyter Book would add
every ``.js`` file of a static folder to every page.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.errors import ConfigError

PACKAGE = "django-static-mathjax==3.2.2.1"
ENTRY = "tex-mml-chtml.js"
# the combined component and what it loads on demand (fonts, TeX extensions, menu, accessibility)
PARTS = [ENTRY, "input", "output", "ui", "a11y", "adaptors", "sre"]


def mathjax_source() -> Path:
    """The installed MathJax ``es5`` folder, or a ConfigError that names the package to install."""
    try:
        folder = Path(str(resources.files("mathjax"))) / "static" / "mathjax" / "es5"
    except ModuleNotFoundError:
        folder = None
    if folder is None or not (folder / ENTRY).is_file():
        raise ConfigError(f"MathJax for offline pages is missing: install {PACKAGE} (make env installs it)")
    return folder


def check(app: Sphinx, config) -> None:
    mathjax_source()  # fail at the start of a build, not after it
    if "://" in (config.mathjax_path or ""):
        raise ConfigError(
            f"mathjax_path is {config.mathjax_path!r}, a URL: set it to mathjax/{ENTRY} in _config.yml "
            "(the book serves MathJax itself)"
        )


def copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source, target = mathjax_source(), Path(app.outdir) / "_static" / "mathjax"
    target.mkdir(parents=True, exist_ok=True)
    for part in PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, dirs_exist_ok=True)
        elif (source / part).is_file():
            shutil.copy2(source / part, target / part)
    licence = source.parent / "LICENSE"
    if licence.is_file():
        shutil.copy2(licence, target / "LICENSE")


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", check)
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
