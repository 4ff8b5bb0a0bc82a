"""Model registry: every architecture of both papers, built by name.

>>> from ndic import models
>>> models.names()
>>> net = models.build("bmshj18", num_filters=192)
>>> net = models.load_reference("wacnn", original_state_dict)

Every public module of this package is imported on first use and registers its classes with
:func:`register`. Each registered class is built as
``cls(**config)`` with the original constructor's argument names, and loads an original
implementation's state dict with ``cls.from_reference(state_dict, **config)``.
"""

from __future__ import annotations

import importlib
import pkgutil

from .. import _compat  # noqa: F401

_REGISTRY: dict[str, type] = {}
_ALIASES: dict[str, str] = {}
_loaded = False


def register(name: str, *aliases: str):
    """Class decorator: make ``cls`` buildable as ``build(name)`` (and under each alias)."""

    def wrap(cls):
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is registered twice")
        _REGISTRY[name] = cls
        for alias in aliases:
            _ALIASES[alias] = name
        cls.registry_name = name
        return cls

    return wrap


def _load_all() -> None:
    global _loaded
    # every public module of this package registers its models when imported
    if not _loaded:
        _loaded = True
        for info in pkgutil.iter_modules(__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{__name__}.{info.name}")


def canonical(name: str) -> str:
    """The registry name for ``name`` or one of its aliases; a clear error otherwise."""
    _load_all()
    key = _ALIASES.get(name, name)
    if key not in _REGISTRY:
        known = ", ".join(names())
        raise KeyError(f"unknown model {name!r}; known models: {known}")
    return key


def names() -> list[str]:
    """Registered model names, in registration order."""
    _load_all()
    return list(_REGISTRY)


def get(name: str) -> type:
    """The model class registered as ``name`` (or an alias)."""
    return _REGISTRY[canonical(name)]


def build(name: str, **config):
    """Build model ``name`` with the original constructor's keyword arguments."""
    return get(name)(**config)


def load_reference(name: str, state_dict, **config):
    """Build ``name`` from a state dict saved by the original implementation (strict)."""
    return get(name).from_reference(state_dict, **config)
