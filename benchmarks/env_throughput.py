"""Env steps per second with the 84x84 wrist render: ours against a naive renderer, in the same run.

"Ours" is ``gym.make("SO101Lift-v0")`` with its defaults (no shadows, arm meshes outside the wrist frustum
skipped, frames inside an action repeat not rendered). The naive baseline is the same env drawing the full
scene with shadows on every control step. Also measured: the steps in between (which optimisation buys
what), N worker processes, and how the 84x84 wrist image differs between the variants.

    python benchmarks/env_throughput.py [--steps 300] [--procs 2]

The last line is one JSON object with steps_per_s, baseline_steps_per_s and ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time

import sim  # noqa: F401  (headless GL before mujoco)
from sim.config import EnvConfig

import gymnasium as gym
import numpy as np

from policies.wrappers import make_env, make_vector_env

VARIANTS = {
    # name: (EnvConfig overrides, render every control step?)
    "naive (shadows, all geoms, every control step)": ({"shadows": True, "cull_wrist_render": False}, True),
    "no shadows, all geoms, every control step": ({"cull_wrist_render": False}, True),
    "no shadows, culled, every control step": ({}, True),
    "ours (no shadows, culled, last repeat only)": ({}, False),
    "ours with antialias off (changes edge pixels)": ({"antialias": False}, False),
}


def measure(env: gym.Env, steps: int, max_seconds: float) -> float:
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    env.step(env.action_space.sample())  # renderer created outside the timing
    done, start = 0, time.perf_counter()
    while done < steps and (done < 20 or time.perf_counter() - start < max_seconds):
        _, _, terminated, truncated, _ = env.step(
            rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        )
        done += 1
        if terminated or truncated:
            env.reset()
    return done / (time.perf_counter() - start)


def variant_env(overrides: dict, every_step: bool) -> gym.Env:
    env = make_env(EnvConfig(**overrides), seed=0)
    if every_step:  # a naive action repeat renders the frames it throws away
        env.unwrapped.suppress_render = contextlib.nullcontext
    return env


def image_differences(seeds=range(5)) -> dict[str, float]:
    """84x84 wrist frames of the default env vs. drawing everything, without and with shadows."""
    envs = {
        "ours": make_env(EnvConfig(), seed=0),
        "all_geoms": make_env(EnvConfig(cull_wrist_render=False), seed=0),
        "shadows": make_env(EnvConfig(shadows=True, cull_wrist_render=False), seed=0),
    }
    frames = {k: [] for k in envs}
    for seed in seeds:
        for key, env in envs.items():
            env.reset(seed=seed)
            frames[key].append(env.unwrapped.render_wrist().astype(np.int16))
    for env in envs.values():
        env.close()
    ours = np.stack(frames["ours"])
    return {
        "max_abs_diff_vs_all_geoms": int(np.abs(ours - np.stack(frames["all_geoms"])).max()),
        "mean_abs_diff_vs_shadows": float(np.abs(ours - np.stack(frames["shadows"])).mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--max-seconds", type=float, default=20.0, help="time cap per variant")
    args = parser.parse_args()

    results = {}
    for name, (overrides, every_step) in VARIANTS.items():
        env = variant_env(overrides, every_step)
        results[name] = measure(env, args.steps, args.max_seconds)
        env.close()
        print(f"{name:50s} {results[name]:7.1f} env steps/s")
    gym_make = gym.make("SO101Lift-v0")
    ours = measure(gym_make, args.steps, args.max_seconds)
    gym_make.close()
    print(f"{'gym.make(SO101Lift-v0) defaults':50s} {ours:7.1f} env steps/s")
    baseline = results["naive (shadows, all geoms, every control step)"]

    vector = None
    if args.procs > 1:
        envs = make_vector_env(EnvConfig(), args.procs, seed=0)
        envs.reset(seed=0)
        envs.step(envs.action_space.sample())
        n, start = 0, time.perf_counter()
        while n < args.steps:
            envs.step(envs.action_space.sample())
            n += args.procs
        vector = n / (time.perf_counter() - start)
        envs.close()
        print(f"{f'{args.procs} spawned processes (AsyncVectorEnv)':50s} {vector:7.1f} env steps/s")

    diff = image_differences()
    print(
        f"84x84 wrist image: max |ours - all geoms drawn| = {diff['max_abs_diff_vs_all_geoms']} (0 = identical), "
        f"mean |ours - with shadows| = {diff['mean_abs_diff_vs_shadows']:.1f} / 255"
    )
    summary = {
        "steps_per_s": round(ours, 1),
        "baseline_steps_per_s": round(baseline, 1),
        "ratio": round(ours / baseline, 2),
        "vector_steps_per_s": None if vector is None else round(vector, 1),
        "num_procs": args.procs,
        "control_steps_per_env_step": EnvConfig().action_repeat,
        "variants": {k: round(v, 1) for k, v in results.items()},
        **diff,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
