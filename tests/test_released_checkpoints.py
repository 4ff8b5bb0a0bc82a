"""The originals' checkpoint files as they distribute them load, and code the bytes their weights code.

STF's ``train.py`` saves ``{"epoch", "state_dict", "loss", "optimizer", "aux_optimizer", "lr_scheduler"}``
(keys prefixed ``module.`` when trained through DataParallel, the entropy bottleneck under CompressAI 1.1's
names, coder tables of whatever length its ``update()`` made, or none before it); NDIC-CAM's ``main.py``
saves ``{"model_state_dict", "optimizer_state_dict"}`` (released weights with ``z`` where the code has ``w``).
Each layout is written to a file, read back through ``ndic.checkpoint.load_model`` or ``python -m ndic
evaluate``, and the loaded model must compute what the saved weights compute: the same bitstream bytes.
A file that does not fit is one line naming the keys, never a traceback.
"""

import sys

import pandas as pd
import pytest
import torch
from compressai.models.base import get_scale_table

from ndic import data, models
from ndic.__main__ import main
from ndic.checkpoint import load_model, state_dict_of
from ndic.config import load_config

SMALL = {"N": 32, "M": 80}  # WACNN: 10 slices of 8 channels, 8 attention heads divide both widths


# bitwise comparisons need a fixed thread count (conftest.one_thread)
pytestmark = pytest.mark.usefixtures("one_thread")


def _image() -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.rand(1, 3, 64, 128, generator=generator)


def _coded(model, x: torch.Tensor) -> list[bytes]:
    with torch.no_grad():
        strings = model.eval().compress(x)["strings"]
    return [bytes(s) for latent in strings for s in latent]


@pytest.fixture(scope="module")
def original():
    """A small WACNN with its coder tables built; weights doubled so that most latents are non-zero."""
    torch.manual_seed(0)
    model = models.build("wacnn", **SMALL).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
                module.weight.mul_(2.0)
    model.update(force=True)
    return model


def _optimizer_states(model) -> dict:
    """What STF's train.py stores besides the weights: optimisers and scheduler after one step."""
    main_parameters = [p for n, p in model.named_parameters() if not n.endswith(".quantiles")]
    optimizer = torch.optim.Adam(main_parameters, lr=1e-4)
    aux_optimizer = torch.optim.Adam([model.entropy_bottleneck.quantiles], lr=1e-3)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, "min", factor=0.3, patience=4)
    for parameter in [*main_parameters, model.entropy_bottleneck.quantiles]:
        parameter.grad = torch.zeros_like(parameter)
    optimizer.step()
    aux_optimizer.step()
    scheduler.step(1.0)
    for parameter in [*main_parameters, model.entropy_bottleneck.quantiles]:
        parameter.grad = None
    return {
        "optimizer": optimizer.state_dict(),
        "aux_optimizer": aux_optimizer.state_dict(),
        "lr_scheduler": scheduler.state_dict(),
    }


def _compressai_1_1_names(state: dict) -> dict:
    """The entropy bottleneck's parameters as STF's vendored CompressAI 1.1 names them (``_matrix0``, ...)."""
    renamed = {}
    for key, value in state.items():
        for new, old in (("matrices", "_matrix"), ("biases", "_bias"), ("factors", "_factor")):
            key = key.replace(f"entropy_bottleneck.{new}.", f"entropy_bottleneck.{old}")
        renamed[key] = value
    return renamed


def _layout(name: str, model) -> object:
    state = dict(model.state_dict())
    train_py = {"epoch": 41, "loss": torch.tensor(1.25), **_optimizer_states(model)}
    if name == "bare state dict":
        return state
    if name == "STF train.py":
        return {**train_py, "state_dict": state}
    if name == "STF train.py, DataParallel":
        return {**train_py, "state_dict": {f"module.{k}": v for k, v in state.items()}}
    if name == "torch.compile of DataParallel":
        return {"state_dict": {f"_orig_mod.module.{k}": v for k, v in state.items()}}
    if name == "CompressAI 1.1 names, stale h_s keys":
        stale = {"h_s.0.weight": torch.zeros(8, 8, 3, 3), "h_s.0.bias": torch.zeros(8)}
        return {**train_py, "state_dict": {**_compressai_1_1_names(state), **stale}}
    raise AssertionError(name)


LAYOUTS = [
    "bare state dict",
    "STF train.py",
    "STF train.py, DataParallel",
    "torch.compile of DataParallel",
    "CompressAI 1.1 names, stale h_s keys",
]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_stf_layouts_load_and_code_the_original_bytes(original, layout, tmp_path):
    path = tmp_path / "checkpoint.pth.tar"
    torch.save(_layout(layout, original), path)
    loaded = load_model(path, load_config(None, model="wacnn", model_config=SMALL)).eval()

    x = _image()
    assert _coded(loaded, x) == _coded(original, x)
    with torch.no_grad():
        assert torch.equal(loaded(x)["x_hat"], original(x)["x_hat"])
    assert loaded.checkpoint_info["path"] == str(path)


def test_coder_tables_of_another_length_are_loaded_as_saved(original, tmp_path):
    """Tables built from a 32-level scale table (64 by default) replace whatever the model had."""
    saved = models.build("wacnn", **SMALL)
    saved.load_state_dict(original.state_dict())
    saved.update(scale_table=get_scale_table(levels=32), force=True)
    x = _image()
    assert _coded(saved, x) != _coded(original, x)  # the tables matter to the bytes
    path = tmp_path / "short_tables.pth.tar"
    torch.save({"state_dict": saved.state_dict()}, path)

    loaded = load_model(path, load_config(None, model="wacnn", model_config=SMALL))
    assert loaded.gaussian_conditional.scale_table.shape == (32,)
    assert loaded.gaussian_conditional._quantized_cdf.shape == saved.gaussian_conditional._quantized_cdf.shape
    assert _coded(loaded, x) == _coded(saved, x)

    # a model whose tables are already built takes the file's lengths too (CompressAI resizes empty ones only)
    built = models.build("wacnn", **SMALL)
    built.update(force=True)
    with pytest.raises(RuntimeError, match="size mismatch"):
        built.load_state_dict(state_dict_of(torch.load(path, weights_only=True)))
    built.load_reference_state_dict(saved.state_dict())
    assert _coded(built, x) == _coded(saved, x)


def test_a_file_saved_before_update_gets_its_tables_from_update(original, tmp_path):
    tables = ("_quantized_cdf", "_offset", "_cdf_length", "scale_table")
    state = {k: v for k, v in original.state_dict().items() if not k.endswith(tables)}
    path = tmp_path / "no_tables.pth.tar"
    torch.save({"epoch": 0, "state_dict": state}, path)
    loaded = load_model(path, load_config(None, model="wacnn", model_config=SMALL)).eval()

    assert loaded.gaussian_conditional._quantized_cdf.numel() == 0
    with pytest.raises(ValueError, match="update"):
        loaded.compress(_image())
    loaded.update(force=True)  # the tables follow from the weights: the original's
    assert _coded(loaded, _image()) == _coded(original, _image())


def _one_line_error(path, **config) -> str:
    with pytest.raises(ValueError) as caught:
        load_model(path, load_config(None, **config))
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    return message


def test_files_that_do_not_fit_are_one_line_naming_the_keys(original, tmp_path):
    state = original.state_dict()
    path = tmp_path / "bad.pth.tar"

    dropped = [k for k in state if k.startswith(("g_s.1.", "h_a.0."))]  # named in the model's order
    torch.save({"state_dict": {k: v for k, v in state.items() if k not in dropped}}, path)
    message = _one_line_error(path, model="wacnn", model_config=SMALL)
    assert f"missing 4 keys (named as in this model): {', '.join(dropped)}" in message
    assert "... and" not in message

    torch.save({"state_dict": {**state, "extra.weight": torch.zeros(1), "extra.bias": torch.zeros(1)}}, path)
    assert "unexpected 2 keys: extra.weight, extra.bias" in _one_line_error(path, model="wacnn", model_config=SMALL)

    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    message = _one_line_error(path, model="wacnn")  # the papers' N=192, M=320; named in the file's order
    assert "WACNN(N=192, M=320)" in message
    assert "h_a.0.weight [80, 80, 3, 3] in the file, [320, 320, 3, 3] here" in message
    assert "... and " in message and "model_config: N, M" in message

    torch.save({"epoch": 3, "optimizer": {"state": {}, "param_groups": []}}, path)
    message = _one_line_error(path, model="wacnn", model_config=SMALL)
    assert "holds no state dict (its entries are epoch, optimizer)" in message

    many = {f"x{i}": torch.zeros(1) for i in range(9)}
    torch.save({"state_dict": {**state, **many}}, path)
    message = _one_line_error(path, model="wacnn", model_config=SMALL)
    assert "unexpected 9 keys: x0, x1, x2, x3 ... and 5 more" in message


def test_evaluate_command_codes_an_stf_checkpoint_with_its_own_tables(original, tmp_path, capsys):
    path = tmp_path / "wacnn_0035.pth.tar"
    torch.save(_layout("STF train.py, DataParallel", original), path)
    out = tmp_path / "eval.csv"
    args = ["evaluate", "--checkpoint", str(path), "--model", "wacnn", "--dataset", "default", "--limit", "1",
            "--progress", "false", "--out", str(out)]  # fmt: skip
    assert main([*args, "--model_config", "N=32", "M=80", "--no-update"]) == 0
    frame = pd.read_csv(out)
    images = data.load("default", "test", stereo=False)
    assert list(frame["image"]) == images.ids[:1]
    expected = sum(len(s) for s in _coded(original, images[0].unsqueeze(0)))
    assert frame["bytes"].tolist() == [expected]  # the saved weights' and tables' bitstream, byte for byte
    capsys.readouterr()

    assert main([*args, "--model_config", "N=64", "M=160"]) == 2  # other widths: the file does not fit
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and error.startswith(f"ndic evaluate: error: {path}: the weights do not fit WACNN")
    assert "h_a.0.weight [80, 80, 3, 3] in the file, [160, 160, 3, 3] here" in error


# --- with the originals' own weights (../shared/reference) --------------------------------------------------
def _fixture(shared_reference, name: str):
    if str(shared_reference) not in sys.path:
        sys.path.insert(0, str(shared_reference))
    from fixture_utils import materialize_state_dict

    fx = torch.load(shared_reference / "small" / f"{name}.pt", weights_only=True)
    return fx, materialize_state_dict(fx, "base")


def test_stf_train_py_file_of_the_original_wacnn_codes_the_originals_bytes(shared_reference, tmp_path):
    fx, state = _fixture(shared_reference, "cnn")
    state.update(fx["codec"]["updated_buffers"])  # the tables the original's update() built
    path = tmp_path / "cnn.pth.tar"
    torch.save({"epoch": 0, "state_dict": {f"module.{k}": v for k, v in state.items()}, "loss": 1.0}, path)
    loaded = load_model(path, load_config(None, model="wacnn", model_config=fx["config"])).eval()
    with torch.no_grad():
        strings = loaded.compress(fx["inputs"]["x"])["strings"]
    assert strings == fx["codec"]["strings"]


def test_ndic_cam_main_py_file_loads_with_its_renamed_keys(shared_reference, tmp_path):
    fx, state = _fixture(shared_reference, "ndic_bls17")
    released = {k.replace("_w.", "_z."): v for k, v in state.items()}  # main.py's map_layers naming
    assert any("_z." in k for k in released)
    parameters = [torch.nn.Parameter(v.clone()) for v in list(state.values())[:3]]
    optimizer = torch.optim.Adam(parameters, lr=1e-4, amsgrad=True)
    for p in parameters:
        p.grad = torch.ones_like(p)
    optimizer.step()
    config = {"model": "ndic_bls17", "num_filters": 32, "resize": [128, 256]}
    direct = models.load_reference("ndic_bls17", state, num_filters=32).eval()
    x, y = fx["inputs"]["x"], fx["inputs"]["y"]
    with torch.no_grad():
        expected = direct(x, y)["x_hat"]
    assert (expected - fx["outputs"]["x_hat"]).abs().max() <= 2e-4  # the original's own output

    for prefix in ("", "module."):
        path = tmp_path / f"ndic{prefix}.pt"
        weights = {f"{prefix}{k}": v for k, v in released.items()}
        torch.save({"model_state_dict": weights, "optimizer_state_dict": optimizer.state_dict()}, path)
        loaded = load_model(path, load_config(None, **config)).eval()
        with torch.no_grad():
            assert torch.equal(loaded(x, y)["x_hat"], expected)

    message = _one_line_error(path, **dict(config, num_filters=16))
    assert "pass the original's num_filters (the file's conv1 has 32 filters)" in message
    assert "conv1.weight [32, 3, 5, 5] in the file, [16, 3, 5, 5] here" in message
