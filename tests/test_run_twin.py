"""`so101 run` end to end against `so101 twin`: the real SDK over a pty, cv2.VideoCapture over HTTP, an ONNX
policy exported from the smoke checkpoint, and the faults the runtime must survive with torque off."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from calibration.camera_model import CameraCalibration
from so101_deploy.cli import app
from so101_deploy.hardware.tables import Instruction
from so101_deploy.runtime.judges import TwinJudge
from so101_deploy.runtime.loop import RunConfig, Runner
from so101_deploy.runtime.safety import SafetyConfig
from so101_deploy.twin.app import Twin, TwinConfig

runner = CliRunner()


@pytest.fixture
def twin():
    with Twin(TwinConfig()) as t:
        yield t


def _run_args(twin, policy, out, *extra):
    return [
        "run", "--policy", str(policy), "--port", twin.port, "--camera", twin.camera_url,
        "--calibration", str(twin.calibration_path), "--twin", twin.control_url,
        "--start-pose", "hold", "--yes", "--out", str(out), *extra,
    ]  # fmt: skip


def test_run_drives_the_twin_end_to_end(twin, smoke_policy, tmp_path):
    writes_before = twin.emulator.count(Instruction.SYNC_WRITE)
    result = runner.invoke(
        app,
        _run_args(
            twin, smoke_policy, tmp_path, "--episodes", "2", "--max-steps", "30", "--save-frames", "--json"
        ),
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["episodes"] == 2 and summary["ticks"] == 60
    assert summary["frame_clock"] == "delivery"  # the twin's MJPEG stream has no capture clock
    assert summary["timings_ms"]["inference_ms"]["n"] == 30  # action repeat 2: one inference per 2 ticks
    assert summary["timings_ms"]["period_ms"]["p50"] == pytest.approx(50.0, abs=5.0)  # the contract's 20 Hz
    assert twin.emulator.count(Instruction.SYNC_WRITE) - writes_before >= 60  # one goal write per tick
    ticks = [json.loads(line) for line in (tmp_path / "ticks.jsonl").read_text().splitlines()]
    assert len(ticks) == 60 and len(ticks[0]["joint_target"]) == 6
    assert (tmp_path / "summary.json").is_file() and (tmp_path / "telemetry.png").stat().st_size > 5000
    assert twin.torque_enabled() == dict.fromkeys(twin.calibration, False)
    assert twin.state()["episode"] >= 3
    frames = np.load(tmp_path / "frames.npz")
    assert frames["raw"].shape == (30, 240, 320, 3)  # the twin camera, one frame per policy step
    assert (
        frames["policy_view"].shape == (30, 3, 64, 64) and frames["policy_view"].dtype == np.uint8
    )  # reset once at start-up + once per episode


def test_contract_camera_mismatch_is_refused_before_motion(twin, smoke_policy, tmp_path):
    wrong = CameraCalibration.load(twin.camera_calibration_path)
    wrong = CameraCalibration(**{**wrong.__dict__, "target_fovy_deg": 75.0, "sim_camera": None})
    path = wrong.save(tmp_path / "camera.json")
    result = runner.invoke(app, [*_run_args(twin, smoke_policy, tmp_path), "--camera-calibration", str(path)])
    assert result.exit_code == 2
    assert "trained with a 60 deg camera" in " ".join(result.output.split())
    assert twin.emulator.count(Instruction.SYNC_WRITE) == 0
    assert not any(twin.torque_enabled().values())


def _runner(twin, policy, out, **safety):
    config = RunConfig(
        policy=str(policy), port=twin.port, camera=twin.camera_url, calibration=str(twin.calibration_path),
        max_steps=400, start_pose="hold", out_dir=str(out), safety=SafetyConfig(**safety),
    )  # fmt: skip
    return Runner(config, judge=TwinJudge(twin.control_url), log=lambda _: None)


def _run_in_thread(r):
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", r.run()))
    thread.start()
    return thread, box


def test_camera_stall_holds_then_stops_with_torque_off(twin, smoke_policy, tmp_path):
    r = _runner(twin, smoke_policy, tmp_path, max_frame_age_s=0.3, stale_frames_to_stop=10)
    thread, box = _run_in_thread(r)
    time.sleep(3.0)
    twin.camera.stop()  # the camera stream dies mid-run
    thread.join(timeout=30)
    result = box["result"]
    assert result.exit_code == 1 and "camera frames older than" in result.reason
    ticks = [json.loads(line) for line in (tmp_path / "ticks.jsonl").read_text().splitlines()]
    assert any("stale_frame_hold" in t["events"] for t in ticks)  # held before stopping
    assert not any(twin.torque_enabled().values())


def test_servo_vanishing_turns_torque_off_and_names_it(twin, smoke_policy, tmp_path):
    r = _runner(twin, smoke_policy, tmp_path, max_bus_failures=3)
    thread, box = _run_in_thread(r)
    time.sleep(3.0)
    twin.emulator.kill(3)  # elbow_flex loses power
    thread.join(timeout=30)
    result = box["result"]
    assert result.exit_code == 1 and "elbow_flex" in result.reason
    torque = twin.torque_enabled()
    assert not any(v for name, v in torque.items() if name != "elbow_flex")


def test_sigint_stops_with_torque_off(twin, smoke_policy, tmp_path):
    args = _run_args(twin, smoke_policy, tmp_path, "--max-steps", "2000")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    exe = Path(sys.executable).parent / "so101"
    proc = subprocess.Popen(
        [str(exe), *args[0:]], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True
    )
    deadline = time.monotonic() + 60
    while twin.emulator.count(Instruction.SYNC_WRITE) < 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert any(twin.torque_enabled().values()), "the run never started driving"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130, out
    assert not any(twin.torque_enabled().values())


def test_servo_overload_stops_the_run_with_torque_off(twin, smoke_policy, tmp_path):
    r = _runner(twin, smoke_policy, tmp_path)
    thread, box = _run_in_thread(r)
    time.sleep(3.0)
    twin.emulator.faults.error_bits[2] = 0x20  # shoulder_lift reports overload
    thread.join(timeout=30)
    twin.emulator.faults.error_bits.clear()
    result = box["result"]
    assert result.exit_code == 1 and "shoulder_lift" in result.reason and "overload" in result.reason.lower()
    assert not any(twin.torque_enabled().values())
