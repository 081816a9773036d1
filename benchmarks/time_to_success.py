"""Minutes of training wall time until a preset's policy succeeds on >= 90% of 100 seeded evaluation episodes of
its (deployable) task, per seed, and whether it stays >= 85% when left to run twice as long.

    python benchmarks/time_to_success.py --preset cpu --seeds 3 [--minutes 30] [--factor 2]
        [--snapshot-minutes 3] [--jobs 3] [--eval-jobs 2] [--work-dir runs/time_to_success/cpu]
    python benchmarks/time_to_success.py --preset cpu --seeds 3 --report-only   # re-evaluate/plot what is there

How it measures, and why:
1. Training. Every seed is one ``so101 train --preset P seed=S`` run stopped by ``train_seconds`` (minutes x factor)
   that copies its checkpoint to ``snapshots/`` every ``--snapshot-minutes`` of its own training time. Training is
   never paused to evaluate (an evaluation inside the run would count in its time); the run's own evaluations are
   switched off. ``--jobs`` runs train at once (default: all seeds). Running them side by side shares the 2 cores,
   so each run gets less of the machine than it would alone: the times are then upper bounds of a lone run's.
   The load average is sampled every 30 s and reported.
2. Evaluation, afterwards, with the machine otherwise idle: every snapshot is screened on the first
   ``--screen`` of the seeded episodes (the evaluator resets episode i with seed ``--eval-seed`` + i, the task's
   evaluation start: home pose, cube anywhere in the workspace, deployable randomisation); a snapshot at >= 85%
   in the screen, and the last one, go on to all ``--episodes``. Time to success is the training time of the
   first snapshot at >= 90% over all episodes. (A snapshot at 90% over 100 episodes fails a 17/20 screen with
   a probability of about 13%; the times can only come out later for it, never earlier.)
3. Report: per seed minutes and frames to 90%, the success at the end (factor x minutes), the curves over wall
   time and over frames (seeds as lines, their range shaded) in ``--plot`` (by default the preset's
   docs/time_to_success_<preset>.png, or the work dir's time_to_success.png for a run with ``--override``), and one
   JSON object as the last line.

Finished runs and evaluations in the work dir are reused, so an interrupted benchmark continues.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL, STAY = 0.90, 0.85
DONE = "done.json"
EVALS = "evals.jsonl"


# the run's own evaluations, video and progress bar off, no replay saved with the checkpoint: each where the
# preset's algorithm has the key (DAgger and SB3 SAC save no replay, so they have no checkpoint_replay)
RUN_OVERRIDES = (
    "num_train_frames=1000000000", "eval_every_frames=1000000000", "num_eval_episodes=1",
    "eval_video=false", "progress=false", "checkpoint_replay=false",
)  # fmt: skip


def preset_keys(preset: str) -> set[str]:
    """Every config key ``so101 train --preset PRESET`` accepts (its algorithm's schema)."""
    from common.config import flat_keys
    from so101_deploy.commands.train import requested_algorithm

    algorithm, _ = requested_algorithm(preset, [])
    return set(flat_keys(algorithm.config_schema()))


def train_command(
    preset: str, seed: int, run_dir: Path, seconds: float, snapshot_seconds: float, extra: Sequence[str] = ()
) -> list[str]:
    """The exact command a seed's run is (printed in the report); ``extra`` overrides go last."""
    keys = preset_keys(preset)
    return [
        "so101", "train", "--preset", preset, f"seed={seed}", f"run_dir={run_dir}",
        f"train_seconds={seconds:g}", f"snapshot_every_seconds={snapshot_seconds:g}",
        *(o for o in RUN_OVERRIDES if o.split("=", 1)[0] in keys), *extra,
    ]  # fmt: skip


class LoadSampler(threading.Thread):
    """The 1-minute load average and the memory still available every ``period`` seconds while training runs,
    appended to a file."""

    def __init__(self, path: Path, period: float = 30.0):
        super().__init__(daemon=True)
        self.path, self.period, self.stopped = path, period, threading.Event()

    def run(self) -> None:
        from policies.training.checks import available_memory_bytes

        while not self.stopped.wait(self.period):
            available = available_memory_bytes()
            sample = {"time": time.time(), "load1": os.getloadavg()[0]}
            if available is not None:
                sample["mem_available_gib"] = round(available / 2**30, 2)
            with self.path.open("a") as f:
                f.write(json.dumps(sample) + "\n")


def train_seeds(args: argparse.Namespace, work: Path, extra: Sequence[str] = ()) -> dict[int, list[str]]:
    """Every seed's run of ``args.preset`` (``extra`` overrides added), ``args.jobs`` at a time; runs already
    done in ``work`` are kept. Returns each seed's command."""
    commands = {}
    pending = []
    for seed in args.seed_list:
        run_dir = work / f"seed_{seed}"
        cmd = train_command(
            args.preset, seed, run_dir, args.minutes * args.factor * 60, args.snapshot_minutes * 60, extra
        )
        commands[seed] = cmd
        if not (run_dir / DONE).exists() and not args.report_only:
            shutil.rmtree(run_dir, ignore_errors=True)
            pending.append((seed, run_dir, cmd))
    if not pending or args.report_only:
        return commands
    sampler = LoadSampler(work / "load.jsonl")
    sampler.start()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    running: list[tuple[int, Path, subprocess.Popen, float]] = []
    try:
        while pending or running:
            while pending and len(running) < args.jobs:
                seed, run_dir, cmd = pending.pop(0)
                run_dir.mkdir(parents=True)
                log = (run_dir.parent / f"seed_{seed}.log").open("w")
                print(f"train seed {seed}: {' '.join(cmd)}", flush=True)
                proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
                running.append((seed, run_dir, proc, time.time()))
            time.sleep(5)
            for item in list(running):
                seed, run_dir, proc, started = item
                if proc.poll() is None:
                    continue
                running.remove(item)
                if proc.returncode != 0:
                    raise SystemExit(
                        f"seed {seed} failed (rc {proc.returncode}); see {run_dir.parent}/seed_{seed}.log"
                    )
                (run_dir / DONE).write_text(json.dumps({"wall_s": time.time() - started}))
                print(f"seed {seed} done after {(time.time() - started) / 60:.1f} min", flush=True)
    finally:
        sampler.stopped.set()
        for _, _, proc, _ in running:
            proc.terminate()
    return commands


def seeded_successes(act, env_cfg, episodes: int, seed_base: int) -> int:
    """How many of ``episodes`` evaluation episodes (episode i reset with seed ``seed_base`` + i) ``act`` lifts."""
    from policies.training.evaluate import Evaluator

    evaluator = Evaluator(env_cfg, 1, seed=seed_base)
    try:
        return int(sum(evaluator.run(act, episodes).successes))
    finally:
        evaluator.close()


def evaluate_snapshot(snapshot: str, preset: str, episodes: int, seed_base: int) -> dict:
    """Success of one snapshot over ``episodes`` seeded episodes starting at ``seed_base`` (a worker process)."""
    import torch

    torch.set_num_threads(1)
    from policies.algos import open_checkpoint

    algorithm, payload = open_checkpoint(snapshot)
    act, cfg = algorithm.policy(Path(snapshot), "cpu")
    counters = payload["counters"]
    return {
        "snapshot": Path(snapshot).name,
        "seed_base": seed_base,
        "episodes": episodes,
        "successes": seeded_successes(act, cfg.env, episodes, seed_base),
        "time_s": float(counters["time_s"]),
        "frame": int(counters["frame"]),
    }


def cached_evals(run_dir: Path) -> list[dict]:
    path = run_dir / EVALS
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def evaluate_seeds(args: argparse.Namespace, work: Path) -> dict[int, list[dict]]:
    """Per seed: every snapshot screened; then, in time order, the rest of the episodes for snapshots that
    passed the screen until one reaches 90% over all of them (later ones need no more: time to success is
    found), and always for the last snapshot (does the policy stay above 85%?)."""
    pool = ProcessPoolExecutor(max_workers=args.eval_jobs, mp_context=get_context("spawn"))
    rest = (args.eval_seed + args.screen, args.episodes - args.screen)
    try:
        jobs = {}
        for seed in args.seed_list:
            for snap in snapshots_of(work / f"seed_{seed}"):
                jobs[(seed, snap.name)] = (snap, args.eval_seed, args.screen)
        run_evaluations(pool, args, work, jobs, "screen")
        unresolved = set(args.seed_list)
        while True:
            jobs = {}
            for seed in args.seed_list:
                snaps = snapshots_of(work / f"seed_{seed}")
                if not snaps:
                    continue
                jobs[(seed, snaps[-1].name)] = (snaps[-1], *rest)
                if seed not in unresolved:
                    continue
                points = {p["snapshot"]: p for p in aggregate(work / f"seed_{seed}")}
                # the first snapshot in time that either reached 90% over all episodes (found) or passed the
                # screen without its full evaluation yet (evaluate it next); none of either: never reached
                first = next(
                    (s for s in snaps
                     if (points[s.name]["episodes"] >= args.episodes and points[s.name]["success"] >= GOAL)
                     or (points[s.name]["episodes"] < args.episodes
                         and points[s.name]["successes"] >= math.ceil(STAY * args.screen))),
                    None,
                )  # fmt: skip
                if first is None or points[first.name]["episodes"] >= args.episodes:
                    unresolved.discard(seed)
                else:
                    jobs[(seed, first.name)] = (first, *rest)
            if not run_evaluations(pool, args, work, jobs, "rest"):
                break
    finally:
        pool.shutdown()
    return {seed: aggregate(work / f"seed_{seed}") for seed in args.seed_list}


def snapshots_of(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "snapshots").glob("snapshot_*.pt"))


def run_evaluations(pool, args: argparse.Namespace, work: Path, jobs: dict, phase: str) -> int:
    """Submit the jobs not in the cache, append each result to its seed's evals.jsonl; how many ran."""
    futures = []
    for (seed, name), (snap, base, n) in jobs.items():
        run_dir = work / f"seed_{seed}"
        if (name, base) not in {(e["snapshot"], e["seed_base"]) for e in cached_evals(run_dir)}:
            futures.append((run_dir, pool.submit(evaluate_snapshot, str(snap), args.preset, n, base)))
    for run_dir, future in futures:
        row = future.result()
        with (run_dir / EVALS).open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{run_dir.name} {row['snapshot']} ({row['time_s'] / 60:.1f} min, {row['frame']} frames): "
              f"{row['successes']}/{row['episodes']} [{phase}]", flush=True)  # fmt: skip
    return len(futures)


def aggregate(run_dir: Path) -> list[dict]:
    """One point per snapshot over all its evaluated episodes (each seed range counted once), in time order."""
    rows: dict[str, dict] = {}
    seen = set()
    for e in cached_evals(run_dir):
        if (e["snapshot"], e["seed_base"]) in seen:
            continue
        seen.add((e["snapshot"], e["seed_base"]))
        r = rows.setdefault(e["snapshot"], {"snapshot": e["snapshot"], "episodes": 0, "successes": 0})
        r.update(time_s=e["time_s"], frame=e["frame"])
        r["episodes"] += e["episodes"]
        r["successes"] += e["successes"]
    points = sorted(rows.values(), key=lambda r: r["time_s"])
    for p in points:
        p["success"] = p["successes"] / p["episodes"]
    return points


def summarise(args: argparse.Namespace, curves: dict[int, list[dict]], work: Path) -> dict:
    per_seed = []
    for seed, points in curves.items():
        full = [p for p in points if p["episodes"] >= args.episodes]
        first = next((p for p in full if p["success"] >= GOAL), None)
        last = points[-1] if points else None
        per_seed.append({
            "seed": seed,
            "minutes_to_90": round(first["time_s"] / 60, 2) if first else None,
            "frames_to_90": first["frame"] if first else None,
            "final_minutes": round(last["time_s"] / 60, 2) if last else None,
            "final_frames": last["frame"] if last else None,
            "final_success": last["success"] if last else None,
            "final_episodes": last["episodes"] if last else None,
        })  # fmt: skip
    within = [s for s in per_seed if s["minutes_to_90"] is not None and s["minutes_to_90"] <= args.minutes]
    stays = [s for s in per_seed if s["final_success"] is not None and s["final_success"] >= STAY]
    load_path = work / "load.jsonl"
    loads = [json.loads(x)["load1"] for x in load_path.read_text().splitlines()] if load_path.exists() else []
    return {
        "benchmark": "time_to_success",
        "preset": args.preset,
        "seeds": args.seed_list,
        "minutes_limit": args.minutes,
        "run_minutes": args.minutes * args.factor,
        "concurrent_runs": min(args.jobs, len(args.seed_list)),
        "cpu_count": os.cpu_count(),
        "eval_episodes": args.episodes,
        "per_seed": per_seed,
        "seeds_within_limit": len(within),
        "seeds_staying_above_85": len(stays),
        "goal_met": len(within) >= 2 and len(stays) >= 2,
        "load1_mean": round(sum(loads) / len(loads), 2) if loads else None,
        "load1_max": round(max(loads), 2) if loads else None,
        "plot": str(args.plot),
    }


def plot(args: argparse.Namespace, curves: dict[int, list[dict]], summary: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, key, scale, label in (
        (axes[0], "time_s", 1 / 60, "training wall time (min)"),
        (axes[1], "frame", 1e-3, "env frames (thousands)"),
    ):
        grid = np.linspace(0, max(p[key] for pts in curves.values() for p in pts) * scale, 200)
        interpolated = []
        for seed, points in curves.items():
            x = np.array([p[key] * scale for p in points])
            y = np.array([p["success"] for p in points])
            ax.plot(x, y, marker="o", markersize=3, linewidth=1, label=f"seed {seed}")
            interpolated.append(np.interp(grid, x, y, left=np.nan, right=np.nan))
        stacked = np.array(interpolated)
        # before the first snapshot of every seed a grid column is all NaN: no band there, and no warning
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ax.fill_between(grid, np.nanmin(stacked, 0), np.nanmax(stacked, 0), alpha=0.15, color="grey")
        ax.axhline(GOAL, color="green", linestyle="--", linewidth=0.8)
        if key == "time_s":
            ax.axvline(args.minutes, color="red", linestyle=":", linewidth=0.8)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("success (seeded eval episodes)")
    axes[0].legend(loc="lower right", fontsize=8)
    runs = summary["concurrent_runs"]
    sharing = "each seed alone" if runs == 1 else f"{runs} runs side by side"
    # overrides change what was measured, so they go in the title
    preset = " ".join([args.preset, *args.override])
    fig.suptitle(
        f"preset {preset}: {summary['seeds_within_limit']}/{len(curves)} seeds >= 90% within "
        f"{args.minutes:g} min ({sharing} on {summary['cpu_count']} cores, load {summary['load1_mean']})",
        fontsize=10,
    )
    fig.tight_layout()
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.plot, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 1..N")
    parser.add_argument("--minutes", type=float, default=30.0, help="the time limit to reach 90%% within")
    parser.add_argument("--factor", type=float, default=2.0, help="runs train for factor x minutes")
    parser.add_argument("--snapshot-minutes", type=float, default=3.0)
    parser.add_argument("--jobs", type=int, default=0, help="runs training at once (0: all seeds)")
    parser.add_argument("--eval-jobs", type=int, default=2)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--screen", type=int, default=20)
    parser.add_argument("--eval-seed", type=int, default=100_000)
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument(
        "--override", action="append", default=[], metavar="KEY=VALUE",
        help="a config override added to every seed's train command (repeatable), e.g. demo_episodes=50",
    )  # fmt: skip
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument(
        "--report-only", action="store_true", help="no training; evaluate and report what is there"
    )
    args = parser.parse_args()
    args.seed_list = list(range(1, args.seeds + 1))
    args.jobs = args.jobs or args.seeds
    work = args.work_dir or ROOT / "runs" / "time_to_success" / args.preset
    # an experiment (overrides) plots into its work dir: docs/time_to_success_<preset>.png is the preset's own
    default_plot = (
        work / "time_to_success.png"
        if args.override
        else ROOT / "docs" / f"time_to_success_{args.preset}.png"
    )
    args.plot = args.plot or default_plot
    work.mkdir(parents=True, exist_ok=True)
    commands = train_seeds(args, work, args.override)
    curves = evaluate_seeds(args, work)
    summary = summarise(args, curves, work)
    summary["commands"] = {seed: " ".join(cmd) for seed, cmd in commands.items()}
    if any(curves.values()):
        plot(args, curves, summary)
    for s in summary["per_seed"]:
        print(f"seed {s['seed']}: 90% after {s['minutes_to_90']} min ({s['frames_to_90']} frames); "
              f"at {s['final_minutes']} min: {s['final_success']} over {s['final_episodes']} episodes")  # fmt: skip
    print(json.dumps(summary))


if __name__ == "__main__":
    sys.exit(main())
