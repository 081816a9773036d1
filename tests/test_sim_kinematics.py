"""IK/FK on the arm MJCF and the shared action -> joint-target controller."""

from sim.arm_model import TOOL_SITE
from sim.config import EnvConfig
from sim.control import ControllerParams, action_to_joint_targets, reference_joints
from sim.kinematics import DOWN, ArmKinematics
from sim.scene import build_model

import mujoco
import numpy as np
import pytest

from policies.contract import PolicyContract, contract_for_env
from robot.so101 import CTRL_HIGH, CTRL_LOW, JOINT_NAMES

TOP_DOWN_SEED = np.array([0.0, 0.0, 0.0, 1.5708, 1.5708, 0.4])
# Step limits wide enough never to bind: for tests of the action mapping itself (the limits: test_motion_limits.py)
UNLIMITED = {"max_joint_step_rad": (np.pi,) * len(JOINT_NAMES)}


@pytest.fixture(scope="module")
def kin():
    return ArmKinematics()


def tool_of(kin, q):
    return kin.fk(q)[0]


def test_joint_names_and_limits_agree_with_contract_and_mjcf(kin):
    assert PolicyContract().joint_names == JOINT_NAMES == contract_for_env(EnvConfig()).joint_names
    np.testing.assert_allclose(kin.lower, CTRL_LOW, atol=1e-4)
    np.testing.assert_allclose(kin.upper, CTRL_HIGH, atol=1e-4)


def test_fk_matches_the_simulated_scene(kin):
    model = build_model(EnvConfig())
    data = mujoco.MjData(model)
    qadr = [model.jnt_qposadr[model.joint(n).id] for n in JOINT_NAMES]
    rng = np.random.default_rng(1)
    for _ in range(5):
        q = rng.uniform(kin.lower, kin.upper)
        data.qpos[qadr] = q
        mujoco.mj_kinematics(model, data)
        pos, rot = kin.fk(q)
        np.testing.assert_allclose(pos, data.site(TOOL_SITE).xpos, atol=1e-9)
        np.testing.assert_allclose(rot.flatten(), data.site(TOOL_SITE).xmat, atol=1e-9)


def test_ik_reaches_random_targets_within_5mm_pointing_down(kin):
    rng = np.random.default_rng(0)
    for _ in range(40):
        target = rng.uniform([0.15, -0.08, 0.01], [0.25, 0.08, 0.07])
        result = kin.solve(target, TOP_DOWN_SEED)
        pos, rot = kin.fk(result.q)
        assert np.linalg.norm(pos - target) < 0.005, (target, pos)
        assert result.converged
        assert rot[:, 0] @ DOWN > np.cos(np.radians(3.0))  # top-down is reachable this low
        assert np.all(result.q >= kin.lower - 1e-9) and np.all(result.q <= kin.upper + 1e-9)


def test_ik_above_the_top_down_reach_keeps_position_and_tilts(kin):
    """wrist_flex stops at 95 deg, so 15 cm up the tool cannot point straight down; position still wins."""
    target = np.array([0.22, 0.0, 0.15])
    result = kin.solve(target, TOP_DOWN_SEED)
    assert np.linalg.norm(tool_of(kin, result.q) - target) < 0.005
    assert result.axis_error_rad > np.radians(5)


def test_ee_delta_moves_the_tool_by_the_scaled_action(kin):
    params = ControllerParams(**UNLIMITED)
    q = kin.solve(np.array([0.22, 0.02, 0.05]), TOP_DOWN_SEED).q
    start = tool_of(kin, q)
    for axis in range(3):
        for sign in (1.0, -1.0):
            action = np.zeros(4)
            action[axis] = sign
            target = action_to_joint_targets(q, action, params, kin)
            moved = tool_of(kin, target) - start
            expected = np.zeros(3)
            expected[axis] = sign * params.ee_step_m
            np.testing.assert_allclose(moved, expected, atol=5e-4)
            assert kin.approach_axis(target) @ DOWN > np.cos(np.radians(3.0))
            assert target[4] == pytest.approx(params.wrist_roll_rad)


def test_gripper_dimension_is_absolute_open_to_closed(kin):
    params = ControllerParams(**UNLIMITED)
    q = kin.solve(np.array([0.22, 0.0, 0.05]), TOP_DOWN_SEED).q
    for command, expected in ((-1.0, params.gripper_open_rad), (1.0, params.gripper_closed_rad)):
        assert action_to_joint_targets(q, np.array([0, 0, 0, command]), params, kin)[5] == pytest.approx(
            expected
        )
    mid = action_to_joint_targets(q, np.array([0, 0, 0, 0.0]), params, kin)[5]
    assert mid == pytest.approx((params.gripper_open_rad + params.gripper_closed_rad) / 2)
    assert params.gripper_open_rad > params.gripper_closed_rad  # so101_new_calib: larger angle = wider jaws


def test_controller_is_pure_and_clips_actions(kin):
    params = ControllerParams()
    q = kin.solve(np.array([0.2, -0.03, 0.06]), TOP_DOWN_SEED).q
    q_before = q.copy()
    a = np.array([0.3, -0.7, 0.2, 0.5])
    first = action_to_joint_targets(q, a, params, kin)
    kin.fk(np.zeros(6))  # disturb the scratch data in between
    second = action_to_joint_targets(q, a, params, kin)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(q, q_before)
    big = action_to_joint_targets(q, np.array([5.0, 0, 0, 9.0]), params, kin)
    unit = action_to_joint_targets(q, np.array([1.0, 0, 0, 1.0]), params, kin)
    np.testing.assert_allclose(big, unit)
    with pytest.raises(ValueError, match="expects 4"):
        action_to_joint_targets(q, np.zeros(6), params, kin)


def test_workspace_floor_is_never_crossed(kin):
    params = ControllerParams()
    q = kin.solve(np.array([0.22, 0.0, params.reach_height_m[0] + 0.003]), TOP_DOWN_SEED).q
    target = action_to_joint_targets(q, np.array([0, 0, -1.0, 0]), params, kin)
    assert tool_of(kin, target)[2] == pytest.approx(params.reach_height_m[0], abs=5e-4)


def test_every_workspace_target_is_reached(kin):
    """The workspace sector is where the IK is exact: sample its edges and corners from a top-down seed."""
    params = ControllerParams()
    assert params.pan_axis_xy[0] == pytest.approx(kin.model.body("shoulder").pos[0], abs=1e-4)
    (r0, r1), (z0, z1), az = params.reach_radius_m, params.reach_height_m, params.max_azimuth_rad
    for r in (r0, (r0 + r1) / 2, r1):
        for z in (z0, (z0 + z1) / 2, z1):
            for a in (-az, 0.0, az):
                target = np.array([params.pan_axis_xy[0] + r * np.cos(a), r * np.sin(a), z])
                result = kin.solve(target, TOP_DOWN_SEED, max_iters=200)
                assert np.linalg.norm(tool_of(kin, result.q) - target) < 0.005, (r, z, a)


def test_joint_delta_adds_scaled_increments():
    params = ControllerParams(action_type="joint_delta", joint_step_rad=0.05, **UNLIMITED)
    kin = ArmKinematics()
    q = np.array([0.1, -0.2, 0.3, 1.0, 1.2, 0.5])
    a = np.array([1.0, -1.0, 0.5, 0.0, -0.5, 1.0])
    target = action_to_joint_targets(q, a, params, kin)
    np.testing.assert_allclose(target[:5], q[:5] + a[:5] * 0.05)
    assert target[5] == pytest.approx(params.gripper_closed_rad)
    at_limit = action_to_joint_targets(np.array([1.919, 0, 0, 0, 0, 0]), np.ones(6), params, kin)
    assert at_limit[0] == pytest.approx(CTRL_HIGH[0])


def test_reference_is_previous_target_unless_the_arm_fell_behind():
    params = ControllerParams()
    measured = np.array([0.0, 0.1, 0.2, 1.5, 1.57, 0.3])
    close = measured + 0.01
    far = measured + np.array([0.5, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(reference_joints(measured, close, params), close)
    np.testing.assert_array_equal(reference_joints(measured, far, params), measured)
    np.testing.assert_array_equal(reference_joints(measured, None, params), measured)


def test_runtime_params_from_the_contract_equal_the_sims():
    for cfg in (EnvConfig(), EnvConfig(action_type="joint_delta", joint_step_rad=0.08)):
        contract = contract_for_env(cfg)
        assert ControllerParams.from_action_spec(contract.action) == ControllerParams.from_env_config(cfg)
