"""The held-out perturbation set: fixed conditions that training never samples, the sim-to-real gap proxy.

A policy that only works inside its training distribution looks fine in the training sim and fails on the arm.
These perturbations sit outside every training preset's ranges (``dr_default`` and ``dr_strong``; the tests
check each one with ``sim.randomize.training_support``):
  - lighting: key light 50-70 deg away from the scene's (training: within 25/40 deg), tinted, dim or bright
    headlight;
  - table: the ``grid`` / ``blotch`` textures (training never uses them) in dark colours (a channel < 0.15);
  - camera: the wrist camera moved 11-16 mm along one axis and turned 4.5-7 deg about one axis of the gripper
    body (training: at most 10 mm and 4 deg per axis);
  - latency: 105-145 ms, off the training grid of whole 50 ms control steps and above dr_default's 100 ms;
  - servo backlash 1.1-1.6 deg and joint-reading noise 0.25-0.4 deg (training: <= 1.0 and <= 0.2).

The set is data: a list of plain dicts, rebuilt bit-for-bit from ``HELDOUT_SEED`` (``HELDOUT_SHA256`` pins it).
A perturbation is one point of the space training samples from: its latency, backlash and joint noise become a
fixed-value ``RandomizationConfig`` (``sim.randomize.perturbation_config``) that the training sim
(``heldout_env_config``) and the digital twin (``so101_deploy.twin.world``) both run through the training
randomisers; its visual keys go onto either model with ``sim.randomize.apply_visual_perturbation``
(``apply_heldout_visuals`` for the training sim).

    python -m sim.heldout [--seed N] [--count N] [-o heldout.yaml]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
from pathlib import Path
from typing import Any

from sim.config import EnvConfig
from sim.randomize import HELDOUT_TABLE_TEXTURES, apply_visual_perturbation, perturbation_config
from sim.scene import KEY_LIGHT_DIR

import mujoco
import numpy as np
import yaml

HELDOUT_SEED = 9009
HELDOUT_COUNT = 12
HELDOUT_SHA256 = "3ca0e5c26b5d3560151fbbfdf19fdef3faad3330cac6df46898fb15348c9ddc5"  # of the default set
KEYS = ("name", "lighting", "table_rgba", "table_texture", "camera_offset", "latency_ms", "backlash_deg",
        "joint_noise_deg")  # fmt: skip

LIGHT_ANGLE_DEG = (50.0, 70.0)
LIGHT_TINTS = ((1.0, 0.78, 0.52), (0.62, 0.76, 1.0), (1.0, 0.62, 0.78), (0.7, 1.0, 0.7))
LIGHT_LEVEL = (0.3, 0.8)
HEADLIGHT_LEVELS = ((0.05, 0.09), (0.62, 0.72))  # dim or bright, never the training 0.1-0.6
TABLE_DARK_CHANNEL = (0.03, 0.12)
TABLE_OTHER_CHANNELS = (0.08, 0.6)
CAMERA_SHIFT_M = (0.011, 0.016)  # along one axis; the others within +-CAMERA_SIDE_M
CAMERA_SIDE_M = 0.004
CAMERA_TURN_DEG = (4.5, 7.0)  # about one axis; the others within +-CAMERA_SIDE_DEG
CAMERA_SIDE_DEG = 1.5
LATENCY_MS = (105.0, 145.0)
BACKLASH_DEG = (1.1, 1.6)
JOINT_NOISE_DEG = (0.25, 0.4)


def _r(x) -> Any:
    """Rounded plain floats: readable YAML, and a digest that does not depend on the last float bit."""
    if isinstance(x, np.ndarray | list | tuple):
        return [_r(v) for v in x]
    return round(float(x), 4)


def _light_dir(rng: np.random.Generator) -> np.ndarray:
    axis = np.asarray(KEY_LIGHT_DIR, dtype=np.float64)
    axis /= np.linalg.norm(axis)
    theta, phi = math.radians(rng.uniform(*LIGHT_ANGLE_DEG)), rng.uniform(0, 2 * math.pi)
    u = np.cross(axis, [1.0, 0.0, 0.0])
    u /= np.linalg.norm(u)
    w = np.cross(axis, u)
    d = math.cos(theta) * axis + math.sin(theta) * (math.cos(phi) * u + math.sin(phi) * w)
    return d / np.linalg.norm(d)  # still downwards: the scene's key light is 8.5 deg off vertical


def _one(rng: np.random.Generator, name: str) -> dict[str, Any]:
    tint = np.asarray(LIGHT_TINTS[int(rng.integers(len(LIGHT_TINTS)))])
    head = HEADLIGHT_LEVELS[int(rng.integers(len(HEADLIGHT_LEVELS)))]
    table = rng.uniform(*TABLE_OTHER_CHANNELS, 3)
    table[int(rng.integers(3))] = rng.uniform(*TABLE_DARK_CHANNEL)
    camera = np.concatenate([rng.uniform(-CAMERA_SIDE_M, CAMERA_SIDE_M, 3),
                             np.radians(rng.uniform(-CAMERA_SIDE_DEG, CAMERA_SIDE_DEG, 3))])  # fmt: skip
    sign = lambda: 1.0 if rng.uniform() < 0.5 else -1.0  # noqa: E731
    axis = int(rng.integers(3))
    # never towards the jaw (-y): the camera would end up inside the gripper's mount
    camera[axis] = (1.0 if axis == 1 else sign()) * rng.uniform(*CAMERA_SHIFT_M)
    camera[3 + int(rng.integers(3))] = sign() * math.radians(rng.uniform(*CAMERA_TURN_DEG))
    return {
        "name": name,
        "lighting": {
            "dir": _r(_light_dir(rng)),
            "diffuse": _r(tint * rng.uniform(*LIGHT_LEVEL)),
            "ambient": _r([rng.uniform(*head)] * 3),
            "headlight": _r([rng.uniform(*head)] * 3),
        },
        "table_rgba": _r([*table, 1.0]),
        "table_texture": HELDOUT_TABLE_TEXTURES[int(rng.integers(len(HELDOUT_TABLE_TEXTURES)))],
        "camera_offset": _r(camera),
        "latency_ms": _r(rng.uniform(*LATENCY_MS)),
        "backlash_deg": _r(rng.uniform(*BACKLASH_DEG)),
        "joint_noise_deg": _r(rng.uniform(*JOINT_NOISE_DEG)),
    }


def heldout_perturbations(seed: int = HELDOUT_SEED, count: int = HELDOUT_COUNT) -> list[dict[str, Any]]:
    """The held-out set: ``count`` perturbations drawn from ``seed`` (the same list on every machine)."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    rng = np.random.default_rng(seed)
    return [_one(rng, f"heldout-{seed}-{i:02d}") for i in range(count)]


def digest(perturbations: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(perturbations, sort_keys=True).encode()).hexdigest()


def heldout_env_config(env_cfg: EnvConfig, perturbation: dict[str, Any]) -> EnvConfig:
    """``env_cfg`` with training randomisation off and the perturbation's latency, backlash and joint noise
    fixed at its values: one point of the training config space (``sim.randomize.perturbation_config``, the
    same point the digital twin composes). The visual keys go onto the model: ``apply_heldout_visuals``."""
    return dataclasses.replace(env_cfg, randomization=perturbation_config(perturbation))


def apply_heldout_visuals(raw_env, perturbation: dict[str, Any]) -> None:
    """Put the visual keys onto an env built from ``heldout_env_config`` (``env.unwrapped``); they stay for
    every episode, since no training randomiser runs to redraw them.

        env = make_env(heldout_env_config(cfg, p), seed=0)
        apply_heldout_visuals(env.unwrapped, p)
    """
    apply_visual_perturbation(raw_env.model, perturbation)
    mujoco.mj_forward(raw_env.model, raw_env.data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.heldout", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=HELDOUT_SEED)
    parser.add_argument("--count", type=int, default=HELDOUT_COUNT)
    parser.add_argument("-o", "--out", help="write the set as YAML here (default: print it)")
    args = parser.parse_args(argv)
    items = heldout_perturbations(args.seed, args.count)
    text = f"# held-out perturbations, seed {args.seed}, sha256 {digest(items)}\n" + yaml.safe_dump(
        items, sort_keys=False, default_flow_style=None
    )
    if args.out:
        Path(args.out).write_text(text)
        print(f"{len(items)} perturbations -> {args.out}")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
