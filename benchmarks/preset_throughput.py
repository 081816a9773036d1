"""Where a preset's training wall time goes, per process: env frames/s at its image size, split into physics,
rendering and the wrappers' image work, and the learner's work for one update, put together as a serial step.

- env: one in-process env built as a training worker builds it (``make_env(cfg.env)``, the preset's render
  size, image size, frame stack and randomisation), random actions, resets included. The same steps are split by
  timing what runs inside them: ``render`` is the wrist render (``sim.render.WristRenderer.render``, view culling
  included, or ``sim.render_warp.WarpWristRenderer.render`` under ``env.wrist_renderer=warp``), ``image`` the
  wrappers' image work (camera image noise where on, ``preprocess_frame``'s crop and area resize, the frame
  stack), and ``physics`` everything else: substeps, controller, task, randomisers and the
  wrappers' bookkeeping, i.e. an env step without its rendering.
- learner: the agent the preset's trainer builds (its own ``build_agent``, so its batch size, precision and fast
  paths), on a replay of the preset's shapes filled with ``--replay-steps`` random transitions (fewer than the
  preset's capacity, to spare memory): ``sample_ms`` draws one batch and moves it to the device as the trainer
  does, ``update_ms`` is one ``agent.update``, ``act_ms`` one exploration ``act`` on a batch of
  ``num_train_envs`` observations. Medians over ``--rounds`` rounds after two warm-up rounds.
- serial step: ``update_every_frames`` env frames plus the acts they need, one sample and one update, run one
  after another (the trainer overlaps env workers with the learner; this is the work either side has to do):
  the share of each and the frames/s one process would reach.

    python benchmarks/preset_throughput.py --preset cpu [--env-seconds 20] [--rounds 15] [key=value ...]

``key=value`` overrides go to the preset as in ``so101 train`` (e.g. ``agent.precision=fp32``,
``env.wrist_renderer=warp env.render_size=32``): run twice to compare two settings, ideally back to back on a quiet machine. Algorithms
trained by the DrQ-v2 frame loop (drqv2, squint) are supported. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import time
from collections import defaultdict
from contextlib import ExitStack
from types import SimpleNamespace
from unittest import mock

import sim  # noqa: F401  (headless GL before mujoco)
from sim.randomize import ImageCorruptor
from sim.render import WristRenderer
from sim.render_warp import WarpWristRenderer

import numpy as np
import torch

import policies.wrappers as wrappers
from common.config import load_config
from policies.drqv2.replay import ReplayBuffer, sample_mixed
from policies.drqv2.trainer import Trainer as FrameLoopTrainer
from policies.drqv2.trainer import obs_spec, step_spec
from policies.io import FrameStacker
from policies.training.device import resolve_device, set_torch_threads
from so101_deploy.commands.train import requested_algorithm

PARTS = ("physics", "render", "image")


class Split:
    """Seconds spent inside patched functions, per part; a call nested in another of its part counts once."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._depth: dict[str, int] = defaultdict(int)

    def timed(self, part: str, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if self._depth[part]:
                return fn(*args, **kwargs)
            self._depth[part] += 1
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[part] += time.perf_counter() - start
                self.calls[part] += 1
                self._depth[part] -= 1

        return wrapper

    def patches(self) -> ExitStack:
        """The render and the wrappers' image work, timed while the returned stack is open."""
        stack = ExitStack()
        for owner, name, part in (
            (WristRenderer, "render", "render"),
            (WarpWristRenderer, "render", "render"),
            (wrappers, "preprocess_frame", "image"),  # WristImage looks it up in policies.wrappers
            (FrameStacker, "push", "image"),
            (FrameStacker, "reset", "image"),
            (ImageCorruptor, "__call__", "image"),
        ):
            stack.enter_context(mock.patch.object(owner, name, self.timed(part, getattr(owner, name))))
        return stack


def env_split(env, frames_per_step: int, seconds: float) -> dict:
    """Frames/s of one env and the share of physics, render and image work in its steps (module docstring)."""
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    # the first render builds the GL context (or loads Warp's kernels): outside the timing
    env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
    split = Split()
    frames = resets = 0
    with split.patches():
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            action = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
            _, _, terminated, truncated, _ = env.step(action)
            frames += frames_per_step
            if terminated or truncated:
                env.reset()
                resets += 1
        elapsed = time.perf_counter() - start
    spent = {"render": split.seconds["render"], "image": split.seconds["image"]}
    spent["physics"] = elapsed - spent["render"] - spent["image"]
    return {
        "frames_per_s": frames / elapsed,
        "frames": frames,
        "seconds": elapsed,
        "resets": resets,
        "renders_per_frame": split.calls["render"] / frames,
        "ms_per_frame": {part: 1e3 * spent[part] / frames for part in PARTS},
        "share": {part: spent[part] / elapsed for part in PARTS},
        # the frames/s each part alone would allow (the other two costing nothing)
        "frames_per_s_ceiling": {part: frames / spent[part] if spent[part] > 0 else None for part in PARTS},
    }


def filled_replay(cfg, spec, steps: int, seed: int = 0) -> ReplayBuffer:
    """A replay of the trainer's layout holding ``steps`` random transitions in episodes of the preset's length."""
    n = cfg.num_train_envs
    stack = cfg.env.frame_stack
    replay = ReplayBuffer(steps, n, step_spec(spec, stack), stack, cfg.agent.nstep, cfg.agent.discount)
    rng = np.random.default_rng(seed)
    pool = [
        {
            "rgb": rng.integers(0, 256, spec.rgb_shape, dtype=np.uint8),
            "low_dim_state": rng.standard_normal(spec.low_dim).astype(np.float32),
            "privileged_state": rng.standard_normal(spec.privileged).astype(np.float32),
        }
        for _ in range(32)
    ]
    episode = max(1, cfg.env.episode_steps // cfg.frames_per_step)
    for stream in range(n):
        for t in range(steps // n):
            obs = pool[(stream + t) % len(pool)]
            if t % (episode + 1) == 0:
                replay.add_first(stream, obs)
                continue
            action = rng.uniform(-1, 1, spec.action_dim).astype(np.float32)
            replay.add(stream, action, float(rng.random()), obs, False, t % (episode + 1) == episode)
    return replay


def learner_times(cfg, trainer_class: type, env, rounds: int, replay_steps: int) -> dict:
    """Median ms of one batch sample (+ device copy), one update and one exploration act (module docstring)."""
    device = resolve_device(cfg.device)
    spec = obs_spec(env.observation_space, env.action_space)
    obs, _ = env.reset(seed=0)
    # the trainer's own methods, on just the attributes they read: the agent it would train, moved as it moves it
    trainer = SimpleNamespace(spec=spec, cfg=cfg, device=device)
    agent = trainer_class.build_agent(trainer)
    replay = filled_replay(cfg, spec, replay_steps)
    act_obs = {k: np.repeat(v[None], cfg.num_train_envs, axis=0) for k, v in obs.items()}

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    times: dict[str, list[float]] = {"sample_ms": [], "update_ms": [], "act_ms": []}
    for round_ in range(rounds + 2):
        t0 = time.perf_counter()
        batch = FrameLoopTrainer._to_device(trainer, sample_mixed(replay, None, cfg.agent.batch_size, 0.0))
        sync()
        t1 = time.perf_counter()
        agent.update(batch, cfg.num_seed_frames)
        sync()
        t2 = time.perf_counter()
        agent.act(act_obs, cfg.num_seed_frames, eval_mode=False)
        t3 = time.perf_counter()
        if round_ >= 2:  # two warm-up rounds (allocator, oneDNN kernels, autocast caches)
            times["sample_ms"].append(1e3 * (t1 - t0))
            times["update_ms"].append(1e3 * (t2 - t1))
            times["act_ms"].append(1e3 * (t3 - t2))
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        **medians,
        "device": str(device),
        "batch_size": cfg.agent.batch_size,
        "precision": cfg.agent.precision,
        "rounds": rounds,
        "replay_steps": len(replay),
        "update_ms_spread": [min(times["update_ms"]), max(times["update_ms"])],
    }


def frame_loop_trainer(algorithm) -> type:
    """The trainer class of ``algorithm``; refuses an algorithm not trained by the DrQ-v2 frame loop."""
    module = getattr(algorithm, "module", None)  # PackageAlgorithm's
    trainer = getattr(module("trainer"), algorithm.trainer_class, None) if module else None
    if not (isinstance(trainer, type) and issubclass(trainer, FrameLoopTrainer)):
        raise SystemExit(
            f"algo={algorithm.name}: this benchmark times algorithms trained by the DrQ-v2 frame loop "
            "(drqv2, squint), whose learner is one agent.update on a replay batch"
        )
    return trainer


def serial_step(cfg, env: dict, learner: dict) -> dict:
    """One update's worth of training done serially: its frames, their acts, one sample and one update."""
    frames = cfg.update_every_frames
    acts = frames / (cfg.num_train_envs * cfg.frames_per_step)  # one act call serves every env's step
    seconds = {
        "env": frames / env["frames_per_s"],
        "act": acts * learner["act_ms"] / 1e3,
        "sample": learner["sample_ms"] / 1e3,
        "update": learner["update_ms"] / 1e3,
    }
    total = sum(seconds.values())
    return {
        "frames_per_update": frames,
        "ms": {k: 1e3 * v for k, v in seconds.items()},
        "share": {k: v / total for k, v in seconds.items()},
        "share_env": seconds["env"] / total,
        "share_learner": 1 - seconds["env"] / total,
        "frames_per_s": frames / total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--env-seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--replay-steps", type=int, default=10_000)
    parser.add_argument("overrides", nargs="*", help="key=value, as for so101 train")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]

    algorithm, preset = requested_algorithm(args.preset, args.overrides)
    cfg = load_config(algorithm.config_schema(), preset, args.overrides)
    cfg.validate()
    trainer_class = frame_loop_trainer(algorithm)
    if cfg.env.obs != "pixels":
        raise SystemExit(
            f"preset {preset} trains on env.obs={cfg.env.obs}: nothing renders; pick a pixel one"
        )
    set_torch_threads(cfg.torch_threads, resolve_device(cfg.device))  # as the trainer sets them

    train_env = wrappers.make_env(cfg.env, seed=0)  # as a training worker builds it
    env = env_split(train_env, cfg.frames_per_step, args.env_seconds)
    ms = env["ms_per_frame"]
    print(
        f"env: {env['frames_per_s']:.0f} frames/s at {cfg.env.render_size}->{cfg.env.image_size} px "
        f"(physics {ms['physics']:.2f} + render {ms['render']:.2f} + image {ms['image']:.2f} ms per frame)",
        flush=True,
    )
    learner = learner_times(cfg, trainer_class, train_env, args.rounds, args.replay_steps)
    train_env.close()
    print(
        f"learner: sample {learner['sample_ms']:.1f} + update {learner['update_ms']:.1f} ms "
        f"(batch {learner['batch_size']}, {learner['precision']}), act {learner['act_ms']:.2f} ms",
        flush=True,
    )
    serial = serial_step(cfg, env, learner)
    print(
        f"serial step of {serial['frames_per_update']} frames: env {100 * serial['share_env']:.0f}%, learner "
        f"{100 * serial['share_learner']:.0f}% -> {serial['frames_per_s']:.0f} frames/s per process",
        flush=True,
    )
    result = {
        "preset": preset,
        "algo": cfg.algo,
        "overrides": args.overrides,
        "render_size": cfg.env.render_size,
        "image_size": cfg.env.image_size,
        "frame_stack": cfg.env.frame_stack,
        "frames_per_step": cfg.frames_per_step,
        "env": env,
        "learner": learner,
        "serial": serial,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_1min_start": load_start,
        "load_1min": os.getloadavg()[0],
        "torch": torch.__version__,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
