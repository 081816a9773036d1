"""What every `so101 calibrate` command shares: the console, the one-line error exit, the --port and
--calibration options, the bus connection (the port lock is taken in ``FeetechBus.connect``) and where
calibration files live."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

console = Console(highlight=False, soft_wrap=True)

PORT_OPTION = typer.Option("--port", help="Servo bus serial port, e.g. /dev/ttyACM0 (or a twin's pty).")
CALIBRATION_HELP = "Robot id (LeRobot's calibration folder) or a calibration JSON path."
CAMERA_SOURCE_HELP = "Camera index, /dev/videoN, video file or URL."


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print the error on one line and return the exit to raise (2: bad input, 1: the procedure failed)."""
    console.print(f"[red]error:[/] {message}")
    return typer.Exit(code)


def calibration_file(value: str, must_exist: bool) -> Path:
    """A robot id or a path -> the LeRobot-format file (where `so101 run --calibration` looks for it)."""
    from so101_deploy.hardware.calibration_file import calibration_path, locate_calibration
    from so101_deploy.hardware.errors import CalibrationFileError

    path = Path(value).expanduser()
    if path.suffix == ".json" or path.exists() or os.sep in value:
        if must_exist and not path.is_file():
            raise fail(f"no calibration file at {path}: run `so101 calibrate servos` first", 2)
        return path
    try:
        return locate_calibration(value)
    except CalibrationFileError as exc:
        if must_exist:
            raise fail(str(exc), 2) from None
        return calibration_path(value)  # a new robot id: the file goes where LeRobot keeps it


def camera_calibration_file(servo_file: Path) -> Path:
    """Where `so101 run` looks for the camera calibration by default: beside the servo file."""
    return servo_file.with_name(servo_file.stem + "_camera.json")


def connect(port: str, packet_timeout_ms: float):
    """The servo bus, open and locked for this process; a bad port or timeout exits 2, a silent bus 1."""
    from so101_deploy.hardware.bus import BusConfig, FeetechBus
    from so101_deploy.hardware.errors import HardwareError, PortError

    try:
        bus = FeetechBus(BusConfig(port=port, packet_timeout_ms=packet_timeout_ms))
    except ValueError as exc:  # a packet timeout that is NaN, infinite or out of range
        raise fail(str(exc), 2) from None
    try:
        bus.connect()
    except PortError as exc:
        raise fail(str(exc), 2) from None
    except HardwareError as exc:
        raise fail(str(exc)) from None
    return bus


def load_servo_calibration(path: Path):
    """The servo calibration (LeRobot format) at ``path``; an unreadable one exits 2."""
    from so101_deploy.hardware.calibration_file import load_calibration
    from so101_deploy.hardware.errors import CalibrationFileError

    try:
        return load_calibration(path)
    except CalibrationFileError as exc:
        raise fail(str(exc), 2) from None


def load_camera_calibration(path: Path, hint: str = ""):
    """The camera calibration at ``path``; an unreadable one exits 2, ``hint`` appended to the message."""
    from calibration.camera_model import CameraCalibration, CameraCalibrationError

    try:
        return CameraCalibration.load(path)
    except CameraCalibrationError as exc:
        raise fail(f"{exc}{hint}", 2) from None


@dataclass(frozen=True)
class ArmCalibration:
    """The two files a command that moves the arm and watches the wrist camera starts from, and their contents."""

    servo_file: Path
    camera_file: Path
    servos: Any  # so101_deploy.hardware.calibration_file's calibration
    camera: Any  # calibration.camera_model.CameraCalibration


def load_arm_calibration(calibration: str, camera_calibration: Path | None) -> ArmCalibration:
    """--calibration (an existing file) and --camera-calibration (default: beside it), both read; exits 2."""
    servo_file = calibration_file(calibration, must_exist=True)
    camera_file = camera_calibration or camera_calibration_file(servo_file)
    servos = load_servo_calibration(servo_file)
    return ArmCalibration(servo_file, camera_file, servos, load_camera_calibration(camera_file))
