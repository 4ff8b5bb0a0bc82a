"""The files the book's notebooks read, and the execution cache that must not outlive them.

Jupyter Book's cache runs a notebook again only when its code changes. The book's numbers come from files
(results, committed checkpoints, benchmark records), so a new result file would leave a cached page showing
the old numbers. Before each build, :func:`drop_stale_cache` drops the cache when those files changed since
the build that filled it: ``python -m ndic.book_inputs`` (``make book`` and ``make pdf`` call it).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from .paths import project_root

# folders of the checkout whose files the notebooks and pages read
INPUTS = ("results", "checkpoints", "benchmarks/results")
CACHE = Path("_build") / ".jupyter_cache"
# beside the cache, not in it: the cache folder belongs to jupyter-cache
FINGERPRINT = Path("_build") / ".jupyter_cache.inputs"


def fingerprint(root: str | os.PathLike) -> str:
    """SHA-256 over the names and contents of every file under the :data:`INPUTS` folders of ``root``."""
    root = Path(root)
    digest = hashlib.sha256()
    for folder in INPUTS:
        for path in sorted(p for p in (root / folder).rglob("*") if p.is_file()):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def drop_stale_cache(root: str | os.PathLike | None = None) -> bool:
    """Remove ``root``'s execution cache when the input files changed since it was filled (or when nobody
    recorded what it was filled from); record the current inputs. True when a cache was dropped."""
    root = Path(root) if root is not None else project_root()
    cache, stamp = root / CACHE, root / FINGERPRINT
    current = fingerprint(root)
    recorded = stamp.read_text().strip() if stamp.is_file() else None
    dropped = cache.is_dir() and recorded != current
    if dropped:
        shutil.rmtree(cache)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(current + "\n")
    return dropped


def main() -> None:
    if drop_stale_cache():
        print(f"==> {', '.join(INPUTS)} changed since the last build: its notebooks run again ({CACHE} dropped)")


if __name__ == "__main__":
    main()
