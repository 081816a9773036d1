"""Replay memory: bytes actually resident after filling the buffer, against capacity x one frame (the ideal).

Fills a single-frame replay (default: 100k steps of 3x84x84 uint8 over 8 env streams, 100-step episodes) and
reads the process's resident memory before and after. The stacked-frame layout (9x84x84 per step, what a
replay of stacked observations stores) is reported as the baseline, computed from its size rather than
allocated, so the benchmark does not need another 6 GB. Also times sampling of 256-transition batches.

    python benchmarks/replay_memory.py [--capacity 100000] [--size 84]

Last line: one JSON object (used_bytes, ideal_bytes, ratio_to_ideal, stacked_bytes, saving, sample_ms).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from policies.drqv2.replay import ReplayBuffer, StepSpec


def resident_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status (this benchmark needs Linux)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=84)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--frame-stack", type=int, default=3)
    args = parser.parse_args()
    spec = StepSpec(frame_shape=(3, args.size, args.size), low_dim=6, privileged=22, action_dim=4)
    frame_bytes = 3 * args.size * args.size

    before = resident_bytes()
    replay = ReplayBuffer(args.capacity, args.streams, spec, args.frame_stack, nstep=3, discount=0.99, seed=0)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (64, 3 * args.frame_stack, args.size, args.size), dtype=np.uint8)
    obs = [
        {
            "rgb": frames[i],
            "low_dim_state": np.zeros(6, np.float32),
            "privileged_state": np.zeros(22, np.float32),
        }
        for i in range(64)
    ]
    action = np.zeros(4, np.float32)
    per_stream = args.capacity // args.streams
    t = time.perf_counter()
    for stream in range(args.streams):
        k = 0
        while k < per_stream:
            replay.add_first(stream, obs[k % 64])
            k += 1
            for step in range(1, 101):
                if k >= per_stream:
                    break
                replay.add(stream, action, 1.0, obs[k % 64], False, step == 100)
                k += 1
    fill_s = time.perf_counter() - t
    used = resident_bytes() - before

    replay.sample(256)
    t = time.perf_counter()
    for _ in range(20):
        replay.sample(256)
    sample_ms = (time.perf_counter() - t) / 20 * 1e3

    ideal = args.capacity * frame_bytes
    stacked = args.capacity * args.frame_stack * frame_bytes
    print(f"capacity {args.capacity} steps of 3x{args.size}x{args.size}: resident {used / 2**20:.0f} MiB, "
          f"ideal (capacity x one frame) {ideal / 2**20:.0f} MiB, ratio {used / ideal:.3f}")  # fmt: skip
    print(f"stacked-frame layout would need {stacked / 2**20:.0f} MiB ({stacked / used:.2f}x); "
          f"fill {fill_s:.1f} s, sample(256) {sample_ms:.1f} ms")  # fmt: skip
    print(json.dumps({
        "capacity": args.capacity,
        "used_bytes": used,
        "allocated_bytes": replay.nbytes,
        "ideal_bytes": ideal,
        "ratio_to_ideal": round(used / ideal, 4),
        "stacked_bytes": stacked,
        "saving": round(stacked / used, 2),
        "sample_ms": round(sample_ms, 2),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
