"""Typed config of the Squint-style visual SAC (the schema behind ``so101 train --preset cpu``).

The run-level keys (budgets, envs, replay, demos, evaluation, logging) are DrQ-v2's, in the same units (env
frames), because the same trainer loop drives both; only ``agent`` differs. Defaults are Squint's recipe:
one frame plus joint angles, a C51 critic over 101 atoms with LayerNorm, discount 0.9, batch 512, bf16.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from policies.drqv2.config import TrainConfig as DrQV2TrainConfig
from policies.training.checks import check_env, check_schedule, require_at_least

PRECISIONS = ("fp32", "bf16")


@dataclass
class AgentConfig:
    lr: float = 3e-4
    feature_dim: int = 50  # Linear-LayerNorm-Tanh bottleneck per input (pixel features, joint angles)
    hidden_dim: int = 256
    conv_channels: int = 32  # both convolutions of the two-layer encoder
    num_atoms: int = 101  # C51 support size
    v_min: float = -10.0  # support of the return distribution; returns outside are clamped onto its ends
    v_max: float = 200.0  # ~ max reward per agent step / (1 - discount) for dense_v1 at action_repeat 2
    discount: float = 0.9
    nstep: int = 1
    batch_size: int = 512
    critic_target_tau: float = 0.01
    init_temperature: float = 0.1  # SAC's entropy weight alpha at the start; tuned towards target_entropy
    target_entropy_per_dim: float = -1.0  # target entropy = this * action_dim (SAC's -|A|)
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    aug_pad: int = 1  # random shift of +-aug_pad pixels (0: none); one pixel at 16x16 ~ DrQ's 4 at 84x84
    use_low_dim: bool = True  # actor and critic read joint angles next to pixels
    precision: str = "bf16"  # autocast of the networks' forward passes; the C51 maths stays fp32
    # > 0: evaluation and export use a Polyak average of the policy (encoder + actor) moved this far towards
    # the online one after every update, so the deployed policy does not swing with each update; 0: the online
    # policy. Training (acting, targets) always uses the online networks.
    policy_average_tau: float = 0.0


@dataclass
class TrainConfig(DrQV2TrainConfig):
    algo: str = "squint"
    name: str = "squint"
    agent: AgentConfig = field(default_factory=AgentConfig)  # type: ignore[assignment]

    def validate(self) -> None:
        """Fail before anything starts, with the fix in the message."""
        self.check_wall_clock()
        if self.algo != "squint":
            raise ValueError(f"algo must be 'squint' for this config, got '{self.algo}'")
        from policies.squint.networks import conv_output_size  # torch: only when a config is checked

        check_env(self.env)
        check_schedule(self)
        if self.env.obs != "pixels":
            raise ValueError(
                "algo=squint learns from pixels: set env.obs=pixels (state mode is DrQ-v2's check)"
            )
        if conv_output_size(self.env.image_size) < 1:
            raise ValueError(
                f"env.image_size={self.env.image_size}: the two-conv encoder needs at least 7 pixels"
            )
        a = self.agent
        if a.precision not in PRECISIONS:
            raise ValueError(f"agent.precision must be 'fp32' or 'bf16', got '{a.precision}'")
        if not a.v_min < a.v_max:
            raise ValueError(f"agent.v_min ({a.v_min}) must be below agent.v_max ({a.v_max})")
        if not 0.0 <= a.policy_average_tau <= 1.0:
            raise ValueError(f"agent.policy_average_tau must be in [0, 1], got {a.policy_average_tau}")
        if not 0.0 < a.discount <= 1.0:
            raise ValueError(f"agent.discount must be in (0, 1], got {a.discount}")
        if not 0.0 <= self.demo_ratio < 1.0:
            raise ValueError(f"demo_ratio must be in [0, 1), got {self.demo_ratio}")
        if self.demo_ratio > 0 and self.demo_episodes <= 0:
            raise ValueError("demo_ratio > 0 needs demo_episodes > 0 (how many expert episodes to record)")
        require_at_least(2, {"agent.num_atoms": a.num_atoms})
        require_at_least(1, {
            "update_every_frames": self.update_every_frames,
            "log_every_frames": self.log_every_frames,
            "replay_capacity": self.replay_capacity,
            "agent.batch_size": a.batch_size,
            "agent.nstep": a.nstep,
        })  # fmt: skip
        require_at_least(0, {"demo_episodes": self.demo_episodes, "agent.aug_pad": a.aug_pad})
        per_env = self.replay_capacity // self.num_train_envs
        if per_env < a.nstep + self.env.frame_stack + 1:
            raise ValueError(
                f"replay_capacity {self.replay_capacity} leaves {per_env} slots per train env; "
                f"raise it to at least {(a.nstep + self.env.frame_stack + 1) * self.num_train_envs}"
            )
