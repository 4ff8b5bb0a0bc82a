"""Glue for the book's notebooks: their run folders, their quick training budget, live curves, the
papermill line that reruns them and the check of its parameters. Everything a notebook shows is
computed elsewhere in the package.
"""

from __future__ import annotations

import ast
import difflib
import json
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .paths import RUNS, project_root, resolve

__all__ = [
    "NOTEBOOK_QUICK_BATCH",
    "NOTEBOOK_QUICK_STEPS",
    "QUICK_WARNING",
    "LiveCurves",
    "check_parameters",
    "notebook_config",
    "papermill_command",
    "profile_note",
    "resolve",
    "run_dir",
    "show_bd_tables",
]

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
CPU_NOTE = "cpu profile: reduced widths and budget trained on 2 CPU cores, not a paper reproduction"


def profile_note(profile: str) -> str:
    """What a figure or table title says about its profile."""
    return {"quick": QUICK_WARNING, "cpu": CPU_NOTE}.get(profile, f"{profile} profile")


def run_dir(out_dir: str | os.PathLike | None, notebook: str, *parts: str) -> Path:
    """A notebook's output folder: ``out_dir`` if given, else ``runs/quick/<notebook>/<parts...>``."""
    if out_dir is not None:
        return Path(out_dir)
    return project_root().joinpath(RUNS, "quick", notebook, *parts)


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
    ``batch_size`` default to :data:`NOTEBOOK_QUICK_STEPS` and :data:`NOTEBOOK_QUICK_BATCH`. Progress is
    shown: a bar in JupyterLab, plain lines under papermill and in the book's build.
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
    given.setdefault("progress", True)
    return Config.from_dict(dict(given, model=model, profile=profile, out_dir=str(out_dir)), "the notebook")


def load_trained(path: str | os.PathLike, device: Any = "cpu"):
    """The model of an ndic checkpoint, for a notebook. A file of the committed ``checkpoints/`` folders is
    first checked against the SHA-256 its ``MANIFEST.json`` lists (a damaged file or a Git LFS pointer stops
    here, with the fix), and :func:`describe_model` can then say how the weights were made."""
    from .checkpoint import load_model
    from .cpu_reproduction import verify_checkpoint

    path = resolve(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: train it (for the committed CPU-scale models: python -m ndic sweep --profile "
            "cpu --run), or set the notebook's checkpoint parameter to None to train a quick-profile model here"
        )
    verify_checkpoint(path)
    return load_model(path, device=device)


def describe_model(model: Any) -> str:
    """One line on where a loaded model's weights came from: profile, steps, lambda and objective; the cpu
    profile's note (never a paper reproduction) included."""
    info = getattr(model, "checkpoint_info", None) or {}
    config = info.get("config") or {}
    profile = config.get("profile") or "unknown"  # weights from elsewhere: never presumed the paper's
    parts = [f"{model.registry_name}, lambda {info['lmbda']:g}" if info.get("lmbda") else model.registry_name]
    if config.get("distortion_loss"):
        parts[0] += f" ({config['distortion_loss']})"
    if info.get("step"):
        parts.append(f"trained {info['step']} steps on {config.get('dataset_name', 'its data')}")
    return f"{', '.join(parts)}; {profile_note(profile)}"


def show_bd_tables(frame: Any, datasets: Iterable[str], reference: str | None = None) -> None:
    """Display, per dataset, its BD table against ``reference`` (:func:`ndic.plot.bd_tables`; default: the
    dataset's VTM or BPG), and one line naming the curves too short for a BD-rate."""
    from IPython.display import Markdown, display

    from .plot import bd_tables, describe_short_curves
    from .tables import tidy_table

    for name in datasets:
        table = bd_tables(frame, name, reference)
        short = describe_short_curves(table)
        if table.empty and not short:
            print(f"{name}: no reference curve (published VTM, or VVC or BPG run here) to compare with")
            continue
        if len(table):
            display(Markdown(f"**{name}**, against {table['reference'].iloc[0]}:"))
            display(tidy_table(table.set_index(["metric", "curve"]).drop(columns=["kind", "reference"]), digits=2))
        if short:
            display(Markdown(f"**{name}**: {short}"))


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

        from .plot import plot_training

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


# the first line of the cell papermill injects after the cell tagged "parameters" (its Python translator)
PAPERMILL_CELL = "# Parameters"


def check_parameters(namespace: Mapping[str, Any], known: Iterable[str] | None = None) -> None:
    """Refuse a ``papermill -p NAME`` that the notebook's parameters cell does not define.

    papermill injects its values as a cell of assignments right after the cell tagged ``parameters``;
    a misspelled name there makes a new variable that nothing reads, and the notebook would silently
    run with the default. The notebooks call ``check_parameters(globals())`` in the cell after their
    parameters. The injected cell, and the parameters cell just before it, are read from IPython's
    input history (``In``): under JupyterLab and nbval nothing is injected and nothing is checked.
    ``known``: the parameter names (default: those the parameters cell assigns).
    """
    history = [str(cell) for cell in namespace.get("In") or []]
    injected_at = [i for i, cell in enumerate(history) if cell.lstrip().startswith(PAPERMILL_CELL)]
    if not injected_at:
        return
    index = injected_at[-1]
    known = set(known) if known is not None else _assigned(history[index - 1]) if index > 0 else set()
    for name in sorted(_assigned(history[index]) - known):
        close = difflib.get_close_matches(name, sorted(known), n=1)
        raise NameError(
            f"unknown notebook parameter {name!r} (papermill -p {name} ...): this notebook's parameters are "
            f"{', '.join(sorted(known))}" + (f"; did you mean {close[0]!r}?" if close else "")
        )


def _assigned(source: str) -> set[str]:
    """The names a cell of plain assignments assigns (an empty set for code that does not parse)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    targets = [t for node in tree.body if isinstance(node, ast.Assign) for t in node.targets]
    targets += [node.target for node in tree.body if isinstance(node, ast.AnnAssign)]
    return {target.id for target in targets if isinstance(target, ast.Name)}
