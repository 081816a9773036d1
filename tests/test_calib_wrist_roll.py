"""wrist_roll's zero checked from the wrist image: a calibration homed with the wrist a quarter turn off is
refused (exit 2, one line saying to redo homing), the twin's own calibration passes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from typer.testing import CliRunner

from calibration.wrist_roll import WRIST_ROLL, WristRollCheckConfig, check_pose, judge_wrist_roll
from robot.encoder import TICKS_PER_TURN
from so101_deploy.cli import app
from so101_deploy.twin.app import Twin, TwinConfig
from so101_deploy.twin.factory import twin_calibration

pytestmark = pytest.mark.usefixtures("no_thread_leaks")

QUARTER_TURN = TICKS_PER_TURN // 4


def _home():
    from sim.config import EnvConfig
    from sim.env import SO101LiftEnv
    from sim.poses import home_pose

    env = SO101LiftEnv(EnvConfig(stage=0, obs="state"))
    try:
        return home_pose(env.kinematics, env.params)
    finally:
        env.close()


def test_the_judge_prefers_the_turn_the_image_was_taken_at():
    from sim.config import EnvConfig

    from calibration.align import SimWristView

    look = check_pose(_home())
    config = WristRollCheckConfig()
    with SimWristView(EnvConfig(), config.size) as view:
        for true_turn in (0.0, 90.0, -90.0):
            q = look.copy()
            q[WRIST_ROLL] += np.radians(true_turn)
            image = view.full(q, 160)  # what the camera sees: the arm really at read angle + true_turn
            verdict = judge_wrist_roll(view, image, look, config)
            assert verdict.best_turn_deg == true_turn, verdict.scores
            assert verdict.ok == (true_turn == 0.0), verdict.scores
            if true_turn:
                assert verdict.scores[true_turn] > verdict.read_score + 0.3
                assert "redo the servo calibration" in verdict.message()


def quarter_turn_off() -> dict:
    """The factory calibration homed with the wrist turned a quarter turn from the documented pose: the wrist
    then reads 90 deg more than it is (Homing_Offset = raw - 2047 taken a quarter turn away)."""
    cal = twin_calibration()
    roll = cal["wrist_roll"]
    return {**cal, "wrist_roll": dataclasses.replace(roll, homing_offset=roll.homing_offset - QUARTER_TURN)}


# A scene unlike the one rendered for the comparison: dim light, a checker table, the camera moved 3 mm / 2 deg.
UNLIKE_THE_SIM = {
    "light_scale": 0.6,
    "table_rgba": [0.45, 0.4, 0.32, 1.0],
    "table_texture": "checker",
    "camera_offset": [0.003, -0.002, 0.002, 0.04, -0.03, 0.03],
}


@pytest.mark.parametrize(
    "homing, scene",
    [("documented pose", "nominal"), ("quarter turn off", "nominal"), ("documented pose", "unlike the sim")],
)
def test_verify_with_the_camera_refuses_a_wrist_roll_zero_a_quarter_turn_off(homing, scene, tmp_path):
    calibration = quarter_turn_off() if homing == "quarter turn off" else None
    with Twin(TwinConfig(calibration=calibration, out_dir=str(tmp_path))) as twin:
        if scene == "unlike the sim":
            twin.perturb(UNLIKE_THE_SIM)
        result = CliRunner().invoke(
            app,
            ["calibrate", "servos", "--verify", "--port", twin.port, "--calibration", str(twin.calibration_path),
             "--camera", twin.camera_url, "--yes", "--packet-timeout-ms", "100"],
            env={"COLUMNS": "400"},
        )  # fmt: skip
        assert not any(twin.torque_enabled().values())  # the arm is left limp either way
    if calibration is None:
        assert result.exit_code == 0, result.output
        assert "all 6 motors match" in result.output and "wrist_roll zero ok" in result.output
    else:
        assert result.exit_code == 2, result.output
        assert "wrist_roll zero is off by about -90 deg" in result.output, result.output
        assert "redo the servo calibration" in result.output


def test_camera_without_verify_is_bad_input(tmp_path):
    result = CliRunner().invoke(
        app,
        ["calibrate", "servos", "--port", "/dev/null", "--id", "x", "--camera", "0"],
        env={"COLUMNS": "200"},
    )
    assert (
        result.exit_code == 2 and "--camera checks wrist_roll's zero and goes with --verify" in result.output
    )
