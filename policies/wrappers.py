"""The wrapper chain between the raw sim env and the policy, built from the policy contract.

Order (inner to outer) and why:
  SO101LiftEnv        one control step per step, native HxWx3 wrist frame, named low-dim/privileged keys
  TimeLimit           truncates after ``episode_steps`` control steps (truncation, never termination)
  ActionRepeat        holds each action for ``action_repeat`` control steps, for real; only the last renders
  ActionSequence      a chunk of ``action_sequence`` actions per policy call, executed in order
                      (both expand a policy output with ``policies.io.ActionSchedule``, the runtime's schedule)
  RescaleFromTanh     policy output in [-1, 1] -> the inner action space (identity for our env, whose
                      actions are already [-1, 1]: scaling lives in sim.control, shared with the real arm)
  CameraImageNoise    only with ``env.randomization.image``: the real camera's exposure, noise, blur and
                      MJPG compression on the native frame, the first thing to touch it (sim/randomize/image.py)
  WristImage          ``policies.io.preprocess_frame``: the function the real runtime calls, HWC -> CHW
  ConcatDim (x2)      contract low-dim keys -> ``low_dim_state`` (``policies.io.concat_named``, which the
                      runtime's ``low_dim_vector`` ends in); privileged keys -> ``privileged_state``
  FrameStack          ``policies.io.FrameStacker``: frames on channels, oldest first, reset fills with frame 1

The step-structure wrappers sit innermost so that they can tell the raw env not to render frames they will
throw away; everything that touches observations sits outside them.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

from sim.config import EnvConfig
from sim.env import SO101LiftEnv
from sim.randomize import ImageCorruptor, ImageNoiseConfig

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding

from policies.contract import ImageSpec, PolicyContract, contract_for_env
from policies.io import ActionSchedule, FrameStacker, concat_named, preprocess_frame

ENV_ID = "SO101Lift-v0"


def _suppress_render(env: gym.Env):
    """Context in which the raw env skips wrist renders (a no-op for envs that cannot)."""
    suppress = getattr(env.unwrapped, "suppress_render", None)
    return suppress() if suppress is not None else contextlib.nullcontext()


def _fresh_observation(env: gym.Env, obs: Any) -> Any:
    """After an early episode end inside a suppressed step, render the frame that was skipped."""
    unwrapped = env.unwrapped
    if getattr(unwrapped, "render_suppressed", False) or not hasattr(unwrapped, "observe"):
        return obs  # an outer wrapper is discarding this frame too, or the env always renders
    return unwrapped.observe(render=True)


def _step_through(env: gym.Env, actions) -> tuple:
    """Step ``env`` with each action in turn, summing rewards and stopping at an episode end. Only the last
    observation is rendered: the ones in between would be thrown away."""
    total, n = 0.0, len(actions)
    for i, action in enumerate(actions):
        last = i == n - 1
        with contextlib.nullcontext() if last else _suppress_render(env):
            obs, reward, terminated, truncated, info = env.step(action)
        total += float(reward)
        if terminated or truncated:
            if not last:
                obs = _fresh_observation(env, obs)
            break
    return obs, total, terminated, truncated, info


class TimeLimit(gym.Wrapper):
    """Truncate (not terminate) after ``max_steps`` steps: a time-out is not a failure state for bootstrapping."""

    def __init__(self, env: gym.Env, max_steps: int):
        super().__init__(env)
        if max_steps < 1:
            raise ValueError(f"episode length must be >= 1 step, got {max_steps}")
        self.max_steps = max_steps
        self.elapsed = 0

    def reset(self, **kwargs):
        self.elapsed = 0
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.elapsed += 1
        if self.elapsed >= self.max_steps and not terminated:
            truncated = True
        return obs, reward, terminated, truncated, info


class ActionRepeat(gym.Wrapper):
    """Apply each action ``repeat`` times, summing rewards; stop early when the episode ends.

    Only the last inner step renders the wrist camera; the frames in between would be discarded.
    """

    def __init__(self, env: gym.Env, repeat: int):
        super().__init__(env)
        self.repeat = repeat
        self.schedule = ActionSchedule(1, repeat, int(np.prod(env.action_space.shape)))

    def step(self, action):
        return _step_through(self.env, self.schedule.expand(action))


class ActionSequence(gym.Wrapper):
    """Action chunking: the policy emits ``length`` actions at once, executed one after another."""

    def __init__(self, env: gym.Env, length: int):
        super().__init__(env)
        self.length = length
        inner = env.action_space
        self.single_size = int(np.prod(inner.shape))
        self.schedule = ActionSchedule(length, 1, self.single_size)
        self.action_space = spaces.Box(
            np.tile(inner.low, length),
            np.tile(inner.high, length),
            (self.single_size * length,),
            dtype=inner.dtype,
        )

    def step(self, action):
        return _step_through(self.env, self.schedule.expand(action))


class RescaleFromTanh(gym.ActionWrapper):
    """Policy actions in [-1, 1] -> the inner Box's [low, high], linearly per dimension."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        inner = env.action_space
        self._low = inner.low.astype(np.float64)
        self._high = inner.high.astype(np.float64)
        self.action_space = spaces.Box(-1.0, 1.0, inner.shape, dtype=np.float32)

    def action(self, action):
        a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        return (self._low + (a + 1.0) * 0.5 * (self._high - self._low)).astype(self.env.action_space.dtype)


class CameraImageNoise(gym.Wrapper):
    """Corrupt the native wrist frame as the real camera and its MJPG stream would, before preprocess_frame.

    Its random stream is spawned from the raw env's seed whenever an episode is seeded (never drawn from the
    env's own generator), so it changes pixels and nothing else.
    """

    def __init__(self, env: gym.Env, cfg: ImageNoiseConfig, key: str = "rgb"):
        super().__init__(env)
        self.corrupt, self.key = ImageCorruptor(cfg), key
        self.rng: np.random.Generator | None = None

    def _corrupted(self, obs):
        obs = dict(obs)
        obs[self.key] = self.corrupt(obs[self.key], self.rng)
        return obs

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        if self.rng is None or kwargs.get("seed") is not None:
            seed_seq = self.env.unwrapped.np_random.bit_generator.seed_seq.spawn(1)[0]
            self.rng = np.random.default_rng(seed_seq)
        self.corrupt.reset(self.rng)
        return self._corrupted(obs), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._corrupted(obs), reward, terminated, truncated, info


class WristImage(gym.ObservationWrapper):
    """Native wrist frame (HxWx3) -> policy image (3 x size x size) via policies.io.preprocess_frame."""

    def __init__(self, env: gym.Env, image: ImageSpec, key: str = "rgb"):
        super().__init__(env)
        self.image, self.key = image, key
        obs_spaces = dict(env.observation_space.spaces)
        obs_spaces[key] = spaces.Box(0, 255, (3, image.size, image.size), dtype=np.uint8)
        self.observation_space = spaces.Dict(obs_spaces)

    def observation(self, obs):
        obs = dict(obs)
        obs[self.key] = preprocess_frame(obs[self.key], self.image)
        return obs


class ConcatDim(gym.ObservationWrapper):
    """Concatenate 1-D observation entries ``keys`` (in that order) into one float32 vector ``out``."""

    def __init__(self, env: gym.Env, keys: tuple[str, ...], out: str):
        super().__init__(env)
        missing = [k for k in keys if k not in env.observation_space.spaces]
        if missing:
            raise KeyError(
                f"ConcatDim: observation has no {missing}; available: {list(env.observation_space.spaces)}"
            )
        self.keys, self.out = tuple(keys), out
        parts = [env.observation_space.spaces[k] for k in keys]
        obs_spaces = {k: v for k, v in env.observation_space.spaces.items() if k not in keys}
        obs_spaces[out] = spaces.Box(
            np.concatenate([p.low.reshape(-1) for p in parts]).astype(np.float32),
            np.concatenate([p.high.reshape(-1) for p in parts]).astype(np.float32),
            dtype=np.float32,
        )
        self.observation_space = spaces.Dict(obs_spaces)

    def observation(self, obs):
        out = {k: v for k, v in obs.items() if k not in self.keys}
        out[self.out] = concat_named(self.keys, obs)
        return out


class FrameStack(gym.Wrapper):
    """Stack the last ``n`` images of ``key`` on the channel axis (newest last), as the contract says."""

    def __init__(self, env: gym.Env, n: int, key: str = "rgb"):
        super().__init__(env)
        self.key, self.stacker = key, FrameStacker(n)
        single = env.observation_space.spaces[key]
        c, h, w = single.shape
        obs_spaces = dict(env.observation_space.spaces)
        obs_spaces[key] = spaces.Box(0, 255, (c * n, h, w), dtype=np.uint8)
        self.observation_space = spaces.Dict(obs_spaces)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        obs = dict(obs)
        obs[self.key] = self.stacker.reset(obs[self.key])
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        obs = dict(obs)
        obs[self.key] = self.stacker.push(obs[self.key])
        return obs, reward, terminated, truncated, info


# -- factories ------------------------------------------------------------------------------------------------
def wrap_env(env: gym.Env, env_cfg: EnvConfig, contract: PolicyContract | None = None) -> gym.Env:
    """Apply the chain (module docstring) to a raw env built from ``env_cfg``."""
    contract = contract or contract_for_env(env_cfg)
    env = TimeLimit(env, env_cfg.episode_steps)
    env = ActionRepeat(env, contract.action.action_repeat)
    env = ActionSequence(env, contract.action.chunk_length)
    env = RescaleFromTanh(env)
    if env_cfg.obs == "pixels":
        if env_cfg.randomization.image.enabled:
            env = CameraImageNoise(env, env_cfg.randomization.image)
        env = WristImage(env, contract.image)
    env = ConcatDim(env, tuple(k.name for k in contract.low_dim), "low_dim_state")
    env = ConcatDim(env, env.unwrapped.privileged_keys, "privileged_state")  # the task's
    if env_cfg.obs == "pixels":
        env = FrameStack(env, contract.image.frame_stack)
    return env


def make_env(
    env_cfg: EnvConfig | None = None, seed: int | None = None, render_overview: bool = False
) -> gym.Env:
    """The policy-facing env: raw sim + the full wrapper chain. ``render_overview`` makes ``env.render()``
    return the third-person camera (``env.unwrapped.render_overview()`` works either way)."""
    env_cfg = env_cfg or EnvConfig()
    raw = SO101LiftEnv(env_cfg, render_mode="rgb_array" if render_overview else None)
    env = wrap_env(raw, env_cfg)
    if seed is not None:
        raw.np_random, _ = seeding.np_random(seed)
        env.action_space.seed(seed)
    return env


class _EnvFactory:
    """Picklable constructor for spawned workers (a lambda would not survive the spawn start method).
    Unpickling it imports this module, hence ``sim`` first, so a worker picks its headless GL backend
    before mujoco loads."""

    def __init__(self, env_cfg: EnvConfig, seed: int | None):
        self.env_cfg, self.seed = env_cfg, seed

    def __call__(self) -> gym.Env:
        return make_env(self.env_cfg, seed=self.seed)


def make_vector_env(env_cfg: EnvConfig, num_envs: int, seed: int | None = 0) -> gym.vector.AsyncVectorEnv:
    """``num_envs`` workers (spawned, headless, each with its own renderer), same spaces as ``make_env``."""
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    factories = [_EnvFactory(env_cfg, None if seed is None else seed + i) for i in range(num_envs)]
    # AsyncVectorEnv builds factories[0] once in this process for the spaces; our env creates no GL
    # context until a frame is asked for, so the parent stays renderer-free.
    return gym.vector.AsyncVectorEnv(factories, context="spawn", shared_memory=True, daemon=True)


def _registered_env(
    env_cfg: EnvConfig | None = None, seed: int | None = None, render_mode: str | None = None, **fields
):
    """Entry point of ``gym.make("SO101Lift-v0", **fields)``: EnvConfig field overrides as keyword arguments."""
    env_cfg = dataclasses.replace(env_cfg or EnvConfig(), **fields)
    return make_env(env_cfg, seed=seed, render_overview=render_mode == "rgb_array")


if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="policies.wrappers:_registered_env")

__all__ = [
    "ENV_ID",
    "ActionRepeat",
    "ActionSequence",
    "CameraImageNoise",
    "ConcatDim",
    "FrameStack",
    "RescaleFromTanh",
    "TimeLimit",
    "WristImage",
    "make_env",
    "make_vector_env",
    "wrap_env",
]
