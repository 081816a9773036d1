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

    The paper's convnet: ``obs / 255 - 0.5``, one stride-2 and three stride-1 3x3 convs with 32 channels, ReLU.
    The flatten order of the last feature map belongs to the weights: (H, W, C) for encoders trained here (a free
    view of the channels-last maps the fast path computes, where (C, H, W) would copy the whole activation), the
    paper's (C, H, W) for encoders saved before the order was recorded. It is a fixed permutation of the trunk's
    input columns, saved with the weights (buffer ``hwc_features``); encoders saved without it load as (C, H, W).
    """

    def __init__(self, in_channels: int, image_size: int):
        super().__init__()
        self.convs = nn.ModuleList(
            [nn.Conv2d(in_channels, 32, 3, stride=2)] + [nn.Conv2d(32, 32, 3, stride=1) for _ in range(3)]
        )
        self.repr_dim = 32 * conv_output_size(image_size) ** 2
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
        h = rgb.float() / 255.0 - 0.5
        for conv in self.convs:
            h = F.relu(conv(h))
        return self.flatten(h)

    def flatten(self, h: Tensor) -> Tensor:
        """(B, 32, H', W') feature maps -> (B, repr_dim) in the order the weights were trained with."""
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


def draw_shifts(n: int, pad: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """(n, 2) integer (row, col) offsets into the padded image, in [0, 2 * pad]: one draw per sample."""
    gen_device = generator.device if generator is not None else device
    return torch.randint(0, 2 * pad + 1, (n, 2), generator=generator, device=gen_device).to(device)


def random_shift(rgb: Tensor, pad: int, generator: torch.Generator | None = None) -> Tensor:
    """DrQ's augmentation as the paper computes it: replicate-pad by ``pad``, then a bilinear ``grid_sample`` whose
    sample points land on pixel centres, i.e. a random integer shift per sample. Float (B, C, H, W) out."""
    return grid_sample_shift(rgb.float(), draw_shifts(rgb.shape[0], pad, generator, rgb.device), pad)


def grid_sample_shift(x: Tensor, shifts: Tensor, pad: int) -> Tensor:
    """The paper's bilinear grid_sample shift of a float image, for given (row, col) offsets from draw_shifts."""
    n, _, h, w = x.shape
    x = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    eps = 1.0 / (h + 2 * pad)
    arange = torch.linspace(-1.0 + eps, 1.0 - eps, h + 2 * pad, device=x.device, dtype=x.dtype)[:h]
    arange = arange.unsqueeze(0).repeat(h, 1).unsqueeze(2)
    base_grid = torch.cat([arange, arange.transpose(1, 0)], dim=2).unsqueeze(0).repeat(n, 1, 1, 1)
    # shifts are (row, col); grid_sample wants (x = col, y = row)
    shift = shifts.flip(1).to(x.dtype).view(n, 1, 1, 2) * 2.0 / (h + 2 * pad)
    return F.grid_sample(x, base_grid + shift, padding_mode="zeros", align_corners=False)
