"""The frame-counted training loop's frame around an algorithm's own iterations: construction, stop signals,
the progress bar, the evaluation's log line, the checkpoint saved on every way out (finished, Ctrl-C, SIGTERM,
an exception after training started) and the training time that survives resumes. The DrQ-v2 (and so Squint)
and DAgger trainers differ only in ``_setup``, ``_loop``, ``evaluate``, ``save`` and ``close`` (and set
``self.logger``), so those are what a subclass writes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from policies.training.device import resolve_device, set_torch_threads
from policies.training.signals import StopRequest
from policies.training.wall_clock import SNAPSHOT_DIR, SnapshotSchedule

if TYPE_CHECKING:
    from policies.training.evaluate import EvalResult


def next_multiple(frame: int, every: int) -> int:
    """The first multiple of ``every`` after ``frame``: when the next log, evaluation or checkpoint is due."""
    return (frame // every + 1) * every


def clock(seconds: float) -> str:
    """``seconds`` as m:ss (h:mm:ss from an hour), as rich shows elapsed time."""
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class TrainingTimeColumn(ProgressColumn):
    """Training time done out of ``train_seconds``: what a run that stops on time counts down."""

    def render(self, task: Task) -> Text:
        return Text(f"{clock(task.completed)}/{clock(task.total or 0)} training time")


class FrameLoopTrainer:
    show_eta = True  # the DAgger trainer's bar has shown none; kept so

    def __init__(self, cfg: Any, run_dir: str | Path, resume: bool = False, console: Console | None = None):
        cfg.validate()
        self.cfg, self.run_dir, self.resume = cfg, Path(run_dir), resume
        self.console = console or Console()
        self.device = resolve_device(cfg.device)
        set_torch_threads(cfg.torch_threads, self.device)
        self.counters = {"frame": 0, "iteration": 0, "episode": 0, "update": 0}
        self._stop = StopRequest(self._announce_stop)

    # -- what a subclass writes --------------------------------------------------------------------------------
    def _setup(self) -> None:
        raise NotImplementedError

    def _loop(self, progress: Progress, task) -> dict:
        raise NotImplementedError

    def save(self) -> Path:
        raise NotImplementedError

    def save_snapshot(self, path: Path) -> Path:
        """The checkpoint file alone (no replay) at ``path``."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------------------------
    def _elapsed(self) -> float:
        return self._time_before + time.perf_counter() - self._t0

    def running(self) -> bool:
        """Whether the loop should go on: frames and (when set) training seconds left, no stop requested."""
        cfg = self.cfg
        if self.counters["frame"] >= cfg.num_train_frames or self._stop:
            return False
        elapsed = self._elapsed()
        if cfg.out_of_time(elapsed):
            self.snapshot_if_due(elapsed)  # the one at the budget, where the last step ended just short of it
            return False
        return True

    def snapshot_if_due(self, elapsed: float | None = None) -> Path | None:
        """Every ``snapshot_every_seconds`` of training time, the checkpoint as ``snapshots/snapshot_NNNN.pt``
        (NNNN: the multiple of the period), its counters holding the exact frame and ``time_s``."""
        name = self._snapshots.due(self._elapsed() if elapsed is None else elapsed)
        if name is None:
            return None
        self._record_time()
        return self.save_snapshot(self.run_dir / SNAPSHOT_DIR / name)

    def checkpoint_if_due(self, next_ckpt: int) -> int:
        """The end of every loop iteration: the checkpoint once ``next_ckpt`` frames are reached, a snapshot when
        its training time is due. Returns the frame of the next checkpoint."""
        if self.counters["frame"] >= next_ckpt:
            self.save()
            next_ckpt = next_multiple(self.counters["frame"], self.cfg.checkpoint_every_frames)
        self.snapshot_if_due()
        return next_ckpt

    def finish(self, last_eval: dict) -> dict:
        """After the loop: a last evaluation unless one was made at this frame or a stop was asked for."""
        c = self.counters
        if not self._stop and (not last_eval or last_eval["frame"] != c["frame"]):
            last_eval = self.evaluate()
        c["time_s"] = self._elapsed()
        return last_eval

    def _record_time(self) -> None:
        """Counters' ``time_s`` up to now, before they are saved (training time survives a resume)."""
        if hasattr(self, "_t0"):
            self.counters["time_s"] = self._elapsed()

    def _progress_columns(self) -> tuple[ProgressColumn, ...]:
        """A run that stops on training time counts seconds (a user sees how long is left) and shows frames as
        text; otherwise the bar counts frames. Where each run's bar goes: ``update_progress``."""
        if self.cfg.train_seconds > 0:
            count = (TrainingTimeColumn(), TextColumn("{task.fields[frames]:,} frames"))
        else:
            count = (MofNCompleteColumn(), TextColumn("frames"))
        eta = (TextColumn("ETA"), TimeRemainingColumn()) if self.show_eta else ()
        return (TextColumn("[bold]{task.description}"), BarColumn(), *count, TimeElapsedColumn(), *eta)

    def _progress_total(self) -> float:
        return self.cfg.train_seconds if self.cfg.train_seconds > 0 else self.cfg.num_train_frames

    def update_progress(self, progress: Progress, task) -> None:
        """The bar after an iteration: training time (with the frames as text) or frames, as the columns say."""
        total, frames = self._progress_total(), self.counters["frame"]
        done = self._elapsed() if self.cfg.train_seconds > 0 else frames
        progress.update(task, completed=min(done, total), frames=frames)

    def log_evaluation(self, result: EvalResult) -> dict:
        """The evaluation's numbers with the counters and the training time, logged as ``eval`` and returned."""
        low, high = result.success_interval
        values = {
            **self.counters,
            "time_s": self._elapsed(),
            "episode_return": result.mean_return,
            "episode_length": result.mean_length,
            "success_rate": result.success_rate,
            "success_low": low,
            "success_high": high,
        }
        self.logger.log("eval", values)
        return values

    def run(self) -> dict:
        """Train to ``num_train_frames`` (or ``train_seconds``); returns the last evaluation. Ctrl-C or SIGTERM saves a checkpoint and
        returns; so does an exception once training has started (the checkpoint is then the last good state)."""
        started = False
        last_eval: dict = {}
        try:
            with self._stop:
                # training time includes the setup (env workers, recorded demonstrations): a user waits for it
                setup_started = time.perf_counter()
                self._setup()
                cfg, c = self.cfg, self.counters
                self._t0, self._time_before = setup_started, float(c.get("time_s", 0.0))
                self._snapshots = SnapshotSchedule(cfg.snapshot_every_seconds, self._time_before)
                progress = Progress(*self._progress_columns(), console=self.console, disable=not cfg.progress)
                with progress:
                    task = progress.add_task(
                        self.run_dir.name, total=self._progress_total(), frames=c["frame"]
                    )
                    self.update_progress(progress, task)
                    started = True
                    last_eval = self._loop(progress, task)
                    self.update_progress(progress, task)  # the final evaluation's time too
        finally:
            try:
                if started:
                    path = self.save()
                    interrupted = f" (interrupted by {self._stop.signal_name})" if self._stop else ""
                    self.console.print(f"checkpoint: {path}{interrupted}", highlight=False)
            finally:
                self.close()
        return last_eval

    def _announce_stop(self, signal_name: str) -> None:
        self.console.print(
            f"[bold red]{signal_name}: finishing this iteration, saving a checkpoint, exiting[/]",
            highlight=False,
        )
