"""The twin's "factory" calibration: what a LeRobot calibration of this virtual arm would have produced.

Like a real arm, every servo has its own Homing_Offset (the horn was mounted wherever it was) and a range
recorded by sweeping the joint. And, like a real arm, the calibration does not match the model exactly:

- ranges: the operator's sweep reached the arm's own mechanical stops, a few degrees unlike the model's
  joint ranges (``TWIN_SWEEP_DEG``, close to a public LeRobot calibration of a real SO-101: 223, 205, 196,
  208 deg against the model's 220, 200, 194, 190), and the gripper's range is 1400 ticks (~123 deg; public
  files span 1240-1537) against the model's 110 deg;
- zeros (``TWIN_ZERO_ERROR_DEG``, fixed): LeRobot's zero of an arm joint is the middle of that sweep, which
  is not where the model's zero is; wrist_roll's zero is wherever the operator held it at homing. Each is the
  angle the runtime believes minus the joint's true angle, the same for readings and for commands (both go
  through this one calibration). The gripper's zero is its closed stop, which the sweep records directly:
  none there (a gripper error would also move the jaws against the camera, which ``calibrate align`` would
  absorb into the camera mount).

So `so101 eval --twin` meets a calibration error of the size a careful operator leaves behind, and measures
what it costs, rather than an identity with the training sim. The twin writes these numbers into the emulated
EEPROM and into a LeRobot-format file, so `so101 run` meets exactly what it meets on a real arm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from robot.encoder import CENTRE_TICK, LEROBOT_TICKS_PER_DEGREE, MAX_TICK
from robot.so101 import SO101_JOINTS, NormMode
from so101_deploy.hardware.arm import JointConverter, present_to_rad, rad_to_present
from so101_deploy.hardware.calibration_file import MotorCalibration

# Per-joint horn offsets of the virtual arm (ticks, |offset| <= 2047), arbitrary but fixed, as on a real arm.
TWIN_HOMING_OFFSETS = {
    "shoulder_pan": -312,
    "shoulder_lift": 455,
    "elbow_flex": 1023,
    "wrist_flex": -780,
    "wrist_roll": 64,
    "gripper": 210,
}

# Degrees the operator's sweep covered (arm joints; wrist_roll is recorded over the full turn), and ticks for
# the gripper from its closed stop to fully open.
TWIN_SWEEP_DEG = {"shoulder_pan": 223.0, "shoulder_lift": 205.0, "elbow_flex": 196.0, "wrist_flex": 208.0}
TWIN_GRIPPER_RANGE_TICKS = 1400

# Calibration zero minus true zero, degrees (believed angle - true angle), per joint; fixed, 1-3 deg.
TWIN_ZERO_ERROR_DEG = {
    "shoulder_pan": 1.5,
    "shoulder_lift": -2.0,
    "elbow_flex": 2.5,
    "wrist_flex": -1.0,
    "wrist_roll": 1.5,
    "gripper": 0.0,  # its zero is a stop the sweep records directly (and where the align solve reads the jaws)
}


def twin_calibration() -> dict[str, MotorCalibration]:
    cal = {}
    for joint in SO101_JOINTS:
        if joint.full_turn:  # LeRobot records wrist_roll over the full turn
            low, high = 0, MAX_TICK
        elif joint.norm is NormMode.DEGREES:
            half = TWIN_SWEEP_DEG[joint.name] / 2 * LEROBOT_TICKS_PER_DEGREE
            low, high = round(CENTRE_TICK - half), round(CENTRE_TICK + half)
        else:  # gripper: closed stop at a plausible tick
            low = CENTRE_TICK - TWIN_GRIPPER_RANGE_TICKS // 2
            high = low + TWIN_GRIPPER_RANGE_TICKS
        cal[joint.name] = MotorCalibration(
            id=joint.motor_id,
            drive_mode=0,
            homing_offset=TWIN_HOMING_OFFSETS[joint.name],
            range_min=int(low),
            range_max=int(high),
        )
    return cal


def eeprom_overrides(calibration: dict[str, MotorCalibration]) -> dict[int, dict[str, int]]:
    """Power-up register values for the emulator: the calibration already written into each servo."""
    return {
        cal.id: {
            "Homing_Offset": cal.homing_offset,
            "Min_Position_Limit": cal.range_min,
            "Max_Position_Limit": cal.range_max,
        }
        for cal in calibration.values()
    }


class TickMapping:
    """The twin's physical arm: true sim joint radians <-> motor encoder ticks (unwrapped).

    Encoder = Present_Position + Homing_Offset, and Present_Position <-> the angle the runtime believes is the
    runtime's own conversion (``present_to_rad``) through ``calibration``, so the twin and the real-arm path
    cannot disagree on units. The true angle is the believed one minus ``zero_error_deg`` (default: the
    twin's fixed ``TWIN_ZERO_ERROR_DEG``). The mapping is the physics: a calibration file made with a
    different homing pose, written into the EEPROM, reads this arm differently, as on a real one.
    """

    def __init__(
        self,
        calibration: Mapping[str, MotorCalibration],
        zero_error_deg: Mapping[str, float] | None = None,
    ):
        self.convert = JointConverter(calibration)
        self.names = self.convert.names
        self.calibration = dict(calibration)
        errors = TWIN_ZERO_ERROR_DEG if zero_error_deg is None else zero_error_deg
        self.zero_error_rad = [math.radians(errors.get(j.name, 0.0)) for j in SO101_JOINTS]

    def rad_to_encoder(self, index: int, rad: float) -> float:
        """Continuous (unrounded) encoder ticks for a true sim angle: the servo quantises, not us."""
        joint = SO101_JOINTS[index]
        cal = self.calibration[joint.name]
        return rad_to_present(rad + self.zero_error_rad[index], cal, joint) + cal.homing_offset

    def encoder_to_rad(self, index: int, ticks: float) -> float:
        joint = SO101_JOINTS[index]
        cal = self.calibration[joint.name]
        return present_to_rad(ticks - cal.homing_offset, cal, joint) - self.zero_error_rad[index]
