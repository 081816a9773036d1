"""The DrQ-v2 training loop: parallel envs, replay, updates, evaluation, logging, checkpoints, resume, stop signals.

One iteration: act for every train env, send the actions (``step_async``), run the gradient updates owed so far
while the env workers simulate, collect the results (``step_wait``), write them to replay. This is DrQ-v2's
order (act, update, step) with the update overlapping the simulation.

Vector envs use gymnasium's next-step autoreset: after an env reports terminated/truncated, its *next* step
ignores the action and returns the reset observation with reward 0. That step is not a transition; it starts
a new episode in replay and counts no frames.

Counters: ``frame`` counts env frames (``TrainConfig.frames_per_step`` per agent step, summed over envs) and
drives every budget, period and schedule. Updates are owed at one per ``update_every_frames`` after
``num_seed_frames``; on resume with an empty replay, updates wait for another ``num_seed_frames`` of fresh data.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import Progress

from common.config import to_dict
from policies.drqv2.agent import ObsSpec
from policies.drqv2.checkpoint import load_checkpoint, save_checkpoint
from policies.drqv2.config import TrainConfig
from policies.drqv2.fast import build_agent
from policies.drqv2.replay import ReplayBuffer, StepSpec, sample_mixed
from policies.training.checkpoint import CHECKPOINT, atomic_torch_save
from policies.training.evaluate import Evaluator
from policies.training.loop import FrameLoopTrainer, next_multiple
from policies.training.metrics import MetricsLogger
from policies.training.signals import workers_ignore_stop_signals

REPLAY_FILE = "replay.pt"


def obs_spec(observation_space, action_space) -> ObsSpec:
    spaces = observation_space.spaces
    return ObsSpec(
        rgb_shape=tuple(spaces["rgb"].shape) if "rgb" in spaces else None,
        low_dim=int(spaces["low_dim_state"].shape[0]),
        privileged=int(spaces["privileged_state"].shape[0]),
        action_dim=int(action_space.shape[0]),
    )


def step_spec(spec: ObsSpec, frame_stack: int) -> StepSpec:
    frame = None
    if spec.rgb_shape is not None:
        channels, h, w = spec.rgb_shape
        frame = (channels // frame_stack, h, w)
    return StepSpec(
        frame_shape=frame, low_dim=spec.low_dim, privileged=spec.privileged, action_dim=spec.action_dim
    )


def row(obs: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    return {k: v[i] for k, v in obs.items()}


def collect_demos(cfg: TrainConfig, spec: ObsSpec, console: Console) -> ReplayBuffer:
    """Run the task's scripted expert for ``demo_episodes`` seeded episodes into a replay of its own."""
    from sim.tasks import task_class

    from policies.wrappers import make_env

    expert = task_class(cfg.env.task).expert(cfg.env)
    if expert is None:
        raise ValueError(
            f"task {cfg.env.task!r} has no scripted expert to record demonstrations with; "
            "set demo_episodes=0 (and demo_ratio=0)"
        )
    capacity = cfg.demo_episodes * (cfg.env.episode_steps + 2)
    demos = ReplayBuffer(
        capacity, 1, step_spec(spec, cfg.env.frame_stack), cfg.env.frame_stack, cfg.agent.nstep,
        cfg.agent.discount, seed=cfg.seed + 2,
    )  # fmt: skip
    env = make_env(cfg.env, seed=cfg.seed + 20_000)
    kept = 0
    try:
        for episode in range(cfg.demo_episodes):
            obs, _ = env.reset(seed=cfg.seed + 20_000 + episode)
            if hasattr(expert, "reset"):
                expert.reset()
            steps, success, done = [], False, False
            first = obs
            while not done:
                action = np.asarray(expert.act(obs), np.float32)
                obs, reward, terminated, truncated, info = env.step(action)
                steps.append((action, float(reward), obs, bool(terminated), bool(truncated)))
                success |= bool(info.get("success", False))
                done = terminated or truncated
            if success or not cfg.demo_successful_only:
                demos.add_first(0, first)
                for step in steps:
                    demos.add(0, *step)
                kept += 1
    finally:
        env.close()
    console.print(f"demos: kept {kept}/{cfg.demo_episodes} scripted-expert episodes ({len(demos)} steps)")
    if kept == 0:
        raise RuntimeError("the scripted expert succeeded in no demo episode; set demo_successful_only=false")
    return demos


class VectorRecorder:
    """Writes a vector env's steps into replay under gymnasium's next-step autoreset, and tracks episodes.

    After env i reports terminated/truncated, its next ``step`` is a reset: the action is ignored and the
    observation is the new episode's first. That step starts an episode in replay; it is not a transition.
    """

    def __init__(self, replay: ReplayBuffer, num_envs: int):
        self.replay, self.num_envs = replay, num_envs
        self.resetting = np.zeros(num_envs, bool)
        self.ep_return, self.ep_length = np.zeros(num_envs), np.zeros(num_envs, int)
        self.ep_success = np.zeros(num_envs, bool)
        self.finished: dict[str, list[float]] = defaultdict(list)

    def start(self, obs: dict[str, np.ndarray]) -> None:
        for i in range(self.num_envs):
            self.replay.add_first(i, row(obs, i))
        self.resetting[:] = False
        self.ep_return[:], self.ep_length[:], self.ep_success[:] = 0.0, 0, False

    def step(self, action, next_obs, reward, terminated, truncated, success) -> tuple[int, int]:
        """Record one vector step; returns (rows that were real transitions, episodes that ended)."""
        real = ended = 0
        for i in range(self.num_envs):
            if self.resetting[i]:
                self.replay.add_first(i, row(next_obs, i))
                continue
            self.replay.add(
                i, action[i], float(reward[i]), row(next_obs, i), bool(terminated[i]), bool(truncated[i])
            )
            real += 1
            self.ep_return[i] += reward[i]
            self.ep_length[i] += 1
            self.ep_success[i] |= bool(success[i])
            if terminated[i] or truncated[i]:
                ended += 1
                self.finished["episode_return"].append(float(self.ep_return[i]))
                self.finished["episode_length"].append(float(self.ep_length[i]))
                self.finished["success_rate"].append(float(self.ep_success[i]))
                self.ep_return[i], self.ep_length[i], self.ep_success[i] = 0.0, 0, False
        self.resetting = np.asarray(terminated, bool) | np.asarray(truncated, bool)
        return real, ended


class Trainer(FrameLoopTrainer):
    # -- setup ----------------------------------------------------------------------------------------------
    def _setup(self) -> None:
        from policies.wrappers import make_vector_env

        cfg = self.cfg
        self.run_dir.mkdir(parents=True, exist_ok=True)
        payload = self.load_checkpoint(self.run_dir / CHECKPOINT) if self.resume else None
        with workers_ignore_stop_signals():
            self.envs = make_vector_env(cfg.env, cfg.num_train_envs, cfg.seed)
            self.evaluator = Evaluator(cfg.env, cfg.num_eval_envs, seed=cfg.seed + 10_000)
        self.spec = obs_spec(self.envs.single_observation_space, self.envs.single_action_space)
        self.agent = self.build_agent()
        self.replay = ReplayBuffer(
            cfg.replay_capacity, cfg.num_train_envs, step_spec(self.spec, cfg.env.frame_stack),
            cfg.env.frame_stack, cfg.agent.nstep, cfg.agent.discount, seed=cfg.seed + 1,
        )  # fmt: skip
        self.update_start = cfg.num_seed_frames
        if payload is not None:
            self.agent.load_state_dict(payload["agent"])
            self.counters.update(payload["counters"])
            torch.set_rng_state(payload["torch_rng"])
            replay_path = self.run_dir / REPLAY_FILE
            if cfg.checkpoint_replay and replay_path.exists():
                self.replay.load_state_dict(torch.load(replay_path, map_location="cpu", weights_only=True))
            else:  # updates wait for fresh experience
                self.update_start = self.counters["frame"] + cfg.num_seed_frames
            self.console.print(f"resumed from {self.run_dir / CHECKPOINT} at frame {self.counters['frame']}")
        self._update_origin = (max(self.update_start, self.counters["frame"]), self.counters["update"])
        self.demos = collect_demos(cfg, self.spec, self.console) if cfg.demo_episodes > 0 else None
        self.logger = MetricsLogger(
            self.run_dir, self.console, tensorboard=cfg.tensorboard, wandb=cfg.wandb,
            wandb_project=cfg.wandb_project, config=to_dict(cfg), name=self.run_dir.name,
        )  # fmt: skip

    # -- what another algorithm on this loop replaces (policies/squint/trainer.py) -------------------------
    def build_agent(self):
        return build_agent(self.spec, self.cfg.agent, device=self.device, seed=self.cfg.seed)

    def load_checkpoint(self, path: Path) -> dict:
        return load_checkpoint(path)

    def save_checkpoint(self, path: Path) -> Path:
        return save_checkpoint(path, self.agent, self.cfg, self.counters)

    # -- helpers ----------------------------------------------------------------------------------------------
    def _to_device(self, batch: dict) -> dict:
        pin = self.device.type == "cuda"

        def move(x: np.ndarray) -> torch.Tensor:
            t = torch.from_numpy(x)
            return t.pin_memory().to(self.device, non_blocking=True) if pin else t

        return {
            k: {kk: move(vv) for kk, vv in v.items()} if isinstance(v, dict) else move(v)
            for k, v in batch.items()
        }

    def _update(self, metrics: dict[str, list[float]]) -> None:
        cfg = self.cfg
        batch = sample_mixed(self.replay, self.demos, cfg.agent.batch_size, cfg.demo_ratio)
        for key, value in self.agent.update(self._to_device(batch), self.counters["frame"]).items():
            metrics[key].append(value)
        self.counters["update"] += 1

    def _updates_owed(self) -> int:
        """One update per ``update_every_frames`` frames since updates (re)started; none while waiting."""
        start_frame, start_updates = self._update_origin
        if self.counters["frame"] < start_frame:
            return 0
        target = start_updates + (self.counters["frame"] - start_frame) // self.cfg.update_every_frames
        return max(0, target - self.counters["update"])

    def evaluate(self) -> dict:
        cfg, frame = self.cfg, self.counters["frame"]
        video = self.run_dir / "videos" / f"eval_{frame:09d}.mp4" if cfg.eval_video else None
        self.agent.train(False)
        try:
            result = self.evaluator.run(
                lambda obs: self.agent.act(obs, frame, eval_mode=True),
                cfg.num_eval_episodes,
                video_path=video,
            )
        finally:
            self.agent.train(True)
        return self.log_evaluation(result)

    def save_snapshot(self, path: Path) -> Path:
        return self.save_checkpoint(path)

    def save(self) -> Path:
        self._record_time()
        path = self.save_checkpoint(self.run_dir / CHECKPOINT)
        if self.cfg.checkpoint_replay:
            atomic_torch_save(self.replay.state_dict(), self.run_dir / REPLAY_FILE)
        return path

    # -- the loop ------------------------------------------------------------------------------------------------
    def _loop(self, progress: Progress, task) -> dict:
        cfg, c, n = self.cfg, self.counters, self.cfg.num_train_envs
        per_step = cfg.frames_per_step
        obs, _ = self.envs.reset(seed=[cfg.seed + 1000 * c["iteration"] + i for i in range(n)])
        recorder = VectorRecorder(self.replay, n)
        recorder.start(obs)
        metrics: dict[str, list[float]] = defaultdict(list)
        last_eval: dict = {}
        next_log = next_multiple(c["frame"], cfg.log_every_frames)
        next_eval = c["frame"] if not self.resume else next_multiple(c["frame"], cfg.eval_every_frames)
        next_ckpt = next_multiple(c["frame"], cfg.checkpoint_every_frames)
        period_start, period_frames, period_updates = time.perf_counter(), 0, 0
        asynchronous = hasattr(self.envs, "step_async")

        while self.running():
            if c["frame"] >= next_eval:
                eval_start = time.perf_counter()
                last_eval = self.evaluate()
                next_eval = next_multiple(c["frame"], cfg.eval_every_frames)
                period_start += time.perf_counter() - eval_start  # FPS figures exclude evaluation time
            if c["frame"] < cfg.num_seed_frames:
                action = self._uniform(n)
            else:
                action = self.agent.act(obs, c["frame"], eval_mode=False)
            if asynchronous:
                self.envs.step_async(action)
            owed = self._updates_owed()
            for _ in range(owed):
                self._update(metrics)
            period_updates += owed
            next_obs, reward, terminated, truncated, info = (
                self.envs.step_wait() if asynchronous else self.envs.step(action)
            )
            c["iteration"] += 1
            success = np.asarray(info.get("success", np.zeros(n, bool)), bool)
            steps, ended = recorder.step(action, next_obs, reward, terminated, truncated, success)
            c["frame"] += steps * per_step
            c["episode"] += ended
            period_frames += steps * per_step
            obs = next_obs
            self.update_progress(progress, task)

            if c["frame"] >= next_log:
                seconds = max(time.perf_counter() - period_start, 1e-9)
                self.logger.log(
                    "train",
                    {
                        **c,
                        "time_s": self._elapsed(),
                        "buffer_size": len(self.replay),
                        "env_fps": period_frames / seconds,
                        "update_fps": period_updates / seconds,
                        **{k: float(np.mean(v)) for k, v in recorder.finished.items() if v},
                        **{k: float(np.mean(v)) for k, v in metrics.items()},
                    },
                )
                recorder.finished.clear()
                metrics.clear()
                period_start, period_frames, period_updates = time.perf_counter(), 0, 0
                next_log = next_multiple(c["frame"], cfg.log_every_frames)
            next_ckpt = self.checkpoint_if_due(next_ckpt)
        return self.finish(last_eval)

    def _uniform(self, n: int) -> np.ndarray:
        g = self.agent.generator
        u = torch.rand((n, self.spec.action_dim), generator=g, device=g.device)
        return (u * 2.0 - 1.0).cpu().numpy()

    def close(self) -> None:
        for name in ("envs", "evaluator"):
            obj = getattr(self, name, None)
            if obj is not None:
                obj.close()
        logger = getattr(self, "logger", None)
        if logger is not None:
            logger.close()
