"""DrQ-v2 checkpoints: one file with networks, optimisers, counters, RNG states and the config that made them.

Written and read through policies.training.checkpoint (atomic write, ``weights_only`` read, one-line refusals).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from common.config import from_dict
from policies.drqv2.agent import DrQV2Agent, ObsSpec
from policies.drqv2.config import TrainConfig
from policies.drqv2.fast import build_agent
from policies.training.checkpoint import (
    CheckpointError,
    checkpoint_path,
    read_checkpoint,
    save_training_checkpoint,
)

ALGO = "drqv2"  # payloads without an "algo" key (formats 1 and 2 before the registry) are DrQ-v2's

# 2: the encoder records its feature order (buffer ``hwc_features``); format 1 encoders load as (C, H, W).
# Older so101-deploy refuses format 2 with this module's message instead of a state-dict key error.
FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)


def save_checkpoint(
    path: str | Path, agent: DrQV2Agent, cfg: TrainConfig, counters: dict[str, int], extra: dict | None = None
) -> Path:
    return save_training_checkpoint(
        path,
        ALGO,
        FORMAT_VERSION,
        cfg,
        counters,
        obs_spec=dataclasses.asdict(agent.spec),
        agent=agent.state_dict(),
        **(extra or {}),
    )


# Keys older checkpoints' configs hold that no longer exist. agent.num_expl_frames: act() explored uniformly before
# it, a second knob for the trainer's uniform phase (num_seed_frames); every preset set both equal.
RETIRED_KEYS = {"agent": ("num_expl_frames",)}


def config_from_dict(data: dict) -> TrainConfig:
    """The ``TrainConfig`` saved in a checkpoint (``common.config.to_dict``), typed against today's schema;
    keys retired since (``RETIRED_KEYS``) are dropped first, any other unknown key is refused."""
    data = {
        key: {k: v for k, v in value.items() if k not in RETIRED_KEYS.get(key, ())}
        if isinstance(value, dict)
        else value
        for key, value in data.items()
    }
    return from_dict(TrainConfig, data)


def load_checkpoint(path: str | Path) -> dict:
    """A DrQ-v2 checkpoint's payload; anything else is refused in one line naming the file."""
    payload = read_checkpoint(path)
    check_payload(payload, checkpoint_path(path))
    return payload


def check_payload(payload: dict, path: Path) -> None:
    algo = payload.get("algo", ALGO)
    if algo != ALGO:
        raise CheckpointError(f"{path} is a {algo} checkpoint, not a DrQ-v2 one")
    version = payload.get("format_version")
    if version not in READABLE_FORMATS:
        raise CheckpointError(
            f"{path} has checkpoint format {version!r}; this so101-deploy reads {list(READABLE_FORMATS)}"
        )


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
