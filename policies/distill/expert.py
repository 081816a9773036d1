"""The labeller: the one place the distillation path names its expert, so moving to the task registry's expert
(``sim/tasks``, ``task.expert``) is a change here only. It reads privileged state; only the trainer's labelling
calls it, never the student."""

from __future__ import annotations

from collections.abc import Callable

from sim.config import EnvConfig

import numpy as np

Labeller = Callable[[dict[str, np.ndarray]], np.ndarray]


class Expert:
    """A stateful labeller: ``reset()`` at each episode start, ``label(obs)`` on every wrapped observation."""

    def __init__(self, env_cfg: EnvConfig):
        from sim.expert import ScriptedLiftExpert

        self._expert = ScriptedLiftExpert(env_cfg)

    def reset(self) -> None:
        self._expert.reset()

    def label(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self._expert.act(obs), np.float32)


def make_expert(env_cfg: EnvConfig) -> Expert:
    return Expert(env_cfg)
