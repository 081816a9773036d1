"""Data that ships with the wheel: the scene MJCF and the YAML presets.

Everything here is found through importlib.resources so that a wheel install works exactly like a checkout.
"""

from __future__ import annotations

from importlib import resources as _resources
from pathlib import Path


def resource_path(*parts: str) -> Path:
    """Absolute path of a file shipped in this package (e.g. ``resource_path("configs", "cpu.yaml")``)."""
    path = Path(str(_resources.files(__name__).joinpath(*parts)))
    if not path.exists():
        raise FileNotFoundError(f"resource {'/'.join(parts)!r} is not shipped with so101-deploy ({path})")
    return path


def configs_dir() -> Path:
    return resource_path("configs")


def preset_names() -> list[str]:
    """Names accepted by ``--preset``: the YAML files in resources/configs, without extension."""
    return sorted(p.stem for p in configs_dir().glob("*.yaml"))
