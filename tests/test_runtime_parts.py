"""Runtime building blocks: safety filter, watchdogs, rate keeping, telemetry files."""

import json

import numpy as np
import pytest

from so101_deploy.runtime.rate import Rate
from so101_deploy.runtime.safety import (
    BusFailureCounter,
    SafetyConfig,
    SafetyFilter,
    StaleFrameWatchdog,
    ramp,
)
from so101_deploy.runtime.telemetry import Telemetry, TickRecord

LOW, HIGH = -np.ones(3), np.ones(3)


def test_clamp_then_step_limit():
    f = SafetyFilter(LOW, HIGH, SafetyConfig(max_joint_step_rad=0.1), joint_names=("a", "b", "c"))
    res = f.apply(np.zeros(3), np.zeros(3), np.array([5.0, -0.05, 0.0]))
    np.testing.assert_allclose(res.target, [0.1, -0.05, 0.0])
    assert "clamp:a" in res.events and "step_limited" in res.events and not res.held
    res = f.apply(np.zeros(3), np.array([0.95, 0, 0]), np.array([5.0, 0, 0]))
    np.testing.assert_allclose(res.target, [1.0, 0, 0])


def test_workspace_holds_last_command_when_ee_would_go_below_table():
    height = lambda q: 0.1 - q[0]  # noqa: E731 - joint 0 lowers the tip by 1 m/rad
    f = SafetyFilter(LOW, HIGH, SafetyConfig(max_joint_step_rad=1.0, min_ee_height_m=0.01), ee_height=height)
    ok = f.apply(np.zeros(3), np.zeros(3), np.array([0.05, 0, 0]))
    assert not ok.held
    bad = f.apply(np.zeros(3), np.array([0.05, 0, 0]), np.array([0.095, 0, 0]))
    assert bad.held and bad.events[-1].startswith("workspace")
    np.testing.assert_allclose(bad.target, [0.05, 0, 0])


def test_ramp_respects_speed():
    points = ramp(np.zeros(2), np.array([0.3, -0.15]), speed_rad_s=0.3, hz=10)
    steps = np.diff(np.vstack([np.zeros(2), *points]), axis=0)
    assert len(points) == 10 and np.max(np.abs(steps)) <= 0.03 + 1e-12
    np.testing.assert_allclose(points[-1], [0.3, -0.15])


def test_stale_frames_hold_then_stop():
    dog = StaleFrameWatchdog(SafetyConfig(max_frame_age_s=0.1, stale_frames_to_stop=3))
    assert [dog.check(a) for a in (0.05, 0.2, None, 0.3)] == ["ok", "hold", "hold", "stop"]
    assert dog.check(0.01) == "ok" and dog.stale_ticks == 0


def test_bus_failures_give_up_after_limit():
    counter = BusFailureCounter(SafetyConfig(max_bus_failures=3))
    assert not counter.failed(RuntimeError("a")) and not counter.failed(RuntimeError("b"))
    counter.ok()
    assert [counter.failed(RuntimeError(str(i))) for i in range(3)] == [False, False, True]
    assert counter.last_error == "2"


def test_rate_keeps_period_on_a_grid():
    rate = Rate(100.0)
    stamps = [rate.sleep() for _ in range(30)]
    periods = np.diff(stamps) * 1000
    assert np.median(periods) == pytest.approx(10.0, abs=0.5)
    assert rate.stats.ticks == 30


class SteppingClock:
    """A clock that ``time.sleep`` moves forward and that ticks 0.1 ms per read (so busy-waits end): the overrun
    logic tested without the machine's load in the numbers."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1e-4
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_rate_counts_overruns_without_bursting(monkeypatch):
    import so101_deploy.runtime.rate as rate_module

    clock = SteppingClock()
    monkeypatch.setattr(rate_module.time, "sleep", clock.sleep)
    rate = Rate(100.0, clock=clock)
    rate.sleep()
    clock.sleep(0.035)  # a tick's work took 35 ms: three periods are missed
    t0 = rate.sleep()
    t1 = rate.sleep()
    assert rate.stats.overruns == 1
    # the next tick is one period after the late one, not a burst of the missed ticks
    assert (t1 - t0) * 1000 == pytest.approx(10.0, abs=0.5)


def test_telemetry_writes_ticks_summary_and_plot(tmp_path):
    tel = Telemetry(tmp_path)
    for i in range(50):
        tel.add(
            TickRecord(
                tick=i,
                t=i * 0.05,
                period_ms=50.0 + (i % 5),
                compute_ms=1.0 + i / 50,
                joint_pos=[0.1 * i, 0.0],
                joint_target=[0.1 * i + 0.01, 0.0],
            )
        )
    summary = tel.close(extra={"episodes": 1})
    lines = (tmp_path / "ticks.jsonl").read_text().splitlines()
    assert len(lines) == 50 and json.loads(lines[3])["tick"] == 3
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved == json.loads(json.dumps(summary))
    assert saved["timings_ms"]["period_ms"]["p50"] == pytest.approx(52.0)
    assert saved["timings_ms"]["compute_ms"]["p99"] == pytest.approx(
        np.percentile([1 + i / 50 for i in range(50)], 99)
    )
    assert (tmp_path / "telemetry.png").stat().st_size > 5000
