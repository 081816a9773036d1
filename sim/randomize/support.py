"""Checks on what training samples: could a training config ever produce a (held-out) value, and which model
fields did a randomiser or perturbation really change."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sim.randomize.config import RandomizationConfig
from sim.randomize.scene_elements import KEY_LIGHT, PLAIN_TABLE, TABLE_GEOM
from sim.randomize.timing import LatencyConfig, delay_samples_ms
from sim.randomize.visual import LightingConfig

import mujoco
import numpy as np


def _angle_deg(a: Sequence[float], b: Sequence[float]) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    cos = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    return math.degrees(math.acos(float(np.clip(cos, -1.0, 1.0))))


def changed_fields(a: mujoco.MjModel, b: mujoco.MjModel) -> set[str]:
    """Names of the model arrays (and headlight colours) that differ between two models of one scene: what a
    randomiser or perturbation really touched (``geom_group`` is the wrist renderer's per-frame culling)."""
    out = {
        n
        for n in dir(a)
        if not n.startswith("_")
        and isinstance(getattr(a, n), np.ndarray)
        and not np.array_equal(getattr(a, n), getattr(b, n))
    }
    for n in ("ambient", "diffuse", "specular"):
        if not np.array_equal(getattr(a.vis.headlight, n), getattr(b.vis.headlight, n)):
            out.add(f"vis.headlight.{n}")
    return out - {"geom_group"}


def training_support(perturbation: dict[str, Any], cfg: RandomizationConfig, model: mujoco.MjModel,
                     control_hz: float) -> dict[str, bool]:  # fmt: skip
    """For each key of ``perturbation``: could the training randomisers of ``cfg`` (on the scene ``model``
    as built, before any randomisation) ever produce that value? Held-out perturbations must answer False.
    A disabled group samples only the scene's own value."""
    tol = 1e-6
    out: dict[str, bool] = {}
    light = model.light(KEY_LIGHT).id
    if "lighting" in perturbation:
        lc, li = cfg.lighting, perturbation["lighting"]
        if not lc.enabled:
            a0, h0 = float(model.vis.headlight.ambient[0]), float(model.vis.headlight.diffuse[0])
            lc = LightingConfig(True, 0.0, (1.0, 1.0), 0.0, (a0, a0), (h0, h0))
        inside = (
            _angle_deg(li.get("dir", model.light_dir[light]), model.light_dir[light]) <= lc.dir_cone_deg + tol
        )
        if "diffuse" in li:  # scene colour x intensity x per-channel tint
            ratio = np.asarray(li["diffuse"], dtype=np.float64) / model.light_diffuse[light]
            lo, hi = lc.intensity[0] * (1 - lc.color_jitter), lc.intensity[1] * (1 + lc.color_jitter)
            spread = (1 + lc.color_jitter) / (1 - lc.color_jitter)
            inside &= bool(
                np.all((ratio >= lo - tol) & (ratio <= hi + tol))
                and ratio.max() / ratio.min() <= spread + tol
            )
        for key, bounds in (("ambient", lc.ambient), ("headlight", lc.headlight)):
            if key in li:  # a grey level
                v = np.asarray(li[key], dtype=np.float64)
                inside &= bool(np.ptp(v) < tol and bounds[0] - tol <= v[0] <= bounds[1] + tol)
        out["lighting"] = bool(inside)
    sc = cfg.surfaces
    if "table_rgba" in perturbation:
        rgb = np.asarray(perturbation["table_rgba"][:3], dtype=np.float64)
        low, high = (
            (sc.table_rgb_low, sc.table_rgb_high)
            if sc.enabled
            else (model.geom_rgba[model.geom(TABLE_GEOM).id, :3],) * 2
        )
        out["table_rgba"] = bool(
            np.all(rgb >= np.asarray(low) - tol) and np.all(rgb <= np.asarray(high) + tol)
        )
    if "table_texture" in perturbation:
        out["table_texture"] = perturbation["table_texture"] in (
            sc.table_textures if sc.enabled else (PLAIN_TABLE,)
        )
    if "camera_offset" in perturbation:
        cc = cfg.camera
        off = np.asarray(perturbation["camera_offset"], dtype=np.float64)
        pos_max = cc.episode_pos_m + cc.frame_pos_m if cc.enabled else 0.0
        # per-axis bound of the composed episode and frame rotations, to first order (5% margin for the rest)
        rot_max = 1.05 * math.radians(cc.episode_rot_deg + cc.frame_rot_deg) if cc.enabled else 0.0
        out["camera_offset"] = bool(
            np.all(np.abs(off[:3]) <= pos_max + tol) and np.all(np.abs(off[3:]) <= rot_max + tol)
        )
    if "latency_ms" in perturbation:
        out["latency_ms"] = _in_delay_support(float(perturbation["latency_ms"]), cfg.latency, control_hz)
    if "backlash_deg" in perturbation:
        b, v = cfg.backlash, float(perturbation["backlash_deg"])
        out["backlash_deg"] = bool(b.deg[0] - tol <= v <= b.deg[1] + tol) if b.enabled else v == 0.0
    if "joint_noise_deg" in perturbation:
        j, v = cfg.joint_noise, float(perturbation["joint_noise_deg"])
        out["joint_noise_deg"] = v <= j.std_deg + tol if j.enabled else v == 0.0
    return out


def _in_delay_support(ms: float, cfg: LatencyConfig, control_hz: float) -> bool:
    if not cfg.enabled:
        return ms == 0.0
    s = delay_samples_ms(cfg.ms, cfg.from_telemetry, "action_latency_ms")
    if s.size:
        return bool(s.min() <= ms <= s.max())
    grid = 1000.0 * np.arange(cfg.max_steps + 1) / control_hz
    return bool(np.any(np.abs(grid - ms) < 1e-6))
