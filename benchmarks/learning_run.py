"""Shared by the learning benchmarks: train one preset, then plot its eval curve from metrics.csv to a PNG.

    python benchmarks/learning_run.py --preset drqv2_cpu --out docs/learning_pixels.png [key=value ...]
    python benchmarks/learning_run.py --plot-only RUN_DIR --out docs/x.png     # re-plot a finished run

Last line: one JSON object (run_dir, frames, hours, final and best success with 95% intervals).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_evals(run_dir: Path) -> list[dict[str, float]]:
    with open(run_dir / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] == "eval"]
    keys = ("frame", "time_s", "success_rate", "success_low", "success_high", "episode_return")
    return [{k: float(r[k]) for k in keys} for r in rows]


def plot(
    run_dir: Path,
    out: Path,
    title: str,
    command: str,
    compare: list[tuple[Path, str]] = (),
    marks: list[tuple[float, str]] = (),
) -> dict:
    evals = read_evals(run_dir)
    if not evals:
        raise SystemExit(f"{run_dir}/metrics.csv has no eval rows yet")
    frames = [e["frame"] for e in evals]
    fig, (ax, ax_r) = plt.subplots(2, 1, figsize=(7.5, 6.5), sharex=True, height_ratios=(2, 1))
    ax.fill_between(frames, [e["success_low"] for e in evals], [e["success_high"] for e in evals], alpha=0.25,
                    label="95% Wilson interval")  # fmt: skip
    ax.plot(frames, [e["success_rate"] for e in evals], marker="o", ms=3, label="eval success rate")
    ax_r.plot(frames, [e["episode_return"] for e in evals], color="tab:blue")
    for other, label in compare:
        rows = read_evals(other)
        xs = [e["frame"] for e in rows]
        ax.plot(xs, [e["success_rate"] for e in rows], marker="x", ms=3, ls=":", color="tab:red", label=label)
        ax_r.plot(xs, [e["episode_return"] for e in rows], ls=":", color="tab:red")
    for frame, label in marks:
        for axis in (ax, ax_r):
            axis.axvline(frame, color="tab:orange", lw=0.8)
        ax.text(frame, 0.5, f" {label}", color="tab:orange", fontsize=7, rotation=90, va="center")
    ax.axhline(0.9, color="grey", ls="--", lw=0.8)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("success rate")
    ax.legend(loc="center right", fontsize=8)
    ax.set_title(title)
    ax_r.set_ylabel("eval return")
    ax_r.set_xlabel(f"env frames (wall time {evals[-1]['time_s'] / 3600:.2f} h on a shared 2-core CPU)")
    footer = "\n".join(textwrap.wrap(command, 150))
    fig.text(0.01, 0.005, footer, fontsize=5.5, family="monospace", va="bottom")
    fig.tight_layout(rect=(0, 0.015 * (footer.count("\n") + 2), 1, 1))
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


def train(preset: str, overrides: list[str], command: str) -> Path:
    from common.config import load_config, save_resolved
    from policies.drqv2.config import TrainConfig
    from policies.drqv2.trainer import Trainer
    from policies.training.run_dir import resolve_run_dir

    cfg = load_config(TrainConfig, preset, overrides)
    run_dir = resolve_run_dir(cfg)
    save_resolved(cfg, run_dir / "config.yaml")
    (run_dir / "command.txt").write_text(command + "\n")
    Trainer(cfg, run_dir).run()
    return run_dir


def main(default_preset: str | None = None, default_out: str | None = None, default_title: str = "") -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=default_preset)
    parser.add_argument("--out", default=default_out, required=default_out is None)
    parser.add_argument("--title", default=default_title)
    parser.add_argument("--plot-only", type=Path, default=None, help="plot an existing run directory")
    parser.add_argument("--compare", action="append", default=[], metavar="RUN_DIR:LABEL",
                        help="also draw another run's success curve (e.g. an ablation)")  # fmt: skip
    parser.add_argument("--mark", action="append", default=[], metavar="FRAME:LABEL",
                        help="vertical line at an env frame (e.g. where a run was resumed)")  # fmt: skip
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    command = "python " + " ".join(sys.argv)
    if args.plot_only:
        run_dir = args.plot_only
        saved = run_dir / "command.txt"
        command = saved.read_text().strip() if saved.exists() else f"(run directory {run_dir})"
    else:
        run_dir = train(args.preset, args.overrides, command)
    title = args.title or f"DrQ-v2, preset {args.preset}"
    compare = [(Path(c.split(":", 1)[0]), c.split(":", 1)[1]) for c in args.compare]
    marks = [(float(m.split(":", 1)[0]), m.split(":", 1)[1]) for m in args.mark]
    print(json.dumps(plot(run_dir, Path(args.out), title, command, compare, marks)))


if __name__ == "__main__":
    main()
