"""The one model registry.

A zoo entry is a function returning spec *data* (a literal table turned into
layers), decorated with its metadata: source, published figures, default
dataset, training recipe and the naming scheme of torchvision's weights.  Registering a name twice raises; every listing
(``list_models``, ``cnnkit models``) reads from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnkit.errors import CnnkitError
from cnnkit.spec import ModelSpec, parse_spec
from cnnkit.spec.parse import load_spec_file
from cnnkit.spec.schema import suggest


@dataclass(frozen=True)
class ModelEntry:
    name: str
    make_spec: Callable[[], dict]
    description: str
    source: str
    published: Mapping[str, int] = field(default_factory=dict)  # figures the spec must reproduce
    aliases: tuple[str, ...] = ()
    dataset: str = "imagenet"  # what the architecture was designed for
    recipe: Mapping[str, Any] = field(default_factory=dict)  # training defaults (cnnkit.models.recipes)
    torchvision: str | None = None  # naming scheme of torchvision's weights for it: sequential, resnet, googlenet

    def spec(self, input_shape: Any = None) -> ModelSpec:
        data = dict(self.make_spec())
        data.setdefault("name", self.name)
        data.setdefault("description", self.description)
        data.setdefault("source", self.source)
        return parse_spec(data, input_shape)


_REGISTRY: dict[str, ModelEntry] = {}
_ALIASES: dict[str, str] = {}


def register_model(name: str, *, description: str, source: str, published: Mapping[str, int] | None = None,
                   aliases: tuple[str, ...] = (), dataset: str = "imagenet", recipe: Mapping[str, Any] | None = None,
                   torchvision: str | None = None):
    """Decorator: add a spec-returning function to the zoo under ``name``."""

    def deco(fn: Callable[[], dict]) -> Callable[[], dict]:
        for key in (name, *aliases):
            if key in _REGISTRY or key in _ALIASES:
                raise ValueError(f"model name {key!r} is already registered")
        _REGISTRY[name] = ModelEntry(name, fn, description, source, dict(published or {}), tuple(aliases), dataset,
                                     dict(recipe or {}), torchvision)
        for alias in aliases:
            _ALIASES[alias] = name
        return fn

    return deco


def list_models() -> list[str]:
    """Names of every zoo model (aliases not repeated), in registration order."""
    return list(_REGISTRY)


def get_entry(name: str) -> ModelEntry:
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        names = list(_REGISTRY) + list(_ALIASES)
        raise CnnkitError(f"unknown model {name!r}{suggest(name, names)}; zoo models: {', '.join(_REGISTRY)} "
                          f"(or give a path to a spec file)")
    return _REGISTRY[key]


def is_registered(name: str) -> bool:
    key = name.strip().lower()
    return key in _REGISTRY or key in _ALIASES


def resolve_spec(model: Any, input_shape: Any = None) -> ModelSpec:
    """A ModelSpec from a zoo name, a spec file path, spec data, or a ModelSpec."""
    if isinstance(model, ModelSpec):
        return parse_spec(model, input_shape)
    if isinstance(model, Mapping):
        return parse_spec(model, input_shape)
    if isinstance(model, Path):
        return parse_spec(load_spec_file(model), input_shape)
    if isinstance(model, str):
        if is_registered(model):
            return get_entry(model).spec(input_shape)
        path = Path(model)
        if path.suffix.lower() == ".safetensors" or (path.is_dir() and (path / "spec.json").exists()):
            return parse_spec(_trained_spec(path), input_shape)
        if path.suffix.lower() in (".yaml", ".yml", ".json") or path.exists():
            if not path.exists():
                raise CnnkitError(f"spec file {model!r} does not exist")
            return parse_spec(load_spec_file(path), input_shape)
        get_entry(model)  # raises the unknown-model message
    raise CnnkitError(f"a model must be a zoo name, a spec file path or spec data, got {type(model).__name__}")


def _trained_spec(path: Path) -> dict:
    """The spec a run directory or a cnnkit weights file holds (the architecture, not the weights)."""
    import json

    if path.is_dir():
        return load_spec_file(path / "spec.json")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="np") as f:
            meta = json.loads((f.metadata() or {}).get("cnnkit", "{}"))
    except FileNotFoundError:
        raise CnnkitError(f"{path} does not exist") from None
    except Exception as exc:  # noqa: BLE001 - any unreadable header
        raise CnnkitError(f"{path} is not a readable cnnkit weights file: {exc}") from None
    if "spec" not in meta:
        raise CnnkitError(f"{path} holds no cnnkit spec (was it written by cnnkit?)")
    return meta["spec"]
