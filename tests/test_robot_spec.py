"""The SO-101 spec (robot/) against the model file it describes, and the encoder and camera maths on known values."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

from sim.arm_model import arm_mjcf_path
from sim.config import EnvConfig
from sim.control import ControllerParams
from sim.kinematics import ArmKinematics
from sim.poses import home_pose
from sim.scene import build_model
from sim.tasks.lift import LiftTask

import mujoco
import numpy as np
import pytest

from robot.camera_geometry import extent_px, focal_px, fov_deg, half_fov_tan, pinhole_matrix
from robot.encoder import (
    CENTRE_TICK,
    LEROBOT_TICKS_PER_DEGREE,
    MAX_TICK,
    TICK_RAD,
    TICKS_PER_TURN,
    lerobot_degrees_to_ticks,
    ticks_to_lerobot_degrees,
)
from robot.so101 import (
    ARM_JOINT_NAMES,
    CTRL_HIGH,
    CTRL_LOW,
    FULL_TURN_JOINTS,
    GRIPPER_CLOSED_RAD,
    GRIPPER_JOINT,
    GRIPPER_OPEN_RAD,
    HOME_TOOL_POSITION_M,
    JOINT_NAMES,
    SERVO_IDS,
    SO101_JOINTS,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def arm():
    return mujoco.MjModel.from_xml_path(str(arm_mjcf_path()))


def test_joint_limits_are_exactly_the_model_files(arm):
    """Both ranges of every joint: the joint's range (to the 7 decimals the spec keeps) and its position
    actuator's ctrlrange (bit for bit)."""
    hinges = [arm.joint(i).name for i in range(arm.njnt) if arm.jnt_type[i] == mujoco.mjtJoint.mjJNT_HINGE]
    assert tuple(hinges) == JOINT_NAMES  # the model's own order is the order everywhere
    for joint in SO101_JOINTS:
        jid = arm.joint(joint.name).id
        assert arm.jnt_limited[jid], joint.name
        low, high = arm.jnt_range[jid]
        assert (round(low, 7), round(high, 7)) == (joint.sim_low, joint.sim_high), joint.name
        actuator = arm.actuator(joint.name)
        assert arm.actuator_trnid[actuator.id][0] == jid
        assert tuple(arm.actuator_ctrlrange[actuator.id]) == (joint.ctrl_low, joint.ctrl_high), joint.name
        # the controller's clip sits inside the joint's travel (to the 5th decimal the file gives)
        assert joint.sim_low - 1e-5 <= joint.ctrl_low < joint.ctrl_high <= joint.sim_high + 1e-5


def test_ids_split_and_gripper_angles():
    assert {name: i + 1 for i, name in enumerate(JOINT_NAMES)} == SERVO_IDS
    assert JOINT_NAMES[-1] == GRIPPER_JOINT and JOINT_NAMES[:-1] == ARM_JOINT_NAMES
    assert FULL_TURN_JOINTS == ("wrist_roll",)  # LeRobot records it over the whole turn
    g = JOINT_NAMES.index(GRIPPER_JOINT)
    assert CTRL_LOW[g] < GRIPPER_CLOSED_RAD < GRIPPER_OPEN_RAD < CTRL_HIGH[g]  # larger angle = wider jaws


def test_encoder_scales():
    assert TICKS_PER_TURN == 4096 and MAX_TICK == 4095 and CENTRE_TICK == 2047
    assert pytest.approx(2 * math.pi, abs=1e-15) == TICK_RAD * TICKS_PER_TURN
    # LeRobot's DEGREES: 4095 ticks per 360 deg, kept so its recorded angles read the same here
    assert LEROBOT_TICKS_PER_DEGREE == 4095 / 360
    assert ticks_to_lerobot_degrees(4095 / 4) == pytest.approx(90.0, abs=1e-12)
    assert lerobot_degrees_to_ticks(-180.0) == pytest.approx(-2047.5, abs=1e-12)
    for ticks in (-2047, -1, 0, 1, 999, 2048):
        assert lerobot_degrees_to_ticks(ticks_to_lerobot_degrees(ticks)) == pytest.approx(ticks, abs=1e-9)


def test_camera_geometry_on_known_values():
    assert half_fov_tan(90.0) == pytest.approx(1.0)
    assert focal_px(90.0, 480) == pytest.approx(240.0)
    assert focal_px(60.0, 480) == pytest.approx(240.0 * math.sqrt(3))
    assert fov_deg(240.0, 480) == pytest.approx(90.0)
    for fovy in (30.0, 60.0, 75.0, 120.0):
        assert fov_deg(focal_px(fovy, 480), 480) == pytest.approx(fovy, abs=1e-12)
        assert extent_px(focal_px(fovy, 480), fovy) == pytest.approx(480, abs=1e-9)
    np.testing.assert_allclose(
        pinhole_matrix(90.0, 640, 480), [[240.0, 0, 320], [0, 240.0, 240], [0, 0, 1]], rtol=1e-14
    )
    # horizontal FOV of that camera: the same maths with the width
    assert fov_deg(pinhole_matrix(90.0, 640, 480)[0, 0], 640) == pytest.approx(
        2 * math.degrees(math.atan(4 / 3))
    )


def test_home_pose_is_the_specs_tool_position_top_down_and_the_lift_tasks_stage_0():
    kin = ArmKinematics()
    params = ControllerParams()
    q = home_pose(kin, params)
    tool, _ = kin.fk(q)
    np.testing.assert_allclose(tool, HOME_TOOL_POSITION_M, atol=1e-3)
    assert q[JOINT_NAMES.index(GRIPPER_JOINT)] == GRIPPER_OPEN_RAD
    cfg = EnvConfig(stage=0)
    task = LiftTask(cfg, build_model(cfg), kin, params)
    np.testing.assert_array_equal(task.home_q, q)  # one computation, one value


def test_the_bottom_layer_imports_neither_mujoco_nor_torch():
    """``sim`` must choose MUJOCO_GL before mujoco is imported, and robot/common sort after it: importing them
    first must not import mujoco (nor torch: the deploy path stays light)."""
    code = (
        "import sys, robot, robot.so101, robot.encoder, robot.camera_geometry, common.atomic_file, common.config\n"
        "print(sorted(m for m in ('mujoco', 'torch', 'sim', 'policies', 'so101_deploy') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"
