"""DrQ-v2 networks: pixel encoder, bottleneck trunks, actor, twin critic, and the deployable policy module.

Shapes follow Yarats et al. (2021): a 4-layer conv encoder (32*35*35 = 39,200 features at 84x84), a
Linear-LayerNorm-Tanh trunk to ``feature_dim`` and 1024-wide MLP heads. Beyond the paper, a trunk may read several
inputs (pixel features, low-dim state, privileged state); each gets its own Linear-LayerNorm-Tanh bottleneck so a
6-number joint vector is not drowned by 39,200 pixel features, and the bottlenecks are concatenated.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def orthogonal_init(module: nn.Module) -> None:
    """DrQ-v2's init: orthogonal weights (ReLU gain for convs), zero biases."""
    if isinstance(module, nn.Linear):
        nn.init.orthogonal_(module.weight.data)
        if module.bias is not None:
            module.bias.data.fill_(0.0)
    elif isinstance(module, nn.Conv2d):
        nn.init.orthogonal_(module.weight.data, nn.init.calculate_gain("relu"))
        if module.bias is not None:
            module.bias.data.fill_(0.0)


def conv_output_size(image_size: int) -> int:
    """Side of the encoder's last feature map: one stride-2 conv then three stride-1 convs, no padding."""
    side = (image_size - 3) // 2 + 1
    return side - 6


class Encoder(nn.Module):
    """uint8 frame stack (B, 3k, S, S) -> flat features. Normalisation is inside, so nobody upstream does it twice.

    The last feature map is flattened in (H, W, C) order: with channels-last memory that is a free view, where the
    paper's (C, H, W) order costs a copy of the whole activation (40 MB at batch 256) forward and backward. The
    order is only a fixed permutation of the trunk's input columns, so it is the same model; it is saved with
    the weights (buffer ``hwc_features``), and encoders saved before it was recorded load as (C, H, W).
    """

    def __init__(self, in_channels: int, image_size: int, channels_last: bool = False):
        super().__init__()
        self.convs = nn.ModuleList(
            [nn.Conv2d(in_channels, 32, 3, stride=2)] + [nn.Conv2d(32, 32, 3, stride=1) for _ in range(3)]
        )
        self.repr_dim = 32 * conv_output_size(image_size) ** 2
        self.channels_last = channels_last
        # saved with the weights; a bool tensor rather than module extra state, which the ONNX tracer cannot read
        self.register_buffer("hwc_features", torch.tensor(True))
        self.feature_order = "hwc"
        self.apply(orthogonal_init)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        key = prefix + "hwc_features"
        if prefix + "convs.0.weight" in state_dict and key not in state_dict:
            state_dict[key] = torch.tensor(False)  # saved before the order was recorded: (C, H, W)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self.feature_order = "hwc" if bool(self.hwc_features) else "chw"

    def forward(self, rgb: Tensor) -> Tensor:
        x = rgb.float()
        if self.channels_last:
            # oneDNN's NHWC convolutions are the fast path on CPU; the flatten order below does not depend
            # on this switch, so neither do the weights.
            x = x.contiguous(memory_format=torch.channels_last)
        # conv(x / 255 - 0.5) computed as conv'(x) with the scale and shift folded into the first layer's weight
        # and bias: the same function (the conv has no zero padding), without two passes over the input.
        first = self.convs[0]
        weight = first.weight / 255.0
        bias = first.bias - 0.5 * first.weight.sum(dim=(1, 2, 3))
        h = F.relu(F.conv2d(x, weight, bias, stride=first.stride), inplace=True)
        for conv in self.convs[1:]:
            h = F.relu(conv(h), inplace=True)
        if self.feature_order == "hwc":
            return h.permute(0, 2, 3, 1).flatten(1)
        return h.flatten(1)


class Trunk(nn.Module):
    """One Linear-LayerNorm-Tanh bottleneck per input, concatenated: the only place inputs meet."""

    def __init__(self, input_dims: tuple[int, ...], feature_dim: int):
        super().__init__()
        self.bottlenecks = nn.ModuleList(
            nn.Sequential(nn.Linear(dim, feature_dim), nn.LayerNorm(feature_dim), nn.Tanh())
            for dim in input_dims
        )
        self.out_dim = feature_dim * len(input_dims)
        self.apply(orthogonal_init)

    def forward(self, inputs: list[Tensor]) -> Tensor:
        return torch.cat([b(x) for b, x in zip(self.bottlenecks, inputs, strict=True)], dim=-1)


def mlp(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_dim, hidden_dim),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, hidden_dim),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, out_dim),
    )


class Actor(nn.Module):
    """Trunk inputs -> tanh mean action. The exploration std comes from a schedule, not from the network."""

    def __init__(self, input_dims: tuple[int, ...], action_dim: int, feature_dim: int, hidden_dim: int):
        super().__init__()
        self.trunk = Trunk(input_dims, feature_dim)
        self.policy = mlp(self.trunk.out_dim, hidden_dim, action_dim)
        self.apply(orthogonal_init)

    def forward(self, inputs: list[Tensor]) -> Tensor:
        return torch.tanh(self.policy(self.trunk(inputs)))


class Critic(nn.Module):
    """Twin Q heads on [trunk features, action]."""

    def __init__(self, input_dims: tuple[int, ...], action_dim: int, feature_dim: int, hidden_dim: int):
        super().__init__()
        self.trunk = Trunk(input_dims, feature_dim)
        self.q1 = mlp(self.trunk.out_dim + action_dim, hidden_dim, 1)
        self.q2 = mlp(self.trunk.out_dim + action_dim, hidden_dim, 1)
        self.apply(orthogonal_init)

    def forward(self, inputs: list[Tensor], action: Tensor) -> tuple[Tensor, Tensor]:
        h = torch.cat([self.trunk(inputs), action], dim=-1)
        return self.q1(h), self.q2(h)


class Policy(nn.Module):
    """What is deployed: encoder + actor, deterministic mean action from raw observation tensors.

    Pixel mode: ``forward(rgb_uint8 (B, 3k, S, S), low_dim (B, D)) -> (B, A)``, the signature the ONNX exporter
    traces. State mode has no encoder: ``forward(low_dim, privileged)``; it is a learning check, not deployable.
    """

    def __init__(self, encoder: Encoder | None, actor: Actor, use_low_dim: bool):
        super().__init__()
        self.encoder = encoder
        self.actor = actor
        self.use_low_dim = use_low_dim
        self.input_names = (
            ("rgb", "low_dim_state") if encoder is not None else ("low_dim_state", "privileged_state")
        )

    def forward(self, first: Tensor, second: Tensor) -> Tensor:
        if self.encoder is None:
            return self.actor([first, second])
        features = self.encoder(first)
        return self.actor([features, second] if self.use_low_dim else [features])


def random_shift(rgb: Tensor, pad: int, generator: torch.Generator | None = None) -> Tensor:
    """DrQ's augmentation: replicate-pad by ``pad`` and crop back at a random integer offset, one per sample.

    DrQ-v2 does this with a bilinear ``grid_sample`` whose sample points land exactly on pixel centres, so it is an
    integer shift; here the same result comes from clamped index gathers on the uint8 stack (no float copy of
    the padded image). The result is (B, C, H, W) with channels-last memory, the layout the encoder wants.
    """
    n, _, h, w = rgb.shape
    gen_device = generator.device if generator is not None else rgb.device
    shifts = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator, device=gen_device).to(rgb.device)
    rows = (torch.arange(h, device=rgb.device) + shifts[:, :1] - pad).clamp_(0, h - 1)  # (n, h)
    cols = (torch.arange(w, device=rgb.device) + shifts[:, 1:] - pad).clamp_(0, w - 1)  # (n, w)
    batch = torch.arange(n, device=rgb.device)[:, None, None]
    out = rgb[batch, :, rows[:, :, None], cols[:, None, :]]  # (n, h, w, c): advanced indices come first
    return out.permute(0, 3, 1, 2)


def grid_sample_shift(x: Tensor, shifts: Tensor, pad: int) -> Tensor:
    """The reference formulation (float, bilinear grid_sample) for given integer shifts; used to test the above."""
    n, _, h, w = x.shape
    x = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    eps = 1.0 / (h + 2 * pad)
    arange = torch.linspace(-1.0 + eps, 1.0 - eps, h + 2 * pad, device=x.device, dtype=x.dtype)[:h]
    arange = arange.unsqueeze(0).repeat(h, 1).unsqueeze(2)
    base_grid = torch.cat([arange, arange.transpose(1, 0)], dim=2).unsqueeze(0).repeat(n, 1, 1, 1)
    # shifts are (row, col); grid_sample wants (x = col, y = row)
    shift = shifts.flip(1).to(x.dtype).view(n, 1, 1, 2) * 2.0 / (h + 2 * pad)
    return F.grid_sample(x, base_grid + shift, padding_mode="zeros", align_corners=False)
