"""The labeller: the one place the distillation path names its expert, the task's own scripted expert
(``task_class(env.task).expert``, sim/tasks). It reads privileged state; only the trainer's labelling calls it,
never the student."""

from __future__ import annotations

from sim.config import EnvConfig

import numpy as np


class Expert:
    """A stateful labeller: ``reset()`` at each episode start, ``label(obs)`` on every wrapped observation."""

    def __init__(self, env_cfg: EnvConfig):
        from sim.tasks import task_class

        expert = task_class(env_cfg.task).expert(env_cfg)
        if expert is None:
            raise ValueError(
                f"task {env_cfg.task!r} has no scripted expert to label with; algo=distill needs one"
            )
        self._expert = expert

    def reset(self) -> None:
        self._expert.reset()

    def label(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self._expert.act(obs), np.float32)


def make_expert(env_cfg: EnvConfig) -> Expert:
    return Expert(env_cfg)
