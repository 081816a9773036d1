"""The pixel student and the only function that builds its inputs.

The student is DrQ-v2's deployable ``Policy`` (encoder + actor, policies/drqv2/networks.py), so ``so101 export``
traces it through the same path and the runtime reads it like any DrQ-v2 policy. What it may see is fixed here:
``STUDENT_KEYS``, the wrapped observation keys the contract defines (the wrist frame stack and the low-dim vector
of joint readings, plus the previous action when the contract includes it). ``privileged_state`` is never read,
so nothing the real arm lacks can leak into the student, its dataset or its checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from policies.distill.config import StudentConfig
from policies.drqv2.networks import Actor, Encoder, Policy

STUDENT_KEYS = ("rgb", "low_dim_state")


@dataclass(frozen=True)
class StudentSpec:
    rgb_shape: tuple[int, int, int]  # (3 * frame_stack, S, S)
    low_dim: int
    action_dim: int

    @classmethod
    def of_space(cls, observation_space, action_space) -> StudentSpec:
        spaces = observation_space.spaces
        return cls(
            tuple(spaces["rgb"].shape), int(spaces["low_dim_state"].shape[0]), int(action_space.shape[0])
        )


def student_inputs(obs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(rgb uint8, low_dim float32) of an observation or a batch of them: all the student ever receives."""
    rgb, low_dim = (obs[key] for key in STUDENT_KEYS)
    return np.asarray(rgb, np.uint8), np.asarray(low_dim, np.float32)


def build_student(spec: StudentSpec, cfg: StudentConfig) -> Policy:
    channels, size, _ = spec.rgb_shape
    encoder = Encoder(channels, size)
    actor = Actor((encoder.repr_dim, spec.low_dim), spec.action_dim, cfg.feature_dim, cfg.hidden_dim)
    return Policy(encoder, actor, use_low_dim=True)


def act_fn(student: Policy, device: torch.device):
    """Deterministic batch act function ``obs -> actions`` for the evaluator and ``so101 eval``."""

    @torch.no_grad()
    def act(obs: dict[str, np.ndarray]) -> np.ndarray:
        rgb, low_dim = student_inputs(obs)
        out = student(torch.as_tensor(rgb, device=device), torch.as_tensor(low_dim, device=device))
        return out.cpu().numpy()

    return act
