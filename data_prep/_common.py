"""What every data_prep command shares: its arguments, its errors, importing local copies, and the import path."""

from __future__ import annotations

import argparse
import errno
import os
import shutil
import sys
from collections.abc import Callable
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


def run_command(main: Callable[[list[str]], int], command: str, argv: list[str] | None = None) -> int:
    """``main(argv)`` as a command: an error is one line on stderr and exit status 2; ``--debug`` keeps the traceback.

    Errors are the user's or the machine's (a missing archive, a wrong checksum, a full disk, no
    network); ``main`` itself raises them, so that Python callers and tests see the exception.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        return int(main(argv) or 0)
    except (OSError, ValueError, RuntimeError, KeyError, SystemExit) as error:
        if debug or (isinstance(error, SystemExit) and not isinstance(error.code, str)):
            raise  # argparse's usage errors and --help exit on their own; a str code is a message
        text = (
            error.code if isinstance(error, SystemExit) else (error.args[0] if isinstance(error, KeyError) else error)
        )
        text = " ".join(str(text).removeprefix("error: ").split()) or type(error).__name__
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            text += "; free some space, or choose another --root DIR"
        print(f"python -m data_prep.{command}: error: {text} (--debug shows the traceback)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"python -m data_prep.{command}: interrupted", file=sys.stderr)
        return 130
