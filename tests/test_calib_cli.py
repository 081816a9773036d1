"""`so101 calibrate servos | setup-motors | camera` end to end: the emulator on a pty, a video file as camera."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from calibration.camera import BoardSpec
from calibration.camera_model import CameraCalibration
from calibration.synthetic_board import BoardRenderer, SyntheticCamera
from so101_deploy.cli import app
from so101_deploy.hardware.calibration_file import MotorCalibration, load_calibration
from so101_deploy.twin.emulator import EmulatorConfig, ServoEmulator

FIXTURE = Path(__file__).parent / "fixtures" / "lerobot_so_follower_calibration.json"
CENTRE = {1: 3517, 2: 1894, 3: 820, 4: 181, 5: 474, 6: 4096 + 956}  # encoder ticks at the centred pose
SWEEP = {1: (-1250, 1250), 2: (-1235, 1100), 3: (-1100, 1100), 4: (-1180, 1180), 5: (0, 0), 6: (-60, 1300)}


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


pytestmark = pytest.mark.usefixtures("no_thread_leaks")


@pytest.fixture
def emu():
    with ServoEmulator(EmulatorConfig(initial_ticks={i: float(t) for i, t in CENTRE.items()})) as emulator:
        yield emulator


class HandSweep(threading.Thread):
    """An operator's hand: once the homing offsets are in, sweeps every joint to both ends and back."""

    def __init__(self, emu: ServoEmulator):
        super().__init__(daemon=True)
        self.emu = emu
        self.done = False

    def run(self) -> None:
        deadline = time.monotonic() + 20
        while self.emu.servo(1).peek("Homing_Offset") != CENTRE[1] - 2047 and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.1)
        for fraction in [*np.linspace(0, -1, 8), *np.linspace(-1, 1, 16), *np.linspace(1, 0, 8)]:
            for mid, (low, high) in SWEEP.items():
                delta = low * -fraction if fraction < 0 else high * fraction
                self.emu.backend.place(mid, CENTRE[mid] + delta)
            time.sleep(0.15 if abs(fraction) == 1 else 0.03)  # the ends are held: every sample sees them
        self.done = True


def test_servos_non_interactive_calibrates_writes_eeprom_and_a_lerobot_file(emu, tmp_path):
    hand = HandSweep(emu)
    hand.start()
    out = tmp_path / "arm.json"
    result = invoke(
        "calibrate", "servos", "--port", emu.port, "--calibration", str(out),
        "--non-interactive", "--sweep-seconds", "3", "--packet-timeout-ms", "100",
    )  # fmt: skip
    hand.join()
    assert result.exit_code == 0, result.output
    assert hand.done
    cal = load_calibration(out)
    for name, c in cal.items():
        mid = c.id
        low, high = (0, 4095) if name == "wrist_roll" else (2047 + SWEEP[mid][0], 2047 + SWEEP[mid][1])
        assert c == MotorCalibration(mid, 0, CENTRE[mid] % 4096 - 2047, low, high), name
        servo = emu.servo(mid)
        assert (servo.peek("Homing_Offset"), servo.peek("Min_Position_Limit"), servo.peek("Max_Position_Limit")) == (
            c.homing_offset, c.range_min, c.range_max,
        )  # fmt: skip
    assert "range recording" in result.output and "saved" in result.output
    # --verify agrees, motor by motor
    verified = invoke("calibrate", "servos", "--port", emu.port, "--calibration", str(out), "--verify")
    assert verified.exit_code == 0, verified.output
    assert "all 6 motors match" in verified.output


def test_servos_refuses_a_joint_that_never_moved_and_saves_nothing(emu, tmp_path):
    out = tmp_path / "arm.json"
    result = invoke(
        "calibrate", "servos", "--port", emu.port, "--calibration", str(out),
        "--non-interactive", "--sweep-seconds", "0.3", "--packet-timeout-ms", "100",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "never moved" in result.output and "Nothing was saved" in result.output
    assert not out.exists()


def test_interactive_mode_prompts_then_stops_the_recording_on_enter(emu, tmp_path):
    out = tmp_path / "arm.json"
    result = CliRunner().invoke(
        app,
        ["calibrate", "servos", "--port", emu.port, "--calibration", str(out), "--packet-timeout-ms", "100"],
        input="\n\n",  # centred; then Enter ends the recording at once (nothing swept)
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 1
    assert "move every joint to the middle of its range" in result.output
    assert "press Enter when done" in result.output and "never moved" in result.output


def test_import_lerobot_then_verify_finds_a_changed_servo(emu, tmp_path):
    out = tmp_path / "adopted.json"
    result = invoke(
        "calibrate", "servos", "--port", emu.port, "--calibration", str(out),
        "--import-lerobot", str(FIXTURE), "--packet-timeout-ms", "100",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert load_calibration(out) == load_calibration(FIXTURE)
    assert emu.servo(1).peek("Homing_Offset") == -1470 and emu.servo(6).peek("Max_Position_Limit") == 3352
    emu.servo(2).poke("Min_Position_Limit", 100)
    verified = invoke("calibrate", "servos", "--port", emu.port, "--calibration", str(out), "--verify")
    assert verified.exit_code == 1
    assert "100 (file 812)" in verified.output and "MISMATCH" in verified.output
    assert "1 motor(s) disagree" in verified.output and "--import-lerobot" in verified.output


def test_setup_motors_gives_a_new_servo_its_id():
    with ServoEmulator(EmulatorConfig(servo_ids=(1,))) as emu:
        result = invoke("calibrate", "setup-motors", "--port", emu.port, "--motor", "elbow_flex", "--yes")
        assert result.exit_code == 0, result.output
        assert "'elbow_flex': ID 1 at 1000000 baud -> ID 3 at 1000000 baud" in result.output
        assert emu.servos[0].id == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["servos", "--port", "/dev/null"], "--id NAME"),
        (["servos", "--port", "/dev/null", "--id", "x", "--non-interactive"], "needs --sweep-seconds"),
        (["servos", "--port", "/dev/null", "--calibration", "/nonexistent/a.json", "--verify"], "no calibration file"),
        (["servos", "--port", "/dev/nonexistent", "--calibration", "/tmp/x.json", "--import-lerobot", str(FIXTURE)],
         "does not exist"),
        (["setup-motors", "--port", "/dev/null", "--motor", "elbow"], "not an SO-101 joint"),
        (["setup-motors", "--port", "/dev/nonexistent", "--yes"], "does not exist"),
        (["camera", "--camera", "0", "--board", "nine", "--square", "0.02", "--out", "x.json"], "COLSxROWS"),
        (["camera", "--camera", "0", "--board", "9x6", "--square", "0.02"], "--out PATH"),
        (["camera", "--camera", "/nonexistent.avi", "--board", "9x6", "--square", "0.02", "--out", "x.json"],
         "does not exist"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_code_2(args, message):
    result = invoke("calibrate", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


# -- camera ------------------------------------------------------------------------------------------------
BOARD = BoardSpec(7, 5, 0.03)
LENS = SyntheticCamera(width=480, height=360, fovy_deg=75.0, dist_coeffs=(-0.2, 0.05, 0.0, 0.0, 0.0))


@pytest.fixture(scope="module")
def board_video(tmp_path_factory) -> Path:
    """A camera stand-in: rendered board views, each held for a few frames, as an MJPG file at 30 fps."""
    path = tmp_path_factory.mktemp("camera") / "board.avi"
    renderer = BoardRenderer(BOARD, LENS)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (LENS.width, LENS.height))
    for frame in renderer.random_views(18, seed=11, hold=7):
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    renderer.close()
    return path


def test_camera_from_a_video_recovers_the_lens_and_writes_what_the_runtime_reads(board_video, tmp_path):
    out = tmp_path / "cam.json"
    result = invoke(
        "calibrate", "camera", "--camera", str(board_video), "--board", "7x5", "--square", "0.03",
        "--sim-fovy", "60", "--out", str(out), "--width", "480", "--height", "360", "--min-views", "12",
        "--no-preview",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    cal = CameraCalibration.load(out)
    assert abs(cal.fov_v_deg - 75.0) < 1.0, cal.fov_v_deg  # the criterion, through MJPEG and the CLI
    assert cal.dist_coeffs[0] == pytest.approx(-0.2, abs=0.03) and cal.rms_px < 1.0 and cal.views == 12
    expected_ratio = np.tan(np.radians(30)) / np.tan(np.radians(37.5))
    assert cal.crop_fov_ratio == pytest.approx(expected_ratio, rel=0.03)
    thumbs = sorted((tmp_path / "cam_views").glob("view_*.png"))
    assert len(thumbs) == 12 and "view 12/12 captured" in result.output
    assert "RMS reprojection error" in result.output


def test_camera_without_a_board_says_what_to_do(tmp_path):
    path = tmp_path / "blank.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (160, 120))
    for _ in range(10):
        writer.write(np.full((120, 160, 3), 128, np.uint8))
    writer.release()
    result = invoke(
        "calibrate", "camera", "--camera", str(path), "--board", "7x5", "--square", "0.03",
        "--out", str(tmp_path / "c.json"), "--width", "0", "--height", "0", "--no-preview",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "only 0 of 12 board views captured: show the whole board" in result.output
    assert not (tmp_path / "c.json").exists()
    json.dumps(result.output)  # printable
