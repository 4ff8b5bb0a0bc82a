"""Start-up hooks (ndic/_compat.py, installed by build_backend/ndic_backend.py as ndic_import_hooks.pth).

Every check runs in a fresh interpreter of this environment, started outside the checkout and
without importing ndic, as a user's ``python -c "import compressai"`` would be.
"""

import base64
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

from conftest import ROOT

REINSTALL = "the environment lacks ndic's start-up hook: run `make env` (or `pip install -e .`) again"
HEAVY = ("torch_geometric", "pandas", "torchvision", "torch._dynamo")


def _python(args, tmp_path, hooks=None, check=True):
    env = {k: v for k, v in os.environ.items() if k not in ("NDIC_IMPORT_HOOKS", "PYTHONPATH")}
    env["OMP_NUM_THREADS"] = "1"
    if hooks is not None:
        env["NDIC_IMPORT_HOOKS"] = hooks
    args = ["-c", args] if isinstance(args, str) else args
    done = subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(f"{args} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done


def _last_json(done):
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_hook_loads_at_interpreter_start_and_imports_nothing_heavy(tmp_path):
    code = "import sys, json; print(json.dumps([m in sys.modules for m in ('_ndic_import_hooks', 'ndic', 'torch')]))"
    loaded, ndic, torch = _last_json(_python(code, tmp_path))
    assert loaded, REINSTALL
    assert not ndic and not torch


def test_installed_hook_runs_this_checkouts_file(tmp_path):
    code = "import _ndic_import_hooks as h; print(h.__file__)"
    installed = _python(code, tmp_path).stdout.strip()
    text = open(installed, "rb").read()
    source = ROOT / "ndic" / "_compat.py"
    # editable install: a loader naming this checkout's file; regular install: a copy of it
    assert repr(str(source)).encode() in text or text == source.read_bytes(), REINSTALL


@pytest.mark.parametrize("order", ["torchvision, compressai", "compressai, torchvision"])
def test_torchvision_and_compressai_import_on_their_own(tmp_path, order):
    code = (
        f"import sys, json, {order}\n"
        "from compressai.entropy_models import EntropyBottleneck\n"
        "print(json.dumps(['ndic' in sys.modules, torchvision.__version__.split('+')[0], compressai.__version__]))"
    )
    assert _last_json(_python(code, tmp_path)) == [False, "0.28.0", "1.2.8"]


def test_schemas_declared_exactly_when_torchvisions_extension_cannot_load(tmp_path):
    declared = _python(
        "import torchvision, _ndic_import_hooks as h; print(h.active_hooks().declared_torchvision_schemas)", tmp_path
    ).stdout.strip()
    probe = (
        "import glob, os, importlib.util, torch\n"
        "folder = importlib.util.find_spec('torchvision').submodule_search_locations[0]\n"
        "try:\n    [torch.ops.load_library(p) for p in glob.glob(os.path.join(folder, '_C*.so'))]\n"
        "except OSError:\n    print('fails')\nelse:\n    print('loads')\n"
    )
    loads = _python(probe, tmp_path, hooks="0").stdout.strip()
    assert (declared, loads) in (("True", "fails"), ("False", "loads"))


def test_compressai_eval_model_runs_without_ndic(tmp_path):
    import torch
    from compressai.models import FactorizedPrior
    from PIL import Image

    torch.manual_seed(0)
    net = FactorizedPrior(16, 24)
    torch.save(net.state_dict(), tmp_path / "fp.pth.tar")
    (tmp_path / "images").mkdir()
    gradient = torch.linspace(0, 1, 192)
    x = torch.stack(
        [
            gradient[None, :] * gradient[:, None],
            gradient[None, :].expand(192, 192),
            1 - gradient[:, None].expand(192, 192),
        ]
    )
    pixels = (x * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    Image.fromarray(pixels).save(tmp_path / "images" / "a.png")
    cli = ["-m", "compressai.utils.eval_model", "checkpoint", "images", "-a", "bmshj2018-factorized"]
    done = _python([*cli, "-p", "fp.pth.tar"], tmp_path)
    results = json.loads(done.stdout[done.stdout.index("{") :])["results"]

    # the same coding through the library in this process: real stream length and PSNR
    net.update(force=True)
    x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255
    out = net.compress(x)
    x_hat = net.decompress(out["strings"], out["shape"])["x_hat"].clamp(0, 1)
    bpp = sum(len(s) for strings in out["strings"] for s in strings) * 8 / (192 * 192)
    psnr = 10 * math.log10(1 / torch.mean((x - x_hat) ** 2).item())
    assert results["bpp"][0] == pytest.approx(bpp, rel=1e-9)
    assert results["psnr-rgb"][0] == pytest.approx(psnr, abs=1e-3)


def test_image_models_import_no_point_cloud_path(tmp_path):
    code = (
        "import sys, json, torch\n"
        f"heavy = {HEAVY!r}\n"
        "import compressai\n"
        "from compressai.models import ScaleHyperprior\n"
        "net = ScaleHyperprior(16, 24)\n"
        "heavy += ('scipy.stats._stats_py',)  # scipy.stats executed, not only its lazy module\n"
        "ran = lambda: [m.split('._')[0] for m in heavy if m in sys.modules]\n"
        "first = ran()\n"
        "net.update(force=True)\n"
        "x = torch.rand(1, 3, 64, 64)\n"
        "out = net.compress(x)\n"
        "x_hat = net.decompress(out['strings'], out['shape'])['x_hat']\n"
        "then = ran()\n"
        "print(json.dumps([first, then, list(x_hat.shape)]))\n"
    )
    first, then, shape = _last_json(_python(code, tmp_path))
    assert first == []  # GaussianConditional.update is the first use of scipy.stats
    assert then == ["scipy.stats"]
    assert shape == [1, 3, 64, 64]


def test_point_cloud_path_still_imports_on_demand(tmp_path):
    code = (
        "import sys, json\n"
        "import compressai.datasets as D, compressai.transforms as T\n"
        "before = 'torch_geometric' in sys.modules\n"
        "from compressai.datasets import ModelNetDataset\n"
        "from compressai.transforms import RandomSample\n"
        "import torch_geometric.transforms\n"
        "print(json.dumps([before, ModelNetDataset.__module__, T.point.RandomSample is RandomSample,\n"
        "                  issubclass(RandomSample, torch_geometric.transforms.BaseTransform)]))\n"
    )
    assert _last_json(_python(code, tmp_path)) == [False, "compressai.datasets.pointcloud.modelnet", True, True]


def test_unknown_attribute_of_a_deferring_package_is_still_an_attribute_error(tmp_path):
    code = (
        "import compressai.transforms as T\n"
        "try:\n    T.NoSuchTransform\nexcept AttributeError as err:\n    print(err)\n"
    )
    assert "has no attribute 'NoSuchTransform'" in _python(code, tmp_path).stdout


_SNAPSHOT = """
import json, compressai, _ndic_import_hooks as h
from compressai import registry, datasets, transforms
def name(v):
    return f"{getattr(v, '__module__', '')}.{getattr(v, '__qualname__', v)}"
def star(module):
    namespace = {}
    exec(f"from {module} import *", namespace)
    return sorted(n for n in namespace if not n.startswith("__"))
snapshot = {
    "transforms_star": star("compressai.transforms"),
    "datasets_star": star("compressai.datasets"),
    "datasets_all": datasets.__all__,
    "TRANSFORMS": [[k, name(v)] for k, v in registry.TRANSFORMS.items()],
    "DATASETS": [[k, name(v)] for k, v in registry.DATASETS.items()],
    "transforms_dir": sorted(n for n in dir(transforms) if not n.startswith("_")),
    "datasets_dir": sorted(n for n in dir(datasets) if not n.startswith("_")),
    "RandomSample": name(transforms.RandomSample),
}
print(json.dumps([snapshot, h.active_hooks().changed]))
"""


def test_deferred_modules_end_up_as_compressai_builds_them(tmp_path):
    deferred, changed = _last_json(_python(_SNAPSHOT, tmp_path))
    published, unchanged = _last_json(_python(_SNAPSHOT, tmp_path, hooks="torchvision"))
    assert unchanged == [] and len(changed) == 5  # two different import paths were compared
    assert deferred == published
    assert ["Compose", "torch_geometric.transforms.compose.Compose"] in deferred["TRANSFORMS"]


def test_lazy_scipy_stats_gives_the_same_gaussian_tables(tmp_path):
    code = (
        "import hashlib, torch\n"
        "from compressai.entropy_models import GaussianConditional\n"
        "scales = torch.exp(torch.linspace(torch.log(torch.tensor(0.11)), torch.log(torch.tensor(256.0)), 64))\n"
        "gc = GaussianConditional(scales.tolist())\n"
        "gc.update()\n"
        "print(hashlib.sha256(gc._quantized_cdf.numpy().tobytes() + gc._offset.numpy().tobytes()).hexdigest())\n"
    )
    lazy = _python(code, tmp_path).stdout.strip()
    eager = _python(code, tmp_path, hooks="torchvision").stdout.strip()
    assert lazy == eager and len(lazy) == 64


def test_a_changed_compressai_file_imports_as_it_is(tmp_path):
    code = (
        "import sys, json, _ndic_import_hooks as h\n"
        "h._COMPRESSAI_1_2_8.update({k: '0' * 64 for k in h._COMPRESSAI_1_2_8})  # as if another version\n"
        "import compressai\n"
        "print(json.dumps(['torch_geometric' in sys.modules, h.active_hooks().changed]))\n"
    )
    assert _last_json(_python(code, tmp_path)) == [True, []]


def test_hooks_can_be_turned_off(tmp_path):
    code = (
        "import sys, json, _ndic_import_hooks as h\n"
        "print(json.dumps([h.active_hooks() is None, [type(f).__name__ for f in sys.meta_path]]))\n"
    )
    off, finders = _last_json(_python(code, tmp_path, hooks="0"))
    assert off and "NdicImportHooks" not in finders


def test_ndic_import_and_help_import_no_torch(tmp_path):
    code = (
        "import runpy, sys\n"
        "sys.argv = ['ndic', '--help']\n"
        "try:\n    runpy.run_module('ndic', run_name='__main__')\nexcept SystemExit as stop:\n    status = stop.code\n"
        "print('torch' in sys.modules, status)\n"
    )
    assert _python(code, tmp_path).stdout.strip().splitlines()[-1] == "False 0"


def _record(wheel: zipfile.ZipFile) -> dict[str, tuple[str, str]]:
    name = next(n for n in wheel.namelist() if n.endswith(".dist-info/RECORD"))
    rows = [line.split(",") for line in wheel.read(name).decode().splitlines() if line]
    return {path: (digest, size) for path, digest, size in rows}


def test_wheels_carry_the_hook_and_list_it_in_record(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md", "MANIFEST.in"):
        shutil.copy(ROOT / name, project / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("ndic", "build_backend"):
        shutil.copytree(ROOT / name, project / name, ignore=ignore)
    build = (
        "import json, sys; sys.path.insert(0, 'build_backend'); import ndic_backend as b\n"
        "built = [b.build_wheel('dist'), b.build_editable('dist'), b.build_sdist('dist')]\n"
        "print(json.dumps(built))\n"
    )
    regular, editable, sdist = _last_json(_python(build, project))
    with tarfile.open(project / "dist" / sdist) as archive:  # a wheel built from the sdist needs the backend
        assert f"{sdist.removesuffix('.tar.gz')}/build_backend/ndic_backend.py" in archive.getnames()
    source = (project / "ndic" / "_compat.py").read_bytes()
    for wheel_name, editable_wheel in ((regular, False), (editable, True)):
        with zipfile.ZipFile(project / "dist" / wheel_name) as wheel:
            assert wheel.read("ndic_import_hooks.pth") == b"import _ndic_import_hooks\n"
            module = wheel.read("_ndic_import_hooks.py")
            if editable_wheel:
                assert repr(str(project / "ndic" / "_compat.py")).encode() in module
            else:
                assert module == source and "ndic/_compat.py" in wheel.namelist()
            record = _record(wheel)
            for path in ("ndic_import_hooks.pth", "_ndic_import_hooks.py"):
                content = wheel.read(path)
                digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
                assert record[path] == (f"sha256={digest}", str(len(content)))
