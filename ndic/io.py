"""Atomic file writes: a reader never sees a half-written checkpoint, result or bitstream.

A file is written as a temporary ``.<name>.<host>.<pid>.<random>.tmp`` in its folder, then renamed
over ``<name>``. A process killed in between leaves the temporary behind (up to ~1 GB for a paper-size
checkpoint); :func:`remove_stale_temporaries` deletes such orphans, and only those: the writer named
in the temporary's name tells a dead writer's file from one a live process is still writing.
"""

from __future__ import annotations

import io
import os
import re
import socket
import tempfile
import time
from pathlib import Path

PROCESS_START = time.time()  # (first import of ndic.io) this process wrote no temporary before it
STALE_AFTER_S = 3600.0  # a temporary untouched this long has no live writer: a write takes seconds


def _host_tag() -> str:
    """This machine's name as one dot-free token (temporaries on a shared disk name their host)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.{_host_tag()}.{os.getpid()}."  # the writer, for remove_stale_temporaries
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600 files; give the result the permissions a plain open() would
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(obj, path: str | os.PathLike) -> Path:
    """``torch.save`` that leaves either the old file or the complete new one, never a torso."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _is_stale(tmp: Path, name: str, max_age: float) -> bool:
    """Whether ``tmp`` (a temporary of ``name``) was left by a writer that is gone."""
    modified = tmp.stat().st_mtime
    if time.time() - modified > max_age:
        return True
    writer = tmp.name[len(name) + 2 : -len(".tmp")].split(".")  # host, pid, random (older names: random only)
    if len(writer) != 3 or writer[0] != _host_tag() or not writer[1].isdigit() or os.name != "posix":
        return False  # writer unknown or on another machine: by age only
    pid = int(writer[1])
    if pid == os.getpid():  # ours if written since this process started, else an earlier holder of the pid
        return modified < PROCESS_START
    return not _process_alive(pid)


def remove_stale_temporaries(folder: str | os.PathLike, name: str, max_age: float = STALE_AFTER_S) -> list[Path]:
    """Delete the orphaned temporaries ``.<name>.*.tmp`` that killed writers left in ``folder``.

    A temporary is an orphan when the process that wrote it (host and pid in its name) has ended, when
    that pid is this process's own but the file predates it (pids are reused, in containers often), or
    when it has not been modified for ``max_age`` seconds (names without a writer, other hosts). A live
    writer's temporary, this process's included, is kept. Returns the removed paths, sorted.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    prefix = f".{name}."
    removed = []
    for tmp in sorted(folder.iterdir()):
        if not (tmp.name.startswith(prefix) and tmp.name.endswith(".tmp") and tmp.is_file()):
            continue
        try:
            if _is_stale(tmp, name, max_age):
                tmp.unlink()
                removed.append(tmp)
        except FileNotFoundError:  # renamed or removed meanwhile by its writer or another cleaner
            continue
    return removed
