"""Checkpoints: one file with networks, optimisers, counters, RNG states and the config that made them.

Written to a temporary file in the same directory and renamed over the old one, so a crash or Ctrl-C in the
middle leaves the previous checkpoint intact. Read back with ``weights_only=True``: only tensors and plain
containers are accepted, never arbitrary pickled objects, so loading a checkpoint cannot run code.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from common.atomic_file import atomic_path
from common.config import from_dict, to_dict
from policies.drqv2.agent import DrQV2Agent, ObsSpec
from policies.drqv2.config import TrainConfig
from policies.drqv2.fast import build_agent

# 2: the encoder records its feature order (buffer ``hwc_features``); format 1 encoders load as (C, H, W).
# Older so101-deploy refuses format 2 with this module's message instead of a state-dict key error.
FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` through ``common.atomic_file``: a crash mid-save leaves the previous file in place."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def save_checkpoint(
    path: str | Path, agent: DrQV2Agent, cfg: TrainConfig, counters: dict[str, int], extra: dict | None = None
) -> Path:
    payload = {
        "format_version": FORMAT_VERSION,
        "config": to_dict(cfg),
        "obs_spec": dataclasses.asdict(agent.spec),
        "agent": agent.state_dict(),
        "counters": dict(counters),
        "torch_rng": torch.get_rng_state(),
        **(extra or {}),
    }
    return atomic_torch_save(payload, path)


def config_from_dict(data: dict) -> TrainConfig:
    """The ``TrainConfig`` saved in a checkpoint (``common.config.to_dict``), typed against today's schema."""
    return from_dict(TrainConfig, data)


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.exists():
        raise FileNotFoundError(
            f"no checkpoint at {path}; pass a checkpoint.pt or the run directory holding one"
        )
    payload = torch.load(path, map_location="cpu", weights_only=True)
    version = payload.get("format_version")
    if version not in READABLE_FORMATS:
        raise ValueError(
            f"{path} has checkpoint format {version!r}; this so101-deploy reads {list(READABLE_FORMATS)}"
        )
    return payload


def spec_from_payload(payload: dict) -> ObsSpec:
    spec = payload["obs_spec"]
    rgb = tuple(spec["rgb_shape"]) if spec["rgb_shape"] is not None else None
    return ObsSpec(
        rgb_shape=rgb, low_dim=spec["low_dim"], privileged=spec["privileged"], action_dim=spec["action_dim"]
    )


def load_agent(checkpoint_path: str | Path, device: str = "cpu") -> tuple[DrQV2Agent, TrainConfig]:
    """The trained agent (networks, optimisers, RNG) and the config it was trained with, ready to act."""
    payload = load_checkpoint(checkpoint_path)
    cfg = config_from_dict(payload["config"])
    agent = build_agent(spec_from_payload(payload), cfg.agent, device=device, seed=cfg.seed)
    agent.load_state_dict(payload["agent"])
    return agent, cfg
