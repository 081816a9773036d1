"""What a twin perturbation request may hold: keys, types and ranges, checked as a whole before anything changes.

The control endpoint's /perturb, ``TwinWorld.perturb`` and the ``so101 twin`` options share these ranges. A request
is refused entirely (one message naming the first bad key) or returned normalised; the world then applies it in
one step. Before this, a bad value was applied up to the key that failed and a bad visual value stayed stored, so
every later request failed on it (the endpoint was wedged until every visual key was reset).

Light on purpose (no mujoco at import): the CLI reads the ranges while it declares its options.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sim.randomize import VISUAL_KEYS as SIM_VISUAL_KEYS

# Sim-to-real gap knobs (TwinWorld.Perturbations): inclusive (low, high). Wide enough for the held-out set
# (sim/heldout.py: latency 105-145 ms, backlash 1.1-1.6 deg, noise 0.25-0.4 deg) and then some.
PERTURBATION_RANGES: dict[str, tuple[float, float]] = {
    "latency_ms": (0.0, 1000.0),
    "backlash_deg": (0.0, 20.0),
    "joint_noise_deg": (0.0, 10.0),
    "light_scale": (0.0, 10.0),
}
CAMERA_SHIFT_MAX_M = 0.1  # |dx|, |dy|, |dz| of the camera mount offset
CAMERA_TURN_MAX_RAD = math.pi / 4  # |droll|, |dpitch|, |dyaw|
COLOUR_MAX = 5.0  # light colours (rgb) may exceed 1 to brighten; table rgba stays in [0, 1]
LIGHTING_KEYS = ("dir", "diffuse", "ambient", "headlight")
# Scene looks applied by sim.randomize.apply_visual_perturbation; "name" is a label and is dropped. The twin
# takes camera_offset in its own mount's convention (a perturbation key above), not as a look.
VISUAL_KEYS = tuple(k for k in SIM_VISUAL_KEYS if k != "camera_offset")
PERTURBATION_KEYS = ("camera_offset", *PERTURBATION_RANGES)


class PerturbationError(ValueError):
    """A perturbation request that was refused as a whole; nothing was applied."""


def _number(key: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PerturbationError(f"{key} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise PerturbationError(f"{key} must be a finite number, got {value!r}")
    if not low <= number <= high:
        raise PerturbationError(f"{key} must be within [{low:g}, {high:g}], got {value!r}")
    return number


def _vector(key: str, value: Any, size: int, low: float, high: float) -> tuple[float, ...]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, list | tuple):
        raise PerturbationError(f"{key} must be a list of {size} numbers, got {value!r}")
    if len(value) != size:
        raise PerturbationError(f"{key} must be a list of {size} numbers, got {len(value)}")
    return tuple(_number(f"{key}[{i}]", v, low, high) for i, v in enumerate(value))


def _camera_offset(value: Any) -> tuple[float, ...]:
    """dx dy dz within +-CAMERA_SHIFT_MAX_M metres, droll dpitch dyaw within +-CAMERA_TURN_MAX_RAD radians."""
    offset = _vector("camera_offset", value, 6, -math.inf, math.inf)  # type, size and finiteness first
    for i, v in enumerate(offset):
        bound, unit = (CAMERA_SHIFT_MAX_M, "m") if i < 3 else (CAMERA_TURN_MAX_RAD, "rad")
        if abs(v) > bound:
            raise PerturbationError(f"camera_offset[{i}] must be within +-{bound:.3g} {unit}, got {v!r}")
    return offset


def _lighting(value: Any) -> dict[str, list[float]]:
    if not isinstance(value, Mapping):
        raise PerturbationError(f"lighting must be an object with any of {', '.join(LIGHTING_KEYS)}")
    unknown = sorted(set(value) - set(LIGHTING_KEYS))
    if unknown:
        raise PerturbationError(f"unknown lighting keys {unknown}; valid: {', '.join(LIGHTING_KEYS)}")
    lighting = {}
    for key, entry in value.items():
        bound = 1e3 if key == "dir" else COLOUR_MAX
        vec = _vector(f"lighting.{key}", entry, 3, -bound if key == "dir" else 0.0, bound)
        if key == "dir" and math.hypot(*vec) < 1e-6:
            raise PerturbationError("lighting.dir must not be the zero vector")
        lighting[key] = list(vec)
    return lighting


def _table_texture(value: Any) -> str:
    from sim.randomize import PLAIN_TABLE, TABLE_TEXTURES

    valid = (PLAIN_TABLE, *TABLE_TEXTURES)
    if value not in valid:
        raise PerturbationError(f"unknown table_texture {value!r}; valid: {', '.join(valid)}")
    return value


def validate_perturbation(changes: Any) -> dict[str, Any]:
    """``changes`` checked in full and normalised (tuples of floats, floats); raises PerturbationError."""
    if not isinstance(changes, Mapping):
        raise PerturbationError(f"a perturbation is a JSON object of keys, got {type(changes).__name__}")
    changes = {k: v for k, v in changes.items() if k != "name"}
    unknown = sorted(set(changes) - set(PERTURBATION_KEYS) - set(VISUAL_KEYS), key=str)
    if unknown:
        valid = ", ".join((*PERTURBATION_KEYS, *VISUAL_KEYS))
        raise PerturbationError(f"unknown perturbation {unknown}; valid: {valid}")
    checked: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "camera_offset":
            checked[key] = _camera_offset(value)
        elif key in PERTURBATION_RANGES:
            checked[key] = _number(key, value, *PERTURBATION_RANGES[key])
        elif key == "lighting":
            checked[key] = _lighting(value or {})
        elif key == "table_rgba":
            checked[key] = None if value is None else list(_vector(key, value, 4, 0.0, 1.0))
        else:  # table_texture: empty or None leaves the scene's own
            checked[key] = _table_texture(value) if value else value
    return checked
