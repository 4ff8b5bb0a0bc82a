"""Import hooks that let torchvision and CompressAI 1.2.8 import on their own, and quickly.

The project's install puts ``ndic_import_hooks.pth`` into site-packages; at interpreter start it
imports this file (as the top-level module ``_ndic_import_hooks``, see build_backend/ndic_backend.py),
which puts one finder at the front of ``sys.meta_path``. ``import ndic`` installs the same finder
(once per process), so environments without the ``.pth`` behave alike. The finder acts on a handful
of module names; every other import passes through untouched. No file of another package is changed.

1. torchvision next to CPU-only torch. The only torchvision that accepts torch 2.13.0 (0.28.0) is a
   CUDA build: its ``_C`` extension fails to load next to CPU torch, torchvision carries on without
   its operators, and then ``torchvision._meta_registrations`` dies with ``operator torchvision::nms
   does not exist`` (it registers fake kernels for ``nms``/``qnms`` unconditionally). When that
   module is about to load, torchvision has already tried its extension: if ``torch.ops.torchvision``
   has no ``nms``, the finder declares the two schemas (no kernels: calling them fails loudly).
   Where torch and torchvision match, the operators exist and nothing is declared.

2. CompressAI's point-cloud path and its start-up cost. ``import compressai`` 1.2.8 imports
   ``torch_geometric`` (and through it ``torch._dynamo``), pandas (point-cloud datasets) and
   ``scipy.stats``, seconds for things an image codec never or rarely uses. For the exact 1.2.8 files
   (checked by SHA-256; other versions import as they are) the finder defers them:

   - ``compressai.transforms`` and ``compressai.datasets`` import their ``point``/``pointcloud``
     subpackage on the first access to it or to one of its names (``import *`` included);
   - ``compressai.registry.TRANSFORMS`` and ``DATASETS`` complete themselves on their first read,
     in CompressAI's order (TRANSFORMS: torchvision's, torch_geometric's, then registered classes);
   - ``scipy.stats``, as imported by ``compressai.entropy_models``, loads on its first use
     (``importlib.util.LazyLoader``; only ``GaussianConditional.update`` calls it).

   ``import compressai`` then imports neither torch_geometric, torchvision, pandas nor scipy.stats.

``NDIC_IMPORT_HOOKS=0`` in the environment turns both off, ``NDIC_IMPORT_HOOKS=torchvision`` keeps
only the first (CompressAI imports as it is): for comparisons, tests and bug reports.
"""

import os
import sys

__all__ = ["NdicImportHooks", "active_hooks", "install"]

# Schemas as torchvision declares them (torchvision/csrc/ops/nms.cpp, ops/quantized/cpu/qnms_kernel.cpp).
_TORCHVISION_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_TORCHVISION_TRIGGER = "torchvision._meta_registrations"  # imported right after torchvision tried its _C
# module -> SHA-256 of its CompressAI 1.2.8 file, whose import this finder changes
_COMPRESSAI_1_2_8 = {
    "compressai.registry.transforms": "fc71fb21c81279675485cfae83aa1d5b72f7f8b9bfc522374f2505691ba80146",
    "compressai.registry.torch": "bb16928023cd3bb5843aa5107eb5e32aa316c8d698c44342174ff7f484cfdc01",
    "compressai.transforms": "a1a1a9e7c5cdead0fbf10af4a6c55691ed9c2436afe7097855ee222ec60eb2e7",
    "compressai.datasets": "83b0d7e9a77abac7b8a84bb33aa25b03335a91cdab0b3aec651c43ee27a94a9a",
    "compressai.entropy_models.entropy_models": "773fd67f344e261f502e5cef33a526cca5dfaebf51c2e480a2e0041bf3e2e581",
}


class NdicImportHooks:
    """Meta path finder: acts on the modules named above, returns None for every other."""

    def __init__(self, defer_compressai: bool = True):
        self.defer_compressai = defer_compressai
        self.declared_torchvision_schemas = False
        self.changed: list[str] = []  # CompressAI modules whose import was changed, in import order
        self._library = None  # keeps the declared schemas alive for the life of the process
        self._lazy_scipy_stats = False  # True while compressai.entropy_models.entropy_models runs

    def find_spec(self, fullname, path=None, target=None):
        if fullname == _TORCHVISION_TRIGGER:
            self._declare_torchvision_schemas()
            return None  # the module itself loads as usual
        if fullname in _COMPRESSAI_1_2_8 and self.defer_compressai:
            return self._changed_spec(fullname, path, target)
        if fullname == "scipy.stats" and self._lazy_scipy_stats:
            import importlib.util

            spec = self._real_spec(fullname, path, target)
            if spec is not None and hasattr(spec.loader, "exec_module"):
                spec.loader = importlib.util.LazyLoader(spec.loader)
            return spec
        return None

    def _declare_torchvision_schemas(self) -> None:
        import torch

        try:
            torch.ops.torchvision.nms  # noqa: B018 - the lookup is the check
            return
        except (AttributeError, RuntimeError):
            pass
        if not self.declared_torchvision_schemas:
            self._library = torch.library.Library("torchvision", "DEF")
            for schema in _TORCHVISION_SCHEMAS:
                self._library.define(schema)
            self.declared_torchvision_schemas = True

    def _real_spec(self, fullname, path, target):
        """The spec the import would get without this finder."""
        for finder in sys.meta_path:
            if finder is not self and hasattr(finder, "find_spec"):
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    return spec
        return None

    def _changed_spec(self, fullname, path, target):
        spec = self._real_spec(fullname, path, target)
        if spec is None or spec.loader is None or not _has_sha256(spec.origin, _COMPRESSAI_1_2_8[fullname]):
            return spec
        spec.loader = _ChangedLoader(spec.loader, _CHANGES[fullname], self)
        self.changed.append(fullname)
        return spec


def _has_sha256(path, expected: str) -> bool:
    import hashlib

    try:
        with open(path, "rb") as file:
            return hashlib.sha256(file.read()).hexdigest() == expected
    except (OSError, TypeError):
        return False


class _ChangedLoader:
    """The module keeps its spec, file and package path; ``change(module, loader, hooks)`` runs its body."""

    def __init__(self, loader, change, hooks):
        self._loader = loader
        self._change = change
        self._hooks = hooks

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._change(module, self._loader, self._hooks)

    def __getattr__(self, name):  # get_source, get_filename, is_package, resource readers...
        return getattr(self._loader, name)


# --------------------------------------------------------------------------- registries


class DeferredRegistry(dict):
    """A registry dict of ``compressai.registry`` that runs ``load(registered)`` on its first read.

    Registering (``REGISTRY[name] = cls``) never loads. The first read calls ``load``, which imports the
    deferred modules (their classes register here) and returns the entries that CompressAI 1.2.8 puts
    first when it builds the registry eagerly; the others follow in the order they were registered. A
    name registered again keeps its first place and takes the latest class, as in a plain dict.
    """

    _filled = False
    _filling = False

    def __init__(self, load, entries=()):
        super().__init__(entries)
        self._load = load

    def _fill(self) -> None:
        if self._filled or self._filling:
            return
        self._filling = True
        try:
            self._load(dict(dict.items(self)))  # imports: the deferred classes register
            registered = dict(dict.items(self))
            ordered = {k: registered.get(k, v) for k, v in self._load(registered).items()}
            ordered.update(registered)
            dict.clear(self)
            dict.update(self, ordered)
            self._filled = True
        finally:
            self._filling = False


def _reading(name: str):
    method = getattr(dict, name)

    def read(self, *args, **kwargs):
        self._fill()
        return method(self, *args, **kwargs)

    read.__name__ = read.__qualname__ = name
    return read


for _name in (
    "__getitem__", "__contains__", "__iter__", "__len__", "__repr__", "__eq__", "__ne__", "__or__", "__ror__",
    "__reversed__", "__delitem__", "get", "keys", "values", "items", "copy", "pop", "popitem", "setdefault",
):  # fmt: skip
    setattr(DeferredRegistry, _name, _reading(_name))
del _name


def _load_transforms(registered: dict) -> dict:
    # CompressAI's order: torchvision's transforms, torch_geometric's, its own point-cloud ones (registered
    # while ``import compressai`` ran), then any other
    import torchvision.transforms

    try:
        import torch_geometric.transforms
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            f"compressai's TRANSFORMS registry includes torch_geometric's transforms, but {err}; "
            "install torch-geometric (a dependency of compressai 1.2.8)",
            name=err.name,
        ) from err
    import compressai.transforms.point  # noqa: F401  (registers CompressAI's point-cloud transforms)

    leading = {}
    for library in (torchvision.transforms, torch_geometric.transforms):
        leading.update({k: v for k, v in vars(library).items() if k[0].isupper()})
    leading.update(_registered_by(registered, "compressai.transforms.point."))
    return leading


def _load_datasets(registered: dict) -> dict:
    # CompressAI's order: the point-cloud datasets (``compressai.datasets`` imports them first), then any other
    import compressai.datasets.pointcloud  # noqa: F401  (registers the point-cloud datasets)

    return _registered_by(registered, "compressai.datasets.pointcloud.")


def _registered_by(registered: dict, prefix: str) -> dict:
    return {k: v for k, v in registered.items() if getattr(v, "__module__", "").startswith(prefix)}


def _registry_transforms(module, loader, hooks) -> None:
    # compressai/registry/transforms.py with TRANSFORMS filled on first read (no import of the libraries)
    from typing import TypeVar

    from compressai.typing import TTransform

    transforms = DeferredRegistry(_load_transforms)

    def register_transform(name: str):
        """Decorator for registering a transform."""

        def decorator(cls):
            transforms[name] = cls
            return cls

        return decorator

    register_transform.__module__ = module.__name__
    module.__dict__.update(
        __all__=["TRANSFORMS", "register_transform"],
        TRANSFORMS=transforms,
        TTransform=TTransform,
        TTransform_b=TypeVar("TTransform_b", bound=TTransform),
        register_transform=register_transform,
    )


def _registry_torch(module, loader, hooks) -> None:
    # compressai/registry/torch.py as it is; its DATASETS (empty then) completes itself on first read
    loader.exec_module(module)
    module.DATASETS = DeferredRegistry(_load_datasets, dict.items(module.DATASETS))


# --------------------------------------------------------------------------- packages


def _package_with_lazy_part(module, eager: dict, lazy: str, all_names=None) -> None:
    """Run a package ``__init__`` that only imports its submodules: ``eager`` ones now, ``lazy`` on first use.

    ``eager`` maps a submodule to the names the original binds from it (None: ``import *``, so its
    ``__all__`` or public names). The names of ``lazy`` never replace an eager one (the original binds
    the eager ones after it). ``all_names(lazy_module)`` gives the package's ``__all__``, if it has one.
    """
    import importlib

    def star(sub):
        return getattr(sub, "__all__", None) or [n for n in vars(sub) if not n.startswith("_")]

    for name, names in eager.items():
        sub = importlib.import_module(f"{module.__name__}.{name}")
        module.__dict__.update({n: getattr(sub, n) for n in (star(sub) if names is None else names)})

    def __getattr__(name: str):
        if name.startswith("__") and name != "__all__":
            raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}")
        sub = importlib.import_module(f"{module.__name__}.{lazy}")  # binds module.<lazy> too
        for n in star(sub):
            module.__dict__.setdefault(n, getattr(sub, n))
        if name == "__all__" and all_names is not None:
            module.__all__ = all_names(sub)
        if name in module.__dict__:
            return module.__dict__[name]
        # no __all__: ``import *`` falls back to the namespace, which now holds the lazy names too
        raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}")

    module.__getattr__ = __getattr__


def _transforms_package(module, loader, hooks) -> None:
    # compressai/transforms/__init__.py: ``from . import point``, ``from .point import *``,
    # ``from .transforms import *``
    _package_with_lazy_part(module, {"transforms": None}, "point")


def _datasets_package(module, loader, hooks) -> None:
    # compressai/datasets/__init__.py: its point-cloud subpackage first in the original, deferred here
    eager = {
        "image": ["ImageFolder"],
        "pregenerated": ["PreGeneratedMemmapDataset"],
        "rawvideo": None,
        "video": ["VideoFolder"],
        "vimeo90k": ["Vimeo90kDataset"],
    }
    names = [n for names in eager.values() if names for n in names]
    _package_with_lazy_part(module, eager, "pointcloud", lambda pointcloud: [*pointcloud.__all__, *names])


def _entropy_models(module, loader, hooks) -> None:
    # the file as it is; the scipy.stats it imports is a LazyLoader module (see NdicImportHooks.find_spec)
    hooks._lazy_scipy_stats = True
    try:
        loader.exec_module(module)
    finally:
        hooks._lazy_scipy_stats = False


_CHANGES = {
    "compressai.registry.transforms": _registry_transforms,
    "compressai.registry.torch": _registry_torch,
    "compressai.transforms": _transforms_package,
    "compressai.datasets": _datasets_package,
    "compressai.entropy_models.entropy_models": _entropy_models,
}


# --------------------------------------------------------------------------- installation


def active_hooks() -> "NdicImportHooks | None":
    """The finder in ``sys.meta_path`` (installed by the ``.pth`` file's copy of this module or by ``ndic``)."""
    for finder in sys.meta_path:
        if type(finder).__name__ == "NdicImportHooks" and hasattr(finder, "declared_torchvision_schemas"):
            return finder
    return None


def install() -> "NdicImportHooks | None":
    """Put the finder first in ``sys.meta_path``, once per process (None when ``NDIC_IMPORT_HOOKS=0``)."""
    setting = os.environ.get("NDIC_IMPORT_HOOKS", "1").strip().lower()
    if setting in ("0", "off", "false", "no"):
        return None
    hooks = active_hooks()
    if hooks is None:
        hooks = NdicImportHooks(defer_compressai=setting != "torchvision")
        sys.meta_path.insert(0, hooks)
    return hooks


def __getattr__(name: str):
    # ``ndic._compat.declared_torchvision_schemas`` (kept from the earlier eager module): whether torchvision
    # needed the declared schemas. The declaration happens when torchvision is imported, so this imports it.
    if name == "declared_torchvision_schemas":
        import importlib.util

        if "torchvision" not in sys.modules and importlib.util.find_spec("torchvision") is not None:
            import torchvision  # noqa: F401
        hooks = active_hooks()
        return bool(hooks and hooks.declared_torchvision_schemas)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


install()
