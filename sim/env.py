"""The raw SO-101 environment: one control step per ``step``, one native wrist frame per observation.

Generic over the task (``env.task``, looked up in ``sim.tasks``): the task places things, measures, rewards
and decides success; this env owns the arm, the controller, the cameras and domain randomisation.
Everything the policy contract decides (crop/resize, frame stacking, action repeat and chunking, time limit)
lives in the wrappers of ``policies/wrappers.py``; this env only simulates. It keeps what the real arm could
also measure (``joint_pos``, optionally ``prev_action``) apart from the task's privileged quantities (for lift:
cube pose, tool pose, contacts), which exist only in simulation and are listed in ``privileged_keys``.

Registered as ``SO101LiftRaw-v0`` (lift by default, any task with ``task=...``); the policy-facing
``SO101Lift-v0`` (full wrapper chain) is registered by ``policies.wrappers``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import TYPE_CHECKING, Any

from sim.arm_model import arm_mjcf_path
from sim.config import OBS_MODES, WRIST_RENDERERS, EnvConfig
from sim.control import ControllerParams, action_to_joint_targets
from sim.kinematics import ArmKinematics
from sim.measured_latency import centre_on_measured
from sim.randomize import DomainRandomizer
from sim.render import OverviewRenderer, WristRenderer
from sim.scene import PhysicsTiming, build_model
from sim.tasks import task_class

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from robot.so101 import JOINT_NAMES

if TYPE_CHECKING:
    from sim.render_warp import WarpWristRenderer

LOW_DIM_KEYS = ("joint_pos", "prev_action")  # measurable on the real arm
RAW_ENV_ID = "SO101LiftRaw-v0"


class SO101Env(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, env_cfg: EnvConfig | None = None, render_mode: str | None = None, **overrides: Any):
        cfg = dataclasses.replace(env_cfg or EnvConfig(), **overrides)
        task_cls = task_class(cfg.task)
        self._stage_mix = np.asarray(task_cls.check_stage_mix(cfg.stage_mix))
        if cfg.obs not in OBS_MODES:
            raise ValueError(f"unknown env.obs {cfg.obs!r}; valid: {', '.join(OBS_MODES)}")
        if cfg.wrist_renderer not in WRIST_RENDERERS:
            raise ValueError(
                f"unknown env.wrist_renderer {cfg.wrist_renderer!r}; valid: {', '.join(WRIST_RENDERERS)}"
            )
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode {render_mode!r} not supported; use 'rgb_array' or None")
        self.cfg = cfg
        self.render_mode = render_mode
        self.params = ControllerParams.from_env_config(cfg)
        self.timing = PhysicsTiming.for_rate(cfg.control_hz)
        self.metadata = {**self.metadata, "render_fps": cfg.control_hz}
        self.model = build_model(cfg)
        self.data = mujoco.MjData(self.model)
        self.kinematics = ArmKinematics(arm_mjcf_path(cfg.model_path))
        self.task = task_cls(cfg, self.model, self.kinematics, self.params)
        self._qadr = self.task.qadr
        self._targets = np.zeros(6)
        self._prev_action = np.zeros(self.params.action_dim, dtype=np.float32)
        self._succeeded = False
        self._render_suppressed = 0
        self._wrist: WristRenderer | WarpWristRenderer | None = None
        self._overview: OverviewRenderer | None = None
        self._last_rgb: np.ndarray | None = None
        self._last_state = None
        # Domain randomisation (sim/randomize/): None when every group is off, so the default path is unchanged.
        self._dr: DomainRandomizer | None = None
        if cfg.randomization.sim_enabled():
            rand = centre_on_measured(cfg.randomization, cfg.wrist_camera.calibration_file)
            pixels = cfg.obs == "pixels"
            self._dr = DomainRandomizer(rand, self.model, self.task, self.timing, render=pixels)
        self._dr_seeded = False
        self._reading: np.ndarray | None = None  # the bus's joint reading of this step (randomised only)

        self.action_space = spaces.Box(-1.0, 1.0, (self.params.action_dim,), dtype=np.float32)
        obs_spaces: dict[str, spaces.Space] = {}
        if cfg.obs == "pixels":
            s = cfg.render_size
            obs_spaces["rgb"] = spaces.Box(0, 255, (s, s, 3), dtype=np.uint8)
        obs_spaces["joint_pos"] = spaces.Box(-np.pi, np.pi, (len(JOINT_NAMES),), dtype=np.float32)
        if cfg.include_prev_action:
            obs_spaces["prev_action"] = spaces.Box(-1.0, 1.0, (self.params.action_dim,), dtype=np.float32)
        for key, (size, bound) in task_cls.privileged_layout.items():
            obs_spaces[key] = spaces.Box(-bound, bound, (size,), dtype=np.float32)
        self.observation_space = spaces.Dict(obs_spaces)

    @property
    def low_dim_keys(self) -> tuple[str, ...]:
        return tuple(k for k in LOW_DIM_KEYS if k in self.observation_space.spaces)

    @property
    def privileged_keys(self) -> tuple[str, ...]:
        return self.task.privileged_keys()

    # -- gymnasium API ------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if self._dr is not None:
            self._reset_randomization(seed)
        if self._stage_mix.size:  # mixed training resets (env.stage_mix); evaluation configs have none
            p = self._stage_mix / self._stage_mix.sum()
            self.task.stage = int(self.np_random.choice(len(p), p=p))
        self._targets = self.task.reset(self.data, self.np_random)
        if self._dr is not None:
            object_xy = self.task.object_xy(self.data)
            self._dr.after_task_reset(self.model, self.data, self._targets, object_xy)
            self._targets = self._dr.believed_targets(self._targets)  # the controller's frame (zero error)
            self._reading = self._dr.read_joints(self.data.qpos[self._qadr])
        self._prev_action = np.zeros(self.params.action_dim, dtype=np.float32)
        self._succeeded = False
        self._last_state = self.task.measure(self.data, self._prev_action)
        return self.observe(), self._info(self._last_state)

    def step(self, action):
        a = np.clip(np.asarray(action, dtype=np.float32).reshape(-1), -1.0, 1.0)
        q = self.data.qpos[self._qadr] if self._dr is None else self._reading  # what the controller reads
        self._targets = action_to_joint_targets(
            q, a, self.params, self.kinematics, previous_targets=self._targets
        )
        if self._dr is None:
            self.data.ctrl[:] = self._targets
            mujoco.mj_step(self.model, self.data, nstep=self.timing.n_substeps)
        else:  # latency, backlash, frame history
            self._dr.step_physics(self.model, self.data, self._targets, self.timing.n_substeps)
            self._reading = self._dr.read_joints(self.data.qpos[self._qadr])
        state = self.task.measure(self.data, a)
        reward, success, failed = self.task.update(state)
        self._succeeded |= success
        self._prev_action = a
        self._last_state = state
        terminated = failed or (success and self.cfg.terminate_on_success)
        obs = self.observe(render=self._render_suppressed == 0)
        return obs, reward, terminated, False, self._info(state)

    def render(self):
        return self.render_overview() if self.render_mode == "rgb_array" else None

    def close(self):
        for r in (self._wrist, self._overview):
            if r is not None:
                r.close()
        self._wrist = self._overview = None

    # -- observations -------------------------------------------------------------------------------
    def observe(self, render: bool = True) -> dict[str, np.ndarray]:
        """The observation for the current state; ``render=False`` repeats the last wrist frame (it is about
        to be thrown away by an action-repeat wrapper)."""
        s = self._last_state
        obs: dict[str, np.ndarray] = {}
        if self.cfg.obs == "pixels":
            if render or self._last_rgb is None:
                self._last_rgb = self.render_wrist() if self._dr is None else self._render_randomized()
            obs["rgb"] = self._last_rgb
        joints = self.data.qpos[self._qadr] if self._dr is None else self._reading
        obs["joint_pos"] = joints.astype(np.float32)
        if self.cfg.include_prev_action:
            obs["prev_action"] = self._prev_action.astype(np.float32)
        obs.update(self.task.privileged(s))
        return obs

    @contextlib.contextmanager
    def suppress_render(self):
        """Steps inside this block do not render the wrist camera (their frames would be discarded)."""
        self._render_suppressed += 1
        try:
            yield
        finally:
            self._render_suppressed -= 1

    @property
    def render_suppressed(self) -> bool:
        return self._render_suppressed > 0

    def render_wrist(self, size: int | None = None) -> np.ndarray:
        """Wrist camera frame, HxWx3 uint8 RGB, at ``render_size`` (or ``size``, e.g. for pictures: those are
        drawn by GL whatever ``env.wrist_renderer`` says)."""
        if size is not None and size != self.cfg.render_size:
            with WristRenderer(self.model, size, cull=self.cfg.cull_wrist_render) as r:
                return r.render(self.data)
        return self._wrist_renderer().render(self.data)

    def _wrist_renderer(self) -> WristRenderer | WarpWristRenderer:
        if self._wrist is None:
            if self.cfg.wrist_renderer == "warp":
                from sim.render_warp import WarpWristRenderer  # Warp is imported only when asked for

                self._wrist = WarpWristRenderer(self.model, self.cfg, self.cfg.render_size)
            else:
                self._wrist = WristRenderer(self.model, self.cfg.render_size, cull=self.cfg.cull_wrist_render)
        return self._wrist

    def _reset_randomization(self, seed: int | None) -> None:
        """Fresh random streams for the randomisers whenever the episode is seeded (and on the first reset),
        spawned from the env's seed without drawing from ``np_random``, so cube placements do not change."""
        if seed is not None or not self._dr_seeded:
            self._dr.seed(self.np_random.bit_generator.seed_seq.spawn(1)[0])
            self._dr_seeded = True
        self._dr.before_task_reset(self.model, self.data)

    def _render_randomized(self) -> np.ndarray:
        return self._wrist_renderer().render(self._dr.data_to_render(self.model, self.data))

    def render_overview(self, height: int = 480, width: int = 640) -> np.ndarray:
        """Third-person frame for videos, HxWx3 uint8 RGB."""
        if self._overview is None or self._overview.renderer.height != height:
            if self._overview is not None:
                self._overview.close()
            self._overview = OverviewRenderer(self.model, height, width)
        return self._overview.render(self.data)

    def _info(self, s) -> dict[str, Any]:
        return {
            "success": bool(self._succeeded),
            **self.task.info(s),
            "stage": self.task.stage,
            "joint_targets": self._targets.astype(np.float32),
        }


SO101LiftEnv = SO101Env  # the name from when the env was the lift task; the default task is still lift


def _register() -> None:
    if RAW_ENV_ID not in gym.registry:
        gym.register(id=RAW_ENV_ID, entry_point="sim.env:SO101Env")


_register()
