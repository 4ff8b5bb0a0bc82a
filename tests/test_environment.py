"""The environment files agree, and the project's own wiring (README, Makefile, CI) holds."""

import re
import subprocess
import sys
import tomllib

import yaml

from conftest import ROOT


def _pyproject_pins() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"])
    for extra in meta["optional-dependencies"].values():
        reqs += extra
    return dict(_split_pin(r) for r in reqs)


def _split_pin(req: str) -> tuple[str, str]:
    match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", req.strip())
    assert match, f"{req!r} is not pinned exactly (name==version)"
    return match.group(1).lower(), match.group(2)


def _conda_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1, "environment.yml needs exactly one pip: section"
    return dict(_split_pin(r) for r in pip_lists[0] if not r.startswith("-e"))


def test_every_requirement_is_pinned_and_the_two_files_agree():
    pyproject, conda = _pyproject_pins(), _conda_pins()
    only_py = sorted(set(pyproject) - set(conda))
    only_conda = sorted(set(conda) - set(pyproject))
    assert not only_py and not only_conda, f"only in pyproject: {only_py}; only in environment.yml: {only_conda}"
    differ = {k: (pyproject[k], conda[k]) for k in pyproject if pyproject[k] != conda[k]}
    assert not differ, f"versions differ (pyproject, environment.yml): {differ}"


def test_conda_environment_uses_the_same_python_minor_as_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]


def test_installed_versions_match_the_pins():
    from importlib.metadata import PackageNotFoundError, version

    wrong = {}
    for name, pinned in _pyproject_pins().items():
        try:
            got = version(name)
        except PackageNotFoundError:
            got = None
        if got is None or got.split("+")[0] != pinned:
            wrong[name] = (pinned, got)
    assert not wrong, f"installed versions differ from the pins (pinned, installed): {wrong}"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make book" in readme
    assert re.search(r"^make test$", ci, re.M), ".ci/run must call `make test`"


def test_torchvision_and_compressai_import_in_a_fresh_process():
    code = (
        "import ndic, compressai, torchvision\n"
        "from ndic import _compat\n"
        "from compressai.entropy_models import EntropyBottleneck\n"
        "print(_compat.declared_torchvision_schemas)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    declared = out.stdout.strip() == "True"
    # the schemas are declared exactly when torchvision's compiled ops cannot load
    probe = (
        "import glob, os, importlib.util, torch\n"
        "pkg = importlib.util.find_spec('torchvision').submodule_search_locations[0]\n"
        "try:\n    [torch.ops.load_library(p) for p in glob.glob(os.path.join(pkg, '_C*.so'))]\n"
        "except OSError:\n    print('fails')\nelse:\n    print('loads')\n"
    )
    loads = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip()
    assert declared == (loads == "fails"), (declared, loads)


def test_declared_torchvision_ops_fail_loudly_when_called():
    import torch

    import ndic  # noqa: F401
    from ndic import _compat

    if not _compat.declared_torchvision_schemas:
        import pytest

        pytest.skip("torchvision's compiled ops load here; nothing was declared")
    import torchvision

    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    try:
        torchvision.ops.nms(boxes, torch.tensor([1.0]), 0.5)
    except (NotImplementedError, RuntimeError) as err:
        assert "nms" in str(err) or "C++ ops" in str(err)
    else:
        raise AssertionError("a declared-only op must not run silently")
