"""DrQ-v2 vs the SB3 SAC baseline on the same stage, frame budget and seeds, at CPU scale.

    python benchmarks/compare_algorithms.py [--stage 1] [--frames 1600] [--seed-frames 400] [--seeds 1 2]
        [--eval-every 400] [--episodes 8] [--jobs 2] [--work-dir /tmp/compare_algorithms]
    python benchmarks/compare_algorithms.py --plot-only /tmp/compare_algorithms

Finished runs of the same budget in the work dir are reused, so an interrupted benchmark continues where it was.

Both algorithms use each one's default settings (DrQ-v2: preset ``default``; SAC: preset ``sac_lift_image``,
the original project's SB3 settings) on the same env built by ``policies.wrappers.make_env`` (84x84 wrist image,
frame stack 3, action repeat 2, 200-step episodes), with one train env, the same seed phase (uniform random
actions, no updates), the same evaluator (seeded episodes, deterministic actor) and one torch thread each.
Only the budget is CPU-sized: ``--frames`` env frames per run.

Each (algorithm, seed) run is a subprocess (``--one``), ``--jobs`` at a time, ordered so that the two algorithms
alternate and meet the same machine load. Then, in this process, the update cost is timed on its own: rounds of
a few gradient updates of each algorithm on synthetic batches of its own batch size, interleaved, and the
replay memory each allocates at its default 100k capacity.

Writes docs/compare_algorithms.png and docs/compare_algorithms.md; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import sim  # noqa: F401  (headless GL backend before mujoco loads)

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ALGOS = ("drqv2", "sac")
LABELS = {"drqv2": "DrQ-v2 (ours)", "sac": "SB3 SAC (NatureCNN)"}
COLOURS = {"drqv2": "tab:blue", "sac": "tab:orange"}
ROOT = Path(__file__).resolve().parents[1]


def run_overrides(algo: str, args: argparse.Namespace, seed: int, run_dir: Path) -> list[str]:
    """The budget and bookkeeping overrides shared by both algorithms, in each one's key names."""
    common = [
        f"seed={seed}",
        f"run_dir={run_dir}",
        "torch_threads=1",
        "device=cpu",
        f"env.stage={args.stage}",
        f"num_train_frames={args.frames}",
        f"num_seed_frames={args.seed_frames}",
        f"eval_every_frames={args.eval_every}",
        f"num_eval_episodes={args.episodes}",
        "checkpoint_every_frames=100000000",
        "eval_video=false",
        "tensorboard=false",
        "progress=false",
    ]
    if algo == "drqv2":
        return [*common, "num_train_envs=1", f"log_every_frames={args.eval_every}"]
    return [*common, "num_train_envs=1", "save_sb3_zip=false"]


# -- one run (subprocess) ----------------------------------------------------------------------------------------------
def one_run(algo: str, seed: int, args: argparse.Namespace) -> dict:
    import torch

    from common.config import load_config

    torch.set_num_threads(1)
    run_dir = Path(args.work_dir) / f"{algo}_seed{seed}"
    overrides = run_overrides(algo, args, seed, run_dir)
    start = time.perf_counter()
    if algo == "drqv2":
        from policies.drqv2.config import TrainConfig
        from policies.drqv2.trainer import Trainer

        cfg = load_config(TrainConfig, "default", overrides)
        trainer = Trainer(cfg, run_dir)
        evaluate, spent = trainer.evaluate, [0.0]

        def timed_evaluate():  # the DrQ-v2 trainer does not report eval time: measure it here
            t = time.perf_counter()
            try:
                return evaluate()
            finally:
                spent[0] += time.perf_counter() - t

        trainer.evaluate = timed_evaluate
        trainer.run()
        evals = read_metrics(run_dir)
        updates, eval_seconds = trainer.counters["update"], spent[0]
        settings = {"lr": cfg.agent.lr, "batch": cfg.agent.batch_size, "update_every_frames": cfg.update_every_frames,
                    "replay_capacity": cfg.replay_capacity, "stddev_schedule": cfg.agent.stddev_schedule}  # fmt: skip
    else:
        from policies.sb3_baseline import SacTrainConfig, SacTrainer

        cfg = load_config(SacTrainConfig, "sac_lift_image", overrides)
        trainer = SacTrainer(cfg, run_dir)
        trainer.run()
        evals = read_metrics(run_dir)
        updates, eval_seconds = int(trainer.model._n_updates), trainer.eval_seconds
        settings = {"lr": cfg.sac.learning_rate, "batch": cfg.sac.batch_size,
                    "update_every_frames": cfg.frames_per_step * cfg.sac.train_freq // max(cfg.sac.gradient_steps, 1),
                    "replay_capacity": cfg.sac.buffer_size, "policy": cfg.sac.policy}  # fmt: skip
    wall = time.perf_counter() - start
    result = {
        "algo": algo,
        "seed": seed,
        "evals": evals,
        "updates": int(updates),
        "wall_s": wall,
        "eval_s": eval_seconds,
        "train_s": wall - eval_seconds,
        "settings": settings,
    }
    (Path(args.work_dir) / f"{algo}_seed{seed}.json").write_text(json.dumps(result, indent=1))
    return result


def finished_run(work: Path, algo: str, seed: int, frames: int) -> bool:
    """A run of this budget already finished in ``work`` (an interrupted benchmark picks up where it was)."""
    path = work / f"{algo}_seed{seed}.json"
    if not path.exists() or json.loads(path.read_text())["evals"][-1]["frame"] != frames:
        return False
    print(f"reusing {path}", flush=True)
    return True


def read_metrics(run_dir: Path) -> list[dict]:
    import csv

    with open(run_dir / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] == "eval"]
    keys = ("frame", "success_rate", "success_low", "success_high", "episode_return", "episode_length")
    return [{k: float(r[k]) for k in keys} for r in rows]


# -- update cost and replay memory (this process) ------------------------------------------------------------------------
def time_updates(rounds: int, per_round: int) -> dict:
    """Seconds per gradient update of each algorithm (defaults, 9x84x84, one thread), interleaved rounds."""
    import torch
    from stable_baselines3.common.logger import Logger

    from common.config import load_config
    from policies.drqv2.agent import ObsSpec
    from policies.drqv2.config import AgentConfig, TrainConfig
    from policies.drqv2.fast import build_agent
    from policies.sb3_baseline import SacTrainConfig, build_model, make_sac_vec_env

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    drq_cfg: AgentConfig = load_config(TrainConfig, "default").agent
    drq = build_agent(ObsSpec((9, 84, 84), 6, 22, 4), drq_cfg, device="cpu", seed=0)

    def obs(n: int) -> dict:
        return {
            "rgb": torch.from_numpy(rng.integers(0, 256, (n, 9, 84, 84), dtype=np.uint8)),
            "low_dim_state": torch.randn(n, 6),
            "privileged_state": torch.randn(n, 22),
        }

    b = drq_cfg.batch_size
    drq_batch = {"obs": obs(b), "next_obs": obs(b), "action": torch.rand(b, 4) * 2 - 1, "reward": torch.rand(b, 1),
                 "discount": torch.full((b, 1), 0.99**3)}  # fmt: skip

    sac_cfg = load_config(SacTrainConfig, "sac_lift_image", ["sac.buffer_size=512"])
    env = make_sac_vec_env(sac_cfg, 1, 0)
    sac = build_model(sac_cfg, env)
    sac.set_logger(Logger(folder=None, output_formats=[]))  # train() outside learn() needs one
    env.close()
    for _ in range(512):
        o = {
            "rgb": rng.integers(0, 256, (1, 9, 84, 84), dtype=np.uint8),
            "low_dim_state": rng.normal(size=(1, 6)),
        }
        o2 = {
            "rgb": rng.integers(0, 256, (1, 9, 84, 84), dtype=np.uint8),
            "low_dim_state": rng.normal(size=(1, 6)),
        }
        sac.replay_buffer.add(o, o2, rng.uniform(-1, 1, (1, 4)), rng.normal(size=1), np.zeros(1), [{}])

    runners = {
        "drqv2": lambda: drq.update(drq_batch, 10**6),
        "sac": lambda: sac.train(gradient_steps=1, batch_size=sac_cfg.sac.batch_size),
    }
    for run in runners.values():  # warm-up
        run()
    times: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            t = time.perf_counter()
            for _ in range(per_round):
                run()
            times[name].append((time.perf_counter() - t) / per_round)
    return {
        name: {
            "s_per_update": statistics.median(v),
            "updates_per_s": 1 / statistics.median(v),
            "batch": batch,
        }
        for (name, v), batch in zip(times.items(), (drq_cfg.batch_size, sac_cfg.sac.batch_size), strict=True)
    }


def replay_memory() -> dict:
    """Bytes each replay allocates at its default capacity (100k agent steps), and per transition."""
    from common.config import load_config
    from policies.drqv2.config import TrainConfig
    from policies.drqv2.replay import ReplayBuffer, StepSpec
    from policies.sb3_baseline import SacTrainConfig, build_model, make_sac_vec_env, replay_nbytes

    drq_cfg = load_config(TrainConfig, "default", ["num_train_envs=1"])
    spec = StepSpec(frame_shape=(3, 84, 84), low_dim=6, privileged=22, action_dim=4)
    drq = ReplayBuffer(
        drq_cfg.replay_capacity, 1, spec, 3, drq_cfg.agent.nstep, drq_cfg.agent.discount, seed=0
    )
    sac_cfg = load_config(SacTrainConfig, "sac_lift_image")
    env = make_sac_vec_env(sac_cfg, 1, 0)
    sac = build_model(
        sac_cfg, env
    )  # SB3 allocates the full 100k replay here (pages stay untouched until used)
    env.close()
    out = {
        "drqv2": {"capacity": drq_cfg.replay_capacity, "bytes": drq.nbytes},
        "sac": {"capacity": sac_cfg.sac.buffer_size, "bytes": replay_nbytes(sac)},
    }
    for v in out.values():
        v["bytes_per_transition"] = v["bytes"] / v["capacity"]
    return out


# -- report --------------------------------------------------------------------------------------------------------------
def summarise(runs: list[dict]) -> dict:
    out = {}
    for algo in ALGOS:
        mine = [r for r in runs if r["algo"] == algo]
        if not mine:
            continue
        finals = [r["evals"][-1]["success_rate"] for r in mine]
        out[algo] = {
            "seeds": [r["seed"] for r in mine],
            "frames": int(mine[0]["evals"][-1]["frame"]),
            "final_success_mean": float(np.mean(finals)),
            "final_success_per_seed": finals,
            "best_success_mean": float(np.mean([max(e["success_rate"] for e in r["evals"]) for r in mine])),
            "final_return_mean": float(np.mean([r["evals"][-1]["episode_return"] for r in mine])),
            "updates": int(np.mean([r["updates"] for r in mine])),
            "wall_min": float(np.mean([r["wall_s"] for r in mine]) / 60),
            "train_min": float(np.mean([r["train_s"] for r in mine]) / 60),
            "frames_per_train_s": float(np.mean([r["evals"][-1]["frame"] / r["train_s"] for r in mine])),
            "settings": mine[0]["settings"],
        }
    return out


def plot(runs: list[dict], out: Path, title: str) -> None:
    """Success and eval return vs env frames (thin: each seed, thick: mean), and minutes per run."""
    fig, (ax, ax_r, ax_t) = plt.subplots(1, 3, figsize=(14, 4.2), width_ratios=(1.2, 1.2, 1))
    for algo in ALGOS:
        mine = [r for r in runs if r["algo"] == algo]
        if not mine:
            continue
        frames = [e["frame"] for e in mine[0]["evals"]]
        for axis, key in ((ax, "success_rate"), (ax_r, "episode_return")):
            for r in mine:
                axis.plot(frames, [e[key] for e in r["evals"]], color=COLOURS[algo], alpha=0.35, lw=1)
            mean = np.mean([[e[key] for e in r["evals"]] for r in mine], axis=0)
            label = f"{LABELS[algo]}, mean of {len(mine)} seed(s)"
            axis.plot(frames, mean, color=COLOURS[algo], marker="o", ms=4, lw=2, label=label)
        walls = [r["wall_s"] / 60 for r in mine]
        trains = [r["train_s"] / 60 for r in mine]
        x = ALGOS.index(algo)
        first = x == 0
        ax_t.bar(
            x - 0.18,
            np.mean(walls),
            0.36,
            color=COLOURS[algo],
            alpha=0.5,
            label="wall clock" if first else None,
        )
        ax_t.bar(
            x + 0.18, np.mean(trains), 0.36, color=COLOURS[algo], label="without eval" if first else None
        )
        updates = int(np.mean([r["updates"] for r in mine]))
        ax_t.text(x, max(walls) * 1.02, f"{updates} updates", ha="center", fontsize=8)
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel("eval success rate")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    ax_r.set_ylabel("mean eval return")
    ax_r.set_title("eval return (dense_v1 reward)", fontsize=9)
    for axis in (ax, ax_r):
        axis.set_xlabel("env frames")
    ax_t.set_xticks(range(len(ALGOS)), [LABELS[a] for a in ALGOS], fontsize=8)
    ax_t.set_ylabel("minutes per run (mean over seeds)")
    ax_t.set_title("wall clock on the shared 2-core machine", fontsize=9)
    ax_t.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def markdown(runs: list[dict], summary: dict, updates: dict, memory: dict, args: dict, command: str) -> str:
    b = args
    lines = [
        "# DrQ-v2 vs SB3 SAC (CPU-scale budget)",
        "",
        "![success vs frames](compare_algorithms.png)",
        "",
        f"Budget: stage {b['stage']}, **{b['frames']} env frames per run** ({b['frames'] // 2} agent steps at "
        f"action repeat 2), the first {b['seed_frames']} frames uniform random with no updates, seeds "
        f"{', '.join(map(str, b['seeds']))}; eval every {b['eval_every']} frames on {b['episodes']} seeded episodes "
        "(deterministic actor, the same Evaluator and seeds for both). One train env, one torch thread per run, "
        f"{b['jobs']} runs at a time on a shared 2-core CPU machine (no GPU). This is a plumbing-scale budget, "
        "not a verdict on either algorithm at 1M frames.",
        "",
        f"Command: `{command}`",
        "",
        *([b["note"], ""] if b.get("note") else []),
        "| | " + " | ".join(LABELS[a] for a in summary) + " |",
        "|---|" + "---|" * len(summary),
    ]

    def row(name: str, fmt) -> None:
        lines.append(f"| {name} | " + " | ".join(fmt(a) for a in summary) + " |")

    row("final success (mean; per seed)", lambda a: f"{summary[a]['final_success_mean']:.2f}; "
        + ", ".join(f"{s:.2f}" for s in summary[a]["final_success_per_seed"]))  # fmt: skip
    row("best eval success (mean over seeds)", lambda a: f"{summary[a]['best_success_mean']:.2f}")
    row("final eval return (mean)", lambda a: f"{summary[a]['final_return_mean']:.1f}")
    row("gradient updates per run", lambda a: f"{summary[a]['updates']}")
    row(
        "wall clock per run, min (without eval)",
        lambda a: f"{summary[a]['wall_min']:.1f} ({summary[a]['train_min']:.1f})",
    )
    row("env frames per training second", lambda a: f"{summary[a]['frames_per_train_s']:.2f}")
    row("isolated update, s (updates/s)", lambda a: f"{updates[a]['s_per_update']:.3f} ({updates[a]['updates_per_s']:.2f})"
        + f" at batch {updates[a]['batch']}")  # fmt: skip
    row(
        "replay at default capacity",
        lambda a: f"{memory[a]['bytes'] / 1e9:.2f} GB for {memory[a]['capacity']:,} steps",
    )
    row("replay per transition", lambda a: f"{memory[a]['bytes_per_transition'] / 1e3:.1f} KB")
    row("settings", lambda a: ", ".join(f"{k} {v}" for k, v in summary[a]["settings"].items()))
    ratio = updates["drqv2"]["s_per_update"] / updates["sac"]["s_per_update"]
    mem_ratio = memory["sac"]["bytes"] / memory["drqv2"]["bytes"]
    lines += [
        "",
        f"Update cost ratio (DrQ-v2 / SAC, same process, interleaved rounds): **{ratio:.2f}x** per update; DrQ-v2's "
        "update is a batch of 256 through a 35x35x32 conv trunk, SAC's a batch of 128 through five NatureCNN "
        "forward passes (actor, critic and target critic each have their own CNN in SB3's SAC).",
        f"Replay ratio (SAC / DrQ-v2): **{mem_ratio:.1f}x**: SB3 stores the stacked observation and the stacked next "
        "observation of every transition; DrQ-v2 stores each frame once and rebuilds stacks when sampling.",
        "",
        "Per-seed eval curves (frame: success rate):",
        "",
    ]
    for r in runs:
        curve = ", ".join(f"{int(e['frame'])}: {e['success_rate']:.2f}" for e in r["evals"])
        lines.append(f"- {LABELS[r['algo']]} seed {r['seed']}: {curve}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", type=int, default=1)
    parser.add_argument("--frames", type=int, default=1600)
    parser.add_argument("--seed-frames", type=int, default=400)
    parser.add_argument("--eval-every", type=int, default=400)
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--update-rounds", type=int, default=3)
    parser.add_argument("--work-dir", default="/tmp/compare_algorithms")
    parser.add_argument("--out-png", default=str(ROOT / "docs" / "compare_algorithms.png"))
    parser.add_argument("--out-md", default=str(ROOT / "docs" / "compare_algorithms.md"))
    parser.add_argument("--one", nargs=2, metavar=("ALGO", "SEED"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--plot-only", default=None, help="re-plot the runs and measurements in this work dir"
    )
    parser.add_argument("--note", default="", help="a sentence for the markdown (e.g. the machine's load)")
    args = parser.parse_args()
    if args.one:
        one_run(args.one[0], int(args.one[1]), args)
        return

    work = Path(args.plot_only or args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    argv = sys.argv[1:]
    if "--note" in argv:  # the note goes into the markdown as prose, not into the command line
        i = argv.index("--note")
        argv = argv[:i] + argv[i + 2 :]
    command = "python benchmarks/compare_algorithms.py " + " ".join(argv)
    if not args.plot_only:
        budget = ["--stage", args.stage, "--frames", args.frames, "--seed-frames", args.seed_frames,
                  "--eval-every", args.eval_every, "--episodes", args.episodes, "--work-dir", work]  # fmt: skip
        order = [
            (algo, seed)
            for i, seed in enumerate(args.seeds)
            for algo in (ALGOS if i % 2 == 0 else ALGOS[::-1])
        ]
        pending, running = [run for run in order if not finished_run(work, *run, args.frames)], []
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        while pending or running:
            while pending and len(running) < args.jobs:
                algo, seed = pending.pop(0)
                log = open(work / f"{algo}_seed{seed}.log", "w")  # noqa: SIM115 - closed when the run ends
                cmd = [sys.executable, __file__, "--one", algo, str(seed), *map(str, budget)]
                running.append(
                    (algo, seed, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log)
                )
                print(f"started {algo} seed {seed}", flush=True)
            time.sleep(2)
            for item in list(running):
                algo, seed, proc, log = item
                if proc.poll() is not None:
                    log.close()
                    running.remove(item)
                    print(f"finished {algo} seed {seed}: exit {proc.returncode}", flush=True)
                    if proc.returncode != 0:
                        raise SystemExit(f"{algo} seed {seed} failed; see {work}/{algo}_seed{seed}.log")
        measured = {"updates": time_updates(args.update_rounds, 2), "memory": replay_memory(),
                    "budget": {k: getattr(args, k) for k in ("stage", "frames", "seed_frames", "eval_every",
                                                             "episodes", "seeds", "jobs", "note")}, "command": command}  # fmt: skip
        (work / "measured.json").write_text(json.dumps(measured, indent=1))
    measured = json.loads((work / "measured.json").read_text())
    seeds = measured["budget"]["seeds"]
    runs = [json.loads(p.read_text()) for p in sorted(work.glob("*_seed*.json"))]
    runs = [r for r in runs if r["seed"] in seeds]
    summary = summarise(runs)
    b = measured["budget"]
    title = f"stage {b['stage']}, {b['frames']} frames, seeds {b['seeds']}, {b['episodes']} eval episodes (2-core CPU)"
    plot(runs, Path(args.out_png), title)
    Path(args.out_md).write_text(
        markdown(runs, summary, measured["updates"], measured["memory"], b, measured["command"])
    )
    ratio = measured["updates"]["drqv2"]["s_per_update"] / measured["updates"]["sac"]["s_per_update"]
    print(json.dumps({
        "png": args.out_png, "md": args.out_md, "budget": b,
        **{f"{a}_final_success": summary[a]["final_success_mean"] for a in summary},
        **{f"{a}_wall_min": round(summary[a]["wall_min"], 2) for a in summary},
        **{f"{a}_updates_per_s": round(measured["updates"][a]["updates_per_s"], 3) for a in ALGOS},
        **{f"{a}_replay_gb": round(measured["memory"][a]["bytes"] / 1e9, 2) for a in ALGOS},
        "update_cost_ratio_drqv2_over_sac": round(ratio, 3),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
