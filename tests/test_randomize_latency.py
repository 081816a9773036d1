"""The latency model (sim/latency_model.py): fitted from the runtime's own telemetry file, drawn by the env."""

import json
import math

from sim.config import EnvConfig
from sim.env import SO101LiftEnv
from sim.latency_model import fit_latency_model, load_latency_quantiles
from sim.latency_model import main as latency_main
from sim.randomize import LatencyConfig, ObservationDelayConfig, RandomizationConfig

import numpy as np
import pytest

from so101_deploy.runtime.telemetry import Telemetry, TickRecord


@pytest.fixture(scope="module")
def ticks(tmp_path_factory):
    """A ticks.jsonl written by the runtime's Telemetry: compute 20-40 ms, bus write 2 ms, frames 30-70 ms old,
    a 50 ms loop; the first tick has no period yet (NaN), as in a real run."""
    out = tmp_path_factory.mktemp("run")
    rng = np.random.default_rng(0)
    tele = Telemetry(out)
    for i in range(400):
        tele.add(
            TickRecord(
                tick=i,
                t=i * 0.05,
                period_ms=float("nan") if i == 0 else 50.0 + rng.normal(0, 0.5),
                frame_age_ms=rng.uniform(30, 70),
                compute_ms=rng.uniform(20, 40),
                bus_write_ms=2.0,
                joint_pos=[0.0] * 6,
            )  # fmt: skip
        )
    tele.close(plots=False)
    return out / "ticks.jsonl"


def test_fit_reads_the_runtime_telemetry(ticks):
    model = fit_latency_model(ticks)
    q = np.asarray(model.quantiles["action_latency_ms"])
    assert model.ticks == 400 and len(q) == 101 and np.all(np.diff(q) >= 0)
    assert 22.0 <= q[0] < 23.0 and 41.0 < q[-1] <= 42.0 and q[50] == pytest.approx(32.0, abs=1.0)
    age = np.asarray(model.quantiles["frame_age_ms"])
    assert age[0] >= 30.0 and age[-1] <= 70.0
    assert model.control_hz == pytest.approx(20.0, abs=0.1)


def test_cli_writes_a_model_and_prints_the_overrides(ticks, tmp_path, capsys):
    out = tmp_path / "latency.yaml"
    assert latency_main([str(ticks), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"env.randomization.latency.from_telemetry={out}" in printed and "env.control_hz=20" in printed
    np.testing.assert_allclose(load_latency_quantiles(out, "action_latency_ms"),
                               fit_latency_model(ticks).quantiles["action_latency_ms"], atol=1e-3)  # fmt: skip


def test_cli_refuses_what_it_cannot_use(tmp_path, capsys):
    assert latency_main([str(tmp_path / "missing.jsonl")]) == 2
    assert "so101 run" in capsys.readouterr().err
    empty = tmp_path / "ticks.jsonl"
    empty.write_text(
        '{"tick": 0, "t": 0.0}\n{"tick": 1, "t": 0.05, "compute_ms": 3.0'
    )  # no timings, cut short
    assert latency_main([str(empty)]) == 2
    assert "no tick with both compute_ms and bus_write_ms" in capsys.readouterr().err


@pytest.mark.parametrize("source", ["yaml", "jsonl"])
def test_the_env_draws_its_latency_from_telemetry(ticks, tmp_path, source):
    path = ticks
    if source == "yaml":
        path = fit_latency_model(ticks).write(tmp_path / "latency.yaml")
    rand = RandomizationConfig(
        latency=LatencyConfig(enabled=True, from_telemetry=str(path)),
        obs_delay=ObservationDelayConfig(enabled=True, from_telemetry=str(path)),
    )
    env = SO101LiftEnv(EnvConfig(randomization=rand))
    delays, frames = [], []
    for seed in range(25):
        env.reset(seed=seed)
        delays.append(env._dr.queue.delay * 2.0)  # ms, 2 ms substeps
        frames.append(env._dr.frames.delay)
    assert min(delays) >= 22 and max(delays) <= 42 and len(set(delays)) > 5
    # 30-70 ms frames are 0.6-1.4 control steps old: rounded stochastically to 0, 1 or 2 steps, mean kept
    assert set(frames) <= {0, 1, 2} and 0.7 < np.mean(frames) < 1.3
    env.close()


def test_per_step_latency_never_reorders_actions():
    rand = RandomizationConfig(latency=LatencyConfig(enabled=True, ms=(0.0, 120.0), per_step=True))
    env = SO101LiftEnv(EnvConfig(obs="state", action_type="joint_delta", randomization=rand))
    env.reset(seed=0)
    targets, applied = [env.data.ctrl[0]], []
    for i in range(40):
        env.step(np.array([math.sin(i), 0, 0, 0, 0, -1], np.float32))
        targets.append(env._targets[0])
        applied.append(targets.index(env.data.ctrl[0]))  # which command the servo holds now
    lag = np.arange(1, 41) - np.array(applied)
    assert np.all(np.diff(applied) >= 0)  # in order: a late command never overtakes a later one
    assert lag.min() == 0 and lag.max() >= 2  # 0-120 ms: from at once to over two 50 ms steps late
    env.close()


def test_delays_centre_on_the_latency_measured_into_the_camera_calibration(tmp_path):
    """`so101 calibrate latency` writes command -> capture 110 ms and capture -> delivery 40 ms; a config that
    asks for +-20 ms around them draws its action latency in 90-130 ms and its frame age in 20-60 ms (0.4-1.2
    steps at 20 Hz); without the measurement it keeps its own ms."""
    from sim.config import WristCameraConfig
    from sim.measured_latency import centre_on_measured

    calib = tmp_path / "camera.json"
    calib.write_text(
        json.dumps({"sim_camera": None, "latency": {"command_to_capture_ms": 110.0, "frame_age_ms": 40.0}})
    )
    rand = RandomizationConfig(
        latency=LatencyConfig(enabled=True, ms=(0.0,), around_measured_ms=(-20.0, 20.0)),
        obs_delay=ObservationDelayConfig(enabled=True, ms=(0.0,), around_measured_ms=(-20.0, 20.0)),
    )
    env = SO101LiftEnv(
        EnvConfig(randomization=rand, wrist_camera=WristCameraConfig(calibration_file=str(calib)))
    )
    delays, frames = [], []
    for seed in range(30):
        env.reset(seed=seed)
        delays.append(env._dr.queue.delay * 2.0)  # ms, 2 ms substeps
        frames.append(env._dr.frames.delay)
    env.close()
    assert min(delays) >= 90 and max(delays) <= 130 and np.mean(delays) == pytest.approx(110, abs=8)
    assert set(frames) <= {0, 1, 2} and 0.5 < np.mean(frames) < 1.1
    calib.write_text(json.dumps({"sim_camera": None}))  # a calibration made before latency was measured
    assert centre_on_measured(rand, str(calib)) == rand
    assert centre_on_measured(rand, "") == rand
