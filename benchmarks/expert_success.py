"""Scripted expert success rate over seeded episodes, per curriculum stage (the task-sanity benchmark).

    python benchmarks/expert_success.py [--episodes 100] [--stages 3] [--pixels]

The last line is one JSON object: {"stage_3": {"success_rate": ..., "mean_steps": ...}, ...}.
"""

from __future__ import annotations

import argparse
import json
import time

import sim  # noqa: F401  (headless GL before mujoco)
from sim.config import EnvConfig
from sim.tasks.lift import ScriptedLiftExpert

import numpy as np

from policies.wrappers import make_env


def success_rate(cfg: EnvConfig, episodes: int, first_seed: int) -> dict:
    env, expert = make_env(cfg), ScriptedLiftExpert(cfg)
    successes, lengths = [], []
    for seed in range(first_seed, first_seed + episodes):
        obs, _ = env.reset(seed=seed)
        expert.reset()
        done, steps, info = False, 0, {}
        while not done:
            obs, _, terminated, truncated, info = env.step(expert.act(obs))
            done, steps = terminated or truncated, steps + 1
        successes.append(bool(info["success"]))
        lengths.append(steps)
    env.close()
    failed = [first_seed + i for i, ok in enumerate(successes) if not ok]
    return {
        "success_rate": float(np.mean(successes)),
        "mean_steps": float(np.mean(lengths)),
        "failed_seeds": failed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--stages", type=int, nargs="+", default=[3])
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument(
        "--pixels", action="store_true", help="render the wrist camera too (slower, same result)"
    )
    args = parser.parse_args()
    summary = {}
    for stage in args.stages:
        cfg = EnvConfig(stage=stage, obs="pixels" if args.pixels else "state")
        start = time.perf_counter()
        result = success_rate(cfg, args.episodes, args.first_seed)
        print(
            f"stage {stage}: {result['success_rate'] * 100:.0f}% of {args.episodes} seeded episodes, "
            f"mean {result['mean_steps']:.1f} env steps, {time.perf_counter() - start:.1f} s"
        )
        summary[f"stage_{stage}"] = result
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
