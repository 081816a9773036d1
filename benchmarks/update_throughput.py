"""Time one DrQ-v2 update (batch 256, 9x84x84) against a plain PyTorch implementation of the same computation.

Each variant runs in its own worker process (allocator settings are per process), on the same batch, and the
workers take turns round by round so no two ever compute at once; the printed ratio is median(plain) /
median(ours). "Plain" is the update written the straightforward way (as in the paper's repository): NCHW float
tensors, bilinear grid_sample augmentation on the whole batch, one encoder pass over 256 samples, default
thread settings. "Ours" is policies.drqv2.agent with its defaults (channels-last convolutions, normalisation
folded into the first conv, uint8 index-gather augmentation, the batch encoded in chunks so activations stay in
cache, no critic weight gradients in the actor loss). FLOPs are counted once with torch's FlopCounterMode on
the plain update (convolutions and matmuls, forward and backward) and divided by each time; the machine's
roof is a 2048x2048 fp32 GEMM timed here too.

    python benchmarks/update_throughput.py [--rounds 7] [--batch 256] [--device cpu|cuda] [--bf16] [--plain-path]

``--plain-path`` also times our agent with ``agent.fast=false`` (policies/drqv2/agent.py as written, none of
fast.py's speed paths): what the one switch is worth, in the same run.

Last line: one JSON object (ours_ms, plain_ms, ratio, gflops, gemm_gflops, ...).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from policies.drqv2.agent import ObsSpec
from policies.drqv2.config import AgentConfig
from policies.drqv2.fast import build_agent
from policies.training.device import configure_cpu_process

ACTION_DIM = 4


# -- the plain implementation ---------------------------------------------------------------------------------
class PlainShiftAug(nn.Module):
    def __init__(self, pad: int):
        super().__init__()
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        x = F.pad(x, (self.pad,) * 4, mode="replicate")
        eps = 1.0 / (h + 2 * self.pad)
        arange = torch.linspace(-1.0 + eps, 1.0 - eps, h + 2 * self.pad, device=x.device, dtype=x.dtype)[:h]
        arange = arange.unsqueeze(0).repeat(h, 1).unsqueeze(2)
        base_grid = torch.cat([arange, arange.transpose(1, 0)], dim=2).unsqueeze(0).repeat(n, 1, 1, 1)
        shift = torch.randint(0, 2 * self.pad + 1, (n, 1, 1, 2), device=x.device, dtype=x.dtype)
        shift *= 2.0 / (h + 2 * self.pad)
        return F.grid_sample(x, base_grid + shift, padding_mode="zeros", align_corners=False)


def plain_mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
        nn.Linear(hidden, out_dim),
    )  # fmt: skip


class PlainDrQV2:
    def __init__(
        self, channels: int, size: int, device: torch.device, feature_dim: int = 50, hidden: int = 1024
    ):
        side = (size - 3) // 2 + 1 - 6
        repr_dim = 32 * side * side
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, 32, 3, stride=2), nn.ReLU(), nn.Conv2d(32, 32, 3, stride=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=1), nn.ReLU(), nn.Conv2d(32, 32, 3, stride=1), nn.ReLU(),
        ).to(device)  # fmt: skip
        trunk = lambda: nn.Sequential(nn.Linear(repr_dim, feature_dim), nn.LayerNorm(feature_dim), nn.Tanh())  # noqa: E731
        self.actor_trunk, self.actor_policy = (
            trunk().to(device),
            plain_mlp(feature_dim, hidden, ACTION_DIM).to(device),
        )
        self.critic_trunk = trunk().to(device)
        self.q1 = plain_mlp(feature_dim + ACTION_DIM, hidden, 1).to(device)
        self.q2 = plain_mlp(feature_dim + ACTION_DIM, hidden, 1).to(device)
        self.critic = nn.ModuleList([self.critic_trunk, self.q1, self.q2])
        self.critic_target = nn.ModuleList([trunk(), plain_mlp(feature_dim + ACTION_DIM, hidden, 1),
                                            plain_mlp(feature_dim + ACTION_DIM, hidden, 1)]).to(device)  # fmt: skip
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.aug = PlainShiftAug(4)
        self.encoder_opt = torch.optim.Adam(self.encoder.parameters(), lr=1e-4)
        self.actor_opt = torch.optim.Adam(
            list(self.actor_trunk.parameters()) + list(self.actor_policy.parameters()), lr=1e-4
        )
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=1e-4)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        h = self.encoder(obs / 255.0 - 0.5)
        return h.view(h.shape[0], -1)

    def actor(self, feats: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.actor_policy(self.actor_trunk(feats)))

    @staticmethod
    def q(
        critic: nn.ModuleList, feats: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.cat([critic[0](feats), action], dim=-1)
        return critic[1](h), critic[2](h)

    @staticmethod
    def sample(mu: torch.Tensor, std: float, clip: float) -> torch.Tensor:
        x = mu + (torch.randn_like(mu) * std).clamp(-clip, clip)
        return x - x.detach() + x.clamp(-1 + 1e-6, 1 - 1e-6).detach()

    def update(self, obs, action, reward, discount, next_obs, std: float = 0.2) -> None:
        obs = self.encode(self.aug(obs.float()))
        with torch.no_grad():
            next_obs = self.encode(self.aug(next_obs.float()))
            next_action = self.sample(self.actor(next_obs), std, 0.3)
            t1, t2 = self.q(self.critic_target, next_obs, next_action)
            target = reward + discount * torch.min(t1, t2)
        q1, q2 = self.q(self.critic, obs, action)
        critic_loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)
        self.encoder_opt.zero_grad(set_to_none=True)
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt.step()
        self.encoder_opt.step()
        obs = obs.detach()
        a = self.sample(self.actor(obs), std, 0.3)
        q1, q2 = self.q(self.critic, obs, a)
        actor_loss = -torch.min(q1, q2).mean()
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_opt.step()
        with torch.no_grad():
            for p, tp in zip(self.critic.parameters(), self.critic_target.parameters(), strict=True):
                tp.lerp_(p, 0.01)


# -- measurement --------------------------------------------------------------------------------------------------
def gemm_gflops(device: torch.device, dtype: torch.dtype = torch.float32, n: int = 2048) -> float:
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(8):
        sync(device)
        t = time.perf_counter()
        for _ in range(4):
            a @ b
        sync(device)
        best = min(best, (time.perf_counter() - t) / 4)
    return 2 * n**3 / best / 1e9


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def make_batch(batch: int, size: int, device: torch.device) -> dict:
    g = torch.Generator().manual_seed(0)

    def obs() -> dict:
        return {
            "rgb": torch.randint(0, 256, (batch, 9, size, size), dtype=torch.uint8, generator=g).to(device),
            "low_dim_state": torch.randn(batch, 6, generator=g).to(device),
            "privileged_state": torch.randn(batch, 20, generator=g).to(device),
        }

    return {
        "obs": obs(),
        "next_obs": obs(),
        "action": (torch.rand(batch, ACTION_DIM, generator=g) * 2 - 1).to(device),
        "reward": torch.rand(batch, 1, generator=g).to(device),
        "discount": torch.full((batch, 1), 0.99**3).to(device),
    }


VARIANTS = {
    # name: (implementation, process setup as the trainer does it, precision)
    "plain": ("plain", False, "fp32"),
    "ours": ("ours", True, "fp32"),
    "plain_tuned": ("plain", True, "fp32"),  # plain + our allocator setting: what the rest of "ours" is worth
    "ours_bf16": ("ours", True, "bf16"),
    "ours_plain_path": ("ours_plain_path", True, "fp32"),  # agent.fast=false
}


def worker(name: str, conn, args: argparse.Namespace) -> None:
    """One variant in its own process (allocator settings are per process); times one update per request."""
    impl, tuned, precision = VARIANTS[name]
    device = torch.device(args.device)
    if tuned and device.type == "cpu":
        configure_cpu_process(args.threads)
    else:
        torch.set_num_threads(args.threads or os.cpu_count() or 1)
    batch = make_batch(args.batch, args.size, device)
    torch.manual_seed(0)
    if impl == "plain":
        plain = PlainDrQV2(9, args.size, device)
        o, n = batch["obs"]["rgb"], batch["next_obs"]["rgb"]

        def run() -> None:
            plain.update(o, batch["action"], batch["reward"], batch["discount"], n)
    else:
        cfg = AgentConfig(
            batch_size=args.batch, use_low_dim=False, precision=precision, fast=impl != "ours_plain_path"
        )
        if args.chunk is not None:
            cfg.update_chunk = args.chunk
        spec = ObsSpec(rgb_shape=(9, args.size, args.size), low_dim=6, privileged=20, action_dim=ACTION_DIM)
        agent = build_agent(spec, cfg, device=device, seed=0)

        def run() -> None:
            agent.update(batch, 10**6)  # past exploration: the update is the same at any frame

    flops = 0
    if name == "plain":
        with FlopCounterMode(display=False) as counter:
            run()
        flops = counter.get_total_flops()
    for _ in range(2):  # warm-up: allocator, oneDNN primitive caches
        run()
    conn.send(("ready", flops))
    while conn.recv() == "run":
        sync(device)
        t = time.perf_counter()
        run()
        sync(device)
        conn.send(time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--size", type=int, default=84)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--chunk", type=int, default=None, help="override AgentConfig.update_chunk")
    parser.add_argument("--bf16", action="store_true", help="also time ours with precision=bf16")
    parser.add_argument("--plain-path", action="store_true", help="also time ours with agent.fast=false")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads in every variant (0 = all cores)"
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    optional = {"ours_bf16": args.bf16, "ours_plain_path": args.plain_path}
    names = [n for n in VARIANTS if optional.get(n, True)]

    ctx = mp.get_context("spawn")
    workers = {}
    for name in names:  # built one after another, so no two variants ever compute at the same time
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=worker, args=(name, child, args), daemon=True)
        proc.start()
        _, flops = parent.recv()
        workers[name] = (proc, parent)
        if name == "plain":
            total_flops = flops
    times: dict[str, list[float]] = {name: [] for name in names}
    try:
        for _ in range(args.rounds):
            for name, (_, conn) in workers.items():
                conn.send("run")
                times[name].append(conn.recv())
    finally:
        for proc, conn in workers.values():
            conn.send("stop")
            proc.join(timeout=30)
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    gemm = gemm_gflops(device)

    med = {name: statistics.median(v) for name, v in times.items()}
    load = os.getloadavg()[0]  # other processes on the machine skew absolute times, less so the ratio
    flops = total_flops
    print(f"device {device}, threads {torch.get_num_threads()}, batch {args.batch}, obs 9x{args.size}x{args.size}, "
          f"{flops / 1e9:.1f} GFLOP per update, {args.rounds} interleaved rounds")  # fmt: skip
    print(f"GEMM fp32 {gemm:.0f} GFLOP/s; load average {load:.2f} on {os.cpu_count()} cores")
    for name, t in med.items():
        print(f"{name:15s} median {t * 1e3:8.1f} ms  min {min(times[name]) * 1e3:8.1f} ms  "
              f"{flops / t / 1e9:6.0f} GFLOP/s  {args.batch / t:7.0f} samples/s")  # fmt: skip
    result = {
        "device": str(device),
        "batch": args.batch,
        "image": args.size,
        "threads": torch.get_num_threads(),
        "gflop_per_update": round(flops / 1e9, 2),
        "ours_ms": round(med["ours"] * 1e3, 1),
        "plain_ms": round(med["plain"] * 1e3, 1),
        "ratio": round(med["plain"] / med["ours"], 2),
        "gflops": round(flops / med["ours"] / 1e9, 1),
        "plain_gflops": round(flops / med["plain"] / 1e9, 1),
        "gemm_gflops": round(gemm, 1),
        "plain_tuned_ms": round(med["plain_tuned"] * 1e3, 1),
        "ratio_vs_plain_tuned": round(med["plain_tuned"] / med["ours"], 2),
        "loadavg_1min": round(load, 2),
    }
    if "ours_bf16" in med:
        result["ours_bf16_ms"] = round(med["ours_bf16"] * 1e3, 1)
        result["ratio_bf16"] = round(med["plain"] / med["ours_bf16"], 2)
    if "ours_plain_path" in med:
        result["ours_plain_path_ms"] = round(med["ours_plain_path"] * 1e3, 1)
        result["ratio_fast_vs_plain_path"] = round(med["ours_plain_path"] / med["ours"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
