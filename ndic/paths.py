"""Where things are: the checkout, paths given relative to it, and the default folder runs write to.

Notebooks run from ``notebooks/`` (Jupyter Book, nbval) or from the checkout's root (papermill), and
commands from anywhere: :func:`resolve` makes a relative path work from both, and :func:`display`
prints a path relative to the checkout (never the absolute path of the machine that ran it).
"""

from __future__ import annotations

import os
from pathlib import Path

RUNS = "runs"  # the default output folder of every run (git-ignored); committed results live in results/


def project_root() -> Path:
    """The checkout holding the package (recognised by its ``_toc.yml``), else the current folder."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "_toc.yml").is_file() else Path.cwd()


def resolve(path: str | os.PathLike) -> Path:
    """``path`` as given if absolute or present from here, else relative to the checkout's root."""
    path = Path(path).expanduser()
    if path.is_absolute() or path.exists():
        return path
    return project_root() / path


def display(path: str | os.PathLike) -> str:
    """``path`` relative to the checkout when it lies inside it, else as given."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(project_root().resolve()))
    except ValueError:
        return str(path)


# folders below a results folder that hold training records (logs, and the own evaluation of a run that is a
# starting point rather than a curve point, see ndic.cpu_reproduction.Job.result): results.find_results leaves
# them out; read them by their own path
TRAINING_RECORDS = "training"
