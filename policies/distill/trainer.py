"""The DAgger loop (Ross et al., 2011): roll out, label, aggregate, regress, repeat.

One iteration: ``episodes_per_iteration`` rollouts in which each step acts with the expert's label with
probability beta (decaying per iteration) and with the student's deterministic action otherwise; every visited
state is labelled by the expert and its student inputs are aggregated; then ``updates_per_iteration`` steps of
MSE regression of the student's tanh action onto the labels, on batches drawn from the whole aggregate. States the
student drifts into get labels, which is what plain behaviour cloning lacks.

Run directory, stop signals, checkpoint files, evaluation and metrics are the shared ones (policies/training/).
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from rich.progress import Progress

from common.config import to_dict
from policies.distill.checkpoint import load_checkpoint, save_checkpoint
from policies.distill.dataset import LabelledDataset
from policies.distill.expert import make_expert
from policies.distill.student import StudentSpec, act_fn, build_student, student_inputs
from policies.drqv2.networks import random_shift
from policies.training.checkpoint import CHECKPOINT
from policies.training.evaluate import Evaluator
from policies.training.loop import FrameLoopTrainer, next_multiple
from policies.training.metrics import MetricsLogger
from policies.training.signals import workers_ignore_stop_signals


class DistillTrainer(FrameLoopTrainer):
    show_eta = False

    # -- setup ----------------------------------------------------------------------------------------------
    def _setup(self) -> None:
        from policies.wrappers import make_env

        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        payload = load_checkpoint(self.run_dir / CHECKPOINT) if self.resume else None
        with workers_ignore_stop_signals():
            self.env = make_env(cfg.env, seed=cfg.seed)
            self.evaluator = Evaluator(cfg.env, cfg.num_eval_envs, seed=cfg.seed + 10_000)
        self.spec = StudentSpec.of_space(self.env.observation_space, self.env.action_space)
        self.expert = make_expert(cfg.env)
        self.student = build_student(self.spec, cfg.student).to(self.device)
        self.optimizer = torch.optim.Adam(self.student.parameters(), lr=cfg.student.lr)
        self.dataset = LabelledDataset(cfg.dataset_capacity, self.spec, seed=cfg.seed + 1)
        self.rng = np.random.default_rng(cfg.seed + 2)
        self.generator = torch.Generator(device=self.device).manual_seed(cfg.seed + 3)
        if payload is not None:
            self.student.load_state_dict(payload["student"])
            self.optimizer.load_state_dict(payload["optimizer"])
            self.counters.update(payload["counters"])
            torch.set_rng_state(payload["torch_rng"])
            self.console.print(f"resumed from {self.run_dir / CHECKPOINT} at frame {self.counters['frame']}")
        self.logger = MetricsLogger(
            self.run_dir, self.console, tensorboard=cfg.tensorboard, wandb=cfg.wandb,
            wandb_project=cfg.wandb_project, config=to_dict(cfg), name=self.run_dir.name,
        )  # fmt: skip

    # -- DAgger pieces -----------------------------------------------------------------------------------------
    def rollout(self, beta: float, seed: int) -> dict[str, float]:
        """One episode of the beta-mixed policy; every visited state goes into the dataset with the expert's label."""
        obs, _ = self.env.reset(seed=seed)
        self.expert.reset()
        act = act_fn(self.student, self.device)
        ret, steps, success, expert_steps, done = 0.0, 0, False, 0, False
        self.student.eval()
        while not done:
            label = self.expert.label(obs)  # called every step: the expert's phase follows the visited states
            self.dataset.add(*student_inputs(obs), label)
            use_expert = self.rng.random() < beta
            action = label if use_expert else act({k: v[None] for k, v in obs.items()})[0]
            expert_steps += int(use_expert)
            obs, reward, terminated, truncated, info = self.env.step(action)
            ret, steps = ret + float(reward), steps + 1
            success |= bool(info.get("success", False))
            done = bool(terminated or truncated)
        self.student.train()
        self.counters["frame"] += steps * self.cfg.frames_per_step
        self.counters["episode"] += 1
        return {
            "episode_return": ret,
            "episode_length": float(steps),
            "success_rate": float(success),
            "expert_share": expert_steps / steps,
        }

    def regress(self) -> float:
        """One gradient step of MSE between the student's tanh action and the expert's label."""
        cfg = self.cfg.student
        rgb, low_dim, label = (
            torch.as_tensor(x, device=self.device) for x in self.dataset.sample(cfg.batch_size)
        )
        image = random_shift(rgb, cfg.aug_pad, self.generator) if cfg.aug_pad > 0 else rgb.float()
        loss = F.mse_loss(self.student(image, low_dim), label)  # the encoder takes float pixels as they are
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.counters["update"] += 1
        return loss.item()

    # -- evaluation, checkpoints -------------------------------------------------------------------------------
    def evaluate(self) -> dict:
        cfg, frame = self.cfg, self.counters["frame"]
        video = self.run_dir / "videos" / f"eval_{frame:09d}.mp4" if cfg.eval_video else None
        self.student.eval()
        try:
            result = self.evaluator.run(
                act_fn(self.student, self.device), cfg.num_eval_episodes, video_path=video
            )
        finally:
            self.student.train()
        return self.log_evaluation(result)

    def save_snapshot(self, path: Path) -> Path:
        return save_checkpoint(path, self.student, self.optimizer, self.spec, self.cfg, self.counters)

    def save(self) -> Path:
        self._record_time()
        return self.save_snapshot(self.run_dir / CHECKPOINT)

    # -- the loop ------------------------------------------------------------------------------------------------
    def _loop(self, progress: Progress, task) -> dict:
        cfg, c = self.cfg, self.counters
        next_log = next_multiple(c["frame"], cfg.log_every_frames)
        next_eval = next_multiple(c["frame"], cfg.eval_every_frames)
        next_ckpt = next_multiple(c["frame"], cfg.checkpoint_every_frames)
        episodes: dict[str, list[float]] = defaultdict(list)
        losses: list[float] = []
        period = (time.perf_counter(), c["frame"], c["update"])  # start of the log period: FPS over it
        last_eval: dict = {}
        while self.running():
            beta = cfg.beta(c["iteration"])
            for _ in range(cfg.episodes_per_iteration):
                for key, value in self.rollout(beta, seed=cfg.seed + 1000 + c["episode"]).items():
                    episodes[key].append(value)
            losses.extend(self.regress() for _ in range(cfg.updates_per_iteration))
            c["iteration"] += 1
            self.update_progress(progress, task)
            if c["frame"] >= next_log:
                seconds = max(time.perf_counter() - period[0], 1e-9)
                self.logger.log("train", {
                    **c, "time_s": self._elapsed(), "buffer_size": len(self.dataset),
                    "env_fps": (c["frame"] - period[1]) / seconds, "update_fps": (c["update"] - period[2]) / seconds,
                    "actor_loss": float(np.mean(losses)), "beta": beta,  # the actor's loss is the regression's
                    **{k: float(np.mean(v)) for k, v in episodes.items()},
                })  # fmt: skip
                episodes.clear()
                losses.clear()
                period = (time.perf_counter(), c["frame"], c["update"])
                next_log = next_multiple(c["frame"], cfg.log_every_frames)
            if c["frame"] >= next_eval:
                last_eval = self.evaluate()
                next_eval = next_multiple(c["frame"], cfg.eval_every_frames)
            next_ckpt = self.checkpoint_if_due(next_ckpt)
        return self.finish(last_eval)

    def close(self) -> None:
        for name in ("env", "evaluator"):
            obj = getattr(self, name, None)
            if obj is not None:
                obj.close()
        logger = getattr(self, "logger", None)
        if logger is not None:
            logger.close()
