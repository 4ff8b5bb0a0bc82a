"""The original authors' released weights, and the one command that evaluates each into ``results/``.

Facts only, each with the repository, file and commit it was read from. STF's README lists its MSE
checkpoints with their lambdas (Google Drive links; this book cannot download them); NDIC-CAM's README
points at a ``pretrained_weights/`` folder of its repository without naming the files or their lambdas,
so its row gives the README's own default path, model and lambda.

    RELEASED ──► command(weights) ──► ``python -m ndic evaluate ...`` ──► results/<dataset>/<name>.csv
            └──► table() (the models chapter)
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from html import escape as html_escape

import pandas as pd

__all__ = ["RELEASED", "Source", "Weights", "command", "commands", "table"]


@dataclass(frozen=True)
class Source:
    """Where a fact was read: a file of a public repository at a commit."""

    repository: str
    path: str
    commit: str

    @property
    def url(self) -> str:
        return f"https://github.com/{self.repository}/blob/{self.commit}/{self.path}"


@dataclass(frozen=True)
class Weights:
    """One released checkpoint: what it is, and what ``ndic evaluate`` needs to reproduce its point."""

    model: str  # registry name of ndic.models
    name: str  # the name the authors give the file
    lmbda: float
    objective: str  # "MSE" or "MS-SSIM", the training distortion
    dataset: str  # the paper's test set for this model
    file: str  # where the command expects the downloaded file (relative to the checkout)
    source: Source
    note: str = ""

    @property
    def result(self) -> str:
        return f"results/{self.dataset}/{self.model}_released_lambda{self.lmbda:g}.csv"


# Googolxx/STF README.md, "Pretrained Models": "optimized for MSE", trained on 300k OpenImages images.
# The commit indexed here lists eight files; a later version of the README (copied verbatim, links
# included, into brianlu97010/CompressAI's Readme.md) adds cnn_0018 and cnn_0067 and re-links cnn_0035.
_STF = Source("Googolxx/STF", "README.md", "e05642b41fee959d53eab4f422e98b27d84766bf")
_STF_LATER = Source("brianlu97010/CompressAI", "Readme.md", "077dfa230723f7cf15095c10e165c92b87f393b1")
_NDIC_CAM = Source("ipc-lab/NDIC-CAM", "README.md", "5a95bdccde874b4ed93e2fdea4ee3eb8c663a523")


def _stf(model: str, name: str, lmbda: float, source: Source = _STF) -> Weights:
    note = "" if source is _STF else "a later version of STF's README, as copied there"
    return Weights(model, name, lmbda, "MSE", "kodak", f"weights/{name}.pth.tar", source, note)


RELEASED: tuple[Weights, ...] = (
    _stf("wacnn", "cnn_0018", 0.0018, _STF_LATER),
    _stf("wacnn", "cnn_0035", 0.0035),
    _stf("wacnn", "cnn_0067", 0.0067, _STF_LATER),
    _stf("wacnn", "cnn_025", 0.025),
    _stf("stf", "stf_0018", 0.0018),
    _stf("stf", "stf_0035", 0.0035),
    _stf("stf", "stf_0067", 0.0067),
    _stf("stf", "stf_013", 0.013),
    _stf("stf", "stf_025", 0.025),
    _stf("stf", "stf_0483", 0.0483),
    # README, "Inference": weight_path './pretrained_weights/...', model 'cross_attention' as its example;
    # configs/config.yaml's defaults: weight_path './pretrained_weights/model.pt', lambda 3e-05, MS-SSIM
    Weights(
        "cross_attention",
        "model",
        3e-05,
        "MS-SSIM",
        "kitti_stereo",
        "pretrained_weights/model.pt",
        _NDIC_CAM,
        "README's default path and lambda: give your file and its lambda",
    ),
)

_LABELS = {"wacnn": "WACNN, released weights", "stf": "STF, released weights", "cross_attention": "NDIC-CAM, released"}


def command(weights: Weights) -> str:
    """The ``python -m ndic evaluate`` line that writes ``weights.result`` (paper profile, real bitstreams).

    STF's checkpoints carry the coder tables the authors' ``update()`` made: ``--no-update`` keeps them,
    so the bytes are the original's. NDIC-CAM's original has no coder tables; they are built here.
    """
    words = ["python", "-m", "ndic", "evaluate", "--checkpoint", weights.file, "--model", weights.model]
    words += ["--dataset", weights.dataset, "--root", f"$NDIC_DATA/{weights.dataset}"]
    words += ["--lambda", f"{weights.lmbda:g}", "--distortion", weights.objective, "--profile", "paper"]
    words += ["--label", _LABELS[weights.model]]
    if weights.model in ("stf", "wacnn"):
        words.append("--no-update")
    words += ["--out", weights.result]
    # "$NDIC_DATA" must reach the shell unquoted, the label quoted
    return " ".join(word if word.startswith("$") else shlex.quote(word) for word in words)


def commands(model: str | None = None) -> list[str]:
    """Every release's command (or those of ``model``), in the order of :data:`RELEASED`."""
    return [command(w) for w in RELEASED if model is None or w.model == model]


def _link(text: str, url: str, html: bool) -> str:
    return f'<a href="{html_escape(url)}">{html_escape(text)}</a>' if html else f"[{text}]({url})"


def table(html_links: bool = False) -> pd.DataFrame:
    """The released weights as the book lists them: model, file, lambda, objective, test set, source.

    ``html_links``: the source as an HTML link (for ``DataFrame.to_html(escape=False)``), else as Markdown.
    """
    rows = [
        {
            "model": w.model,
            "file": w.name,
            "lambda": f"{w.lmbda:g}",
            "objective": w.objective,
            "test set": w.dataset,
            "source": _link(f"{w.source.repository}@{w.source.commit[:7]}", w.source.url, html_links),
            "note": w.note,
        }
        for w in RELEASED
    ]
    return pd.DataFrame(rows)
