"""The seven architectures as the models chapter presents them: origin, diagram, parameters by part.

Everything is read from the models themselves: the diagram is the ``.. code-block:: none`` of the model
class's docstring (the data flow its ``forward``/``compress`` implement), and the parameter counts come
from ``ndic.models.build(name)`` at the paper's default width, grouped by the top-level module names:

    build(name) ──► named_children ──► PARTS (encoder, entropy model, decoder, side branch) ──► counts
"""

from __future__ import annotations

import inspect
import textwrap
from dataclasses import dataclass

import pandas as pd

__all__ = ["ORIGINS", "PARTS", "Origin", "base_diagram", "diagram", "origin_links", "parameter_table", "part_of"]


@dataclass(frozen=True)
class Origin:
    """Where an architecture comes from: its paper (arXiv) and the original code."""

    paper: str  # bibliography key of references.bib
    arxiv: str
    repository: str
    path: str  # the original's module in that repository


_NDIC_CAM = "ipc-lab/NDIC-CAM"
ORIGINS = {
    "bls17": Origin("balle2017endtoend", "1611.01704", _NDIC_CAM, "models/balle2017/model.py"),
    "bmshj18": Origin("balle2018hyperprior", "1802.01436", _NDIC_CAM, "models/balle2018/model.py"),
    "ndic_bls17": Origin("mital2022ndic", "2106.11723", _NDIC_CAM, "models/distributed_models/distributed_model.py"),
    "ndic_bmshj18": Origin("mital2022ndic", "2106.11723", _NDIC_CAM, "models/distributed_models/distributed_model.py"),
    "cross_attention": Origin(
        "mital2023ndiccam", "2207.08489", _NDIC_CAM, "models/distributed_models/attention_distributed_model.py"
    ),
    "wacnn": Origin("zou2022stf", "2203.08450", "Googolxx/STF", "compressai/models/cnn.py"),
    "stf": Origin("zou2022stf", "2203.08450", "Googolxx/STF", "compressai/models/stf.py"),
}

# top-level module name -> the part of the codec it belongs to
PARTS = {
    "encoder (g_a)": ("g_a",),
    "entropy model": (
        "h_a",
        "h_s",
        "h_mean_s",
        "h_scale_s",
        "cc_mean_transforms",
        "cc_scale_transforms",
        "lrp_transforms",
        "entropy_bottleneck",
        "gaussian_conditional",
    ),
    "decoder (g_s)": ("g_s", "align"),
    "side-image branch (decoder only)": (
        "g_a_side",
        "g_common",
        "g_s_side",
        "h_a_side",
        "h_s_side",
        "side_entropy_bottleneck",
        "common_entropy_bottleneck",
    ),
}


def part_of(module_name: str) -> str:
    """The part of the codec a top-level module belongs to; KeyError for a name no part lists."""
    for part, names in PARTS.items():
        if module_name in names:
            return part
    raise KeyError(f"top-level module {module_name!r} is in no part of ndic.architectures.PARTS; add it there")


def diagram(name: str | type) -> str:
    """The data-flow diagram of model ``name`` (or of a class): the ``code-block:: none`` of its docstring."""
    from . import models

    doc = inspect.getdoc(name if isinstance(name, type) else models.get(name)) or ""
    lines = doc.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == ".. code-block:: none") + 1
    except StopIteration:
        raise ValueError(f"the docstring of model {name!r} has no '.. code-block:: none' diagram") from None
    block = []
    for line in lines[start:]:
        if line.strip() and not line.startswith(" "):
            break  # the block ends at the first unindented line
        block.append(line)
    return textwrap.dedent("\n".join(block)).strip("\n")


def base_diagram(name: str) -> str:
    """The diagram of the nearest base class of model ``name`` that draws one (STF/WACNN: the entropy model)."""
    from . import models

    for base in models.get(name).__mro__[1:]:
        try:
            return diagram(base)
        except ValueError:
            continue
    raise ValueError(f"no base class of model {name!r} has a diagram")


def parameter_table(names: list[str] | None = None) -> pd.DataFrame:
    """Parameters of each model at its paper's default width, by part, with the total (built now)."""
    from . import models

    rows = []
    for name in names or models.names():
        net = models.build(name)
        row = dict.fromkeys(PARTS, 0)
        for child, module in net.named_children():
            row[part_of(child)] += sum(p.numel() for p in module.parameters())
        row["total"] = sum(p.numel() for p in net.parameters())
        rows.append({"model": name, **row})
        del net
    return pd.DataFrame(rows).set_index("model")


def origin_links(name: str) -> str:
    """Markdown links to the paper (arXiv) and the original module of ``name``."""
    origin = ORIGINS[name]
    code = f"https://github.com/{origin.repository}/blob/HEAD/{origin.path}"
    return f"[arXiv:{origin.arxiv}](https://arxiv.org/abs/{origin.arxiv}), [{origin.repository}]({code})"
