"""Robustness evidence: success of trained checkpoints in the nominal sim, under dr_default, and under the held-out
perturbations (sim/heldout.py) applied to the training sim.

    python benchmarks/robustness_table.py LABEL=RUN_DIR [LABEL=RUN_DIR ...] [--episodes 40] [--per-heldout 4]
    python benchmarks/robustness_table.py --pictures docs/robustness_views.png     # wrist views, no runs
    python benchmarks/robustness_table.py --speed 300     # env steps/s, pixels: off vs dr_default vs dr_strong

Every condition uses the same seeded episodes for every checkpoint. Prints a markdown table (success with 95%
Wilson interval) and, last, one JSON object. The held-out column here is the training sim with the held-out
perturbations; the digital twin's column comes from `so101 eval --twin --perturb heldout`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import sim  # noqa: F401  (headless GL before mujoco)
from sim.heldout import apply_heldout_visuals, heldout_env_config, heldout_perturbations
from sim.randomize import RandomizationConfig

import numpy as np

from common.config import load_config
from policies.drqv2.checkpoint import load_agent
from policies.drqv2.config import TrainConfig
from policies.training.evaluate import Evaluator, wilson_interval

SEED = 50_000  # evaluation episodes: never the seeds training or its evals used


def _run(env_cfg, act, episodes: int, seed: int, perturbation: dict | None = None) -> list[bool]:
    evaluator = Evaluator(env_cfg, num_envs=1, seed=seed)
    try:
        if perturbation is not None:
            apply_heldout_visuals(evaluator.env.unwrapped, perturbation)
        return list(evaluator.run(act, episodes).successes)
    finally:
        evaluator.close()


def evaluate(run_dir: str, episodes: int, per_heldout: int) -> dict[str, list[bool]]:
    agent, cfg = load_agent(run_dir)
    agent.train(False)
    act = lambda obs: agent.act(obs, 10**12, eval_mode=True)  # noqa: E731
    nominal = dataclasses.replace(cfg.env, randomization=RandomizationConfig())
    randomized = dataclasses.replace(
        cfg.env, randomization=load_config(TrainConfig, "dr_default").env.randomization
    )
    out = {
        "nominal": _run(nominal, act, episodes, SEED),
        "dr_default": _run(randomized, act, episodes, SEED),
        "heldout": [],
    }
    for i, p in enumerate(heldout_perturbations()):
        out["heldout"] += _run(heldout_env_config(nominal, p), act, per_heldout, SEED + 1000 * i, p)
    return out


def pictures(out: str, per_row: int = 6, size: int = 112) -> None:
    """Wrist views of one stage-3 start: nominal and dr_default / dr_strong draws (image noise included), then
    the first held-out perturbations."""
    from sim.config import EnvConfig

    import imageio.v2 as imageio

    from policies.wrappers import make_env

    def view(env_cfg, seed, perturbation=None):
        env = make_env(env_cfg, seed=0)
        if perturbation is not None:
            apply_heldout_visuals(env.unwrapped, perturbation)
        obs, _ = env.reset(seed=seed)
        env.close()
        return obs["rgb"][-3:].transpose(1, 2, 0)

    base = EnvConfig(image_size=size, render_size=size)
    rows = []
    for preset in ("dr_default", "dr_strong"):
        rand = load_config(TrainConfig, preset).env.randomization
        rows.append(
            [view(base, 0)]
            + [view(dataclasses.replace(base, randomization=rand), s) for s in range(per_row - 1)]
        )
    held = heldout_perturbations()[: per_row - 1]
    rows.append([view(base, 0)] + [view(heldout_env_config(base, p), 0, p) for p in held])
    grid = np.concatenate([np.concatenate(r, axis=1) for r in rows], axis=0)
    imageio.imwrite(out, grid)
    print(f"{out}: rows dr_default, dr_strong, held-out; first column nominal")


def speed(steps: int, rounds: int = 3) -> None:
    """Policy-facing pixel env steps/s with randomisation off, dr_default and dr_strong, interleaved in rounds so
    that the shared machine's load hits all three alike; the ratio is what to read."""
    from sim.config import EnvConfig

    from policies.wrappers import make_env

    configs = {"off": EnvConfig()}
    for preset in ("dr_default", "dr_strong"):
        rand = load_config(TrainConfig, preset).env.randomization
        configs[preset] = dataclasses.replace(EnvConfig(), randomization=rand)
    envs = {name: make_env(cfg, seed=0) for name, cfg in configs.items()}
    rng = np.random.default_rng(0)
    spent = dict.fromkeys(envs, 0.0)
    for _ in range(rounds):
        for name, env in envs.items():
            env.reset(seed=1)
            t0 = time.perf_counter()
            for a in rng.uniform(-1, 1, (steps // rounds, 4)).astype(np.float32):
                if any(env.step(a)[2:4]):
                    env.reset()
            spent[name] += time.perf_counter() - t0
    rate = {name: round(steps / t, 1) for name, t in spent.items()}
    for env in envs.values():
        env.close()
    print(json.dumps({"steps_per_s": rate, "ratio_dr_default_to_off": round(rate["dr_default"] / rate["off"], 3),
                      "ratio_dr_strong_to_off": round(rate["dr_strong"] / rate["off"], 3)}))  # fmt: skip


def _cell(successes: list[bool]) -> str:
    low, high = wilson_interval(int(sum(successes)), len(successes))
    return f"{np.mean(successes):.2f} [{low:.2f}, {high:.2f}] (n={len(successes)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", help="LABEL=RUN_DIR")
    parser.add_argument(
        "--pictures", help="write a PNG of randomised and held-out wrist views here, then stop"
    )
    parser.add_argument("--speed", type=int, help="time this many env steps per configuration, then stop")
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--per-heldout", type=int, default=4, help="episodes per held-out perturbation")
    args = parser.parse_args()
    if args.pictures or args.speed:
        if args.pictures:
            pictures(args.pictures)
        if args.speed:
            speed(args.speed)
        return
    results, t0 = {}, time.perf_counter()
    for item in args.runs:
        label, _, run_dir = item.partition("=")
        results[label] = evaluate(run_dir, args.episodes, args.per_heldout)
    print("| policy | nominal sim | sim + dr_default | sim + held-out perturbations |")
    print("|---|---|---|---|")
    for label, r in results.items():
        print(f"| {label} | {_cell(r['nominal'])} | {_cell(r['dr_default'])} | {_cell(r['heldout'])} |")
    summary = {
        label: {k: {"success": float(np.mean(v)), "n": len(v)} for k, v in r.items()}
        for label, r in results.items()
    }
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
