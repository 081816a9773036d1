"""Where training numbers go: RoboBase-style console lines, metrics.csv, TensorBoard, and (optionally) wandb.

Console lines, one per log period and per evaluation:

    | train | Iter: 1200 | S: 19200 | E: 96 | BS: 19200 | Env FPS: 310.2 | Update FPS: 38.8 | T: 0:01:02
    | eval | Iter: 1200 | S: 19200 | E: 96 | L: 100.0 | R: 41.37 | success: 0.70 | T: 0:01:02

Iter = vector-env iterations, S = env frames, E = finished train episodes, BS = transitions in replay, FPS =
frames (or gradient updates) per wall-clock second over the log period, T = wall time since the run started,
L/R = mean length (agent steps) and return of the eval episodes. metrics.csv has one fixed set of columns for
both kinds of rows, so any spreadsheet or pandas can plot it.
"""

from __future__ import annotations

import csv
import datetime
import math
from pathlib import Path
from typing import Any

from rich.console import Console

CSV_COLUMNS = (
    "kind",
    "iteration",
    "frame",
    "episode",
    "time_s",
    "buffer_size",
    "env_fps",
    "update_fps",
    "episode_return",
    "episode_length",
    "success_rate",
    "success_low",
    "success_high",
    "critic_loss",
    "critic_q1",
    "critic_target_q",
    "actor_loss",
    "stddev",
)

_LINES = {
    "train": (("Iter", "iteration", "d"), ("S", "frame", "d"), ("E", "episode", "d"), ("BS", "buffer_size", "d"),
              ("Env FPS", "env_fps", ".1f"), ("Update FPS", "update_fps", ".1f")),
    "eval": (("Iter", "iteration", "d"), ("S", "frame", "d"), ("E", "episode", "d"), ("L", "episode_length", ".1f"),
             ("R", "episode_return", ".2f"), ("success", "success_rate", ".2f")),
}  # fmt: skip
_COLOURS = {"train": "yellow", "eval": "green"}


def format_line(kind: str, values: dict[str, Any]) -> str:
    parts = [f"| {kind} "]
    for label, key, fmt in _LINES[kind]:
        value = values.get(key, float("nan"))
        parts.append(f"| {label}: {format(int(value) if fmt == 'd' else float(value), fmt)} ")
    parts.append(f"| T: {datetime.timedelta(seconds=int(values.get('time_s', 0)))}")
    return "".join(parts)


class MetricsLogger:
    def __init__(
        self,
        run_dir: Path,
        console: Console | None = None,
        tensorboard: bool = True,
        wandb: bool = False,
        wandb_project: str = "so101-deploy",
        config: dict | None = None,
        name: str = "",
    ):
        self.console = console or Console()
        path = Path(run_dir) / "metrics.csv"
        fresh = not path.exists()
        self._csv_file = path.open("a", newline="")
        self._csv = csv.DictWriter(self._csv_file, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        if fresh:
            self._csv.writeheader()
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(Path(run_dir) / "tb"))
        self._wandb = None
        if wandb:
            try:
                import wandb as wandb_module
            except ImportError:
                raise RuntimeError(
                    "wandb=true but wandb is not installed: pip install wandb (or set wandb=false)"
                ) from None
            self._wandb = wandb_module.init(project=wandb_project, name=name, config=config, dir=str(run_dir))

    def log(self, kind: str, values: dict[str, Any]) -> None:
        self.console.print(format_line(kind, values), style=_COLOURS[kind], highlight=False, soft_wrap=True)
        self._csv.writerow({k: _csv_value(values.get(k)) for k in CSV_COLUMNS} | {"kind": kind})
        self._csv_file.flush()
        frame = int(values["frame"])
        scalars = {
            k: float(v) for k, v in values.items() if isinstance(v, int | float) and k not in ("frame",)
        }
        if self._tb is not None:
            for key, value in scalars.items():
                if math.isfinite(value):
                    self._tb.add_scalar(f"{kind}/{key}", value, frame)
            self._tb.flush()
        if self._wandb is not None:
            self._wandb.log({f"{kind}/{k}": v for k, v in scalars.items()}, step=frame)

    def close(self) -> None:
        self._csv_file.close()
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return value
