"""What the book's notebooks show, kept out of the notebooks: run folders, training curves, images
side by side, error maps, cross-attention maps, and the gathering of result and benchmark files.

Notebooks stay thin: they set parameters, call these functions, display what comes back and explain
it. Every figure is a :class:`matplotlib.figure.Figure` (not pyplot's), so nothing is drawn twice and
a training callback can redraw one figure in place.

Paths: the notebooks run from ``notebooks/`` (Jupyter Book, nbval) or from the checkout's root
(papermill). :func:`resolve` makes a relative path work from both: it is taken as given when it
exists from the current folder, and relative to the checkout otherwise.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib import rc_context
from matplotlib.figure import Figure

from . import _compat, metrics  # noqa: F401  (_compat before compressai)
from .results import COLUMNS

with warnings.catch_warnings():
    # In a kernel without ipywidgets, tqdm.auto falls back to text bars and warns once at import; the
    # notebooks switch progress bars off, so the warning would only clutter the book.
    warnings.simplefilter("ignore")
    import tqdm.auto  # noqa: F401

# What the book trains when a notebook runs the quick profile without being told a budget: the book is
# built on 2 CPU cores, so a notebook trains far less than ``python -m ndic train --profile quick``.
NOTEBOOK_QUICK_STEPS = 40
NOTEBOOK_QUICK_BATCH = 2
QUICK_WARNING = "quick profile: a smoke test of the pipeline, not a paper reproduction"
STYLE = {"font.size": 9, "axes.titlesize": 9, "figure.titlesize": 10}


def profile_note(profile: str) -> str:
    """What a figure or table title says about its profile."""
    return QUICK_WARNING if profile == "quick" else f"{profile} profile"


# ---------------------------------------------------------------------------- paths
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


def run_dir(out_dir: str | os.PathLike | None, notebook: str, *parts: str) -> Path:
    """A notebook's output folder: ``out_dir`` if given, else ``runs/quick/<notebook>/<parts...>``."""
    if out_dir is not None:
        return Path(out_dir)
    return project_root().joinpath("runs", "quick", notebook, *parts)


# ---------------------------------------------------------------------------- training
def notebook_config(
    model: str,
    *,
    profile: str = "quick",
    out_dir: str | os.PathLike,
    steps: int | None = None,
    batch_size: int | None = None,
    **values: Any,
):
    """The :class:`ndic.config.Config` of a notebook's training run (``values`` may use aliases).

    ``None`` values are left to the profile's recipe, except in the quick profile, where ``steps`` and
    ``batch_size`` default to :data:`NOTEBOOK_QUICK_STEPS` and :data:`NOTEBOOK_QUICK_BATCH`. The
    progress bar is off (the notebooks draw curves instead).
    """
    from .config import Config

    if profile == "quick":
        steps = NOTEBOOK_QUICK_STEPS if steps is None else steps
        batch_size = NOTEBOOK_QUICK_BATCH if batch_size is None else batch_size
    given = {k: v for k, v in values.items() if v is not None}
    if steps is not None:
        given["steps"] = steps
    if batch_size is not None:
        given["batch_size"] = batch_size
    given.setdefault("progress", False)
    return Config.from_dict(dict(given, model=model, profile=profile, out_dir=str(out_dir)), "the notebook")


def read_logs(out_dir: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(step log, validation log) of a run folder written by :mod:`ndic.train` (empty when absent)."""
    out_dir = Path(out_dir)
    logs = []
    for name in ("train_log.csv", "val_log.csv"):
        path = out_dir / name
        logs.append(pd.read_csv(path) if path.is_file() and path.stat().st_size else pd.DataFrame())
    return logs[0], logs[1]


def plot_training(out_dir: str | os.PathLike, title: str = "") -> Figure:
    """Loss, estimated bpp and PSNR against the step, from a run's CSV logs (validation as markers)."""
    train_log, val_log = read_logs(out_dir)
    panels = [("loss", "loss"), ("bpp", "estimated bpp (likelihoods)"), ("psnr", "PSNR (dB, float images)")]
    with rc_context(STYLE):
        figure = Figure(figsize=(10, 2.8), layout="constrained")
        for ax, (column, label) in zip(figure.subplots(1, 3), panels, strict=True):
            if not train_log.empty:
                ax.plot(train_log["step"], train_log[column], lw=1, alpha=0.6, label="training batches")
            if not val_log.empty:
                ax.plot(val_log["step"], val_log[column], "o-", ms=4, label="validation")
            ax.set_xlabel("step")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        if figure.axes[0].lines:
            figure.axes[0].legend(fontsize=8, frameon=False)
        if title:
            figure.suptitle(title)
    return figure


class LiveCurves:
    """Training callback that redraws :func:`plot_training` in place every ``every`` steps.

    In JupyterLab the curves grow while the model trains; an executed notebook keeps the last drawing.
    Call :meth:`finish` after training for the final state.
    """

    def __init__(self, out_dir: str | os.PathLike, title: str = "", every: int = 10) -> None:
        self.out_dir, self.title, self.every = Path(out_dir), title, max(1, int(every))
        self._handle = None

    def __call__(self, trainer, step_metrics: Mapping[str, float]) -> None:
        if int(step_metrics.get("step", 0)) % self.every == 0:
            self.draw()

    def draw(self) -> None:
        from IPython.display import display

        figure = plot_training(self.out_dir, self.title)
        if self._handle is None:
            self._handle = display(figure, display_id=True)
        else:
            self._handle.update(figure)

    def finish(self) -> None:
        self.draw()


def papermill_command(notebook: str, parameters: Mapping[str, Any]) -> str:
    """The papermill line that reruns ``notebooks/<notebook>.ipynb`` with these parameters (None left out)."""
    import shlex

    words = ["papermill", f"notebooks/{notebook}.ipynb", f"{notebook}.out.ipynb"]
    for key, value in parameters.items():
        if value is None:
            continue
        if isinstance(value, (dict, list, tuple)):
            words += ["-y", json.dumps({key: value})]
        else:
            words += ["-p", key, str(value)]
    return shlex.join(words)


def write_results(frame: pd.DataFrame, path: str | os.PathLike, description: str, meta: Mapping[str, Any]) -> Path:
    """Per-image rows as CSV (+ ``.meta.json``) and CompressAI's JSON (``.json``) beside it."""
    from .results import write_compressai_json, write_rows

    path = write_rows(frame.to_dict("records"), path, meta=dict(meta))
    write_compressai_json(frame, path.with_suffix(".json"), str(frame["label"].iloc[0]), description)
    return path


# ---------------------------------------------------------------------------- coding one image
def _batch(image: torch.Tensor) -> torch.Tensor:
    return (image.unsqueeze(0) if image.dim() == 3 else image).float()


def save_image(image: torch.Tensor, path: str | os.PathLike) -> Path:
    """An image tensor in [0, 1] as an 8-bit PNG file (atomically); returns the path."""
    from .bitstream import png_bytes
    from .io import atomic_write_bytes

    return atomic_write_bytes(path, png_bytes(_batch(image)))


def estimated_bpp(model, x: torch.Tensor, side: torch.Tensor | None = None) -> float:
    """-sum(log2 p) / pixels of the transmitted latents in an eval-mode forward (not a byte count)."""
    with _evaluating(model) as device:
        x = _batch(x).to(device)
        out = model(x, _batch(side).to(device)) if side is not None else model(x)
    return metrics.bpp_from_likelihoods(out["likelihoods"], *x.shape[-2:])


def roundtrip(
    model,
    image_path: str | os.PathLike,
    bitstream_path: str | os.PathLike,
    side_path: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Compress an image file to a bitstream file, decode it (with the side image for distributed
    models) and measure: file bytes, header and payload bytes, real bpp of both, estimated bpp,
    PSNR and MS-SSIM. ``x_hat`` is the decoded image (1, 3, H, W)."""
    from .bitstream import compress_file, decompress_file, read_image

    info = compress_file(model, image_path, bitstream_path)
    x_hat = decompress_file(model, bitstream_path, side=side_path).detach().cpu().clamp(0, 1)
    x = read_image(image_path)
    side = read_image(side_path) if side_path is not None else None
    try:
        ms_ssim = metrics.ms_ssim(x, x_hat)
    except ValueError:  # too small for five scales
        ms_ssim = math.nan
    return {
        "model": info["model"],
        "image": Path(image_path).name,
        "size": f"{info['height']}x{info['width']}",
        "file bytes": info["bytes"],
        "header bytes": info["header_bytes"],
        "payload bytes": info["payload_bytes"],
        "real bpp (file)": info["bpp"],
        "real bpp (payload)": info["payload_bpp"],
        "estimated bpp": estimated_bpp(model, x, side),
        "PSNR (dB)": metrics.psnr(x, x_hat),
        "MS-SSIM": ms_ssim,
        "x_hat": x_hat,
    }


@contextlib.contextmanager
def _evaluating(model) -> Iterator[torch.device]:
    """Eval mode and no autograd for the duration (the previous mode is restored); yields the device."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield next(model.parameters()).device
    finally:
        model.train(was_training)


def _encode(model, x: torch.Tensor) -> tuple[dict, int]:
    """``model.compress(x)`` (coder tables built when missing) and the byte count of its streams."""
    from .bitstream import ensure_coder_tables
    from .evaluate import flatten_strings

    ensure_coder_tables(model)
    encoded = model.compress(x)
    return encoded, sum(len(s) for s in flatten_strings(encoded["strings"]))


def reconstruct(model, x: torch.Tensor, side: torch.Tensor | None = None) -> torch.Tensor:
    """Compress and decompress ``x`` in memory (with ``side`` for distributed models); (1, 3, H, W) on the CPU."""
    with _evaluating(model) as device:
        encoded, _ = _encode(model, _batch(x).to(device))
        kwargs = {"side": _batch(side).to(device)} if getattr(model, "distributed", False) else {}
        return model.decompress(encoded["strings"], encoded["shape"], **kwargs)["x_hat"].clamp(0, 1).cpu()


def decode_with_sides(model, x: torch.Tensor, sides: Mapping[str, torch.Tensor]) -> pd.DataFrame:
    """Compress ``x`` once with a distributed model and decode the same bytes with each side image.

    The rate is identical in every row; only the decoder's side information changes, so the quality
    differences are what that side image is worth to this decoder. Returns one row per side image:
    bytes, real bpp, PSNR and MS-SSIM of the decoded image.
    """
    if not getattr(model, "distributed", False):
        raise ValueError(f"{type(model).__name__} is a single-image model: its decoder takes no side image")
    rows = []
    with _evaluating(model) as device:
        x = _batch(x).to(device)
        encoded, num_bytes = _encode(model, x)
        for name, side in sides.items():
            x_hat = model.decompress(encoded["strings"], encoded["shape"], side=_batch(side).to(device))["x_hat"]
            x_hat = x_hat.clamp(0, 1)
            rows.append(
                {
                    "side image": name,
                    "bytes": num_bytes,
                    "bpp": metrics.bpp_from_bytes(num_bytes, *x.shape[-2:]),
                    "PSNR (dB)": metrics.psnr(x, x_hat),
                    "MS-SSIM": metrics.ms_ssim(x, x_hat),
                }
            )
    return pd.DataFrame(rows).set_index("side image")


# ---------------------------------------------------------------------------- images
def _array(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """(3, H, W) / (1, 3, H, W) tensor or (H, W, 3) array -> (H, W, 3) float in [0, 1]."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().float()
        image = image[0] if image.dim() == 4 else image
        return image.permute(1, 2, 0).clamp(0, 1).numpy()
    array = np.asarray(image, dtype=np.float64)
    return array / 255.0 if array.max() > 1 else array


def show_images(images: Mapping[str, torch.Tensor], title: str = "", columns: int | None = None) -> Figure:
    """Images side by side, each under its caption (``{caption: image}``), at their own aspect."""
    items = list(images.items())
    if not items:
        raise ValueError("no images to show")
    columns = columns or len(items)
    rows = math.ceil(len(items) / columns)
    height, width = _array(items[0][1]).shape[:2]
    panel = 3.4
    with rc_context(STYLE):
        figure = Figure(figsize=(panel * columns, panel * rows * height / width + 0.5), layout="constrained")
        axes = figure.subplots(rows, columns, squeeze=False).ravel()
        for ax, (caption, image) in zip(axes, items, strict=False):
            ax.imshow(_array(image), interpolation="nearest")
            ax.set_title(caption)
        for ax in axes:
            ax.axis("off")
        if title:
            figure.suptitle(title)
    return figure


def error_map(x: torch.Tensor, x_hat: torch.Tensor) -> np.ndarray:
    """Mean absolute error over the colour channels, in 8-bit levels, (H, W)."""
    a = metrics.to_uint8(_batch(x).cpu())[0]
    b = metrics.to_uint8(_batch(x_hat).cpu())[0]
    return (a - b).abs().mean(0).numpy()


def plot_error_maps(x: torch.Tensor, reconstructions: Mapping[str, torch.Tensor], title: str = "") -> Figure:
    """The original, then ``|x - x_hat|`` of each reconstruction on one shared colour scale."""
    maps = {name: error_map(x, x_hat) for name, x_hat in reconstructions.items()}
    top = max(float(np.percentile(m, 99.5)) for m in maps.values()) or 1.0
    height, width = maps[next(iter(maps))].shape
    columns = 1 + len(maps)
    with rc_context(STYLE):
        figure = Figure(figsize=(3.0 * columns, 3.0 * height / width + 0.9), layout="constrained")
        axes = figure.subplots(1, columns, squeeze=False)[0]
        axes[0].imshow(_array(x))
        axes[0].set_title("x (original)")
        for ax, (name, values) in zip(axes[1:], maps.items(), strict=True):
            shown = ax.imshow(values, cmap="magma", vmin=0, vmax=top)
            ax.set_title(name)
        for ax in axes:
            ax.axis("off")
        figure.colorbar(shown, ax=axes[1:].tolist(), shrink=0.8, label="|x - x_hat| (8-bit levels)")
        if title:
            figure.suptitle(title)
    return figure


# ---------------------------------------------------------------------------- cross-attention maps
def _attention_modules(model) -> list[torch.nn.Module]:
    from .models.cross_attention import CrossAttentionAlignment

    found = [m for m in model.modules() if isinstance(m, CrossAttentionAlignment)]
    if not found:
        raise ValueError(f"{type(model).__name__} has no cross-attention modules (use a cross_attention model)")
    return found


def attention_weights(module, x_features: torch.Tensor, y_features: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) of one alignment module, (N, heads, tokens, tokens), float32.

    Recomputed from the module's own layers, as its forward computes it (the fused attention does not
    return its weights): tokens are per-channel patches of a ``grid`` x ``grid`` layout, queries come
    from x's features and keys from the side image's, through the shared LayerNorm.
    """
    inner = module.heads * module.dim
    queries = module.norm(module.embed_x(module._tokens(x_features)))
    keys = module.norm(module.embed_y(module._tokens(y_features)))
    q = torch.nn.functional.linear(queries, module.to_qkv_x.weight[:inner])
    k = torch.nn.functional.linear(keys, module.to_qkv_y.weight[inner : 2 * inner])
    scores = module._heads(q) @ module._heads(k).transpose(-1, -2) * module.dim**-0.5
    return scores.float().softmax(dim=-1)


def patch_attention(weights: torch.Tensor, grid: int) -> torch.Tensor:
    """Token attention (N, heads, C*g*g, C*g*g) -> patch attention (N, g*g, g*g).

    Entry [p, r]: the share of attention that queries at patch position ``p`` of x (averaged over
    channels and heads) give to keys at patch position ``r`` of the side image (summed over channels).
    Rows sum to one; a uniform map is 1 / g**2 everywhere.
    """
    n, heads, tokens, _ = weights.shape
    patches = grid * grid
    channels = tokens // patches
    # tokens are ordered (channel, patch): split both axes, sum keys over channels, average the rest
    split = weights.reshape(n, heads, channels, patches, channels, patches)
    return split.sum(dim=4).mean(dim=(1, 2))


def attention_maps(model, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """Patch attention (:func:`patch_attention`) of every cross-attention module for the pair (x, y).

    Forward hooks record each module's inputs during an eval-mode forward; the weights are then
    recomputed from them. Returns one (g*g, g*g) tensor per module, in decoder order (coarse to fine).
    """
    modules = _attention_modules(model)
    inputs: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    hooks = [
        module.register_forward_hook(lambda mod, args, out, i=i: inputs.__setitem__(i, (args[0], args[1])))
        for i, module in enumerate(modules)
    ]
    try:
        with _evaluating(model) as device:
            model(_batch(x).to(device), _batch(y).to(device))
            # (heads x tokens x tokens) floats per module: 300 MB at the paper's width of 192
            weights = [attention_weights(module, *inputs[i]) for i, module in enumerate(modules)]
    finally:
        for hook in hooks:
            hook.remove()
    return [patch_attention(w, module.grid)[0].cpu() for w, module in zip(weights, modules, strict=True)]


def attention_summary(maps: Sequence[torch.Tensor]) -> pd.DataFrame:
    """Per module: attention kept on the query's own patch, on its patch row, and the uniform baseline."""
    rows = []
    for i, m in enumerate(maps):
        grid = int(round(math.sqrt(m.shape[0])))
        same_row = torch.stack([m[p, (p // grid) * grid : (p // grid + 1) * grid].sum() for p in range(m.shape[0])])
        rows.append(
            {
                "module": f"align[{i}]",
                "same patch": float(m.diagonal().mean()),
                "same patch row": float(same_row.mean()),
                "uniform: same patch": 1 / grid**2,
                "uniform: same row": 1 / grid,
            }
        )
    return pd.DataFrame(rows).set_index("module")


def plot_attention(
    x: torch.Tensor, y: torch.Tensor, maps: Sequence[torch.Tensor], query: tuple[int, int] = (2, 1), title: str = ""
) -> Figure:
    """Per module: x with the query patch outlined, y shaded by where that patch attends, and the
    full patch-to-patch matrix (rows: x's patches, columns: y's, in row-major grid order)."""
    from matplotlib.patches import Rectangle

    x_img, y_img = _array(x), _array(y)
    height, width = x_img.shape[:2]
    with rc_context(STYLE):
        figure = Figure(figsize=(10.5, 2.3 * len(maps) + 0.4), layout="constrained")
        axes = figure.subplots(len(maps), 3, squeeze=False, width_ratios=[2, 2, 1])
        for row, m in zip(axes, maps, strict=True):
            grid = int(round(math.sqrt(m.shape[0])))
            ph, pw = height / grid, width / grid
            qr, qc = query
            weights = m[qr * grid + qc].reshape(grid, grid).numpy()
            row[0].imshow(x_img)
            row[0].add_patch(Rectangle((qc * pw, qr * ph), pw, ph, fill=False, ec="cyan", lw=2))
            row[0].set_title(f"x, query patch (row {qr}, column {qc})")
            row[1].imshow(y_img)
            shade = row[1].imshow(weights, cmap="viridis", alpha=0.55, extent=(0, width, height, 0), vmin=0)
            row[1].set_title("y, attention of that patch")
            figure.colorbar(shade, ax=row[1], shrink=0.8)
            matrix = row[2].imshow(m.numpy(), cmap="viridis", vmin=0)
            row[2].set_title("patch -> patch")
            row[2].set_xlabel("y patch")
            row[2].set_ylabel("x patch")
            figure.colorbar(matrix, ax=row[2], shrink=0.8)
            for ax in row[:2]:
                ax.axis("off")
        for i, row in enumerate(axes):
            row[0].text(-0.03, 0.5, f"align[{i}]", rotation=90, va="center", ha="right", transform=row[0].transAxes)
        if title:
            figure.suptitle(title)
    return figure


# ---------------------------------------------------------------------------- classical codecs
def codec_images(
    dataset: str, root: str | os.PathLike | None = None, limit: int | None = None, crop: int | None = None
) -> list[tuple[str, np.ndarray]]:
    """``(id, uint8 RGB)`` test images for the classical codecs.

    ``dataset``: an image folder or file (:func:`ndic.codecs.runner.load_images`) or a name of
    :mod:`ndic.data` (stereo sets give the image ``x`` of each pair; ``default`` its single photographs).
    Each image is centre-cropped to at most ``crop`` x ``crop`` and to even sizes (VVC codes 4:2:0).
    """
    from . import data
    from .codecs.runner import load_images

    if dataset in data.names():
        opts = {"stereo": False} if dataset == "default" else {}
        items = data.load(dataset, "test", root=root, **opts)
        count = len(items) if limit is None else min(limit, len(items))
        images = []
        for i in range(count):
            item = items[i][0] if items.stereo else items[i]
            images.append((items.ids[i], metrics.to_uint8(item).byte().permute(1, 2, 0).numpy()))
    else:
        images = load_images(resolve(dataset), limit)
    return [(name, _centre_crop(image, crop)) for name, image in images]


def _centre_crop(image: np.ndarray, crop: int | None) -> np.ndarray:
    height, width = image.shape[:2]
    h, w = (min(height, crop), min(width, crop)) if crop else (height, width)
    h, w = h - h % 2, w - w % 2
    top, left = (height - h) // 2, (width - w) // 2
    return np.ascontiguousarray(image[top : top + h, left : left + w])


def spread(values: Sequence[float], count: int | None) -> list[float]:
    """``count`` values evenly spread over ``values`` (first and last included); all when None."""
    values = list(values)
    if count is None or count >= len(values):
        return values
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if count == 1:
        return [values[len(values) // 2]]
    return [values[round(i * (len(values) - 1) / (count - 1))] for i in range(count)]


# ---------------------------------------------------------------------------- result files
def read_meta(csv_path: str | os.PathLike) -> dict[str, Any]:
    """The provenance beside a result or benchmark CSV (``<name>.meta.json``), or {} when absent."""
    path = Path(csv_path).with_suffix(".meta.json")
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def is_result_csv(path: str | os.PathLike) -> bool:
    """Whether a CSV holds per-image result rows (:data:`ndic.results.COLUMNS`)."""
    try:
        with open(path, encoding="utf-8") as f:
            header = f.readline().strip().split(",")
    except (OSError, UnicodeDecodeError):
        return False
    return all(column in header for column in COLUMNS)


def find_results(results_dir: str | os.PathLike) -> list[Path]:
    """Every per-image result CSV under ``results_dir`` (recursively), sorted."""
    root = resolve(results_dir)
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*.csv") if is_result_csv(p))


def load_results(results_dir: str | os.PathLike) -> pd.DataFrame:
    """Every result row under ``results_dir`` with its file (``source``) and provenance columns
    (``meta_profile``, ``machine``, ``git_commit``, ``command``); empty when there is none."""
    frames = []
    root = resolve(results_dir)
    for path in find_results(root):
        frame = pd.read_csv(path)
        meta = read_meta(path)
        frame["source"] = str(path.relative_to(root))
        frame["machine"] = meta.get("machine", "unknown (no .meta.json)")
        frame["git_commit"] = meta.get("git_commit", "")
        frame["command"] = meta.get("command", "")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*COLUMNS, "source"])


def provenance_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per result file: dataset, methods, images, profile, machine and git commit."""
    columns = ["file", "dataset", "methods", "images", "profile", "machine", "commit"]
    if frame.empty:
        return pd.DataFrame(columns=columns).set_index("file")
    rows = []
    for source, group in frame.groupby("source", sort=True):
        rows.append(
            {
                "file": source,
                "dataset": ", ".join(sorted(group["dataset"].astype(str).unique())),
                "methods": ", ".join(sorted(group["label"].astype(str).unique())),
                "images": group["image"].nunique(),
                "profile": ", ".join(sorted(group["profile"].astype(str).unique())),
                "machine": group["machine"].iloc[0],
                "commit": group["git_commit"].iloc[0],
            }
        )
    return pd.DataFrame(rows, columns=columns).set_index("file")


def commands_markdown(frame: pd.DataFrame) -> str:
    """The commands that wrote the result files, as a Markdown list (each with the files it wrote)."""
    if frame.empty:
        return "No result file, so no command to list."
    lines = []
    for command, group in frame.groupby("command", sort=True):
        files = ", ".join(f"`{name}`" for name in sorted(group["source"].unique()))
        lines.append(f"- `{command or 'unknown (no .meta.json)'}`: {files}")
    return "\n".join(lines)


def describe_origin(frame: pd.DataFrame) -> str:
    """ "<profiles> profile, <machines>": what a figure or table of these rows says it came from."""
    profiles = sorted(frame["profile"].astype(str).unique())
    machines = sorted(frame["machine"].astype(str).unique()) if "machine" in frame else []
    text = " + ".join(profiles) + " profile"
    if "quick" in profiles:
        text += " (not a paper reproduction)"
    return text + (f"; {'; '.join(machines)}" if machines else "")


def published_curves(dataset: str, methods: Sequence[str] | None = None) -> list:
    """The published curves of ``dataset`` (``ndic.published``) as plot curves; [] when none exist."""
    from . import published
    from .plot import curves_from_published

    try:
        points = published.load(dataset)
    except ValueError:
        return []
    if methods is not None:
        points = points[points["method"].isin(methods)]
    return curves_from_published(points)


def rd_figure(
    frame: pd.DataFrame,
    dataset: str,
    published: Sequence[str] | None = None,
    max_bpp: float | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """RD curves (PSNR and MS-SSIM dB) of every method in ``frame`` on ``dataset``, with the published
    curves of that dataset (``published``: method names to keep; None: all), titled with the origin of
    the rows, one legend for both panels. ``max_bpp`` limits the rate axis (the quality axes follow);
    ``path``: also saved as PNG and SVG."""
    from .plot import curves_from_results, rd, save

    rows = frame[frame["dataset"] == dataset]
    if rows.empty:
        present = sorted(frame["dataset"].astype(str).unique())
        raise ValueError(f"no result rows for dataset {dataset!r}; datasets present: {present}")
    curves = curves_from_results(rows[COLUMNS]) + published_curves(dataset, published)
    xlim = (0.0, float(max_bpp)) if max_bpp else None
    figure = rd(curves, title=f"{dataset}: {describe_origin(rows)}", xlim=xlim)
    handles: dict[str, Any] = {}
    for ax in figure.axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    columns = 3
    figure.set_size_inches(figure.get_figwidth(), figure.get_figheight() + 0.2 * math.ceil(len(handles) / columns))
    figure.legend(
        handles.values(), handles.keys(), loc="outside lower center", ncols=columns, fontsize=8, frameon=False
    )
    if path is not None:
        save(figure, path)
    return figure


def bd_tables(
    frame: pd.DataFrame,
    dataset: str,
    reference: str | None = None,
    metric_names: Sequence[str] = ("psnr", "ms_ssim_db"),
) -> pd.DataFrame:
    """BD-rate / BD-quality of every curve on ``dataset`` against ``reference`` (a curve label).

    Default reference: the published VTM curve when the dataset has one, else the VVC curve run here,
    else BPG; without any of them the table is empty. Both BD methods (cubic, PCHIP), one block of rows
    per metric.
    """
    from .plot import bd_table, curves_from_results

    rows = frame[frame["dataset"] == dataset]
    curves = curves_from_results(rows[COLUMNS]) + published_curves(dataset, ["vtm", "bpg"])
    reference = reference or _default_reference(curves)
    if reference is None:
        return pd.DataFrame()
    tables = []
    for metric in metric_names:
        table = bd_table(curves, reference, metric)
        if not table.empty:
            # BD-PSNR / BD-MS-SSIM columns under one name, so that both metrics stack in one table
            table = table.rename(columns=lambda c: re.sub(r"^BD-(PSNR|MS-SSIM) ", "BD-quality ", c))
            tables.append(table.reset_index().assign(metric=metric, reference=reference))
    if not tables:
        return pd.DataFrame()
    out = pd.concat(tables, ignore_index=True)
    first = ["metric", "reference", "curve"]
    return out[first + [c for c in out.columns if c not in first]]


def describe_bd(table: pd.DataFrame) -> list[str]:
    """One sentence per row of :func:`bd_tables` with a BD-rate: the rate change for equal quality."""
    quality = {"psnr": "PSNR", "ms_ssim_db": "MS-SSIM"}
    sentences = []
    for row in table.to_dict("records"):
        cubic, pchip = row.get("BD-rate cubic (%)", math.nan), row.get("BD-rate pchip (%)", math.nan)
        if math.isnan(cubic) and math.isnan(pchip):
            continue
        sentences.append(
            f"{row['curve']}: {cubic:+.1f} % rate (PCHIP: {pchip:+.1f} %) for the same "
            f"{quality.get(row['metric'], row['metric'])} as {row['reference']}"
        )
    return sentences


def plot_timings(frame: pd.DataFrame, label: str, columns: Sequence[str], title: str = "", unit: str = "s") -> Figure:
    """Horizontal bars of ``columns`` per row label (log scale: models and codecs span decades)."""
    frame = frame.dropna(subset=list(columns), how="all")
    labels = frame[label].astype(str).tolist()
    height = 0.8 / len(columns)
    with rc_context(STYLE):
        figure = Figure(figsize=(7.5, 0.16 * len(labels) * len(columns) + 1.4), layout="constrained")
        ax = figure.subplots()
        positions = np.arange(len(labels))
        for i, column in enumerate(columns):
            ax.barh(positions + (i - (len(columns) - 1) / 2) * height, frame[column], height, label=column)
        ax.set_yticks(positions, labels)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel(unit)
        ax.grid(alpha=0.3, axis="x")
        figure.legend(loc="outside upper center", ncols=len(columns), fontsize=8, frameon=False)
        if title:
            ax.set_title(title)
    return figure


def _default_reference(curves: Sequence) -> str | None:
    for kind, method in (("published", "vtm"), ("classical", "vvenc"), ("classical", "vtm"), ("classical", "bpg")):
        for curve in curves:
            if curve.kind == kind and curve.method == method:
                return curve.label
    return None


# ---------------------------------------------------------------------------- benchmarks
def benchmark(name: str, folder: str | os.PathLike = "benchmarks/results") -> tuple[pd.DataFrame | None, str]:
    """A benchmark CSV (``<folder>/<name>.csv``) and its origin as Markdown (or None and why not)."""
    path = resolve(folder) / f"{name}.csv"
    if not path.is_file():
        return None, f"`{Path(folder) / (name + '.csv')}` is absent: run the benchmark named in the protocol chapter."
    frame = pd.read_csv(path)
    meta = read_meta(path)
    origin = []
    for key in ("profile", "machine", "cpu", "cpu_cores", "gpu", "threads", "torch", "git_commit", "date", "command"):
        value = meta.get(key)
        if value in (None, "") and key in frame and frame[key].nunique() == 1:
            value = frame[key].iloc[0]
        if value not in (None, "") and not (isinstance(value, float) and math.isnan(value)):
            origin.append(f"{key} `{value}`")
    return frame, "; ".join(origin) or "no provenance recorded"
