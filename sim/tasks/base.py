"""What a task is to the env, the twin and the trainer: the one interface every task implements.

A task owns everything that makes the arm-on-a-table scene *this* problem: the objects it adds to the scene,
its start-state distribution (curriculum stages), what it measures after a control step, its reward versions,
when it has succeeded or failed, the privileged state a critic or scripted expert may read, and optionally a
scripted expert. The env (``sim.env``), the twin (``so101_deploy.twin.world``) and the trainer's demo
recorder talk to tasks only through this interface, so a new task is one module registered by name
(``sim.tasks.registry``), not a change threaded through files.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from sim.config import EnvConfig
from sim.control import ControllerParams
from sim.kinematics import ArmKinematics

import mujoco
import numpy as np

from robot.so101 import JOINT_NAMES

State = TypeVar("State")


class RewardRegistry(Generic[State]):
    """A task's reward versions by name. A version is never edited once used, so an old config keeps meaning
    what it meant; a changed reward gets a new name."""

    def __init__(self, task: str):
        self.task = task
        self._versions: dict[str, Callable[[State, bool], float]] = {}

    def register(
        self, name: str
    ) -> Callable[[Callable[[State, bool], float]], Callable[[State, bool], float]]:
        def add(fn: Callable[[State, bool], float]) -> Callable[[State, bool], float]:
            if name in self._versions:
                raise ValueError(
                    f"reward version {name!r} of task {self.task!r} is already registered; "
                    "give a changed reward a new name"
                )
            self._versions[name] = fn
            return fn

        return add

    def get(self, name: str) -> Callable[[State, bool], float]:
        try:
            return self._versions[name]
        except KeyError:
            raise ValueError(
                f"unknown reward version {name!r} for task {self.task!r}; valid reward versions: "
                f"{', '.join(sorted(self._versions))}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._versions

    def __iter__(self) -> Iterator[str]:
        return iter(self._versions)

    def __len__(self) -> int:
        return len(self._versions)


class Expert(Protocol):
    """A scripted policy on the wrapped observations and [-1, 1] actions a learned policy sees."""

    def reset(self) -> None: ...

    def act(self, obs: dict) -> np.ndarray: ...


def privileged_slices(layout: Mapping[str, tuple[int, float]]) -> dict[str, slice]:
    """Where each entry of a privileged layout sits inside the concatenated ``privileged_state`` vector (the
    wrappers concatenate the entries in the layout's order)."""
    out, start = {}, 0
    for key, (size, _bound) in layout.items():
        out[key] = slice(start, start + size)
        start += size
    return out


class Task(ABC, Generic[State]):
    """One task on the SO-101 scene. Class attributes describe it before a model exists (the scene is built
    from them); an instance resets and measures one compiled model.

    Per control step the env calls ``measure`` then ``update``; per episode ``reset``. ``State`` is whatever
    ``measure`` returns: the one measurement the rewards, success test and privileged observation read.
    """

    name: ClassVar[str] = ""  # set by ``register_task``
    # Start-state distributions by ``env.stage`` (the curriculum), with a line each for error messages.
    stages: ClassVar[Mapping[int, str]] = {0: "the task's start state"}
    # Stages whose arm starts at the home pose with the gripper open (``sim.poses.home_pose``): the start
    # `so101 run` reproduces on the arm, so a policy trained and evaluated there is deployable. Any other stage
    # places the arm from simulation-only truth (the cube's true position) and is a training aid only.
    home_stages: ClassVar[frozenset[int]] = frozenset()
    # Privileged observation entries, name -> (size, bound), in the order they are concatenated.
    privileged_layout: ClassVar[Mapping[str, tuple[int, float]]] = {}
    rewards: ClassVar[RewardRegistry]  # the reward versions ``env.reward_version`` names

    def __init__(
        self, cfg: EnvConfig, model: mujoco.MjModel, kinematics: ArmKinematics, params: ControllerParams
    ):
        self.cfg = cfg
        self.stage = self.check_stage(cfg.stage)
        self.reward_fn = self.rewards.get(cfg.reward_version)
        self.model = model
        self.kin = kinematics
        self.params = params
        joint_ids = [model.joint(n).id for n in JOINT_NAMES]
        self.qadr = np.array([model.jnt_qposadr[j] for j in joint_ids])  # arm joints in qpos
        self.dadr = np.array([model.jnt_dofadr[j] for j in joint_ids])  # ... and in qvel

    # -- before a model exists --------------------------------------------------------------------------
    @classmethod
    def check_stage(cls, stage: int) -> int:
        if stage not in cls.stages:
            valid = ", ".join(f"{k} ({v})" for k, v in cls.stages.items())
            raise ValueError(
                f"unknown curriculum stage {stage!r} of task {cls.name!r}; valid stages: {valid}"
            )
        return stage

    @classmethod
    def check_stage_mix(cls, mix) -> tuple[float, ...]:
        """``env.stage_mix`` checked: one probability per stage index, each stage with weight > 0 valid."""
        mix = tuple(float(p) for p in mix)
        if not mix:
            return mix
        if any(not (p >= 0.0) for p in mix) or sum(mix) <= 0.0:
            raise ValueError(f"env.stage_mix {list(mix)} must be probabilities >= 0 with a positive sum")
        for stage, p in enumerate(mix):
            if p > 0:
                cls.check_stage(stage)
        return mix

    @classmethod
    def is_home_start(cls, stage: int) -> bool:
        return stage in cls.home_stages

    @classmethod
    def privileged_keys(cls) -> tuple[str, ...]:
        return tuple(cls.privileged_layout)

    @classmethod
    def privileged_slices(cls) -> dict[str, slice]:
        return privileged_slices(cls.privileged_layout)

    @classmethod
    def add_to_scene(cls, spec: mujoco.MjSpec, cfg: EnvConfig) -> None:
        """Add the task's objects (bodies, geoms, sites) to the scene being built by ``sim.scene``."""

    @classmethod
    def scene_key(cls, cfg: EnvConfig) -> tuple:
        """Every config value ``add_to_scene`` reads: compiled scenes are cached on it."""
        return ()

    @classmethod
    def expert(cls, cfg: EnvConfig) -> Expert | None:
        """A scripted expert for demonstrations, or None when the task has none."""
        return None

    # -- per episode and per step -----------------------------------------------------------------------
    @abstractmethod
    def reset(self, data: mujoco.MjData, rng: np.random.Generator) -> np.ndarray:
        """Reset ``data`` to a start state of ``self.stage`` drawn with ``rng``; returns the joint targets
        the actuators now hold."""

    @abstractmethod
    def measure(self, data: mujoco.MjData, action: np.ndarray) -> State:
        """Everything the reward, success test and privileged observation need, after a control step."""

    @abstractmethod
    def succeeded(self, state: State) -> bool:
        """Success on this control step; called exactly once per step, so it may count steps (hold times)."""

    def failed(self, state: State) -> bool:
        """A state the episode cannot recover from (terminates it)."""
        return False

    def update(self, state: State) -> tuple[float, bool, bool]:
        """(reward, success, failed) of this control step."""
        success = self.succeeded(state)
        failed = self.failed(state)
        return self.reward_fn(state, success), success, failed

    @abstractmethod
    def privileged(self, state: State) -> dict[str, np.ndarray]:
        """The privileged observation entries (``privileged_layout``'s keys, float32): simulation-only truth."""

    def info(self, state: State) -> dict[str, Any]:
        """Task-specific entries of the env's step ``info``."""
        return {}

    def ground_truth(self, state: State) -> dict[str, Any]:
        """JSON-ready ground truth the twin serves to judges and people (plain floats, bools, lists)."""
        return {}

    def object_xy(self, data: mujoco.MjData) -> np.ndarray:
        """Table position of the object the task is about (domain randomisation places distractors near it)."""
        raise NotImplementedError(
            f"task {self.name!r} names no object on the table; domain randomisation of distractors needs one "
            "(implement object_xy or turn env.randomization.distractors off)"
        )
