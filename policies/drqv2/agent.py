"""The DrQ-v2 algorithm (Yarats et al., 2021) as the paper writes it: acting, the critic update, the actor update.

Read it top to bottom: ``act`` explores with scheduled Gaussian noise (the trainer's seed phase is uniform);
``update`` fits the twin critic (and, through it, the encoder) to the n-step target, then the actor on detached
features, then moves the target critic by ``tau``. ``critic_loss`` augments obs and next_obs with random shifts,
encodes them (next_obs without gradients) and regresses both Q heads onto ``r + discount * min(Q1', Q2')(s', a')``
with ``a' ~ pi(s')``; ``actor_loss`` maximises ``min(Q1, Q2)`` at a sampled action.

Beyond the paper (AgentConfig): ``use_low_dim`` (joint angles next to pixels), ``asymmetric_critic`` (the critic
reads privileged_state, the actor never does) and state-only mode (``env.obs=state``: no encoder, actor and critic
read low_dim + privileged; a learning check, not deployable). ``_actor_inputs``/``_critic_inputs`` are the one
place that decides who reads what.

This class is the reference formulation. What the trainer runs by default is ``FastDrQV2Agent``
(policies/drqv2/fast.py), the same maths computed faster and tested equal to this one; ``agent.fast=false``
selects this class (``build_agent`` in fast.py reads the switch).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from policies.drqv2.config import AgentConfig
from policies.drqv2.networks import Actor, Critic, Encoder, Policy, random_shift
from policies.drqv2.schedules import schedule

Obs = dict[str, Tensor]
Batch = dict[str, "Tensor | Obs"]


@dataclass(frozen=True)
class ObsSpec:
    """Sizes of what the env emits; ``rgb_shape`` is None in state-only mode."""

    rgb_shape: tuple[int, int, int] | None
    low_dim: int
    privileged: int
    action_dim: int


def sample_action(mu: Tensor, std: float, clip: float | None, generator: torch.Generator) -> Tensor:
    """DrQ-v2's truncated normal: noise clipped to +-clip, the action clamped inside (-1, 1).

    The clamp passes gradients straight through, so the actor's gradient is that of the unclamped sample.
    """
    noise = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype) * std
    if clip is not None:
        noise = noise.clamp(-clip, clip)
    x = mu + noise
    clamped = x.clamp(-1.0 + 1e-6, 1.0 - 1e-6)
    return x - x.detach() + clamped.detach()


class DrQV2Agent:
    fast = False  # the value of agent.fast this class implements

    def __init__(self, spec: ObsSpec, cfg: AgentConfig, device: str | torch.device = "cpu", seed: int = 0):
        if cfg.fast != self.fast:  # a call site that names a class would silently ignore the switch
            raise ValueError(
                f"agent.fast={cfg.fast} but {type(self).__name__} was built; build the agent with "
                "policies.drqv2.fast.build_agent(spec, cfg, ...), which reads the switch"
            )
        self.spec, self.cfg = spec, cfg
        self.device = torch.device(device)
        self.pixels = spec.rgb_shape is not None
        self.generator = torch.Generator(device=self.device)  # augmentation and exploration noise
        self.generator.manual_seed(seed)
        torch.manual_seed(seed)  # network init

        if self.pixels:
            channels, size, _ = spec.rgb_shape
            self.encoder: Encoder | None = self.make_encoder(channels, size).to(self.device)
            actor_dims: tuple[int, ...] = (self.encoder.repr_dim,) + (
                (spec.low_dim,) if cfg.use_low_dim else ()
            )
            critic_dims = actor_dims + ((spec.privileged,) if cfg.asymmetric_critic else ())
        else:
            self.encoder = None
            actor_dims = critic_dims = (spec.low_dim, spec.privileged)
        self.actor = Actor(actor_dims, spec.action_dim, cfg.feature_dim, cfg.hidden_dim).to(self.device)
        self.critic = Critic(critic_dims, spec.action_dim, cfg.feature_dim, cfg.hidden_dim).to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.policy = Policy(self.encoder, self.actor, cfg.use_low_dim)

        self.encoder_opt = self.make_optimizer(self.encoder.parameters()) if self.encoder else None
        self.actor_opt = self.make_optimizer(self.actor.parameters())
        self.critic_opt = self.make_optimizer(self.critic.parameters())
        self.train(True)

    # the fast paths (fast.py) override these two, and the steps below, with the same maths computed faster
    def make_encoder(self, channels: int, size: int) -> Encoder:
        return Encoder(channels, size)

    def make_optimizer(self, params) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=self.cfg.lr)

    def train(self, training: bool = True) -> None:
        for module in (self.encoder, self.actor, self.critic):
            if module is not None:
                module.train(training)

    # -- inputs: the one place that decides who reads what ----------------------------------------------
    def _actor_inputs(self, features: Tensor | None, obs: Obs) -> list[Tensor]:
        if not self.pixels:
            return [obs["low_dim_state"], obs["privileged_state"]]
        return [features, obs["low_dim_state"]] if self.cfg.use_low_dim else [features]

    def _critic_inputs(self, features: Tensor | None, obs: Obs) -> list[Tensor]:
        inputs = self._actor_inputs(features, obs)
        if self.pixels and self.cfg.asymmetric_critic:
            inputs.append(obs["privileged_state"])
        return inputs

    def augment(self, rgb: Tensor) -> Tensor:
        """DrQ's random shift: +-aug_pad pixels, replicate padding, one shift per sample."""
        return random_shift(rgb, self.cfg.aug_pad, self.generator)

    def encode(self, obs: Obs, augment: bool) -> Tensor | None:
        if self.encoder is None:
            return None
        rgb = self.augment(obs["rgb"]) if augment else obs["rgb"]
        return self.encoder(rgb)

    # -- acting ---------------------------------------------------------------------------------------
    def to_tensors(self, obs: dict[str, np.ndarray]) -> Obs:
        return {k: torch.as_tensor(v, device=self.device) for k, v in obs.items() if k in _OBS_KEYS}

    @torch.no_grad()
    def act(self, obs: dict[str, np.ndarray], frame: int, eval_mode: bool) -> np.ndarray:
        """Actions (N, A) in [-1, 1] for a batch of observations (one row per env); never augmented."""
        tensors = self.to_tensors(obs)
        mu = self.actor(self._actor_inputs(self.encode(tensors, augment=False), tensors))
        if eval_mode:
            action = mu
        else:
            action = sample_action(mu, schedule(self.cfg.stddev_schedule, frame), None, self.generator)
        return action.cpu().numpy()

    # -- learning ---------------------------------------------------------------------------------------
    def update(self, batch: Batch, frame: int) -> dict[str, float]:
        """One gradient step of critic (+ encoder), then actor, on a batch from the replay (tensors on device)."""
        std = schedule(self.cfg.stddev_schedule, frame)
        features, metrics = self.update_critic(batch, std)
        # the actor reads the critic step's features detached: the encoder learns through the critic only
        metrics.update(self.update_actor(features, batch["obs"], std))
        self.update_target_critic()
        metrics["stddev"] = std
        return metrics

    def critic_loss(self, batch: Batch, std: float) -> tuple[Tensor, Tensor | None, dict[str, Tensor]]:
        """Twin-Q regression onto the n-step target; the replay has already summed the discounted rewards."""
        obs, next_obs = batch["obs"], batch["next_obs"]
        features = self.encode(obs, augment=True)
        with torch.no_grad():
            next_features = self.encode(next_obs, augment=True)
            mu = self.actor(self._actor_inputs(next_features, next_obs))
            next_action = sample_action(mu, std, self.cfg.stddev_clip, self.generator)
            target_q1, target_q2 = self.critic_target(
                self._critic_inputs(next_features, next_obs), next_action
            )
            target_q = batch["reward"] + batch["discount"] * torch.min(target_q1, target_q2)
        q1, q2 = self.critic(self._critic_inputs(features, obs), batch["action"])
        loss = F.mse_loss(q1, target_q) + F.mse_loss(q2, target_q)
        stats = {
            "critic_loss": loss.detach(),
            "critic_q1": q1.detach().mean(),
            "critic_q2": q2.detach().mean(),
            "critic_target_q": target_q.mean(),
        }
        return loss, features, stats

    def update_critic(self, batch: Batch, std: float) -> tuple[Tensor | None, dict[str, float]]:
        """Critic and encoder step on the critic loss; returns the (detached) obs features for the actor."""
        loss, features, stats = self.critic_loss(batch, std)
        if self.encoder_opt is not None:
            self.encoder_opt.zero_grad(set_to_none=True)
        self.critic_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.critic_opt.step()
        if self.encoder_opt is not None:
            self.encoder_opt.step()
        metrics = {key: float(value) for key, value in stats.items()}
        return (features.detach() if features is not None else None), metrics

    def actor_loss(self, features: Tensor | None, obs: Obs, std: float) -> Tensor:
        mu = self.actor(self._actor_inputs(features, obs))
        action = sample_action(mu, std, self.cfg.stddev_clip, self.generator)
        q1, q2 = self.critic(self._critic_inputs(features, obs), action)
        return -torch.min(q1, q2).mean()

    def update_actor(self, features: Tensor | None, obs: Obs, std: float) -> dict[str, float]:
        loss = self.actor_loss(features, obs, std)
        self.actor_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.actor_opt.step()
        return {"actor_loss": float(loss.detach())}

    @torch.no_grad()
    def update_target_critic(self) -> None:
        tau = self.cfg.critic_target_tau
        for online, target in zip(self.critic.parameters(), self.critic_target.parameters(), strict=True):
            target.copy_(tau * online + (1 - tau) * target)

    # -- persistence --------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        modules = {"actor": self.actor, "critic": self.critic, "critic_target": self.critic_target}
        optims = {"actor_opt": self.actor_opt, "critic_opt": self.critic_opt}
        if self.encoder is not None:
            modules["encoder"] = self.encoder
            optims["encoder_opt"] = self.encoder_opt
        state = {name: m.state_dict() for name, m in {**modules, **optims}.items()}
        state["generator"] = self.generator.get_state()
        return state

    def load_state_dict(self, state: dict) -> None:
        for name in ("actor", "critic", "critic_target", "actor_opt", "critic_opt", "encoder", "encoder_opt"):
            target = getattr(self, name)
            if target is None:
                continue
            if name not in state:
                raise KeyError(f"checkpoint has no '{name}': it was saved by a different agent layout")
            target.load_state_dict(state[name])
        self.generator.set_state(state["generator"].cpu())


_OBS_KEYS = ("rgb", "low_dim_state", "privileged_state")
