"""Where a Squint (algo=squint) run's wall time goes: env frames/s at its image size, and one update, each against
the DrQ-v2 `cpu` preset's in the same run (shared machines make absolute times noise; ratios are the number).

- env: frames/s of one in-process env built from each preset's ``env`` (squint_cpu: 64x64 render area-resized to
  16x16, one frame, its randomisation on; cpu: 64x64, three frames), random actions, resets included.
- update: one gradient update of each preset's agent on a random batch of its own shape (squint_cpu: batch 512 of
  3x16x16 in bf16, and the same in fp32; cpu: DrQ-v2 fast path, batch 64 of 9x64x64), rounds taken in turn,
  medians reported, also per sample (the reuse each buys).

    python benchmarks/squint_throughput.py [--env-seconds 20] [--rounds 15]

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import sim  # noqa: F401  (headless GL before mujoco)

import numpy as np
import torch

from common.config import load_config
from policies.drqv2.agent import ObsSpec
from policies.drqv2.config import TrainConfig as DrQV2Config
from policies.drqv2.fast import build_agent
from policies.squint.agent import SquintAgent
from policies.squint.config import TrainConfig as SquintConfig
from policies.training.device import configure_cpu_process
from policies.wrappers import make_env


def env_frames_per_s(env_cfg, seconds: float) -> float:
    env = make_env(env_cfg, seed=0)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))  # first render builds the context
    frames, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        _, _, terminated, truncated, _ = env.step(
            rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        )
        frames += env_cfg.action_repeat
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return frames / elapsed


def random_batch(spec: ObsSpec, n: int) -> dict:
    def obs():
        return {
            "rgb": torch.randint(0, 256, (n, *spec.rgb_shape), dtype=torch.uint8),
            "low_dim_state": torch.randn(n, spec.low_dim),
            "privileged_state": torch.randn(n, spec.privileged),
        }

    return {
        "obs": obs(), "next_obs": obs(), "action": torch.rand(n, spec.action_dim) * 2 - 1,
        "reward": torch.rand(n, 1), "discount": torch.full((n, 1), 0.9),
    }  # fmt: skip


def spec_of(env_cfg) -> ObsSpec:
    return ObsSpec((3 * env_cfg.frame_stack, env_cfg.image_size, env_cfg.image_size), 6, 10, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env-seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    configure_cpu_process(1)

    squint = load_config(SquintConfig, "squint_cpu", [])
    drq = load_config(DrQV2Config, "cpu", [])
    env = {
        "squint_cpu": env_frames_per_s(squint.env, args.env_seconds),
        "cpu": env_frames_per_s(drq.env, args.env_seconds),
    }
    print(f"env frames/s: {env}", flush=True)

    fp32_cfg = SquintConfig().agent
    fp32_cfg.precision = "fp32"
    agents = {
        "squint_bf16": (SquintAgent(spec_of(squint.env), squint.agent), squint.agent.batch_size, squint.env),
        "squint_fp32": (SquintAgent(spec_of(squint.env), fp32_cfg), squint.agent.batch_size, squint.env),
        "drqv2_cpu": (build_agent(spec_of(drq.env), drq.agent), drq.agent.batch_size, drq.env),
    }
    batches = {name: random_batch(agent.spec, batch) for name, (agent, batch, _) in agents.items()}
    times: dict[str, list[float]] = {name: [] for name in agents}
    for round_ in range(args.rounds + 2):
        for name, (agent, _, _) in agents.items():
            start = time.perf_counter()
            agent.update(batches[name], frame=10**6)
            if round_ >= 2:  # two warm-up rounds (allocator, oneDNN kernels)
                times[name].append(time.perf_counter() - start)
    update_ms = {name: 1e3 * statistics.median(t) for name, t in times.items()}
    per_sample_us = {name: 1e3 * update_ms[name] / agents[name][1] for name in agents}
    print(f"update ms: {update_ms}", flush=True)

    # the preset's budget split: frames per update from update_every_frames, at the measured env rate (one process)
    frames_per_update = squint.update_every_frames
    env_s = frames_per_update / env["squint_cpu"]
    update_s = update_ms["squint_bf16"] / 1e3
    result = {
        "env_frames_per_s": env,
        "env_ratio_squint_vs_cpu": env["squint_cpu"] / env["cpu"],
        "update_ms": update_ms,
        "update_ratio_drqv2_cpu_vs_squint_bf16": update_ms["drqv2_cpu"] / update_ms["squint_bf16"],
        "update_ratio_fp32_vs_bf16": update_ms["squint_fp32"] / update_ms["squint_bf16"],
        "per_sample_us": per_sample_us,
        "per_sample_ratio_drqv2_cpu_vs_squint_bf16": per_sample_us["drqv2_cpu"]
        / per_sample_us["squint_bf16"],
        "squint_cpu_share_update": update_s / (update_s + env_s),
        "squint_cpu_frames_per_s_serial_estimate": frames_per_update / (update_s + env_s),
        "load_1min": os.getloadavg()[0],
        "torch": torch.__version__,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
