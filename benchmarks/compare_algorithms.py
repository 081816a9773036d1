"""Every training algorithm on the deployable lift at the same wall-clock budget, N seeds each: which one a user
with a CPU should train, and what each gets done in that time.

    python benchmarks/compare_algorithms.py [--minutes 15] [--seeds 3] [--snapshots 10] [--eval-jobs 2]
        [--episodes 100] [--screen 20] [--presets default drqv2_cpu cpu distill_cpu sac_lift_image]
        [--task-from cpu] [--memory-gib RAM] [--work-dir runs/compare_algorithms/15min_cpu_task]
    python benchmarks/compare_algorithms.py --report-only   # evaluate and report what the work dir holds

What is compared: each algorithm's own preset, unchanged but for the bookkeeping every run of
benchmarks/time_to_success.py gets (stop on ``train_seconds``, snapshots, no evaluations inside the run), the task
and, only where the seeds side by side would not fit ``--memory-gib`` (half for the replays' reservations, half for
the processes and their env workers), a smaller replay or fewer train envs (printed and written into the report, a
smaller replay with how full the budget got it: a replay the budget never fills changes nothing).
The task is the deployable lift (env.stage=0, home start) as the ``--task-from`` preset defines it: its episode
length, cube, success rule, workspace and every randomisation group (``TASK_KEYS``) override each other preset's
own, since evaluation runs the training env's task. Without ``--task-from`` every preset keeps its own task,
which the report flags when they differ. What a preset learns *with* (image size, frame stack, curriculum starts,
renderer, reward, demonstrations) stays its own: that is the algorithm's recipe.

How, reusing time_to_success.py's training, evaluation and summary (imported, not copied):
1. The presets train one after another; the seeds of one preset train side by side (``--seeds`` runs at once,
   the same for every algorithm), so every algorithm meets the same share of the machine. Each run stops after
   ``--minutes`` of its own training time and leaves ``--snapshots`` snapshots, the last one at the budget. The
   load average during each preset's training is reported.
2. Afterwards, with the machine otherwise idle, every snapshot is screened on ``--screen`` seeded episodes; those
   at >= 85% and the last one (the one at the budget) go on to all ``--episodes``. Success at the budget is the
   last snapshot's over ``--episodes`` episodes, for every seed; minutes to 90% are time_to_success.py's.
3. Report: docs/compare_algorithms.png (success over training wall time and over env frames per algorithm, seeds
   shaded), docs/compare_algorithms.md (table, verdict, overrides, exact commands, machine load), and one JSON
   object as the last line printed.

Finished presets and evaluations in the work dir are reused (a preset with only some seeds finished trains all of
them again, side by side; a run of another budget there is refused, not mixed in).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import warnings
from pathlib import Path

# run as a script, this file's folder is on sys.path: the shared benchmark code is time_to_success.py's
import time_to_success as tts

ROOT = tts.ROOT
# preset -> what it is (the algorithm comes from the preset, through the same lookup `so101 train` uses)
PRESETS = {
    "default": "DrQ-v2, the seed's settings, sized for a GPU",
    "drqv2_cpu": "DrQ-v2 sized for a CPU",
    "cpu": "Squint-style visual SAC",
    "distill_cpu": "DAgger from the scripted expert",
    "sac_lift_image": "SB3 SAC (NatureCNN), the original project's settings",
}
REPLAY_KEYS = ("replay_capacity", "sac.buffer_size")  # transitions (agent steps); DAgger keeps no replay
# the env keys (leaves under them) that say what is judged, as opposed to how a preset learns it: with
# --task-from, every preset takes these from the reference preset
TASK_KEYS = (
    "env.task", "env.stage", "env.episode_steps", "env.control_hz", "env.lift_height", "env.hold_steps",
    "env.cube_size", "env.cube_mass", "env.cube_friction", "env.workspace", "env.randomization",
)  # fmt: skip
# private memory of one env worker process (the MuJoCo scene and its software renderer; measured 677 MB at 84x84,
# Private_Dirty in /proc/PID/smaps_rollup) and of a run's own process (torch, networks, its evaluation env)
WORKER_BYTES, MAIN_BYTES = 0.7e9, 1.0e9


# -- presets -----------------------------------------------------------------------------------------------------
def preset_config(preset: str, overrides: list[str] | None = None) -> tuple[str, object]:
    """(algorithm name, resolved config) of ``so101 train --preset PRESET OVERRIDES``."""
    from common.config import load_config
    from so101_deploy.commands.train import requested_algorithm

    algorithm, preset = requested_algorithm(preset, overrides or [])
    return algorithm.name, load_config(algorithm.config_schema(), preset, overrides)


def value(cfg: object, key: str):
    """A dotted config key's value (``sac.buffer_size``)."""
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


def replay_key(cfg: object) -> str | None:
    return next((k for k in REPLAY_KEYS if _has(cfg, k)), None)


def _has(cfg: object, key: str) -> bool:
    try:
        value(cfg, key)
    except AttributeError:
        return False
    return True


def memory_overrides(preset: str, seeds: int, memory_bytes: int) -> tuple[list[str], list[str]]:
    """The overrides the preset needs for ``seeds`` runs side by side to fit ``memory_bytes``, and the sentences
    that say why; none where it fits as it is. Half the memory is for the replays' reservations (their lower
    bound; pages are touched only as a replay fills), half for the processes (each run's own and its env
    workers'). Over its half, the replay shrinks to what fits (rounded down to thousands of transitions), and the
    train envs to as many workers as fit."""
    _, cfg = preset_config(preset)
    half = memory_bytes / 2
    overrides, why = [], []
    key = replay_key(cfg)
    need = seeds * cfg.replay_nbytes_lower_bound() if key else 0
    if need > half:
        capacity = value(cfg, key)
        smaller = preset_config(preset, [f"{key}={capacity // 2}"])[1].replay_nbytes_lower_bound()
        per_slot = (need / seeds - smaller) / (capacity - capacity // 2)  # linear in the capacity, plus
        fixed = need / seeds - capacity * per_slot  # what does not scale with it (DrQ-v2's demo replay)
        fitting = int((half / seeds - fixed) // per_slot) // 1000 * 1000
        if fitting < 1000:
            raise SystemExit(
                f"{preset}: not even 1000 transitions of replay per run fit {half / 2**30:.1f} GiB"
            )
        overrides.append(f"{key}={fitting}")
        why.append(
            f"{preset}: {key}={capacity} -> {fitting} ({seeds} runs x {need / seeds / 1e9:.1f} GB = "
            f"{need / 1e9:.1f} GB of replay over the {half / 2**30:.1f} GiB for replays)"
        )
    envs = getattr(cfg, "num_train_envs", 1)
    processes = seeds * (MAIN_BYTES + envs * WORKER_BYTES)
    if envs > 1 and processes > half:
        fitting = max(1, int((half / seeds - MAIN_BYTES) // WORKER_BYTES))
        overrides.append(f"num_train_envs={fitting}")
        why.append(
            f"{preset}: num_train_envs={envs} -> {fitting} ({seeds} runs x ({envs} env workers x "
            f"{WORKER_BYTES / 1e9:.1f} GB + {MAIN_BYTES / 1e9:.1f} GB) = {processes / 1e9:.1f} GB over the "
            f"{half / 2**30:.1f} GiB for processes)"
        )
    return overrides, why


def task_leaves(config: dict) -> dict:
    """The leaves under ``TASK_KEYS`` of a config in plain data (``to_dict``, or a checkpoint's ``config``)."""
    from common.config import flatten

    return {
        k: v for k, v in flatten(config).items() if any(k == t or k.startswith(t + ".") for t in TASK_KEYS)
    }


def task_overrides(preset: str, reference: str) -> list[str]:
    """The overrides that give ``preset`` the task of ``reference``: every leaf under ``TASK_KEYS`` whose value
    differs, as ``key=value`` with the value in JSON (which the config's YAML override parser reads back)."""
    from common.config import to_dict

    mine, theirs = (task_leaves(to_dict(preset_config(p)[1])) for p in (preset, reference))
    return [f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in theirs.items() if mine.get(k) != v]


def mem_total_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


# -- runs ----------------------------------------------------------------------------------------------------------
def preset_args(args: argparse.Namespace, preset: str) -> argparse.Namespace:
    """time_to_success.py's arguments for one preset: the budget is the whole run (factor 1), all seeds at once."""
    return argparse.Namespace(
        **{**vars(args), "preset": preset, "factor": 1.0, "snapshot_minutes": args.minutes / args.snapshots,
           "jobs": args.seeds, "plot": args.out_png},
    )  # fmt: skip


def refuse_other_runs(work: Path, ns: argparse.Namespace, preset: str, overrides: list[str]) -> None:
    """A finished run in ``work`` whose config is not the one this comparison would train (another budget,
    task, renderer, preset change...) would be mixed in; say which keys differ instead."""
    from common.config import flatten, from_dict, to_dict
    from policies.training.checkpoint import read_checkpoint

    for seed in ns.seed_list:
        run_dir = work / f"seed_{seed}"
        if not (run_dir / tts.DONE).exists():
            continue
        command = tts.train_command(
            preset, seed, run_dir, ns.minutes * 60, ns.snapshot_minutes * 60, overrides
        )
        _, wanted = preset_config(preset, [a for a in command if "=" in a])  # its key=value overrides
        got = flatten(to_dict(from_dict(type(wanted), read_checkpoint(run_dir)["config"])))
        other = {
            k: (v, got.get(k))
            for k, v in flatten(to_dict(wanted)).items()
            if k != "run_dir" and got.get(k) != v
        }
        if other:
            raise SystemExit(
                f"{run_dir} trained with another config ("
                + ", ".join(f"{k}={g} where this comparison trains {w}" for k, (w, g) in other.items())
                + "): use another --work-dir or remove it"
            )


def budget_counters(run_dir: Path) -> dict:
    """The counters (frame, update, time_s) of the run's last snapshot, the one at the budget."""
    from policies.training.checkpoint import read_checkpoint

    snapshots = sorted((run_dir / "snapshots").glob("snapshot_*.pt"))
    return read_checkpoint(snapshots[-1])["counters"] if snapshots else {}


def process_minutes(run_dir: Path) -> float | None:
    """Launch to exit of the run's process: training time plus setup (env workers, demonstrations) and saving."""
    done = run_dir / tts.DONE
    return round(json.loads(done.read_text())["wall_s"] / 60, 2) if done.exists() else None


def min_available(work: Path) -> float | None:
    """The least memory available (GiB) while the preset trained, from time_to_success.py's load samples."""
    path = work / "load.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    values = [r["mem_available_gib"] for r in rows if "mem_available_gib" in r]
    return min(values) if values else None


def describe(preset: str, overrides: list[str]) -> dict:
    """What each run is made of: algorithm, image, batch, train envs, torch threads, replay."""
    from common.config import flat_keys

    algo, cfg = preset_config(preset, overrides)
    env = cfg.env
    batch_key = next(k for k in flat_keys(type(cfg)) if k.endswith("batch_size"))
    key = replay_key(cfg)
    return {
        "algo": algo,
        "image": f"{3 * env.frame_stack}x{env.image_size}x{env.image_size}",
        "values_per_sample": 3 * env.frame_stack * env.image_size**2,
        "batch": value(cfg, batch_key),
        "train_envs": getattr(cfg, "num_train_envs", 1),
        "torch_threads": cfg.torch_threads or os.cpu_count(),
        "replay_key": key,
        "replay_capacity": value(cfg, key) if key else None,
        "frames_per_transition": getattr(cfg, "frames_per_step", None),
        "demo_episodes": getattr(cfg, "demo_episodes", 0),
        # the task it trains and is judged on: the same stage for all, but each preset's own episode length and
        # randomisation (evaluation runs the training env's randomisation)
        "task": f"{env.episode_steps} steps; "
        + (", ".join(env.randomization.enabled_groups()) or "no randomisation"),
    }


def run_preset(args: argparse.Namespace, preset: str, overrides: list[str]) -> dict:
    """Train (unless done), evaluate and summarise one preset's seeds."""
    ns = preset_args(args, preset)
    work = args.work_dir / preset
    work.mkdir(parents=True, exist_ok=True)
    refuse_other_runs(work, ns, preset, overrides)
    done = [seed for seed in ns.seed_list if (work / f"seed_{seed}" / tts.DONE).exists()]
    if done and len(done) < len(ns.seed_list) and not ns.report_only:
        # a seed trained alone would get more of the machine than the others' seeds did: train all of them again
        print(
            f"{preset}: seeds {done} finished but not all; training all {len(ns.seed_list)} side by side again"
        )
        for seed in done:
            (work / f"seed_{seed}" / tts.DONE).unlink()
    commands = tts.train_seeds(ns, work, overrides)
    return {"ns": ns, "work": work, "commands": commands}


def report_preset(args: argparse.Namespace, preset: str, overrides: list[str], run: dict) -> dict:
    ns, work = run["ns"], run["work"]
    curves = tts.evaluate_seeds(ns, work)
    summary = tts.summarise(ns, curves, work)
    info = describe(preset, overrides)
    for s in summary["per_seed"]:
        counters = budget_counters(work / f"seed_{s['seed']}")
        s["updates"] = counters.get("update")
        s["process_minutes"] = process_minutes(work / f"seed_{s['seed']}")
        s["at_budget"] = (
            s["final_episodes"] is not None
            and s["final_episodes"] >= args.episodes
            and s["final_minutes"] >= args.minutes * 0.999
        )
        if info["replay_capacity"] and info["frames_per_transition"] and s["final_frames"] is not None:
            s["replay_fill"] = round(
                s["final_frames"] / info["frames_per_transition"] / info["replay_capacity"], 3
            )
    finals = [s["final_success"] for s in summary["per_seed"] if s["final_success"] is not None]
    return {
        "label": PRESETS.get(preset, preset),
        **info,
        "overrides": overrides,
        "per_seed": summary["per_seed"],
        "mean_success": round(sum(finals) / len(finals), 3) if finals else None,
        "load1_mean": summary["load1_mean"],
        "load1_max": summary["load1_max"],
        "mem_available_min_gib": min_available(work),
        # as typed from the repository root, where the runs train
        "commands": {seed: shlex.join(cmd).replace(f"{ROOT}/", "") for seed, cmd in run["commands"].items()},
        "curves": curves,
    }


# -- report --------------------------------------------------------------------------------------------------------
def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def plot(args: argparse.Namespace, results: dict[str, dict]) -> None:
    """Success over training wall time and over env frames: per algorithm the mean over seeds, seeds' range
    shaded, each seed's snapshots as dots (screened on ``--screen`` episodes, the passing and last on all)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    colours = plt.get_cmap("tab10")
    for i, (preset, r) in enumerate(results.items()):
        curves = [pts for pts in r["curves"].values() if pts]
        if not curves:
            continue
        for ax, key, scale in ((axes[0], "time_s", 1 / 60), (axes[1], "frame", 1.0)):
            lo, hi = min(p[key] for pts in curves for p in pts), max(p[key] for pts in curves for p in pts)
            grid = np.linspace(lo, hi, 100) if key == "time_s" else np.geomspace(max(lo, 1), max(hi, 2), 100)
            stacked = []
            for pts in curves:
                x, y = np.array([p[key] for p in pts], float), np.array([p["success"] for p in pts])
                ax.plot(x * scale, y, "o", color=colours(i), markersize=2.5, alpha=0.5)
                stacked.append(np.interp(grid, x, y, left=np.nan, right=np.nan))
            stacked = np.array(stacked)
            with warnings.catch_warnings():  # all-NaN columns (outside a seed's range) are expected
                warnings.simplefilter("ignore", RuntimeWarning)
                mean, low, high = np.nanmean(stacked, 0), np.nanmin(stacked, 0), np.nanmax(stacked, 0)
            label = f"{preset} ({r['algo']}): {fmt(r['mean_success'])} at {args.minutes:g} min"
            ax.plot(
                grid * scale, mean, color=colours(i), linewidth=1.8, label=label if key == "time_s" else None
            )
            ax.fill_between(grid * scale, low, high, color=colours(i), alpha=0.15)
    axes[0].axvline(args.minutes, color="red", linestyle=":", linewidth=0.8)
    axes[0].set_xlim(left=0)
    axes[0].set_xlabel("training wall time per run (min)")
    axes[1].set_xlabel("env frames (log)")
    axes[1].set_xscale("log")
    axes[0].set_ylabel("success (seeded eval episodes)")
    for ax in axes:
        ax.axhline(tts.GOAL, color="green", linestyle="--", linewidth=0.8)
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper left", fontsize=7)
    fig.suptitle(
        f"lift from home (stage 0{f', task of {args.task_from}' if args.task_from else ''}): "
        f"{args.minutes:g} min of training per run, {args.seeds} seeds side by side "
        f"on {os.cpu_count()} cores, algorithms one after another",
        fontsize=10,
    )
    fig.tight_layout()
    args.out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out_png, dpi=110)
    plt.close(fig)


def ranking(results: dict[str, dict]) -> list[str]:
    """Presets by mean success at the budget, then by mean minutes to 90% (sooner first)."""

    def key(preset: str):
        r = results[preset]
        minutes = _mean([s["minutes_to_90"] for s in r["per_seed"]]) or float("inf")
        return (-(r["mean_success"] or 0.0), minutes)

    return sorted(results, key=key)


def seed_range(r: dict) -> tuple[float, float]:
    finals = [s["final_success"] for s in r["per_seed"] if s["final_success"] is not None] or [0.0]
    return min(finals), max(finals)


def cost_line(preset: str, r: dict, minutes: float) -> str:
    updates = _mean([s["updates"] for s in r["per_seed"]]) or 0
    frames = _mean([s["final_frames"] for s in r["per_seed"]]) or 0
    per_update = (
        f"one per {minutes * 60 / updates:.2f} s of training time, env stepping included"
        if updates
        else "none yet"
    )
    return (
        f"`{preset}` did {frames:,.0f} frames and {updates:,.0f} updates per run ({per_update}), batch {r['batch']} of {r['image']} = "
        f"{r['batch'] * r['values_per_sample'] / 1e6:.2f} M input values per update, {r['train_envs']} train env(s), "
        f"{r['torch_threads']} torch thread(s)"
    )


def verdict(args: argparse.Namespace, results: dict[str, dict]) -> list[str]:
    """The computed framing: who is ahead at this budget, where DrQ-v2 loses (or does not), and the cost per
    update behind it. Nothing here is written by hand about results."""
    order = ranking(results)
    best = results[order[0]]
    lo, hi = seed_range(best)
    tied = [p for p in order if results[p]["mean_success"] == best["mean_success"]]
    lead = (
        f"**At {args.minutes:g} minutes, `{order[0]}` ({best['label']}) is ahead**"
        if len(tied) == 1
        else f"**At {args.minutes:g} minutes, none is ahead**: " + ", ".join(f"`{p}`" for p in tied) + " tie"
    )
    lines = [
        f"{lead}: mean success {fmt(best['mean_success'])} over {args.seeds} seeds (seeds {lo:.2f}-{hi:.2f}). "
        "Order by mean success at the budget: "
        + ", ".join(f"`{p}` {fmt(results[p]['mean_success'])}" for p in order)
        + ".",
        "",
    ]
    tasks = {results[p]["task"] for p in order}
    if len(tasks) > 1:
        lines += [
            "**Not the same task for all**: each preset trains and is judged on its own episode length and "
            "randomisation (the `task` column), so this order mixes the algorithm with how hard its task is: "
            + "; ".join(f"`{p}`: {results[p]['task']}" for p in order)
            + ". A preset that is ahead on an easier task has not shown it is ahead on the hardest one.",
            "",
        ]
    for preset in (p for p in order if results[p]["algo"] == "drqv2"):
        r, (dlo, dhi) = results[preset], seed_range(results[preset])
        ahead = [p for p in order if (results[p]["mean_success"] or 0) > (r["mean_success"] or 0)]
        if not ahead:
            lines.append(f"- DrQ-v2 `{preset}` loses to none of the others at this budget.")
            continue
        parts = []
        for p in ahead:
            plo, _ = seed_range(results[p])
            gap = "every seed of it above every DrQ-v2 seed" if plo > dhi else "seed ranges overlap"
            parts.append(f"`{p}` ({fmt(results[p]['mean_success'])}; {gap})")
        lines.append(
            f"- **DrQ-v2 `{preset}` loses** ({fmt(r['mean_success'])}, seeds {dlo:.2f}-{dhi:.2f}) to "
            + ", ".join(parts)
            + "."
        )
    lines += ["", "What each run got done in the budget (the why: cost per update and image size):", ""]
    lines += [f"- {cost_line(p, results[p], args.minutes)}." for p in order]
    return lines


def fmt(x, spec: str = ".2f", none: str = "-") -> str:
    return none if x is None else format(x, spec)


def markdown(args: argparse.Namespace, results: dict[str, dict], notes: list[str], command: str) -> str:
    mem = mem_total_bytes() / 2**30
    lines = [
        f"# Every algorithm at the same wall-clock budget ({args.minutes:g} min, {args.seeds} seeds)",
        "",
        "![success over training wall time](compare_algorithms.png)",
        "",
        "Task: the deployable lift (env.stage=0: home start, cube anywhere in the workspace), "
        + (
            f"**the same for every preset: `{args.task_from}`'s** episode length, cube, success rule, workspace and "
            f"randomisation (`TASK_KEYS`; what each preset learns with stays its own). Budget:"
            if args.task_from
            else "each preset's own episode length and randomisation. Budget:"
        )
        + f" **{args.minutes:g} minutes of training time per run**; the {args.seeds} seeds of a "
        f"preset train side by side and the presets one after another, so every algorithm meets the same share of "
        f"this machine ({os.cpu_count()} cores, {mem:.0f} GiB, no GPU). Success is over seeded evaluation episodes "
        f"(time_to_success.py's evaluator: episode i seeded {args.eval_seed} + i); the value at the budget is the "
        f"last snapshot's over **{args.episodes} episodes for every seed**. Snapshots every "
        f"{args.minutes / args.snapshots:g} min were screened on {args.screen} episodes; those at >= 85% went on to "
        f"all {args.episodes}, which is where minutes to 90% come from.",
        "",
        "| algorithm | preset | success at budget per seed | mean | min to 90% per seed | frames in budget "
        "(mean) | updates in budget (mean) | last snapshot at min (max) | image, batch | task: episode control "
        "steps; randomised | process min (mean) | load mean / max, least free GiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for preset in ranking(results):
        r = results[preset]
        seeds = r["per_seed"]
        per_seed = ", ".join(fmt(s["final_success"]) + ("" if s.get("at_budget") else "*") for s in seeds)
        to90 = ", ".join(fmt(s["minutes_to_90"], ".1f", "not reached") for s in seeds)
        lines.append(
            f"| {r['label']} | `{preset}` ({r['algo']}) | {per_seed} | **{fmt(r['mean_success'])}** | {to90} | "
            f"{fmt(_mean([s['final_frames'] for s in seeds]), ',.0f')} | "
            f"{fmt(_mean([s['updates'] for s in seeds]), ',.0f')} | "
            f"{fmt(max((s['final_minutes'] for s in seeds if s['final_minutes'] is not None), default=None))} | "
            f"{r['image']}, {r['batch']} | {r['task']} | "
            f"{fmt(_mean([s['process_minutes'] for s in seeds]), '.1f')} | "
            f"{fmt(r['load1_mean'])} / {fmt(r['load1_max'])}, {fmt(r['mem_available_min_gib'], '.1f')} |"
        )
    if any(not s.get("at_budget") for r in results.values() for s in r["per_seed"]):
        lines += ["", f"\\* not at the budget over {args.episodes} episodes (the run stopped early or its last "
                  "snapshot was not evaluated on all episodes): read it as missing."]  # fmt: skip
    demos = [f"`{p}` {r['demo_episodes']}" for p, r in results.items() if r["demo_episodes"]]
    lines += [
        "",
        "Process minutes are launch to exit of a run: its training time plus start-up (imports) and saving. "
        "Training time includes the trainer's setup (env workers"
        + (f"; the scripted demonstration episodes recorded first: {', '.join(demos)}" if demos else "")
        + "; SB3's clock starts once its env and model are built), one evaluation episode at the start of every run (the same for "
        "all) and ends at the first step, or DAgger iteration, past the budget: the last snapshot's minutes say by "
        "how much. Load is the 1-minute load average and free GiB the memory available, sampled every 30 s while "
        "that preset trained.",
        "",
        *verdict(args, results),
        "",
        "## Overrides",
        "",
        "Every run: the bookkeeping of benchmarks/time_to_success.py (stop on `train_seconds`, snapshots, no "
        "evaluations, video or replay saving inside the run). Beyond that:",
        "",
        *([f"- {n}" for n in notes] or ["- none: every preset as it is."]),
        "",
        "## Commands",
        "",
        f"Benchmark: `{command}`",
        "",
        "Runs (from the repository root):",
        "",
    ]
    for r in results.values():
        lines += [f"- `{cmd}`" for cmd in r["commands"].values()]
    return "\n".join(lines) + "\n"


def override_notes(results: dict[str, dict], why: dict[str, list[str]]) -> list[str]:
    """Each override, and for a smaller replay how full the budget got it (never full: it changed nothing)."""
    notes = []
    for preset, sentences in why.items():
        r = results[preset]
        fills = [s["replay_fill"] for s in r["per_seed"] if s.get("replay_fill") is not None]
        for sentence in sentences:
            if fills and sentence.startswith(f"{preset}: {r['replay_key']}="):
                state = (
                    "never full, so it changed nothing"
                    if max(fills) < 1
                    else "FULL: old experience was dropped"
                )
                sentence += f"; the budget filled at most {max(fills):.0%} of it ({state})"
            notes.append(sentence)
    return notes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=15.0, help="training time per run")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 1..N, side by side")
    parser.add_argument(
        "--snapshots", type=int, default=10, help="snapshots per run (the last one at the budget)"
    )
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument(
        "--task-from",
        default=None,
        metavar="PRESET",
        help="every preset trains and is judged on this preset's task (TASK_KEYS); default: each its own",
    )
    parser.add_argument("--eval-jobs", type=int, default=2)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--screen", type=int, default=20)
    parser.add_argument("--eval-seed", type=int, default=100_000)
    parser.add_argument(
        "--memory-gib",
        type=float,
        default=None,
        help="memory for one preset's seeds together (default: the RAM)",
    )
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--out-png", type=Path, default=ROOT / "docs" / "compare_algorithms.png")
    parser.add_argument("--out-md", type=Path, default=ROOT / "docs" / "compare_algorithms.md")
    parser.add_argument(
        "--report-only", action="store_true", help="no training; evaluate and report what is there"
    )
    args = parser.parse_args()
    args.seed_list = list(range(1, args.seeds + 1))
    suffix = f"_{args.task_from}_task" if args.task_from else ""
    args.work_dir = args.work_dir or ROOT / "runs" / "compare_algorithms" / f"{args.minutes:g}min{suffix}"
    memory = int(args.memory_gib * 2**30) if args.memory_gib is not None else mem_total_bytes()
    # how to reproduce: the same command without --report-only (which only re-reads the runs)
    command = shlex.join(
        ["python", "benchmarks/compare_algorithms.py", *(a for a in sys.argv[1:] if a != "--report-only")]
    )

    overrides, why = {}, {}
    for preset in args.presets:
        task = task_overrides(preset, args.task_from) if args.task_from else []
        memory_fit, why[preset] = memory_overrides(preset, args.seeds, memory)
        overrides[preset] = task + memory_fit
        if task:
            why[preset].insert(0, f"{preset}: the task of `{args.task_from}`: {' '.join(task)}")
        for sentence in why[preset]:
            print(f"override {sentence}", flush=True)
    runs = {}
    for preset in args.presets:  # one after another: each preset's seeds meet the same machine
        print(f"== {preset}: {args.seeds} seeds x {args.minutes:g} min", flush=True)
        runs[preset] = run_preset(args, preset, overrides[preset])
    results = {
        preset: report_preset(args, preset, overrides[preset], runs[preset]) for preset in args.presets
    }

    notes = override_notes(results, why)
    plot(args, results)
    args.out_md.parent.mkdir(parents=True, exist_ok=True)
    args.out_md.write_text(markdown(args, results, notes, command))
    for line in verdict(args, results):
        print(line)
    print(json.dumps({
        "benchmark": "compare_algorithms",
        "minutes": args.minutes,
        "seeds": args.seed_list,
        "eval_episodes": args.episodes,
        "cpu_count": os.cpu_count(),
        "ranking": ranking(results),
        "per_preset": {
            p: {k: v for k, v in r.items() if k not in ("curves", "commands")} for p, r in results.items()
        },
        "overrides": notes,
        "png": str(args.out_png),
        "md": str(args.out_md),
    }))  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
