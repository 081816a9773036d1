"""Typed config of DAgger distillation (the schema behind ``so101 train --preset distill_cpu key=value``).

Budgets and periods are counted in env frames like every trainer here (an agent step is
``action_repeat * action_sequence`` frames), so curves compare with DrQ-v2's on the same axis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.config import EnvConfig

from policies.training.checks import check_env, require_at_least
from policies.training.wall_clock import WallClockKeys


@dataclass
class StudentConfig:
    """The pixel student: DrQ-v2's encoder and actor (policies/drqv2/networks.py), trained by regression."""

    feature_dim: int = 50
    hidden_dim: int = 256
    lr: float = 3e-4
    batch_size: int = 128
    aug_pad: int = 2  # random shift of +-aug_pad pixels on every regressed image (0 = none)


@dataclass
class DistillConfig(WallClockKeys):
    algo: str = "distill"
    name: str = "distill"
    seed: int = 1
    device: str = "auto"  # "auto" (cuda if present), "cpu", "cuda"
    torch_threads: int = 1  # 0 = all cores
    env: EnvConfig = field(default_factory=EnvConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    num_train_frames: int = 100_000
    episodes_per_iteration: int = 2  # rollouts aggregated between two rounds of regression
    updates_per_iteration: int = 200  # gradient steps on the aggregated dataset after each round of rollouts
    # The rollout acts with the expert's action with probability beta (per step), else with the student's:
    # beta = beta_start * beta_decay ** iteration. Iteration 0 at beta 1 is behaviour cloning of the expert.
    beta_start: float = 1.0
    beta_decay: float = 0.5
    dataset_capacity: int = 60_000  # labelled steps kept (oldest dropped first)
    eval_every_frames: int = 10_000
    num_eval_episodes: int = 10
    num_eval_envs: int = 1
    eval_video: bool = True
    checkpoint_every_frames: int = 20_000
    log_every_frames: int = 2_000
    run_dir: str = ""  # empty = <runs_root>/<name>-<time>
    runs_root: str = "runs"
    tensorboard: bool = True
    wandb: bool = False
    wandb_project: str = "so101-deploy"
    progress: bool = True

    def validate(self) -> None:
        """Fail before anything starts, with the fix in the message."""
        self.check_wall_clock()
        if self.algo != "distill":
            raise ValueError(
                f"algo must be 'distill' for this config (see --preset distill_cpu), got '{self.algo}'"
            )
        from policies.drqv2.networks import conv_output_size  # torch: only when a config is checked

        check_env(self.env)
        if self.env.obs != "pixels":
            raise ValueError("the distilled student is a deployable pixel policy: set env.obs=pixels")
        if self.env.action_type != "ee_delta":
            raise ValueError("the scripted expert labels ee_delta actions: set env.action_type=ee_delta")
        if conv_output_size(self.env.image_size) < 1:
            raise ValueError(
                f"env.image_size={self.env.image_size}: the student's encoder needs at least 15 pixels"
            )
        require_at_least(1, {
            "num_train_frames": self.num_train_frames,
            "episodes_per_iteration": self.episodes_per_iteration,
            "dataset_capacity": self.dataset_capacity,
            "eval_every_frames": self.eval_every_frames,
            "num_eval_episodes": self.num_eval_episodes,
            "num_eval_envs": self.num_eval_envs,
            "checkpoint_every_frames": self.checkpoint_every_frames,
            "log_every_frames": self.log_every_frames,
            "student.batch_size": self.student.batch_size,
            "student.feature_dim": self.student.feature_dim,
            "student.hidden_dim": self.student.hidden_dim,
        })  # fmt: skip
        require_at_least(0, {
            "updates_per_iteration": self.updates_per_iteration,
            "student.aug_pad": self.student.aug_pad,
            "torch_threads": self.torch_threads,
        })  # fmt: skip
        for key in ("beta_start", "beta_decay"):
            value = getattr(self, key)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{key} must be in [0, 1], got {value}")

    @property
    def frames_per_step(self) -> int:
        return self.env.action_repeat * self.env.action_sequence

    def beta(self, iteration: int) -> float:
        """Probability that a rollout step acts with the expert's label rather than the student's action."""
        return self.beta_start * self.beta_decay**iteration
