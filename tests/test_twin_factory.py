"""The twin's factory calibration is a real arm's, not the model's: its own ranges (gripper 1400 ticks) and
fixed joint-zero errors, which shift readings and commands alike, so the runtime meets a calibration gap."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from robot.encoder import LEROBOT_TICKS_PER_DEGREE, MAX_TICK
from robot.so101 import JOINT_NAMES, SO101_JOINTS
from so101_deploy.hardware.arm import Arm, JointConverter
from so101_deploy.hardware.bus import BusConfig, FeetechBus
from so101_deploy.twin.app import Twin, TwinConfig
from so101_deploy.twin.factory import (
    TWIN_GRIPPER_RANGE_TICKS,
    TWIN_ZERO_ERROR_DEG,
    TickMapping,
    twin_calibration,
)

pytestmark = pytest.mark.usefixtures("no_thread_leaks")

ERROR_RAD = np.radians([TWIN_ZERO_ERROR_DEG[n] for n in JOINT_NAMES])


def test_the_factory_calibration_is_unlike_the_model():
    cal = twin_calibration()
    assert cal["gripper"].range_max - cal["gripper"].range_min == TWIN_GRIPPER_RANGE_TICKS == 1400
    assert (cal["wrist_roll"].range_min, cal["wrist_roll"].range_max) == (0, MAX_TICK)
    for joint in SO101_JOINTS[:4]:
        c = cal[joint.name]
        sweep_deg = (c.range_max - c.range_min) / LEROBOT_TICKS_PER_DEGREE
        model_deg = math.degrees(joint.sim_high - joint.sim_low)
        assert 1.0 < abs(sweep_deg - model_deg) < 20.0, joint.name  # a few degrees, like real arms
    errors = np.abs(list(TWIN_ZERO_ERROR_DEG.values()))
    assert errors[:5].min() >= 1.0 and errors.max() <= 3.0


def test_a_zero_error_shifts_readings_and_commands_alike():
    """Through the runtime's own conversion: the arm at true q reads q + error; a command b lands at b - error."""
    cal = twin_calibration()
    physics, convert = TickMapping(cal), JointConverter(cal)
    q = np.array([0.3, -0.4, 0.5, 0.2, 1.0, 0.6])
    present = {
        n: round(physics.rad_to_encoder(i, q[i]) - cal[n].homing_offset) for i, n in enumerate(JOINT_NAMES)
    }
    np.testing.assert_allclose(convert.ticks_to_rad(present), q + ERROR_RAD, atol=math.radians(0.1))
    goal = convert.rad_to_ticks(q)
    landed = [physics.encoder_to_rad(i, goal[n] + cal[n].homing_offset) for i, n in enumerate(JOINT_NAMES)]
    np.testing.assert_allclose(landed, q - ERROR_RAD, atol=math.radians(0.1))


def test_the_runtime_reads_its_own_target_while_the_twin_sits_the_zero_error_away():
    with Twin(TwinConfig()) as twin, FeetechBus(BusConfig(port=twin.port, packet_timeout_ms=100)) as bus:
        arm = Arm(bus, twin.calibration)
        assert arm.calibration_mismatches() == []
        bus.configure()
        start = arm.read_rad()
        target = start + np.array([0.05, 0.05, -0.05, 0.05, 0.1, 0.0])
        bus.write_goal_positions(arm.convert.rad_to_ticks(start))
        bus.torque_on()
        arm.write_rad(target)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and np.abs(arm.read_rad() - target)[:5].max() > math.radians(0.5):
            time.sleep(0.1)
        read = arm.read_rad()
        true = np.array(twin.state()["joint_pos"])
        bus.torque_off()
    np.testing.assert_allclose(read[:5], target[:5], atol=math.radians(0.5))
    np.testing.assert_allclose(true[:5], read[:5] - ERROR_RAD[:5], atol=math.radians(0.3))
