"""LeRobot calibration files: the hand-written LeRobot-format fixture loads, round-trips, and bad files are named."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from so101_deploy.hardware.calibration_file import (
    MotorCalibration,
    calibration_path,
    calibration_root,
    calibration_to_json,
    load_calibration,
    locate_calibration,
    save_calibration,
)
from so101_deploy.hardware.errors import CalibrationFileError

FIXTURE = Path(__file__).parent / "fixtures" / "lerobot_so_follower_calibration.json"


def test_lerobot_fixture_loads_with_every_motor():
    cal = load_calibration(FIXTURE)
    assert list(cal) == ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
    assert cal["shoulder_pan"] == MotorCalibration(
        id=1, drive_mode=0, homing_offset=-1470, range_min=758, range_max=3292
    )
    assert cal["wrist_roll"].range_min == 0 and cal["wrist_roll"].range_max == 4095
    assert cal["gripper"].range_mid == (1990 + 3352) / 2


def test_round_trip_is_byte_identical_to_lerobot_layout(tmp_path):
    cal = load_calibration(FIXTURE)
    out = save_calibration(cal, tmp_path / "robots" / "so_follower" / "my_arm.json")
    assert out.read_text() == FIXTURE.read_text().rstrip("\n")  # LeRobot writes no trailing newline
    assert load_calibration(out) == cal
    assert list(json.loads(out.read_text())["gripper"]) == [
        "id",
        "drive_mode",
        "homing_offset",
        "range_min",
        "range_max",
    ]
    assert oct(out.stat().st_mode & 0o777) == oct(0o644)


def test_location_follows_lerobot_precedence(tmp_path):
    env = {
        "HF_HOME": "/hf",
        "HF_LEROBOT_HOME": "/lr",
        "HF_LEROBOT_CALIBRATION": "/cal",
        "XDG_CACHE_HOME": "/x",
    }
    assert calibration_root(env) == Path("/cal")
    assert calibration_root({k: v for k, v in env.items() if k != "HF_LEROBOT_CALIBRATION"}) == Path(
        "/lr/calibration"
    )
    assert calibration_root({"HF_HOME": "/hf", "XDG_CACHE_HOME": "/x"}) == Path("/hf/lerobot/calibration")
    assert calibration_root({"XDG_CACHE_HOME": "/x"}) == Path("/x/huggingface/lerobot/calibration")
    assert calibration_root({}) == Path.home() / ".cache/huggingface/lerobot/calibration"
    assert calibration_path("arm7", env=env) == Path("/cal/robots/so_follower/arm7.json")
    # locate: the current folder first, LeRobot's pre-0.4.3 folder as a fallback
    env = {"HF_LEROBOT_CALIBRATION": str(tmp_path)}
    legacy = tmp_path / "robots" / "so101_follower" / "arm7.json"
    legacy.parent.mkdir(parents=True)
    legacy.write_text(FIXTURE.read_text())
    assert locate_calibration("arm7", env) == legacy
    current = save_calibration(load_calibration(FIXTURE), calibration_path("arm7", env=env))
    assert locate_calibration("arm7", env) == current
    with pytest.raises(
        CalibrationFileError,
        match=r"no calibration for robot id 'other' \(looked at .*so_follower/other\.json",
    ):
        locate_calibration("other", env)


def _variant(tmp_path: Path, edit) -> Path:
    data = json.loads(FIXTURE.read_text())
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data, indent=4))
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("elbow_flex"), r"has no entry for motor 'elbow_flex'"),
        (lambda d: d["wrist_flex"].pop("range_max"), r"motor 'wrist_flex' lacks key\(s\) range_max"),
        (
            lambda d: d["gripper"].update(range_min="1990"),
            r"motor 'gripper' key 'range_min' must be an integer",
        ),
        (lambda d: d["gripper"].update(offset=3), r"motor 'gripper' has unknown key\(s\) offset"),
        (lambda d: d["shoulder_lift"].update(id=7), r"motor 'shoulder_lift' has id 7, but it is ID 2"),
        (
            lambda d: d["wrist_flex"].update(homing_offset=2100),
            r"motor 'wrist_flex' has homing_offset 2100, beyond",
        ),
        (
            lambda d: d["elbow_flex"].update(range_min=2000, range_max=2000),
            r"motor 'elbow_flex' has range_min 2000",
        ),
        (lambda d: d.update(elbow=d["elbow_flex"]), r"unknown motor\(s\) 'elbow'"),
    ],
)
def test_bad_files_name_the_file_and_the_motor_or_key(tmp_path, edit, message):
    path = _variant(tmp_path, edit)
    with pytest.raises(CalibrationFileError, match=message) as err:
        load_calibration(path)
    assert str(path) in str(err.value) and err.value.path == path


def test_unreadable_files_are_named(tmp_path):
    with pytest.raises(
        CalibrationFileError, match=r"no calibration file at .*nothing\.json: calibrate the arm"
    ):
        load_calibration(tmp_path / "nothing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{\n    "shoulder_pan": {\n        "id": 1,\n')
    with pytest.raises(CalibrationFileError, match=r"broken\.json is not valid JSON \(line 4"):
        load_calibration(broken)
    assert isinstance(CalibrationFileError("x", broken), ValueError)  # the CLI maps it to exit code 2


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    good = load_calibration(FIXTURE)
    path = save_calibration(good, tmp_path / "arm.json")
    before = path.read_text()
    changed = {**good, "gripper": MotorCalibration(6, 0, 0, 100, 200)}

    def crash(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", crash)  # the crash happens after the temp file was (partly) written
    with pytest.raises(OSError, match="No space left"):
        save_calibration(changed, path)
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arm.json"]  # no temp file left behind
    # invalid data is refused before anything is written
    with pytest.raises(CalibrationFileError, match="range_min 300, range_max 200"):
        save_calibration({**good, "gripper": MotorCalibration(6, 0, 0, 300, 200)}, path)
    assert path.read_text() == before


def test_json_layout_matches_lerobot():
    cal = load_calibration(FIXTURE)
    text = calibration_to_json(cal)
    assert text.startswith('{\n    "shoulder_pan": {\n        "id": 1,\n        "drive_mode": 0,\n')
