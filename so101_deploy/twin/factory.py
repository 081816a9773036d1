"""The twin's "factory" calibration: what a LeRobot calibration of this virtual arm would have produced.

Like a real arm, every servo has its own Homing_Offset (the horn was mounted wherever it was) and a range
recorded by sweeping the joint. Sim zero sits at the middle of each arm joint's range, as in
``so101_new_calib``; the gripper's 0..100 spans the model's gripper range. The twin writes these numbers into
the emulated EEPROM and into a LeRobot-format file, so `so101 run` meets exactly what it meets on a real arm.
"""

from __future__ import annotations

import math

from robot.encoder import CENTRE_TICK, LEROBOT_TICKS_PER_DEGREE, MAX_TICK
from robot.so101 import SO101_JOINTS, NormMode
from so101_deploy.hardware.arm import JointConverter
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


def twin_calibration() -> dict[str, MotorCalibration]:
    cal = {}
    for joint in SO101_JOINTS:
        if joint.full_turn:  # LeRobot records wrist_roll over the full turn
            low, high = 0, MAX_TICK
        elif joint.norm is NormMode.DEGREES:
            half = math.degrees(min(abs(joint.sim_low), abs(joint.sim_high))) * LEROBOT_TICKS_PER_DEGREE
            low, high = round(CENTRE_TICK - half), round(CENTRE_TICK + half)
        else:  # gripper: the whole model range, closed end at a plausible tick
            span = math.degrees(joint.sim_high - joint.sim_low) * LEROBOT_TICKS_PER_DEGREE
            low = CENTRE_TICK - round(span / 2)
            high = low + round(span)
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
    """Sim joint radians <-> motor encoder ticks (unwrapped) through the twin's calibration.

    Encoder = Present_Position + Homing_Offset; Present_Position <-> radians is the runtime's own conversion
    (JointConverter), so the twin and the real-arm path cannot disagree on units.
    """

    def __init__(self, calibration: dict[str, MotorCalibration]):
        self.convert = JointConverter(calibration)
        self.names = self.convert.names
        self.calibration = calibration
        self._scale = {}
        for joint in SO101_JOINTS:
            cal = calibration[joint.name]
            if joint.norm is NormMode.DEGREES:
                self._scale[joint.name] = (
                    math.radians(1.0 / LEROBOT_TICKS_PER_DEGREE) * joint.sign,
                    cal.range_mid,
                )
            else:
                rad_per_tick = (joint.sim_high - joint.sim_low) / (cal.range_max - cal.range_min)
                self._scale[joint.name] = (rad_per_tick, None)

    def rad_to_encoder(self, index: int, rad: float) -> float:
        """Continuous (unrounded) encoder ticks for a sim angle: the servo quantises, not us."""
        joint = SO101_JOINTS[index]
        cal = self.calibration[joint.name]
        per_tick, mid = self._scale[joint.name]
        if mid is not None:
            present = mid + (rad - joint.offset_rad) / per_tick
        else:
            present = cal.range_min + (rad - joint.sim_low) / per_tick
        return present + cal.homing_offset

    def encoder_to_rad(self, index: int, ticks: float) -> float:
        joint = SO101_JOINTS[index]
        cal = self.calibration[joint.name]
        per_tick, mid = self._scale[joint.name]
        present = ticks - cal.homing_offset
        if mid is not None:
            return (present - mid) * per_tick + joint.offset_rad
        return joint.sim_low + (present - cal.range_min) * per_tick
