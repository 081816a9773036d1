"""Training that stops on time and leaves snapshots (policies/training/wall_clock.py, loop.py): what
benchmarks/time_to_success.py and `make demo` rely on. A fake clock drives a trainer on the shared loop."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

import policies.training.loop as loop_module
from policies.training.loop import SNAPSHOT_DIR, FrameLoopTrainer
from policies.training.wall_clock import WallClockKeys


@dataclass
class FakeConfig(WallClockKeys):
    device: str = "cpu"
    torch_threads: int = 1
    progress: bool = False
    num_train_frames: int = 1000

    def validate(self) -> None:
        self.check_wall_clock()


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class SecondPerIteration(FrameLoopTrainer):
    """Each iteration is 10 frames and one second of the fake clock."""

    def __init__(self, cfg, run_dir, clock: FakeClock, resume=False, console: Console | None = None):
        super().__init__(cfg, run_dir, resume=resume, console=console)
        self.clock, self.snapshots = clock, []

    def _setup(self) -> None:
        pass

    def _loop(self, progress, task) -> dict:
        while self.running():
            self.clock.now += 1.0
            self.counters["frame"] += 10
            if (path := self.snapshot_if_due()) is not None:
                self.snapshots.append((path.name, self.counters["frame"], self.counters["time_s"]))
            self.update_progress(progress, task)
        return {}

    def save_snapshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(self.counters))
        return path

    def save(self) -> Path:
        self._record_time()
        return self.save_snapshot(self.run_dir / "checkpoint.pt")

    def close(self) -> None:
        pass


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(loop_module.time, "perf_counter", fake)
    return fake


def test_training_stops_on_time_before_the_frame_budget(tmp_path, clock):
    trainer = SecondPerIteration(FakeConfig(train_seconds=7.0), tmp_path, clock)
    trainer.run()
    assert trainer.counters["frame"] == 70 and trainer.counters["time_s"] == pytest.approx(7.0)


class SlowSetup(SecondPerIteration):
    """Three seconds of setup (env workers starting, demonstrations recorded) before the first iteration."""

    def _setup(self) -> None:
        self.clock.now += 3.0


def test_the_setup_counts_as_training_time(tmp_path, clock):
    """A user waits for the envs and the recorded demonstrations too: a preset that records demonstrations must
    not look faster than one that does not."""
    trainer = SlowSetup(FakeConfig(train_seconds=7.0), tmp_path, clock)
    trainer.run()
    assert trainer.counters["frame"] == 40 and trainer.counters["time_s"] == pytest.approx(7.0)


def test_the_frame_budget_still_stops_a_timed_run(tmp_path, clock):
    trainer = SecondPerIteration(FakeConfig(train_seconds=1e6, num_train_frames=50), tmp_path, clock)
    trainer.run()
    assert trainer.counters["frame"] == 50


def test_a_snapshot_every_period_of_training_time_named_by_its_multiple(tmp_path, clock):
    trainer = SecondPerIteration(FakeConfig(train_seconds=10.0, snapshot_every_seconds=3.0), tmp_path, clock)
    trainer.run()
    assert trainer.snapshots == [
        ("snapshot_0001.pt", 30, 3.0),
        ("snapshot_0002.pt", 60, 6.0),
        ("snapshot_0003.pt", 90, 9.0),
    ]
    assert sorted(p.name for p in (tmp_path / SNAPSHOT_DIR).iterdir()) == [s[0] for s in trainer.snapshots]


def test_a_resumed_run_counts_its_earlier_training_time(tmp_path, clock):
    cfg = FakeConfig(train_seconds=10.0, snapshot_every_seconds=3.0)
    trainer = SecondPerIteration(cfg, tmp_path, clock)
    trainer.counters.update(frame=40, time_s=4.0)  # as a checkpoint of a run stopped after 4 s would restore
    trainer.run()
    assert trainer.counters["time_s"] == pytest.approx(10.0) and trainer.counters["frame"] == 100
    assert [name for name, _, _ in trainer.snapshots] == ["snapshot_0002.pt", "snapshot_0003.pt"]


def test_negative_budgets_are_refused_before_anything_starts():
    with pytest.raises(ValueError, match="train_seconds and snapshot_every_seconds must be >= 0"):
        FakeConfig(train_seconds=-1.0).validate()


@pytest.mark.parametrize(
    "train_seconds, bar",
    [(7.0, " 0:07/0:07 training time 70 frames "), (0.0, " 1000/1000 frames ")],
)
def test_a_timed_run_s_bar_counts_training_time_and_shows_frames_as_text(tmp_path, clock, train_seconds, bar):
    """Stopping on time, the bar counts training time against ``train_seconds`` (how long is left, which a frame
    count cannot say), the frames as text; with a frame budget alone it counts frames."""
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    cfg = FakeConfig(train_seconds=train_seconds, progress=True)
    SecondPerIteration(cfg, tmp_path, clock, console=console).run()
    assert bar in out.getvalue(), out.getvalue()


class LogsAfterTheSnapshotCheck(SecondPerIteration):
    """Half a second of each iteration passes after its snapshot check (logging, a checkpoint), so the budget
    can run out between that check and the loop's next ``running()``."""

    def _loop(self, progress, task) -> dict:
        while self.running():
            self.clock.now += 1.0
            self.counters["frame"] += 10
            self.snapshot_if_due()
            self.clock.now += 0.5
        return {}


def test_a_run_stopped_on_time_leaves_its_last_snapshot_at_the_budget(tmp_path, clock):
    """What a comparison at a wall-clock budget evaluates (benchmarks/compare_algorithms.py): the snapshot at the
    budget, not the one a period before it, even when the budget ran out after the iteration's snapshot check."""
    trainer = LogsAfterTheSnapshotCheck(
        FakeConfig(train_seconds=6.0, snapshot_every_seconds=3.0), tmp_path, clock
    )
    trainer.run()
    snapshots = sorted((tmp_path / SNAPSHOT_DIR).iterdir())
    assert [p.name for p in snapshots] == ["snapshot_0001.pt", "snapshot_0002.pt"]
    assert "'time_s': 6.0" in snapshots[-1].read_text() and "'frame': 40" in snapshots[-1].read_text()
