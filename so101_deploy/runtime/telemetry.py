"""Per-tick timings and states of a run, their p50/p99 summary, and the plots that make them readable.

One JSON line per tick is written as the run goes, so a crash still leaves the data up to the crash.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from common.atomic_file import write_text

TIMING_FIELDS = (
    "period_ms",
    "frame_age_ms",
    "preprocess_ms",
    "inference_ms",
    "bus_read_ms",
    "bus_write_ms",
    "compute_ms",
)


@dataclass
class TickRecord:
    tick: int
    t: float  # seconds since the loop started
    episode: int = 0
    period_ms: float = float("nan")  # time since the previous tick started
    frame_age_ms: float = float("nan")  # age of the camera frame the action was computed from
    preprocess_ms: float = float("nan")
    inference_ms: float = float("nan")
    bus_read_ms: float = float("nan")
    bus_write_ms: float = float("nan")
    compute_ms: float = float(
        "nan"
    )  # frame in hand -> command ready (preprocess + inference + control + safety)
    joint_pos: list[float] = field(default_factory=list)  # measured, sim radians
    joint_target: list[float] = field(default_factory=list)  # commanded, sim radians
    action: list[float] = field(default_factory=list)
    held: bool = False  # safety held position this tick
    events: list[str] = field(default_factory=list)


def percentiles(values: list[float]) -> dict[str, float]:
    arr = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if arr.size == 0:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan"), "n": 0}
    return {
        "p50": float(np.percentile(arr, 50)),
        "p99": float(np.percentile(arr, 99)),
        "max": float(arr.max()),
        "n": int(arr.size),
    }


class Telemetry:
    """Collects TickRecords, streams them to ``ticks.jsonl`` and writes ``summary.json`` and plots at the end."""

    def __init__(self, out_dir: str | Path | None):
        self.out_dir = Path(out_dir) if out_dir else None
        self.records: list[TickRecord] = []
        self._fh = None
        if self.out_dir:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.out_dir / "ticks.jsonl", "w")  # noqa: SIM115 - closed in close()

    def add(self, record: TickRecord) -> None:
        self.records.append(record)
        if self._fh:
            self._fh.write(json.dumps(asdict(record)) + "\n")
            self._fh.flush()

    def summary(self) -> dict[str, dict[str, float]]:
        return {name: percentiles([getattr(r, name) for r in self.records]) for name in TIMING_FIELDS}

    def close(self, extra: dict | None = None, plots: bool = True) -> dict:
        summary = {"ticks": len(self.records), "timings_ms": self.summary(), **(extra or {})}
        if self._fh:
            self._fh.close()
            self._fh = None
        if self.out_dir:
            write_text(self.out_dir / "summary.json", json.dumps(summary, indent=2))
            if plots and self.records:
                self.plot()
        return summary

    def plot(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
        for name in ("compute_ms", "inference_ms", "bus_read_ms", "bus_write_ms"):
            vals = [getattr(r, name) for r in self.records if np.isfinite(getattr(r, name))]
            if vals:
                axes[0].hist(vals, bins=40, alpha=0.6, label=name)
        axes[0].set_xlabel("ms")
        axes[0].set_title("per-tick latency")
        axes[0].legend(fontsize=7)
        periods = [r.period_ms for r in self.records if np.isfinite(r.period_ms)]
        axes[1].hist(periods, bins=40, color="tab:purple")
        axes[1].set_title("loop period (ms)")
        t = [r.t for r in self.records if r.joint_pos and r.joint_target]
        pos = np.array([r.joint_pos for r in self.records if r.joint_pos and r.joint_target])
        tgt = np.array([r.joint_target for r in self.records if r.joint_pos and r.joint_target])
        if len(t):
            for j in range(pos.shape[1]):
                (line,) = axes[2].plot(t, tgt[:, j], "--", lw=1)
                axes[2].plot(t, pos[:, j], color=line.get_color(), lw=1)
        axes[2].set_title("joint targets (--) vs measured (rad)")
        axes[2].set_xlabel("s")
        fig.tight_layout()
        fig.savefig(self.out_dir / "telemetry.png", dpi=90)
        plt.close(fig)
