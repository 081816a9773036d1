"""Joint table and unit conversions: every joint round-trips over its whole range; the arm works on the emulator."""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import pytest

from robot.so101 import SERVO_IDS, SO101_JOINTS, NormMode
from so101_deploy.hardware.arm import (
    Arm,
    JointConverter,
    lerobot_to_rad,
    lerobot_to_ticks,
    present_to_rad,
    rad_to_lerobot,
    rad_to_present,
    ticks_to_lerobot,
)
from so101_deploy.hardware.bus import BusConfig, FeetechBus
from so101_deploy.hardware.calibration_file import MotorCalibration, load_calibration
from so101_deploy.twin.emulator import EmulatorConfig, ServoEmulator

FIXTURE = Path(__file__).parent / "fixtures" / "lerobot_so_follower_calibration.json"
CAL = load_calibration(FIXTURE)


pytestmark = pytest.mark.usefixtures("no_thread_leaks")


def test_joint_table_matches_motor_ids_and_the_contract_order():
    from policies.contract import PolicyContract

    assert tuple(j.name for j in SO101_JOINTS) == PolicyContract().joint_names
    assert {j.name: j.motor_id for j in SO101_JOINTS} == SERVO_IDS == {
        "shoulder_pan": 1, "shoulder_lift": 2, "elbow_flex": 3, "wrist_flex": 4, "wrist_roll": 5, "gripper": 6,
    }  # fmt: skip


def test_lerobot_formulas_on_known_values():
    pan = CAL["shoulder_pan"]  # range 758..3292, middle 2025
    assert ticks_to_lerobot(2025, pan, NormMode.DEGREES) == 0.0
    assert ticks_to_lerobot(2025 + 4095 / 4, pan, NormMode.DEGREES) == pytest.approx(90.0)
    grip = CAL["gripper"]  # 1990..3352
    assert ticks_to_lerobot(1990, grip, NormMode.RANGE_0_100) == 0.0
    assert ticks_to_lerobot(3352, grip, NormMode.RANGE_0_100) == 100.0
    assert ticks_to_lerobot(5000, grip, NormMode.RANGE_0_100) == 100.0  # bounded, like LeRobot
    inverted = dataclasses.replace(grip, drive_mode=1)
    assert ticks_to_lerobot(1990, inverted, NormMode.RANGE_0_100) == 100.0
    gripper = SO101_JOINTS[-1]
    # the gripper in sim radians: the model's closed angle at the closed stop, then LeRobot degrees from it
    assert present_to_rad(1990, grip, gripper) == gripper.sim_low
    assert present_to_rad(3352, grip, gripper) == pytest.approx(
        gripper.sim_low + math.radians(1362 / (4095 / 360))
    )
    assert present_to_rad(3352, inverted, gripper) == gripper.sim_low  # drive_mode 1: closed at range_max
    with pytest.raises(ValueError, match="gripper is recorded 0..100"):
        lerobot_to_rad(50.0, gripper)
    assert lerobot_to_rad(90.0, SO101_JOINTS[0]) == pytest.approx(math.pi / 2)


@pytest.mark.parametrize("joint", SO101_JOINTS, ids=lambda j: j.name)
@pytest.mark.parametrize("flip", [False, True], ids=["as-is", "sign-flipped-offset"])
def test_every_tick_round_trips_through_lerobot_units_and_radians(joint, flip):
    if flip:  # the table's data may change after checking against the model: the chain must stay exact
        joint = dataclasses.replace(
            joint, sign=-1.0, offset_rad=0.123 if joint.norm is NormMode.DEGREES else 0.0
        )
    cal = CAL[joint.name]
    for ticks in range(cal.range_min, cal.range_max + 1):
        value = ticks_to_lerobot(ticks, cal, joint.norm)
        assert lerobot_to_ticks(value, cal, joint.norm) == ticks, (joint.name, ticks)
        rad = present_to_rad(ticks, cal, joint)
        assert round(rad_to_present(rad, cal, joint)) == ticks, (joint.name, ticks)
        if joint.norm is NormMode.DEGREES:
            assert (
                lerobot_to_ticks(rad_to_lerobot(lerobot_to_rad(value, joint), joint), cal, joint.norm)
                == ticks
            )
    # the sim end of the chain: the joint's whole sim range maps back onto itself
    for rad in np.linspace(joint.sim_low, joint.sim_high, 101):
        assert present_to_rad(rad_to_present(rad, cal, joint), cal, joint) == pytest.approx(rad, abs=1e-12)


def test_converter_vectors_follow_the_contract_order_and_clamp_to_the_range():
    conv = JointConverter(CAL)
    mids = {name: round(c.range_mid) for name, c in CAL.items()}
    rad = conv.ticks_to_rad(mids)
    assert rad.shape == (6,) and np.allclose(rad[:5], 0.0, atol=1e-3)
    grip = CAL["gripper"]  # 1990..3352: the middle is 681 ticks (59.9 LeRobot deg) open of the closed stop
    assert rad[5] == pytest.approx(SO101_JOINTS[5].sim_low + math.radians(681 / (4095 / 360)), abs=1e-9)
    assert grip.range_mid - grip.range_min == 681
    assert conv.rad_to_ticks(rad) == mids
    far = conv.rad_to_ticks([10.0, -10.0, 0.0, 0.0, 0.0, 10.0])
    assert far["shoulder_pan"] == 3292 and far["shoulder_lift"] == 812 and far["gripper"] == 3352
    with pytest.raises(ValueError, match="expected 6 joint angles"):
        conv.rad_to_ticks([0.0] * 5)


def test_arm_on_the_emulator_applies_calibration_and_reads_radians():
    # Put each emulated joint where its calibrated middle is: motor ticks = present + Homing_Offset.
    initial = {c.id: round(c.range_mid) + c.homing_offset for c in CAL.values()}
    config = EmulatorConfig(initial_ticks=initial, speed_ticks_per_s=50_000)
    with ServoEmulator(config) as emu, FeetechBus(BusConfig(port=emu.port, packet_timeout_ms=60)) as bus:
        arm = Arm(bus, CAL)
        assert (
            len(arm.calibration_mismatches()) == 6 + 5 * 2
        )  # factory: offsets 0, limits 0..4095 (= wrist_roll)
        arm.apply_calibration()
        assert arm.calibration_mismatches() == []
        rad = arm.read_rad()
        assert np.allclose(rad[:5], 0.0, atol=1e-3)
        bus.torque_on()
        target = np.array([0.5, -0.4, 0.3, -0.2, 1.0, 1.2])
        sent = arm.write_rad(target)
        deadline = time.monotonic() + 2.0
        while bus.read_positions() != sent and time.monotonic() < deadline:
            time.sleep(0.01)
        assert np.allclose(arm.read_rad(), target, atol=2 * math.pi / 4095)  # within a tick
        # the servo's limits clamp a goal outside the calibrated range
        bus.write_goal_positions({"shoulder_pan": 4000})
        deadline = time.monotonic() + 2.0
        while bus.read_positions()["shoulder_pan"] != 3292 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert emu.servo(1).peek("Goal_Position") == 3292


def test_calibration_with_a_wrong_id_is_refused_by_the_converter():
    bad = {**CAL, "gripper": MotorCalibration(7, 0, 0, 1990, 3352)}
    with pytest.raises(ValueError, match="motor 'gripper' has id 7, but it is ID 6"):
        JointConverter(bad)


def test_the_gripper_makes_the_same_jaw_angle_in_the_sim_and_on_the_arm_whatever_its_range():
    """A realistic gripper range (1400 ticks, ~123 deg) against the model's 110 deg: the policy's "open" command
    must put the jaws at the model's open angle on the arm, not ~8 deg wider (0..100 stretched over the span
    would give closed + 123/110 * (open - closed))."""
    from robot.so101 import GRIPPER_CLOSED_RAD, GRIPPER_OPEN_RAD

    gripper = SO101_JOINTS[-1]
    cal = MotorCalibration(6, 0, 0, 1347, 1347 + 1400)
    conv = JointConverter({**CAL, "gripper": cal})
    for command in (GRIPPER_OPEN_RAD, GRIPPER_CLOSED_RAD, 0.3):
        goal = conv.rad_to_ticks([0.0] * 5 + [command])["gripper"]
        opened_deg = (goal - cal.range_min) / (4095 / 360)  # how far the horn turns from the closed stop
        # the arm's jaw angle (the model's closed angle + the horn's turn) is the commanded sim angle
        assert gripper.sim_low + math.radians(opened_deg) == pytest.approx(command, abs=math.radians(0.1))
        assert conv.ticks_to_rad({**{n: round(c.range_mid) for n, c in CAL.items()}, "gripper": goal})[
            5
        ] == pytest.approx(command, abs=math.radians(0.1))
    open_goal = conv.rad_to_ticks([0.0] * 5 + [GRIPPER_OPEN_RAD])["gripper"]
    assert open_goal == 1347 + round(math.degrees(GRIPPER_OPEN_RAD - gripper.sim_low) * 4095 / 360)
    # the old mapping (0..100 over the model's span) would have sent the horn this much further open
    stretched = (GRIPPER_OPEN_RAD - gripper.sim_low) / (gripper.sim_high - gripper.sim_low) * 1400
    assert (1347 + stretched - open_goal) / (4095 / 360) > 5.0
