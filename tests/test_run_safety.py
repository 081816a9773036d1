"""`so101 run` under every stop signal and every bad input (issue 17): a real `so101` subprocess or the CLI in
process against one shared twin, torque read back from the emulated servos."""

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import onnx
import pytest
from typer.testing import CliRunner

from calibration.camera_model import CameraCalibration
from policies.contract import METADATA_KEY
from so101_deploy.cli import app
from so101_deploy.hardware.tables import Instruction
from so101_deploy.runtime.judges import TwinJudge
from so101_deploy.runtime.loop import RunConfig, Runner
from so101_deploy.twin.app import Twin, TwinConfig
from so101_deploy.twin.control_endpoint import ControlServer

runner = CliRunner()
SO101 = Path(sys.executable).parent / "so101"


@pytest.fixture(scope="module")
def twin():
    with Twin(TwinConfig()) as t:
        yield t


@pytest.fixture
def clean_twin(twin):
    """The shared twin, with every servo answering and torque off before and after the test."""
    yield twin
    twin.emulator.faults.missing.clear()
    for servo in twin.emulator.servos:
        servo.poke("Torque_Enable", 0)


def _args(twin, policy, out, *extra):
    return [
        "run", "--policy", str(policy), "--port", twin.port, "--camera", twin.camera_url,
        "--calibration", str(twin.calibration_path), "--twin", twin.control_url,
        "--start-pose", "hold", "--yes", "--out", str(out), *extra,
    ]  # fmt: skip


def _start(twin, policy, out, *extra):
    """A real `so101 run` process, returned once it drives the arm (torque on, goals being written).

    A 100 ms packet timeout (unless ``extra`` sets one): on a loaded CI machine the twin's emulator thread can
    miss the default 20 ms during the handshake, which is not what these tests are about.
    """
    timeout = [] if "--packet-timeout-ms" in extra else ["--packet-timeout-ms", "100"]
    proc = subprocess.Popen(
        [str(SO101), *_args(twin, policy, out, "--max-steps", "5000", *timeout, *extra)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        text=True,
    )
    writes = twin.emulator.count(Instruction.SYNC_WRITE)
    deadline = time.monotonic() + 90
    while twin.emulator.count(Instruction.SYNC_WRITE) < writes + 20 and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.05)
    assert all(twin.torque_enabled().values()), "the run never started driving"
    return proc


def _signal_until_exit(proc, signals, every_s: float, limit_s: float) -> tuple[float, int]:
    """Send ``signals`` in turn every ``every_s`` until the process ends: (seconds it took, signals sent to it
    while it was alive)."""
    t0, sent = time.monotonic(), 0
    for i in range(int(limit_s / every_s)):
        if proc.poll() is not None:
            break
        proc.send_signal(signals[i % len(signals)])
        sent += 1
        time.sleep(every_s)
    proc.wait(timeout=30)
    return time.monotonic() - t0, sent


# -- 1, 2: every stop signal, and a burst of them, end in one orderly stop ---------------------------------
@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGQUIT])
def test_hangup_and_quit_stop_with_torque_off_and_a_summary(clean_twin, smoke_policy, tmp_path, sig):
    proc = _start(clean_twin, smoke_policy, tmp_path)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, out
    assert not any(clean_twin.torque_enabled().values())
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["reason"] == f"interrupted by {sig.name}: stopped, torque off"
    assert summary["episodes"] == 1 and summary["interrupted_episodes"] == 1  # not "0 episode(s)"
    assert "1 episode(s) (1 interrupted)" in out


def test_signal_burst_cannot_interrupt_torque_off_or_the_summary(clean_twin, smoke_policy, tmp_path):
    proc = _start(clean_twin, smoke_policy, tmp_path)
    # Ctrl-C, then SIGINT/SIGTERM every 20 ms until the process is gone: through torque-off, plot, exit.
    _, sent = _signal_until_exit(proc, [signal.SIGINT, signal.SIGTERM], every_s=0.02, limit_s=60)
    out = proc.stdout.read()
    assert sent >= 3 and proc.returncode == 130, (sent, out)
    assert "Traceback" not in out
    assert not any(clean_twin.torque_enabled().values())
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["reason"].startswith("interrupted by SIGINT") and summary["signals"][0] == "SIGINT"
    assert (tmp_path / "telemetry.png").is_file()


# -- 3: one program per port, and torque dropping under the run is noticed ---------------------------------
def test_second_run_on_the_port_is_refused_and_a_torque_drop_stops_the_first(
    clean_twin, smoke_policy, tmp_path
):
    proc = _start(clean_twin, smoke_policy, tmp_path / "first")
    try:
        second = runner.invoke(app, [*_args(clean_twin, smoke_policy, tmp_path / "second"), "--dry-run"])
        assert second.exit_code == 2, second.output
        assert f"port busy: {clean_twin.port} is held by PID {proc.pid}" in " ".join(second.output.split())
        assert not (tmp_path / "second").exists()  # a refused run leaves no --out folder
        assert all(clean_twin.torque_enabled().values())  # the first run still drives
        clean_twin.emulator.servo(4).poke("Torque_Enable", 0)  # something switches wrist_flex off
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill() if proc.poll() is None else None
    assert proc.returncode == 1, out
    assert "torque dropped on wrist_flex" in " ".join(out.split())
    assert not any(clean_twin.torque_enabled().values())


# -- 4: a dead servo, and Ctrl-C during the slow torque-off it causes, end bounded with torque off ----------
def test_dead_servo_then_ctrl_c_burst_ends_bounded_with_torque_off(clean_twin, smoke_policy, tmp_path):
    proc = _start(clean_twin, smoke_policy, tmp_path, "--packet-timeout-ms", "150")
    clean_twin.emulator.kill(3)  # elbow_flex loses power: each transaction with it costs 3 x 150 ms
    time.sleep(0.5)
    took, _ = _signal_until_exit(proc, [signal.SIGINT], every_s=0.05, limit_s=60)
    out = proc.stdout.read()
    assert took < 20, out
    assert proc.returncode == 130 and "Traceback" not in out, out
    torque = clean_twin.torque_enabled()
    assert not any(on for name, on in torque.items() if name != "elbow_flex"), torque


# -- 5, 10: bad contracts, calibrations and values are refused in one line before anything moves ------------
def _with_contract(policy: Path, out: Path, change) -> Path:
    model = onnx.load(str(policy))
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            prop.value = json.dumps(change(json.loads(prop.value)))
    onnx.save(model, str(out))
    return out


def _set(section, **values):
    def change(contract):
        (contract[section] if section else contract).update(values)
        return contract

    return change


CONTRACT_CASES = {
    "bgr": (_set("image", color_order="BGR"), "image.color_order is 'BGR'"),
    "hwc": (_set("image", layout="HWC", normalisation="none"), "image.layout is 'HWC'"),
    "not_in_model": (_set("image", normalisation="x/255 upstream"), "normalisation"),
    "arm_hash": (_set(None, arm_model_sha256="0" * 64), "trained on arm model"),
    "action_repeat_0": (_set("action", action_repeat=0), "action.action_repeat is 0"),
    "control_hz_0": (_set(None, control_hz=0), "control_hz is 0"),
    "interpolation": (_set("image", interpolation="cubic"), "interpolation 'cubic' is unknown"),
    "action_size": (_set("action", type="joint_delta"), "does not match action.type 'joint_delta'"),
    "list": (lambda c: [c], "contract must be a JSON object"),
}


@pytest.mark.parametrize("case", list(CONTRACT_CASES))
def test_bad_contract_is_refused_in_one_line_before_motion(twin, smoke_policy, tmp_path, case):
    change, expected = CONTRACT_CASES[case]
    policy = _with_contract(smoke_policy, tmp_path / "policy.onnx", change)
    writes = twin.emulator.count(Instruction.SYNC_WRITE)
    result = runner.invoke(app, _args(twin, policy, tmp_path / "out"), env={"COLUMNS": "400"})
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and expected in result.output, result.output
    assert twin.emulator.count(Instruction.SYNC_WRITE) == writes and not any(twin.torque_enabled().values())
    assert not (tmp_path / "out").exists()


def _camera_list(path: Path) -> None:
    path.write_text(json.dumps([json.loads(path.read_text())]))


def _camera_nan(path: Path) -> None:
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "crop_fov_ratio": math.nan}))


@pytest.mark.parametrize(
    ("spoil", "expected"),
    [(_camera_list, "this is a JSON list"), (_camera_nan, "crop_fov_ratio is nan")],
)
def test_bad_camera_calibration_is_refused_in_one_line(twin, smoke_policy, tmp_path, spoil, expected):
    path = CameraCalibration.load(twin.camera_calibration_path).save(tmp_path / "camera.json")
    spoil(path)
    args = [*_args(twin, smoke_policy, tmp_path / "out"), "--camera-calibration", str(path)]
    result = runner.invoke(app, args, env={"COLUMNS": "400"})
    assert result.exit_code == 2 and expected in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (["--twin", "http://127.0.0.1:9"], "unreachable"),  # nothing listens on the discard port
        # refused by the option's own range check, or else by the judge probe / the bus config
        (["--seed", "-1"], "--seed"),
        (["--packet-timeout-ms", "nan"], "nan"),
    ],
)
def test_bad_judge_or_timeout_is_refused_before_torque_on(twin, smoke_policy, tmp_path, change, expected):
    result = runner.invoke(
        app, [*_args(twin, smoke_policy, tmp_path / "out"), *change], env={"COLUMNS": "400"}
    )
    assert result.exit_code == 2 and expected in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not any(twin.torque_enabled().values()) and not (tmp_path / "out").exists()


def test_without_yes_on_a_pipe_says_pass_yes(twin, smoke_policy, tmp_path):
    args = [a for a in _args(twin, smoke_policy, tmp_path / "out") if a != "--yes"]
    result = runner.invoke(app, args, input="")
    assert result.exit_code == 2
    assert result.output.strip() == "error: stdin is not a terminal: pass --yes"


# -- 6: the judge dying mid-run is a named stop with torque off and a summary ------------------------------
def test_twin_endpoint_dying_mid_run_is_a_named_stop(clean_twin, smoke_policy, tmp_path):
    config = RunConfig(
        policy=str(smoke_policy), port=clean_twin.port, camera=clean_twin.camera_url,
        calibration=str(clean_twin.calibration_path), max_steps=2000, start_pose="hold", out_dir=str(tmp_path),
    )  # fmt: skip
    run = Runner(config, judge=TwinJudge(clean_twin.control_url, timeout_s=0.5), log=lambda _: None)
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", run.run()))
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not all(clean_twin.torque_enabled().values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        clean_twin.control.close()  # the endpoint dies
        thread.join(timeout=30)
    finally:
        clean_twin.control = ControlServer(clean_twin).start()  # the next tests get one back
    result = box["result"]
    assert result.exit_code == 1 and result.reason.startswith("twin judge failed"), result.reason
    assert not any(clean_twin.torque_enabled().values())
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["episodes"] == 1 and summary["interrupted_episodes"] == 1


# -- what no handler can do: SIGKILL leaves torque on; `so101 torque-off` is the way back ------------------
def test_after_sigkill_torque_off_releases_every_servo(clean_twin, smoke_policy, tmp_path):
    proc = _start(clean_twin, smoke_policy, tmp_path)
    proc.kill()
    proc.wait(timeout=30)
    assert all(clean_twin.torque_enabled().values())  # as docs/safety.md warns
    result = runner.invoke(app, ["torque-off", "--port", clean_twin.port])
    assert result.exit_code == 0, result.output
    assert not any(clean_twin.torque_enabled().values())
    assert result.output.count("torque off") == 6


# -- a bug in the loop still ends named, with torque off, a summary and its traceback -------------------------
def test_a_bug_after_torque_on_ends_named_with_torque_off(clean_twin, smoke_policy, tmp_path):
    class Buggy(Runner):
        def _lowest_tip_height(self, q):  # called by the safety filter on every tick
            raise ZeroDivisionError("a bug in the loop")

    config = RunConfig(
        policy=str(smoke_policy), port=clean_twin.port, camera=clean_twin.camera_url,
        calibration=str(clean_twin.calibration_path), max_steps=50, start_pose="hold", out_dir=str(tmp_path),
    )  # fmt: skip
    result = Buggy(config, judge=TwinJudge(clean_twin.control_url), log=lambda _: None).run()
    assert result.exit_code == 1
    assert result.reason == "internal error, stopped with torque off: ZeroDivisionError: a bug in the loop"
    assert not any(clean_twin.torque_enabled().values())
    assert "ZeroDivisionError" in (tmp_path / "error.txt").read_text()
    assert json.loads((tmp_path / "summary.json").read_text())["interrupted_episodes"] == 1
