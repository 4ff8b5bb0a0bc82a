"""Make ``import torchvision`` work when its compiled operators cannot load.

CompressAI 1.2.8 imports torchvision, and the only torchvision that accepts torch 2.13.0
(0.28.0) is published as a CUDA build. Next to a CPU-only torch its ``_C`` extension fails to
load, torchvision silently carries on without its operators, and then its own
``_meta_registrations`` module dies with ``operator torchvision::nms does not exist``
because it registers fake kernels for ``nms`` and ``qnms`` unconditionally.

The narrow fix: before anything imports torchvision, try to load its extension exactly as
torchvision would; only if that fails, declare the schemas of those two operators (no kernels),
so torchvision's import completes. Nothing in this project calls torchvision's detection ops;
calling them would still fail loudly ("no kernel registered"). Where torch and torchvision
match, the extension loads and this module does nothing else. Site-packages is never modified.
"""

import glob
import importlib.util
import os
import sys

import torch

# Schemas as torchvision declares them (torchvision/csrc/ops/nms.cpp, ops/quantized/...).
_MISSING_OP_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_library = None  # keeps the schema declarations alive for the life of the process
declared_torchvision_schemas = False


def _torchvision_ops_available() -> bool:
    try:
        torch.ops.torchvision.nms  # noqa: B018 - attribute lookup is the check
        return True
    except (AttributeError, RuntimeError):
        return False


def _try_load_torchvision_extension() -> bool:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False
    for path in glob.glob(os.path.join(spec.submodule_search_locations[0], "_C*.so")):
        try:
            torch.ops.load_library(path)
        except (OSError, RuntimeError):
            return False
    return _torchvision_ops_available()


def ensure_torchvision_importable() -> bool:
    """Declare torchvision's missing operator schemas if (and only if) its extension can't load.

    Returns True when the schemas had to be declared.
    """
    global _library, declared_torchvision_schemas
    if "torchvision" in sys.modules or importlib.util.find_spec("torchvision") is None:
        return declared_torchvision_schemas
    if _torchvision_ops_available() or _try_load_torchvision_extension():
        return False
    _library = torch.library.Library("torchvision", "DEF")
    for schema in _MISSING_OP_SCHEMAS.values():
        _library.define(schema)
    declared_torchvision_schemas = True
    return True


ensure_torchvision_importable()
