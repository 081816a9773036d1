"""Shared by the learning benchmarks: train one preset, then plot its eval curve from metrics.csv to a PNG.

    python benchmarks/learning_run.py --preset cpu --out docs/learning_pixels.png [key=value ...]
    python benchmarks/learning_run.py --plot-only RUN_DIR --out docs/x.png     # re-plot a finished run

Last line: one JSON object (run_dir, frames, hours, final and best success with 95% intervals).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_evals(run_dir: Path) -> list[dict[str, float]]:
    with open(run_dir / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] == "eval"]
    keys = ("frame", "time_s", "success_rate", "success_low", "success_high", "episode_return")
    return [{k: float(r[k]) for k in keys} for r in rows]


def plot(run_dir: Path, out: Path, title: str, command: str) -> dict:
    evals = read_evals(run_dir)
    if not evals:
        raise SystemExit(f"{run_dir}/metrics.csv has no eval rows yet")
    frames = [e["frame"] for e in evals]
    fig, (ax, ax_r) = plt.subplots(2, 1, figsize=(7, 6), sharex=True, height_ratios=(2, 1))
    ax.fill_between(frames, [e["success_low"] for e in evals], [e["success_high"] for e in evals], alpha=0.25,
                    label="95% Wilson interval")  # fmt: skip
    ax.plot(frames, [e["success_rate"] for e in evals], marker="o", ms=3, label="eval success rate")
    ax.axhline(0.9, color="grey", ls="--", lw=0.8)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("success rate")
    ax.legend(loc="lower right")
    ax.set_title(title)
    ax_r.plot(frames, [e["episode_return"] for e in evals], color="tab:green")
    ax_r.set_ylabel("eval return")
    ax_r.set_xlabel(f"env frames (wall time {evals[-1]['time_s'] / 3600:.2f} h)")
    fig.text(0.01, 0.005, command, fontsize=6, family="monospace")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    best = max(evals, key=lambda e: (e["success_rate"], e["frame"]))
    last = evals[-1]
    return {
        "run_dir": str(run_dir),
        "png": str(out),
        "frames": int(last["frame"]),
        "hours": round(last["time_s"] / 3600, 3),
        "final_success": last["success_rate"],
        "final_interval": [round(last["success_low"], 3), round(last["success_high"], 3)],
        "best_success": best["success_rate"],
        "best_frame": int(best["frame"]),
        "first_frame_at_90": next((int(e["frame"]) for e in evals if e["success_rate"] >= 0.9), None),
    }


def train(preset: str, overrides: list[str]) -> Path:
    from policies.drqv2.config import TrainConfig
    from policies.drqv2.trainer import Trainer, resolve_run_dir
    from so101_deploy.config import load_config, save_resolved

    cfg = load_config(TrainConfig, preset, overrides)
    run_dir = resolve_run_dir(cfg)
    save_resolved(cfg, run_dir / "config.yaml")
    Trainer(cfg, run_dir).run()
    return run_dir


def main(default_preset: str | None = None, default_out: str | None = None, default_title: str = "") -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=default_preset)
    parser.add_argument("--out", default=default_out, required=default_out is None)
    parser.add_argument("--title", default=default_title)
    parser.add_argument("--plot-only", type=Path, default=None, help="plot an existing run directory")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    command = "python " + " ".join(sys.argv)
    run_dir = args.plot_only if args.plot_only else train(args.preset, args.overrides)
    title = args.title or f"DrQ-v2, preset {args.preset}"
    print(json.dumps(plot(run_dir, Path(args.out), title, command)))


if __name__ == "__main__":
    main()
