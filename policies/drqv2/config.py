"""Typed configs for DrQ-v2 training (the schema behind ``so101 train --preset NAME key=value``).

Units: every budget, period and schedule is counted in **env frames** (one control step of one simulator,
summed over the train envs; an agent step is ``action_repeat * action_sequence`` frames). Defaults are the
DrQ-v2 paper's / the original lift project's values; the presets in resources/configs override them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.config import EnvConfig

from policies.drqv2.schedules import schedule
from policies.training.checks import check_env, check_schedule, require_at_least
from policies.training.wall_clock import WallClockKeys


@dataclass
class AgentConfig:
    lr: float = 1e-4
    feature_dim: int = 50
    hidden_dim: int = 1024
    critic_target_tau: float = 0.01
    discount: float = 0.99
    nstep: int = 3
    batch_size: int = 256
    stddev_schedule: str = "linear(1.0,0.1,500000)"  # exploration std, at env frames
    stddev_clip: float = 0.3
    aug_pad: int = 4  # random shift of +-aug_pad pixels on obs and next_obs
    use_low_dim: bool = True  # pixels mode: actor and critic also read low_dim_state (joint angles)
    asymmetric_critic: bool = False  # critic (never the actor) also reads privileged_state
    # How the maths is computed, never what it computes: true runs the speed paths of policies/drqv2/fast.py
    # (tested equal to the plain path), false the paper's formulation as written (policies/drqv2/agent.py).
    fast: bool = True
    # Fast-path knobs (agent.fast=true only); none changes the maths (bf16 changes rounding, hence off by default).
    channels_last: bool = True
    # samples per encoder pass in an update (gradient accumulation, exact); 0 = whole batch; -1 = auto
    # (64 on CPU, where it keeps conv activations in cache; the whole batch on CUDA)
    update_chunk: int = -1
    precision: str = "fp32"  # "fp32" or "bf16" (autocast the convs/matmuls; needs AMX or a GPU to pay off)


@dataclass
class TrainConfig(WallClockKeys):
    algo: str = "drqv2"  # "sac": the SB3 baseline, whose schema is policies.sb3_baseline.SacTrainConfig
    name: str = "drqv2"
    seed: int = 1
    device: str = "auto"  # "auto" (cuda if present), "cpu", "cuda", "cuda:1"
    torch_threads: int = 0  # 0 = all cores
    env: EnvConfig = field(default_factory=EnvConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    num_train_envs: int = 8
    num_train_frames: int = 1_000_000
    num_seed_frames: int = 4000  # uniform random actions and no updates before this many frames
    update_every_frames: int = (
        4  # one gradient update per this many frames (DrQ-v2: every 2 steps at repeat 2)
    )
    replay_capacity: int = 100_000  # agent steps (transitions), split evenly over the train envs
    demo_episodes: int = 0  # scripted-expert episodes loaded into a separate demo replay before training
    demo_ratio: float = 0.0  # fraction of every batch drawn from the demo replay
    demo_successful_only: bool = True
    eval_every_frames: int = 20_000
    num_eval_episodes: int = 10
    num_eval_envs: int = 1  # >1 runs eval episodes in parallel worker processes
    eval_video: bool = True  # mp4 of the first eval episode (overview + wrist views)
    checkpoint_every_frames: int = 50_000
    checkpoint_replay: bool = False  # also save the replay (GBs at full size) so --resume continues with it
    log_every_frames: int = 5_000
    run_dir: str = ""  # empty = <runs_root>/<name>-<time>
    runs_root: str = "runs"
    tensorboard: bool = True
    wandb: bool = False
    wandb_project: str = "so101-deploy"
    progress: bool = True  # rich progress bar with ETA

    def validate(self) -> None:
        """Fail before anything starts, with the fix in the message."""
        self.check_wall_clock()
        if self.algo != "drqv2":
            raise ValueError(
                f"algo must be 'drqv2' for this config (algo=sac uses the sac_lift_image preset), got '{self.algo}'"
            )
        from policies.drqv2.networks import conv_output_size  # torch: only when a config is checked

        check_env(self.env)
        check_schedule(self)
        if self.env.obs == "pixels" and conv_output_size(self.env.image_size) < 1:
            raise ValueError(
                f"env.image_size={self.env.image_size}: the DrQ-v2 encoder needs at least 15 pixels"
            )
        if self.agent.precision not in ("fp32", "bf16"):
            raise ValueError(f"agent.precision must be 'fp32' or 'bf16', got '{self.agent.precision}'")
        if not self.agent.fast and (self.agent.precision != "fp32" or self.agent.update_chunk > 0):
            raise ValueError(
                "agent.precision=bf16 and agent.update_chunk>0 are fast paths: set agent.fast=true, "
                "or leave them at their defaults for the plain path"
            )
        if not 0.0 <= self.demo_ratio < 1.0:
            raise ValueError(f"demo_ratio must be in [0, 1), got {self.demo_ratio}")
        if self.demo_ratio > 0 and self.demo_episodes <= 0:
            raise ValueError("demo_ratio > 0 needs demo_episodes > 0 (how many expert episodes to record)")
        require_at_least(1, {
            "update_every_frames": self.update_every_frames,
            "log_every_frames": self.log_every_frames,
            "replay_capacity": self.replay_capacity,
            "agent.batch_size": self.agent.batch_size,
            "agent.nstep": self.agent.nstep,
        })  # fmt: skip
        require_at_least(0, {"demo_episodes": self.demo_episodes})
        per_env = self.replay_capacity // self.num_train_envs
        if per_env < self.agent.nstep + self.env.frame_stack + 1:
            raise ValueError(
                f"replay_capacity {self.replay_capacity} leaves {per_env} slots per train env; "
                f"raise it to at least {(self.agent.nstep + self.env.frame_stack + 1) * self.num_train_envs}"
            )
        for key in ("stddev_schedule",):
            try:
                schedule(getattr(self.agent, key), 0)
            except ValueError as exc:
                raise ValueError(f"agent.{key}: {exc}") from None

    def replay_nbytes_lower_bound(self) -> int:
        """Bytes the replays (agent's and demos') take at least: one frame per slot (plus reward, step, flags).
        A lower bound, so a refusal on it is never wrong; low-dim vectors and actions add a little more."""
        frame = 3 * self.env.image_size**2 if self.env.obs == "pixels" else 0
        slots = self.replay_capacity + self.demo_episodes * (self.env.episode_steps + 2)
        return slots * (frame + 4 + 4 + 2)

    @property
    def frames_per_step(self) -> int:
        """Env frames behind one agent step (one action chunk, each action held ``action_repeat`` ticks)."""
        return self.env.action_repeat * self.env.action_sequence
