"""The SO-101 arm: its joints as a table, and unit conversions raw ticks <-> LeRobot units <-> sim radians.

Three units, one chain:
- raw ticks: what the servo reports (Present_Position, already shifted by Homing_Offset);
- LeRobot units: arm joints in degrees from the middle of the calibrated range, gripper 0..100 over it
  (so datasets and calibrations are interchangeable with LeRobot);
- sim radians: the MuJoCo joint angles of ``so101_new_calib.xml``, the policy contract's units.
  Arm joints: ``rad = sign * degrees * pi/180 + offset_rad``; gripper: 0..100 mapped linearly onto the
  model's gripper range. ``sign`` and ``offset_rad`` are data in ``robot.so101.SO101_JOINTS``, the joint
  table this module converts by; tick scales come from ``robot.encoder``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from robot.encoder import lerobot_degrees_to_ticks, ticks_to_lerobot_degrees
from robot.so101 import SO101_JOINTS, JointSpec, NormMode
from so101_deploy.hardware.bus import FeetechBus
from so101_deploy.hardware.calibration_file import MotorCalibration, validate_calibration


# -- ticks <-> LeRobot units -------------------------------------------------------------------------------
def ticks_to_lerobot(ticks: float, cal: MotorCalibration, norm: NormMode) -> float:
    if norm is NormMode.DEGREES:
        return ticks_to_lerobot_degrees(ticks - cal.range_mid)
    bounded = min(cal.range_max, max(cal.range_min, ticks))
    value = (bounded - cal.range_min) / (cal.range_max - cal.range_min) * 100.0
    return 100.0 - value if cal.drive_mode else value


def lerobot_to_ticks(value: float, cal: MotorCalibration, norm: NormMode) -> int:
    """Nearest tick (LeRobot truncates; the two differ by at most one tick), within the calibrated range."""
    if norm is NormMode.DEGREES:
        ticks = lerobot_degrees_to_ticks(value) + cal.range_mid
    else:
        value = 100.0 - value if cal.drive_mode else value
        ticks = min(100.0, max(0.0, value)) / 100.0 * (cal.range_max - cal.range_min) + cal.range_min
    return int(min(cal.range_max, max(cal.range_min, round(ticks))))


# -- LeRobot units <-> sim radians -------------------------------------------------------------------------
def lerobot_to_rad(value: float, joint: JointSpec) -> float:
    if joint.norm is NormMode.DEGREES:
        return joint.sign * math.radians(value) + joint.offset_rad
    fraction = value / 100.0 if joint.sign > 0 else 1.0 - value / 100.0
    return joint.sim_low + fraction * (joint.sim_high - joint.sim_low)


def rad_to_lerobot(rad: float, joint: JointSpec) -> float:
    if joint.norm is NormMode.DEGREES:
        return math.degrees((rad - joint.offset_rad) / joint.sign)
    fraction = (rad - joint.sim_low) / (joint.sim_high - joint.sim_low)
    return 100.0 * (fraction if joint.sign > 0 else 1.0 - fraction)


class JointConverter:
    """All conversions for one calibrated arm; vectors are in joint-table (= policy contract) order."""

    def __init__(
        self, calibration: Mapping[str, MotorCalibration], joints: Sequence[JointSpec] = SO101_JOINTS
    ) -> None:
        self.joints = tuple(joints)
        validate_calibration(calibration, "<calibration>", {j.name: j.motor_id for j in self.joints})
        self.calibration = dict(calibration)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints)

    def ticks_to_lerobot(self, ticks: Mapping[str, int]) -> dict[str, float]:
        return {
            j.name: ticks_to_lerobot(ticks[j.name], self.calibration[j.name], j.norm) for j in self.joints
        }

    def lerobot_to_ticks(self, values: Mapping[str, float]) -> dict[str, int]:
        return {
            j.name: lerobot_to_ticks(values[j.name], self.calibration[j.name], j.norm)
            for j in self.joints
            if j.name in values
        }

    def ticks_to_rad(self, ticks: Mapping[str, int]) -> np.ndarray:
        lerobot = self.ticks_to_lerobot(ticks)
        return np.array([lerobot_to_rad(lerobot[j.name], j) for j in self.joints])

    def rad_to_ticks(self, rad: Sequence[float]) -> dict[str, int]:
        if len(rad) != len(self.joints):
            raise ValueError(
                f"expected {len(self.joints)} joint angles ({', '.join(self.names)}), got {len(rad)}"
            )
        return self.lerobot_to_ticks(
            {j.name: rad_to_lerobot(float(r), j) for j, r in zip(self.joints, rad, strict=True)}
        )


class Arm:
    """A connected SO-101 with its calibration: joint angles in sim radians in and out, one transaction each."""

    def __init__(
        self,
        bus: FeetechBus,
        calibration: Mapping[str, MotorCalibration],
        joints: Sequence[JointSpec] = SO101_JOINTS,
    ) -> None:
        self.bus = bus
        self.convert = JointConverter(calibration, joints)

    def calibration_mismatches(self) -> list[str]:
        """Where the servos' EEPROM (Homing_Offset, position limits) disagrees with the calibration file."""
        out = []
        for name, cal in self.convert.calibration.items():
            for register, expected in (
                ("Homing_Offset", cal.homing_offset),
                ("Min_Position_Limit", cal.range_min),
                ("Max_Position_Limit", cal.range_max),
            ):
                actual = self.bus.read(register, name)
                if actual != expected:
                    out.append(f"{name} {register}: servo has {actual}, calibration file says {expected}")
        return out

    def apply_calibration(self) -> None:
        """Write Homing_Offset and the position limits into every servo's EEPROM (switches torque off)."""
        self.bus.torque_off()
        for name, cal in self.convert.calibration.items():
            self.bus.write("Homing_Offset", name, cal.homing_offset)
            self.bus.write("Min_Position_Limit", name, cal.range_min)
            self.bus.write("Max_Position_Limit", name, cal.range_max)

    def read_rad(self) -> np.ndarray:
        return self.convert.ticks_to_rad(self.bus.read_positions(self.convert.names))

    def write_rad(self, rad: Sequence[float]) -> dict[str, int]:
        """Send joint targets (sim radians); returns the goal ticks sent (clamped to the calibrated range)."""
        ticks = self.convert.rad_to_ticks(rad)
        self.bus.write_goal_positions(ticks)
        return ticks
