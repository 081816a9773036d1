"""Run-level config keys about training wall time, shared by every trainer on policies/training/loop.py.

Kept apart from the loop so that configs (which the registry loads without torch) can inherit them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class WallClockKeys:
    """The run-level keys about training wall time that every trainer on this loop reads (the configs inherit
    them). Time-to-success is the measure that matters to a user on a small machine, and a frame budget does not
    say how long a run takes, so a run can stop on time too and leave snapshots to evaluate afterwards (without
    pausing training for evaluations that would then count in its time)."""

    train_seconds: float = 0.0  # stop after this much training wall time (0: the frame budget alone)
    snapshot_every_seconds: float = 0.0  # copy the checkpoint (no replay) to snapshots/ this often (0: never)

    def check_wall_clock(self) -> None:
        if self.train_seconds < 0 or self.snapshot_every_seconds < 0:
            raise ValueError("train_seconds and snapshot_every_seconds must be >= 0 (0 switches them off)")
