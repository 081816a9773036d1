"""DrQ-v2's speed paths: the maths of agent.py, computed faster. ``agent.fast`` (on by default) is the one switch.

``FastDrQV2Agent`` overrides only *how* the paper's steps are computed (what each path buys is measured in
docs/training.md, "Speed"), and tests/test_drqv2_fast.py checks each against the plain ``DrQV2Agent`` from the
same seed. All but ``precision=bf16`` keep the maths up to float rounding:

- ``FastEncoder``: channels-last convolutions (oneDNN's fast path on a CPU) and ``/255 - 0.5`` folded into the
  first conv's weight and bias (the conv has no zero padding, so it is the same function without two passes over
  the input); with channels-last maps the (H, W, C) flatten is a free view.
- ``shift_by_gather``: the random shift as an integer index gather on the uint8 stack, no float copy of the padded
  image; the same shifts as the paper's grid_sample (drawn by the same ``draw_shifts``).
- ``update_critic``: the critic loss accumulated over chunks of the batch (``update_chunk``; 64 on a CPU), each
  backpropagated at its share of the batch, so conv activations stay in cache and below glibc's mmap threshold.
  The gradient is the whole batch's; the random draws are made chunk by chunk, in another order than one pass.
- ``actor_loss``: the critic's weights frozen while the actor loss is built, so its backward computes dQ/da only
  (the plain path also computes critic weight gradients, which the next critic step discards).
- fused Adam (one kernel per parameter group) and a foreach lerp for the target critic.
- ``precision=bf16`` (opt-in, changes rounding): autocast around every forward, networks hand fp32 back to the
  maths (``_outputs_to_fp32``), so targets, noise and losses are fp32 as in the plain path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from policies.drqv2.agent import Batch, DrQV2Agent, Obs, ObsSpec
from policies.drqv2.config import AgentConfig
from policies.drqv2.networks import Encoder, draw_shifts

CPU_CHUNK = 64
"""Samples per encoder pass on a CPU (auto ``update_chunk``): 32 measured 7% slower, 128 within the noise."""


def build_agent(
    spec: ObsSpec, cfg: AgentConfig, device: str | torch.device = "cpu", seed: int = 0
) -> DrQV2Agent:
    """The agent ``cfg`` asks for: the fast paths unless ``agent.fast=false`` (the paper's formulation as written)."""
    agent_class = FastDrQV2Agent if cfg.fast else DrQV2Agent
    return agent_class(spec, cfg, device=device, seed=seed)


class FastEncoder(Encoder):
    """The paper's encoder (same weights, same state-dict keys), computed with the first conv folded and in
    channels-last memory. This is also the forward the ONNX exporter traces."""

    def __init__(self, in_channels: int, image_size: int, channels_last: bool = True):
        super().__init__(in_channels, image_size)
        self.channels_last = channels_last

    def forward(self, rgb: Tensor) -> Tensor:
        x = rgb.float()
        if self.channels_last:
            # the flatten order does not depend on this switch, so neither do the weights
            x = x.contiguous(memory_format=torch.channels_last)
        # conv(x / 255 - 0.5) as conv'(x) with the scale and shift folded into the first layer's weight and bias
        first = self.convs[0]
        weight = first.weight / 255.0
        bias = first.bias - 0.5 * first.weight.sum(dim=(1, 2, 3))
        h = F.relu(F.conv2d(x, weight, bias, stride=first.stride), inplace=True)
        for conv in self.convs[1:]:
            h = F.relu(conv(h), inplace=True)
        return self.flatten(h)


def shift_by_gather(rgb: Tensor, pad: int, generator: torch.Generator | None = None) -> Tensor:
    """networks.random_shift as clamped index gathers on the uint8 stack (clamping is replicate padding).

    The result is (B, C, H, W) uint8 with channels-last memory, the layout FastEncoder wants.
    """
    n, _, h, w = rgb.shape
    shifts = draw_shifts(n, pad, generator, rgb.device)
    rows = (torch.arange(h, device=rgb.device) + shifts[:, :1] - pad).clamp_(0, h - 1)  # (n, h)
    cols = (torch.arange(w, device=rgb.device) + shifts[:, 1:] - pad).clamp_(0, w - 1)  # (n, w)
    batch = torch.arange(n, device=rgb.device)[:, None, None]
    out = rgb[batch, :, rows[:, :, None], cols[:, None, :]]  # (n, h, w, c): advanced indices come first
    return out.permute(0, 3, 1, 2)


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Parameters treated as constants by the graphs built inside: their gradients are never computed."""
    module.requires_grad_(False)
    try:
        yield
    finally:
        module.requires_grad_(True)


def _outputs_to_fp32(module: nn.Module, args: tuple, output: Tensor | tuple[Tensor, ...]):
    """Forward hook: a network under bf16 autocast hands fp32 back (a no-op outside autocast, e.g. in export)."""
    if isinstance(output, tuple):
        return tuple(o.float() if o.dtype != torch.float32 else o for o in output)
    return output.float() if output.dtype != torch.float32 else output


class FastDrQV2Agent(DrQV2Agent):
    fast = True

    def __init__(self, spec: ObsSpec, cfg: AgentConfig, device: str | torch.device = "cpu", seed: int = 0):
        super().__init__(spec, cfg, device=device, seed=seed)
        if cfg.precision == "bf16":
            for module in (self.actor, self.critic, self.critic_target):
                module.register_forward_hook(_outputs_to_fp32)

    def make_encoder(self, channels: int, size: int) -> Encoder:
        return FastEncoder(channels, size, channels_last=self.cfg.channels_last)

    def make_optimizer(self, params) -> torch.optim.Optimizer:
        return torch.optim.Adam(
            params, lr=self.cfg.lr, fused=True
        )  # 3x faster than the per-tensor loop on CPU

    def augment(self, rgb: Tensor) -> Tensor:
        return shift_by_gather(rgb, self.cfg.aug_pad, self.generator)

    def precision(self) -> contextlib.AbstractContextManager:
        if self.cfg.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def act(self, obs: dict[str, np.ndarray], frame: int, eval_mode: bool) -> np.ndarray:
        with self.precision():
            return super().act(obs, frame, eval_mode)

    def chunk_size(self, batch_size: int) -> int:
        """Samples per critic-loss pass; only the encoder gains from chunks, so state-only mode uses one pass."""
        chunk = self.cfg.update_chunk
        if chunk < 0:
            chunk = CPU_CHUNK if self.device.type == "cpu" else 0
        return chunk if self.pixels and 0 < chunk < batch_size else batch_size

    def update_critic(self, batch: Batch, std: float) -> tuple[Tensor | None, dict[str, float]]:
        size = batch["action"].shape[0]
        chunk = self.chunk_size(size)
        if self.encoder_opt is not None:
            self.encoder_opt.zero_grad(set_to_none=True)
        self.critic_opt.zero_grad(set_to_none=True)
        features, sums = [], {}
        for start in range(0, size, chunk):
            part = slice(start, start + chunk)
            weight = (min(start + chunk, size) - start) / size
            with self.precision():
                loss, feats, stats = self.critic_loss(_slice(batch, part), std)
            (loss * weight).backward()
            features.append(feats.detach() if feats is not None else None)
            for key, value in stats.items():
                sums[key] = sums.get(key, 0.0) + value * weight
        self.critic_opt.step()
        if self.encoder_opt is not None:
            self.encoder_opt.step()
        metrics = {key: float(value) for key, value in sums.items()}
        return (torch.cat(features) if self.pixels else None), metrics

    def actor_loss(self, features: Tensor | None, obs: Obs, std: float) -> Tensor:
        with self.precision(), frozen(self.critic):
            return super().actor_loss(features, obs, std)

    @torch.no_grad()
    def update_target_critic(self) -> None:
        online, target = list(self.critic.parameters()), list(self.critic_target.parameters())
        torch._foreach_lerp_(target, online, self.cfg.critic_target_tau)


def _slice(batch: Batch, part: slice) -> Batch:
    return {
        k: ({n: t[part] for n, t in v.items()} if isinstance(v, dict) else v[part]) for k, v in batch.items()
    }
