"""What every data_prep command shares: its arguments, importing local copies, and the import path."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from ndic.data import default_root


def parser(command: str, dataset: str, description: str) -> argparse.ArgumentParser:
    """Arguments of every command: ``--root`` (default: where ``ndic.data.load(dataset)`` looks) and ``--from``."""
    p = argparse.ArgumentParser(prog=f"python -m data_prep.{command}", description=description)
    p.add_argument("--root", type=Path, default=default_root(dataset), help="destination (default: %(default)s)")
    p.add_argument("--from", dest="source", type=Path, default=None, help="use files already downloaded to this folder")
    p.add_argument("--copy", action="store_true", help="with --from: copy folders instead of linking them")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def place(source: Path, target: Path, copy: bool = False) -> None:
    """Make ``target`` show ``source`` (a symbolic link, or a copy with ``copy``); an existing target stays."""
    if target.exists() or target.is_symlink():
        if target.resolve() != source.resolve():
            print(f"keeping the existing {target} (not replacing it with {source})")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if copy:
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, target)
    else:
        os.symlink(source.resolve(), target, target_is_directory=source.is_dir())
