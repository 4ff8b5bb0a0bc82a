"""PEP 517 build backend: setuptools' wheels plus the start-up hook of ``ndic/_compat.py``.

Every wheel of ndic-book, regular or editable (``pip install [-e] .``, ``uv pip install [-e] .``,
``make env``, conda's ``-e .``), gets two more files at the root of site-packages:

- ``ndic_import_hooks.pth``: one line, ``import _ndic_import_hooks``, which ``site`` runs at every
  interpreter start, so that ``import torchvision`` and ``import compressai`` work in any python of the
  environment without importing ``ndic`` first (see the docstring of ``ndic/_compat.py``);
- ``_ndic_import_hooks.py``: ``ndic/_compat.py`` itself in a regular wheel; in an editable one, a
  few-line loader of the checkout's file, so that edits apply without reinstalling.

Both are listed in the wheel's ``RECORD``, so ``pip uninstall ndic-book`` removes them. Everything
else is setuptools' own (``setuptools.build_meta``).
"""

from __future__ import annotations

import base64
import hashlib
import os
import zipfile
from pathlib import Path

from setuptools import build_meta as _setuptools

HOOK_SOURCE = Path(__file__).resolve().parent.parent / "ndic" / "_compat.py"
HOOK_MODULE = "_ndic_import_hooks"
PTH_FILE = "ndic_import_hooks.pth"  # sorts after setuptools' "__editable__.*.pth", which it does not need

get_requires_for_build_sdist = _setuptools.get_requires_for_build_sdist
get_requires_for_build_wheel = _setuptools.get_requires_for_build_wheel
get_requires_for_build_editable = _setuptools.get_requires_for_build_editable
prepare_metadata_for_build_wheel = _setuptools.prepare_metadata_for_build_wheel
prepare_metadata_for_build_editable = _setuptools.prepare_metadata_for_build_editable
build_sdist = _setuptools.build_sdist


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)
    add_to_wheel(Path(wheel_directory, name), startup_files(HOOK_SOURCE.read_bytes()))
    return name


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    name = _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)
    add_to_wheel(Path(wheel_directory, name), startup_files(editable_loader(HOOK_SOURCE)))
    return name


def editable_loader(source: Path) -> bytes:
    """Module text that runs the checkout's hook file (silently nothing once the checkout is gone)."""
    return (
        f'"""Start-up hook of an editable ndic-book install: runs {source} (read its docstring)."""\n\n'
        "import os as _os\n"
        "from importlib.machinery import SourceFileLoader as _Loader\n\n"
        f"_SOURCE = {str(source)!r}\n"
        "if _os.path.isfile(_SOURCE):  # compiled once, cached in the checkout's __pycache__ like any module\n"
        "    exec(_Loader(__name__, _SOURCE).get_code(__name__))\n"
    ).encode()


def startup_files(module_text: bytes) -> dict[str, bytes]:
    return {f"{HOOK_MODULE}.py": module_text, PTH_FILE: f"import {HOOK_MODULE}\n".encode()}


def add_to_wheel(wheel: Path, files: dict[str, bytes]) -> None:
    """Rewrite ``wheel`` with ``files`` added at its root and listed in its RECORD (atomically)."""
    partial = wheel.with_name(wheel.name + ".partial")
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as target:
        records = [info for info in source.infolist() if info.filename.endswith(".dist-info/RECORD")]
        if len(records) != 1:
            raise RuntimeError(f"{wheel.name}: expected one .dist-info/RECORD, found {len(records)}")
        for info in source.infolist():
            data = source.read(info)
            if info is records[0]:
                data = data if data.endswith(b"\n") or not data else data + b"\n"
                data += b"".join(_record_line(path, content) for path, content in files.items())
            target.writestr(info, data)
        for path, content in files.items():
            target.writestr(path, content)
    os.replace(partial, wheel)


def _record_line(path: str, content: bytes) -> bytes:
    digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(content)}\n".encode()
