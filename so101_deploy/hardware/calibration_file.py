"""LeRobot's servo calibration files: where they live, how they read and write, what makes one invalid.

Same format and location as LeRobot (>= 0.4.3), so an arm calibrated with ``lerobot-calibrate`` works here
unchanged and ours works in LeRobot: one object per motor name with the integer keys ``id, drive_mode,
homing_offset, range_min, range_max`` in that order, indented JSON, under
``$HF_LEROBOT_CALIBRATION/robots/so_follower/<id>.json``.

Writes are atomic (temp file + rename): a crash leaves the previous calibration in place.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from common.atomic_file import write_text
from robot.encoder import MAX_TICK
from robot.so101 import SERVO_IDS
from so101_deploy.hardware.errors import CalibrationFileError

ROBOT_TYPE = "so_follower"  # LeRobot >= 0.4.3 keeps SO-100 and SO-101 followers here
LEGACY_ROBOT_TYPES = ("so101_follower",)  # before 0.4.3
MAX_HOMING_OFFSET = 2047  # Homing_Offset is sign-magnitude with the sign at bit 11
CALIBRATE_HINT = (
    "calibrate the arm first (LeRobot: lerobot-calibrate --robot.type=so101_follower --robot.id=<id>)"
)


@dataclass(frozen=True)
class MotorCalibration:
    """One motor's entry, field order as LeRobot writes it."""

    id: int
    drive_mode: int
    homing_offset: int
    range_min: int
    range_max: int

    @property
    def range_mid(self) -> float:
        return (self.range_min + self.range_max) / 2


KEYS = tuple(f.name for f in fields(MotorCalibration))


def calibration_root(env: Mapping[str, str] | None = None) -> Path:
    """LeRobot's calibration root: HF_LEROBOT_CALIBRATION, else HF_LEROBOT_HOME/calibration,
    else $HF_HOME (default $XDG_CACHE_HOME/huggingface, ~/.cache/huggingface)/lerobot/calibration."""
    env = os.environ if env is None else env
    if env.get("HF_LEROBOT_CALIBRATION"):
        return Path(env["HF_LEROBOT_CALIBRATION"]).expanduser()
    if env.get("HF_LEROBOT_HOME"):
        return Path(env["HF_LEROBOT_HOME"]).expanduser() / "calibration"
    if env.get("HF_HOME"):
        hf_home = Path(env["HF_HOME"]).expanduser()
    else:
        hf_home = Path(env.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "huggingface"
    return hf_home / "lerobot" / "calibration"


def calibration_path(
    robot_id: str, robot_type: str = ROBOT_TYPE, env: Mapping[str, str] | None = None
) -> Path:
    """Where LeRobot >= 0.4.3 reads and writes the calibration of follower ``robot_id``."""
    return calibration_root(env) / "robots" / robot_type / f"{robot_id}.json"


def locate_calibration(robot_id: str, env: Mapping[str, str] | None = None) -> Path:
    """The existing calibration file for ``robot_id``: the current location first, then LeRobot's older one."""
    candidates = [calibration_path(robot_id, t, env) for t in (ROBOT_TYPE, *LEGACY_ROBOT_TYPES)]
    for path in candidates:
        if path.is_file():
            return path
    looked = ", ".join(str(p) for p in candidates)
    raise CalibrationFileError(
        f"no calibration for robot id '{robot_id}' (looked at {looked}): {CALIBRATE_HINT}", candidates[0]
    )


def validate_calibration(
    calibration: Mapping[str, MotorCalibration], path: Path | str, motors: Mapping[str, int] = SERVO_IDS
) -> None:
    """Raise CalibrationFileError naming ``path`` and the motor/key at fault; the checks LeRobot's traps call for."""
    missing = [m for m in motors if m not in calibration]
    if missing:
        raise CalibrationFileError(
            f"{path} has no entry for motor {', '.join(repr(m) for m in missing)} "
            f"(it has: {', '.join(calibration) or 'nothing'}): {CALIBRATE_HINT}",
            path,
        )
    extra = [m for m in calibration if m not in motors]
    if extra:
        raise CalibrationFileError(
            f"{path} has entries for unknown motor(s) {', '.join(repr(m) for m in extra)} "
            f"(an SO-101 has {', '.join(motors)}): is this another robot's file?",
            path,
        )
    for name, cal in calibration.items():
        where = f"{path}: motor '{name}'"
        if cal.id != motors[name]:
            raise CalibrationFileError(
                f"{where} has id {cal.id}, but it is ID {motors[name]} on the SO-101", path
            )
        if cal.drive_mode not in (0, 1):
            raise CalibrationFileError(f"{where} has drive_mode {cal.drive_mode}; it must be 0 or 1", path)
        if abs(cal.homing_offset) > MAX_HOMING_OFFSET:
            raise CalibrationFileError(
                f"{where} has homing_offset {cal.homing_offset}, beyond +-{MAX_HOMING_OFFSET} (the register cannot "
                "hold it): re-centre the joint and calibrate again",
                path,
            )
        if not 0 <= cal.range_min < cal.range_max <= MAX_TICK:
            raise CalibrationFileError(
                f"{where} has range_min {cal.range_min}, range_max {cal.range_max}; need "
                f"0 <= range_min < range_max <= {MAX_TICK}: move the joint through its range when calibrating",
                path,
            )


def parse_calibration(
    text: str, path: Path | str = "<calibration>", motors: Mapping[str, int] = SERVO_IDS
) -> dict[str, MotorCalibration]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CalibrationFileError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", path
        ) from None
    if not isinstance(data, dict):
        raise CalibrationFileError(
            f"{path} must hold a JSON object of motors, got {type(data).__name__}", path
        )
    calibration: dict[str, MotorCalibration] = {}
    for name, entry in data.items():
        if not isinstance(entry, dict):
            raise CalibrationFileError(
                f"{path}: motor '{name}' must be an object with keys {', '.join(KEYS)}", path
            )
        missing = [k for k in KEYS if k not in entry]
        if missing:
            raise CalibrationFileError(f"{path}: motor '{name}' lacks key(s) {', '.join(missing)}", path)
        unknown = [k for k in entry if k not in KEYS]
        if unknown:
            raise CalibrationFileError(
                f"{path}: motor '{name}' has unknown key(s) {', '.join(unknown)}", path
            )
        for key in KEYS:
            if not isinstance(entry[key], int) or isinstance(entry[key], bool):
                raise CalibrationFileError(
                    f"{path}: motor '{name}' key '{key}' must be an integer, got {entry[key]!r}", path
                )
        calibration[name] = MotorCalibration(**{k: entry[k] for k in KEYS})
    validate_calibration(calibration, path, motors)
    return calibration


def load_calibration(path: Path | str, motors: Mapping[str, int] = SERVO_IDS) -> dict[str, MotorCalibration]:
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise CalibrationFileError(f"no calibration file at {path}: {CALIBRATE_HINT}", path) from None
    except OSError as exc:
        raise CalibrationFileError(f"cannot read calibration file {path}: {exc.strerror}", path) from None
    return parse_calibration(text, path, motors)


def calibration_to_json(calibration: Mapping[str, MotorCalibration]) -> str:
    """LeRobot's layout: motors in the given order, keys in field order, 4-space indent."""
    return json.dumps({name: asdict(cal) for name, cal in calibration.items()}, indent=4)


def save_calibration(
    calibration: Mapping[str, MotorCalibration], path: Path | str, motors: Mapping[str, int] = SERVO_IDS
) -> Path:
    """Validate, then write atomically: temp file in the same folder, fsync, rename over the old one."""
    path = Path(path)
    validate_calibration(calibration, path, motors)
    return write_text(path, calibration_to_json(calibration))
