"""Model registry: every architecture of both papers, built by name.

>>> from ndic import models
>>> models.names()
>>> net = models.build("bmshj18", num_filters=192)
>>> net = models.load_reference("wacnn", original_state_dict)

Every public module of this package is imported on first use and registers its classes with
:func:`register`; installed packages may add models through the entry-point group ``ndic.models``
(each entry point names a module that registers its classes when imported). Each registered class is
built as ``cls(**config)`` with the original constructor's argument names, and loads an original
implementation's state dict with ``cls.from_reference(state_dict, **config)``.

Adding a model touches one file: subclass :class:`~ndic.models.base.ImageCodec` (or
:class:`~ndic.models.base.DistributedCodec`), set its class attributes (``stride``, ``recipe``,
``paper_lambdas``, ...) and decorate it with ``@register("name")``; :func:`register` refuses a
class that lacks part of the contract (:mod:`ndic.models.base`) with a message naming what is missing.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from pathlib import Path

from .. import _compat  # noqa: F401

_REGISTRY: dict[str, type] = {}
_ALIASES: dict[str, str] = {}
_loaded = False


class ModelContractError(TypeError):
    """A class registered as a model lacks part of the contract of :mod:`ndic.models.base`."""


def register(name: str, *aliases: str):
    """Class decorator: make ``cls`` buildable as ``build(name)`` (and under each alias).

    The class is checked against the model contract first (:func:`ndic.models.base.contract_problems`).
    """

    def wrap(cls):
        from .base import contract_problems

        problems = contract_problems(cls)
        if problems:
            raise ModelContractError(
                f"model {name!r} ({getattr(cls, '__name__', cls)!r}) cannot be registered; it lacks: "
                + "; ".join(problems)
                + ". See ndic/models/base.py for the contract."
            )
        taken = [n for n in (name, *aliases) if n in _REGISTRY or n in _ALIASES]
        if taken:
            raise ValueError(f"model name {taken[0]!r} is registered twice")
        _REGISTRY[name] = cls
        for alias in aliases:
            _ALIASES[alias] = name
        cls.registry_name = name
        return cls

    return wrap


def unregister(name: str) -> None:
    """Remove ``name`` and its aliases from the registry (a model registered by a test or notebook)."""
    key = canonical(name)
    del _REGISTRY[key]
    for alias in [a for a, target in _ALIASES.items() if target == key]:
        del _ALIASES[alias]


_DECORATOR = re.compile(r"@register\(([^)]*)\)")


@functools.cache
def _index() -> dict[str, str]:
    """Model name or alias -> the public module of this package that registers it, read from the source.

    Reading the decorators as text lets ``get(name)`` import one module instead of all of them (STF's and
    WACNN's import timm, which costs seconds at start-up); ``names()`` still imports everything.
    """
    found: dict[str, str] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        source = (Path(__path__[0]) / f"{info.name}.py").read_text(encoding="utf-8")
        for arguments in _DECORATOR.findall(source):
            for name in re.findall(r"[\"']([^\"']+)[\"']", arguments):
                found.setdefault(name, info.name)
    return found


def _load(name: str) -> None:
    """Import what registers ``name``: its module when the index knows it, else everything."""
    if name in _REGISTRY or name in _ALIASES:
        return
    module = _index().get(name)
    if module is not None:
        importlib.import_module(f"{__name__}.{module}")
    if name not in _REGISTRY and name not in _ALIASES:
        _load_all()


def _load_all() -> None:
    global _loaded
    # every public module of this package registers its models when imported, then installed plug-ins
    if not _loaded:
        _loaded = True
        for info in pkgutil.iter_modules(__path__):
            if not info.name.startswith("_") and info.name != "base":
                importlib.import_module(f"{__name__}.{info.name}")
        from importlib.metadata import entry_points

        for entry in entry_points(group="ndic.models"):
            entry.load()


def canonical(name: str) -> str:
    """The registry name for ``name`` or one of its aliases; a clear error otherwise."""
    _load(name)
    key = _ALIASES.get(name, name)
    if key not in _REGISTRY:
        known = ", ".join(names())
        raise KeyError(f"unknown model {name!r}; known models: {known}")
    return key


def names() -> list[str]:
    """Registered model names: the package's in source order (module by module), then the others."""
    _load_all()
    order = {name: i for i, name in enumerate(_index())}
    return sorted(_REGISTRY, key=lambda name: order.get(name, len(order)))


def get(name: str) -> type:
    """The model class registered as ``name`` (or an alias)."""
    return _REGISTRY[canonical(name)]


def build(name: str, **config):
    """Build model ``name`` with the original constructor's keyword arguments."""
    from .base import check_config

    model = get(name)(**config)
    check_config(model)
    return model


def load_reference(name: str, state_dict, **config):
    """Build ``name`` from a state dict saved by the original implementation (strict)."""
    return get(name).from_reference(state_dict, **config)
