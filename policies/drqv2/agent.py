"""The DrQ-v2 algorithm (Yarats et al., 2021) in one module: acting, the critic update, the actor update.

Read it top to bottom: ``act`` explores with scheduled Gaussian noise (uniform before ``num_expl_frames``);
``update`` augments obs and next_obs with random shifts, encodes them (next_obs without gradients), fits the twin
critic to the n-step target ``r + discount * min(Q1', Q2')(s', a' ~ pi)`` with the encoder trained *through the
critic only*, then updates the actor on detached features to maximise ``min(Q1, Q2)``, then moves the target
critic by ``tau``.

Switches beyond the paper (AgentConfig): ``use_low_dim`` (joint angles next to pixels), ``asymmetric_critic``
(critic reads privileged_state, the actor never does), state-only mode (``env.obs=state``: no encoder, actor and
critic read low_dim + privileged; a learning check, not deployable), and speed knobs that keep the maths:
``update_chunk`` accumulates the critic gradient over slices of the batch so conv activations stay in cache.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from policies.drqv2.config import AgentConfig
from policies.drqv2.networks import Actor, Critic, Encoder, Policy, random_shift
from policies.drqv2.schedules import schedule

Obs = dict[str, Tensor]


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
    def __init__(self, spec: ObsSpec, cfg: AgentConfig, device: str | torch.device = "cpu", seed: int = 0):
        self.spec, self.cfg = spec, cfg
        self.device = torch.device(device)
        self.pixels = spec.rgb_shape is not None
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)
        torch.manual_seed(seed)  # network init

        if self.pixels:
            channels, size, _ = spec.rgb_shape
            self.encoder: Encoder | None = Encoder(channels, size, channels_last=cfg.channels_last).to(
                self.device
            )
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

        # fused Adam: the same update in one kernel per parameter group (3x faster than the loop on a CPU)
        adam = functools.partial(torch.optim.Adam, lr=cfg.lr, fused=True)
        self.encoder_opt = adam(self.encoder.parameters()) if self.encoder else None
        self.actor_opt = adam(self.actor.parameters())
        self.critic_opt = adam(self.critic.parameters())
        self.train(True)

    def train(self, training: bool = True) -> None:
        for module in (self.encoder, self.actor, self.critic):
            if module is not None:
                module.train(training)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.cfg.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

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

    def _encode(self, obs: Obs, augment: bool) -> Tensor | None:
        if self.encoder is None:
            return None
        rgb = obs["rgb"]
        if augment:
            rgb = random_shift(rgb, self.cfg.aug_pad, self.generator)
        return self.encoder(rgb)

    # -- acting ---------------------------------------------------------------------------------------
    def to_tensors(self, obs: dict[str, np.ndarray]) -> Obs:
        return {k: torch.as_tensor(v, device=self.device) for k, v in obs.items() if k in _OBS_KEYS}

    @torch.no_grad()
    def act(self, obs: dict[str, np.ndarray], frame: int, eval_mode: bool) -> np.ndarray:
        """Actions (N, A) in [-1, 1] for a batch of observations (one row per env)."""
        tensors = self.to_tensors(obs)
        with self._autocast():
            mu = self.actor(self._actor_inputs(self._encode(tensors, augment=False), tensors)).float()
        if eval_mode:
            action = mu
        elif frame < self.cfg.num_expl_frames:
            action = torch.rand(mu.shape, generator=self.generator, device=self.device) * 2.0 - 1.0
        else:
            action = sample_action(mu, schedule(self.cfg.stddev_schedule, frame), None, self.generator)
        return action.cpu().numpy()

    # -- learning ---------------------------------------------------------------------------------------
    def update(self, batch: dict[str, Tensor | Obs], frame: int) -> dict[str, float]:
        """One gradient step of critic (+ encoder) and actor on a batch from the replay (tensors on device)."""
        cfg = self.cfg
        std = schedule(cfg.stddev_schedule, frame)
        obs, next_obs = batch["obs"], batch["next_obs"]
        size = batch["action"].shape[0]
        chunk = cfg.update_chunk if cfg.update_chunk >= 0 else (64 if self.device.type == "cpu" else 0)
        chunk = chunk if self.pixels and 0 < chunk < size else size  # only the encoder gains from chunks

        if self.encoder_opt is not None:
            self.encoder_opt.zero_grad(set_to_none=True)
        self.critic_opt.zero_grad(set_to_none=True)
        features, sums = [], {"critic_loss": 0.0, "critic_q1": 0.0, "critic_q2": 0.0, "critic_target_q": 0.0}
        for start in range(0, size, chunk):
            part = slice(start, start + chunk)
            feats, stats = self._critic_backward(
                {k: v[part] for k, v in obs.items()},
                batch["action"][part],
                batch["reward"][part],
                batch["discount"][part],
                {k: v[part] for k, v in next_obs.items()},
                std,
                weight=(min(start + chunk, size) - start) / size,
            )
            features.append(feats)
            for key, value in stats.items():
                sums[key] += value
        self.critic_opt.step()
        if self.encoder_opt is not None:
            self.encoder_opt.step()

        metrics = {key: float(value) for key, value in sums.items()}
        metrics.update(self._update_actor(torch.cat(features) if self.pixels else None, obs, std))
        metrics["stddev"] = std
        with torch.no_grad():
            online, target = list(self.critic.parameters()), list(self.critic_target.parameters())
            torch._foreach_lerp_(target, online, cfg.critic_target_tau)
        return metrics

    def _critic_backward(
        self,
        obs: Obs,
        action: Tensor,
        reward: Tensor,
        discount: Tensor,
        next_obs: Obs,
        std: float,
        weight: float,
    ) -> tuple[Tensor | None, dict[str, Tensor]]:
        """Critic loss on a slice of the batch, backpropagated into critic and encoder, scaled by the slice's share."""
        with self._autocast():
            features = self._encode(obs, augment=True)
            with torch.no_grad():
                next_features = self._encode(next_obs, augment=True)
                mu = self.actor(self._actor_inputs(next_features, next_obs))
                next_action = sample_action(mu.float(), std, self.cfg.stddev_clip, self.generator)
                target_q1, target_q2 = self.critic_target(
                    self._critic_inputs(next_features, next_obs), next_action
                )
                target_q = reward + discount * torch.min(target_q1, target_q2).float()
            q1, q2 = self.critic(self._critic_inputs(features, obs), action)
            q1, q2 = q1.float(), q2.float()
            loss = F.mse_loss(q1, target_q) + F.mse_loss(q2, target_q)
        (loss * weight).backward()
        stats = {
            "critic_loss": loss.detach() * weight,
            "critic_q1": q1.detach().mean() * weight,
            "critic_q2": q2.detach().mean() * weight,
            "critic_target_q": target_q.mean() * weight,
        }
        return (features.detach() if features is not None else None), stats

    def _update_actor(self, features: Tensor | None, obs: Obs, std: float) -> dict[str, float]:
        with self._autocast():
            mu = self.actor(self._actor_inputs(features, obs)).float()
            action = sample_action(mu, std, self.cfg.stddev_clip, self.generator)
            self.critic.requires_grad_(False)  # the actor loss needs dQ/da only, not critic weight gradients
            try:
                q1, q2 = self.critic(self._critic_inputs(features, obs), action)
            finally:
                self.critic.requires_grad_(True)
            loss = -torch.min(q1, q2).float().mean()
        self.actor_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.actor_opt.step()
        return {"actor_loss": float(loss.detach())}

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
