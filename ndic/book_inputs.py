"""The files the book's pages read, and the build state that must not outlive them.

Jupyter Book's cache runs a notebook again only when its code changes, and Sphinx reads a page again only
when its own source changes. The book's numbers come from other files (results, committed checkpoints,
benchmark records, and the package that computes from them), so a new result file would leave a page
showing the old numbers. Before each build, :func:`drop_stale_cache` drops the execution cache and Sphinx's
saved pages when those files changed since the build that filled them: ``python -m ndic.book_inputs``
(``make book`` and ``make pdf`` call it).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from .paths import project_root

# folders of the checkout whose files the notebooks and pages read (ndic: the code, and its published points)
INPUTS = ("results", "checkpoints", "benchmarks/results", "ndic")
CACHE = Path("_build") / ".jupyter_cache"
DOCTREES = Path("_build") / ".doctrees"  # Sphinx's saved pages: without them every page is read again
# beside the cache, not in it: the cache folder belongs to jupyter-cache
FINGERPRINT = Path("_build") / ".jupyter_cache.inputs"


def fingerprint(root: str | os.PathLike) -> str:
    """SHA-256 over the names and contents of every file under the :data:`INPUTS` folders of ``root``."""
    root = Path(root)
    digest = hashlib.sha256()
    for folder in INPUTS:
        for path in sorted(p for p in (root / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def drop_stale_cache(root: str | os.PathLike | None = None) -> bool:
    """Remove ``root``'s execution cache and saved pages when the input files changed since they were made (or
    when nobody recorded what they were made from); record the current inputs. True when anything was dropped."""
    root = Path(root) if root is not None else project_root()
    stamp = root / FINGERPRINT
    current = fingerprint(root)
    recorded = stamp.read_text().strip() if stamp.is_file() else None
    stale = [root / folder for folder in (CACHE, DOCTREES) if (root / folder).is_dir()] if recorded != current else []
    for folder in stale:
        shutil.rmtree(folder)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(current + "\n")
    return bool(stale)


def main() -> None:
    if drop_stale_cache():
        print(f"==> {', '.join(INPUTS)} changed since the last build: every page is built again")


if __name__ == "__main__":
    main()
