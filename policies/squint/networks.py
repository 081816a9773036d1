"""Squint's networks: a two-conv encoder for a 16x16 image, a squashed-Gaussian actor, a twin C51 critic.

Small on purpose: at 16x16 the encoder is two 3x3 convolutions (stride 2, then 1: 32 x 5 x 5 = 800 features), so
an update at batch 512 costs little more than the MLPs. Every input gets DrQ-v2's Linear-LayerNorm-Tanh
bottleneck (``Trunk``) so six joint angles are not drowned by the pixel features; the heads put LayerNorm after
every hidden layer (Squint's, and RLPD's, stabiliser for high update-to-data ratios).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from policies.drqv2.networks import Trunk, orthogonal_init


def conv_output_size(image_size: int) -> int:
    """Side of the encoder's last feature map: a stride-2 then a stride-1 3x3 conv, no padding."""
    return (image_size - 3) // 2 + 1 - 2


class Encoder(nn.Module):
    """uint8 frames (B, 3k, S, S) -> flat (H, W, C) features; ``/255 - 0.5`` inside, so the ONNX graph has it."""

    def __init__(self, in_channels: int, image_size: int, channels: int = 32):
        super().__init__()
        self.convs = nn.ModuleList(
            [nn.Conv2d(in_channels, channels, 3, stride=2), nn.Conv2d(channels, channels, 3)]
        )
        self.repr_dim = channels * conv_output_size(image_size) ** 2
        self.apply(orthogonal_init)

    def forward(self, rgb: Tensor) -> Tensor:
        h = rgb.float() / 255.0 - 0.5
        for conv in self.convs:
            h = F.relu(conv(h))
        return h.permute(0, 2, 3, 1).flatten(1)


def layer_norm_mlp(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_dim, hidden_dim), nn.LayerNorm(hidden_dim), nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, hidden_dim), nn.LayerNorm(hidden_dim), nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, out_dim),
    )  # fmt: skip


class Actor(nn.Module):
    """Trunk inputs -> (mean, log_std) of a Gaussian squashed by tanh; log_std soft-clamped to its range."""

    def __init__(self, input_dims: tuple[int, ...], action_dim: int, feature_dim: int, hidden_dim: int,
                 log_std_range: tuple[float, float]):  # fmt: skip
        super().__init__()
        self.trunk = Trunk(input_dims, feature_dim)
        self.head = layer_norm_mlp(self.trunk.out_dim, hidden_dim, 2 * action_dim)
        self.log_std_min, self.log_std_max = log_std_range
        self.apply(orthogonal_init)

    def forward(self, inputs: list[Tensor]) -> tuple[Tensor, Tensor]:
        mean, log_std = self.head(self.trunk(inputs)).chunk(2, dim=-1)
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (torch.tanh(log_std) + 1)
        return mean, log_std


class Critic(nn.Module):
    """Twin heads, each the logits of a categorical return distribution over ``num_atoms`` fixed atoms."""

    def __init__(self, input_dims: tuple[int, ...], action_dim: int, feature_dim: int, hidden_dim: int,
                 num_atoms: int):  # fmt: skip
        super().__init__()
        self.trunk = Trunk(input_dims, feature_dim)
        self.heads = nn.ModuleList(
            layer_norm_mlp(self.trunk.out_dim + action_dim, hidden_dim, num_atoms) for _ in range(2)
        )
        self.apply(orthogonal_init)

    def forward(self, inputs: list[Tensor], action: Tensor) -> Tensor:
        """Logits (B, 2, num_atoms)."""
        h = torch.cat([self.trunk(inputs), action], dim=-1)
        return torch.stack([head(h) for head in self.heads], dim=1)


class Policy(nn.Module):
    """What is deployed: ``forward(rgb uint8 (B, 3k, S, S), low_dim (B, D)) -> tanh(mean) (B, A)``, the signature
    the ONNX exporter traces."""

    input_names = ("rgb", "low_dim_state")

    def __init__(self, encoder: Encoder, actor: Actor, use_low_dim: bool):
        super().__init__()
        self.encoder, self.actor, self.use_low_dim = encoder, actor, use_low_dim

    def forward(self, rgb: Tensor, low_dim: Tensor) -> Tensor:
        features = self.encoder(rgb)
        mean, _ = self.actor([features, low_dim] if self.use_low_dim else [features])
        return torch.tanh(mean)
