"""Typed configs: filled from YAML presets plus Hydra-style ``key.sub=value`` overrides, saved, and read back.

The schema is always a dataclass that lives next to the code it configures; this module is the one place that
turns a config into plain data and back (presets, overrides, the resolved YAML of a run, the config inside a
checkpoint), and says *precisely* what is wrong when that fails, before anything is started.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from common.atomic_file import write_text
from resources import configs_dir, preset_names

T = TypeVar("T")


class ConfigError(ValueError):
    """A config problem the user can fix; the CLI prints it on one line and exits with code 2."""


def flat_keys(schema: type) -> list[str]:
    """Every dotted key a dataclass schema accepts, nested dataclasses expanded."""
    keys: list[str] = []
    for field in dataclasses.fields(schema):
        sub = field.type if isinstance(field.type, type) else None
        if sub is None and isinstance(field.default_factory, type):  # type: ignore[arg-type]
            sub = field.default_factory
        if sub is not None and dataclasses.is_dataclass(sub):
            keys.extend(f"{field.name}.{k}" for k in flat_keys(sub))
        else:
            keys.append(field.name)
    return keys


def nearest_key(key: str, valid: list[str]) -> str:
    """The valid key closest to ``key``: matched on the full path, then on the last segment."""
    match = difflib.get_close_matches(key, valid, n=1, cutoff=0.0)
    leaf = key.rsplit(".", 1)[-1]
    by_leaf = difflib.get_close_matches(leaf, [k.rsplit(".", 1)[-1] for k in valid], n=1, cutoff=0.75)
    if by_leaf:
        candidates = [k for k in valid if k.rsplit(".", 1)[-1] == by_leaf[0]]
        return difflib.get_close_matches(key, candidates, n=1, cutoff=0.0)[0]
    return match[0]


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested dict as ``{"dotted.key": leaf}`` (the form overrides and ``flat_keys`` use)."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, f"{path}."))
        else:
            out[path] = v
    return out


def _check_keys(flat: dict[str, Any], valid: list[str], where: str) -> None:
    valid_set = set(valid)
    prefixes = {k.rsplit(".", i)[0] for k in valid for i in range(1, k.count(".") + 1)}
    for key in flat:
        if key in valid_set or key in prefixes:
            continue
        # a key that names a whole leaf-valued sub-tree (e.g. a list/tuple value) is fine if its parent is valid
        if any(key.startswith(v + ".") for v in valid_set):
            continue
        raise ConfigError(
            f"unknown config key '{key}' {where}; nearest valid key: '{nearest_key(key, valid)}'"
        )


def _parse_overrides(overrides: list[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key=value (e.g. env.image_size=64)")
        key, raw = item.split("=", 1)
        key = key.strip().lstrip("+")
        if not key:
            raise ConfigError(f"override '{item}' has an empty key")
        parsed[key] = yaml.safe_load(raw) if raw.strip() else ""
    return parsed


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for key, value in flat.items():
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return tree


def preset_path(name: str) -> Path:
    path = configs_dir() / f"{name}.yaml"
    if not path.exists():
        names = preset_names()
        near = difflib.get_close_matches(name, names, n=1, cutoff=0.0)
        hint = f"; nearest: '{near[0]}'" if near else ""
        raise ConfigError(f"unknown preset '{name}' (valid: {', '.join(names)}){hint}")
    return path


def load_config(schema: type[T], preset: str | None = None, overrides: list[str] | None = None) -> T:
    """Build a ``schema`` instance from defaults <- preset YAML <- overrides, validating every key and type."""
    valid = flat_keys(schema)
    layers: list[tuple[str, dict[str, Any]]] = []
    if preset:
        path = preset_path(preset)
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"preset {path} must be a mapping of config keys")
        _check_keys(flatten(data), valid, f"in preset '{preset}' ({path})")
        layers.append((f"preset '{preset}'", data))
    if overrides:
        flat = _parse_overrides(overrides)
        _check_keys(flat, valid, "on the command line")
        layers.append(("the command line", _nest(flat)))
    cfg = OmegaConf.structured(schema)
    for where, data in layers:
        try:
            cfg = OmegaConf.merge(cfg, OmegaConf.create(data))
        except OmegaConfBaseException as exc:
            key = getattr(exc, "full_key", None) or "?"
            value = getattr(exc, "value", None)
            expected = getattr(exc, "ref_type", None) or getattr(exc, "object_type", None)
            msg = str(exc).splitlines()[0]
            raise ConfigError(
                f"bad value for '{key}' from {where}: {msg}"
                + (f" (got {value!r})" if value is not None else "")
                + (f", expected {expected}" if expected else "")
            ) from None
    obj = OmegaConf.to_object(cfg)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        try:
            validate()
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return obj  # type: ignore[return-value]


def apply_overrides(cfg: T, overrides: list[str]) -> T:
    """``cfg`` (a config dataclass instance) with ``key=value`` overrides on top, validated like any override."""
    if not overrides:
        return cfg
    load_config(type(cfg), None, overrides)  # validates keys and types with the usual one-line errors
    tree = OmegaConf.structured(cfg)
    for item in overrides:
        key, raw = item.split("=", 1)
        OmegaConf.update(
            tree, key.strip().lstrip("+"), yaml.safe_load(raw) if raw.strip() else "", merge=True
        )
    return OmegaConf.to_object(tree)  # type: ignore[return-value]


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain, JSON/YAML-safe dict of a config dataclass (tuples become lists); torch's ``weights_only`` loads it."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def from_dict(schema: type[T], data: dict[str, Any]) -> T:
    """Rebuild a config saved with :func:`to_dict` (e.g. from a checkpoint), typed against today's schema.

    Unknown keys are refused (with the nearest valid key), missing ones take today's defaults.
    """
    _check_keys(flatten(data), flat_keys(schema), "in saved config")
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.create(data)))  # type: ignore[return-value]


def save_resolved(cfg: Any, path: Path) -> Path:
    """Write the fully resolved config as YAML, atomically, so every run records exactly what it ran with."""
    return write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))


__all__ = [
    "ConfigError",
    "apply_overrides",
    "flat_keys",
    "flatten",
    "from_dict",
    "load_config",
    "nearest_key",
    "preset_path",
    "save_resolved",
    "to_dict",
]
