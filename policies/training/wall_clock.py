"""Run-level config keys about training wall time, and when a run stops on them or leaves a snapshot, shared by
every trainer (policies/training/loop.py and the SB3 SAC baseline, which runs SB3's own loop).

Kept apart from the loop, and free of torch, so that configs (which the registry loads without torch) can inherit
them and a trainer that is not on the loop can ask the same questions.
"""

from __future__ import annotations

from dataclasses import dataclass

SNAPSHOT_DIR = "snapshots"


@dataclass
class WallClockKeys:
    """The run-level keys about training wall time that every trainer reads (the configs inherit them).
    Time-to-success is the measure that matters to a user on a small machine, and a frame budget does not say
    how long a run takes, so a run can stop on time too and leave snapshots to evaluate afterwards (without
    pausing training for evaluations that would then count in its time)."""

    train_seconds: float = 0.0  # stop after this much training wall time (0: the frame budget alone)
    snapshot_every_seconds: float = 0.0  # copy the checkpoint (no replay) to snapshots/ this often (0: never)

    def check_wall_clock(self) -> None:
        if self.train_seconds < 0 or self.snapshot_every_seconds < 0:
            raise ValueError("train_seconds and snapshot_every_seconds must be >= 0 (0 switches them off)")

    def out_of_time(self, elapsed: float) -> bool:
        """Whether ``elapsed`` seconds of training used up ``train_seconds`` (never when that is 0)."""
        return self.train_seconds > 0 and elapsed >= self.train_seconds


class SnapshotSchedule:
    """Which snapshot, if any, is due after ``elapsed`` seconds of training: one every ``every`` seconds, named
    ``snapshot_NNNN.pt`` after the multiple of the period it passed (a resumed run goes on from its training
    time, not from 0). A trainer asks after each step, and once more when it stops on time, so a budget that is
    a multiple of the period always ends with a snapshot at the budget (what a comparison at that budget
    evaluates)."""

    def __init__(self, every: float, time_before: float = 0.0):
        self.every = every
        self.last = int(time_before // every) if every > 0 else 0

    def due(self, elapsed: float) -> str | None:
        """The file name of the snapshot to write now under ``SNAPSHOT_DIR``, or None."""
        if self.every <= 0:
            return None
        index = int(elapsed // self.every)
        if index <= self.last:
            return None
        self.last = index
        return f"snapshot_{index:04d}.pt"
