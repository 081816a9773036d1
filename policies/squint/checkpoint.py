"""Squint checkpoints: networks, optimisers, temperature, counters, RNG states and the config, in one file.

Written and read through policies.training.checkpoint (atomic write, ``weights_only`` read, one-line refusals).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from common.config import from_dict
from policies.drqv2.agent import ObsSpec
from policies.squint.agent import SquintAgent
from policies.squint.config import TrainConfig
from policies.training.checkpoint import (
    check_algorithm_format,
    checkpoint_path,
    read_checkpoint,
    save_training_checkpoint,
)

ALGO = "squint"
FORMAT_VERSION = 1
READABLE_FORMATS = (1,)


def save_checkpoint(path: str | Path, agent: SquintAgent, cfg: TrainConfig, counters: dict[str, int]) -> Path:
    return save_training_checkpoint(
        path,
        ALGO,
        FORMAT_VERSION,
        cfg,
        counters,
        obs_spec=dataclasses.asdict(agent.spec),
        agent=agent.state_dict(),
    )


def check_payload(payload: dict, path: Path) -> None:
    check_algorithm_format(payload, path, ALGO, "Squint", READABLE_FORMATS)


def load_checkpoint(path: str | Path) -> dict:
    payload = read_checkpoint(path)
    check_payload(payload, checkpoint_path(path))
    return payload


def config_from_dict(data: dict) -> TrainConfig:
    return from_dict(TrainConfig, data)


def load_agent(path: str | Path, device: str = "cpu") -> tuple[SquintAgent, TrainConfig, dict]:
    """The trained agent, the config it was trained with, and the payload (for provenance)."""
    payload = load_checkpoint(path)
    cfg = config_from_dict(payload["config"])
    spec = payload["obs_spec"]
    obs_spec = ObsSpec(tuple(spec["rgb_shape"]), spec["low_dim"], spec["privileged"], spec["action_dim"])
    agent = SquintAgent(obs_spec, cfg.agent, device=device, seed=cfg.seed)
    agent.load_state_dict(payload["agent"])
    return agent, cfg, payload
