"""The SO-101 arm: its joints as a table, and unit conversions raw ticks <-> LeRobot units <-> sim radians.

Three units, one chain:
- raw ticks: what the servo reports (Present_Position, already shifted by Homing_Offset);
- LeRobot units: arm joints in degrees from the middle of the calibrated range, gripper 0..100 over it
  (so datasets and calibrations are interchangeable with LeRobot);
- sim radians: the MuJoCo joint angles of ``so101_new_calib.xml``, the policy contract's units.
  Arm joints: ``rad = sign * degrees * pi/180 + offset_rad``. ``sign`` and ``offset_rad`` are data in
  ``robot.so101.SO101_JOINTS``, the joint table this module converts by; tick scales come from ``robot.encoder``.

The gripper is not converted through its 0..100. A real gripper's calibrated range is whatever the operator's
sweep reached (ten public LeRobot files span 1240-1537 ticks, a median ~127 deg, against the model's 110 deg),
so stretching 0..100 over the model's range would make every jaw angle but the closed one differ between the
sim and the arm ("open" ~8.6 deg wider on the arm). Instead the gripper is measured in degrees from its
closed stop (``range_min``; ``range_max`` with drive_mode 1), and the sim angle is the model's closed angle
(``sim_low``; ``sim_high`` when ``sign`` is -1) plus those degrees: the same jaw angle on both sides, whatever
the arm's range. The 0..100 stays what LeRobot records (``ticks_to_lerobot``), so calibration files and
datasets are unchanged.
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


# -- LeRobot degrees <-> sim radians (arm joints) ----------------------------------------------------------
def lerobot_to_rad(value: float, joint: JointSpec) -> float:
    _require_degrees(joint)
    return joint.sign * math.radians(value) + joint.offset_rad


def rad_to_lerobot(rad: float, joint: JointSpec) -> float:
    _require_degrees(joint)
    return math.degrees((rad - joint.offset_rad) / joint.sign)


def _require_degrees(joint: JointSpec) -> None:
    if joint.norm is not NormMode.DEGREES:
        raise ValueError(
            f"{joint.name} is recorded 0..100 over its calibrated range, which has no fixed angle: convert its "
            "ticks with present_to_rad / rad_to_present"
        )


# -- ticks <-> sim radians (every joint; continuous, unbounded: callers round and clamp) --------------------
def _gripper_closed_end(cal: MotorCalibration) -> tuple[int, float]:
    """The closed stop's tick and the direction in which ticks open the jaws."""
    return (cal.range_max, -1.0) if cal.drive_mode else (cal.range_min, 1.0)


def present_to_rad(ticks: float, cal: MotorCalibration, joint: JointSpec) -> float:
    """Sim radians of a Present_Position (see the module docstring for the gripper's closed-stop mapping)."""
    if joint.norm is NormMode.DEGREES:
        return lerobot_to_rad(ticks_to_lerobot_degrees(ticks - cal.range_mid), joint)
    closed_tick, opening = _gripper_closed_end(cal)
    closed_rad = joint.sim_low if joint.sign > 0 else joint.sim_high
    return closed_rad + joint.sign * math.radians(ticks_to_lerobot_degrees(opening * (ticks - closed_tick)))


def rad_to_present(rad: float, cal: MotorCalibration, joint: JointSpec) -> float:
    """Inverse of :func:`present_to_rad`, unrounded."""
    if joint.norm is NormMode.DEGREES:
        return lerobot_degrees_to_ticks(rad_to_lerobot(rad, joint)) + cal.range_mid
    closed_tick, opening = _gripper_closed_end(cal)
    closed_rad = joint.sim_low if joint.sign > 0 else joint.sim_high
    return closed_tick + opening * lerobot_degrees_to_ticks(math.degrees((rad - closed_rad) / joint.sign))


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
        """Sim radians; the gripper's reading is bounded to its calibrated range, as LeRobot bounds its 0..100."""
        out = []
        for j in self.joints:
            cal, t = self.calibration[j.name], ticks[j.name]
            if j.norm is NormMode.RANGE_0_100:
                t = min(cal.range_max, max(cal.range_min, t))
            out.append(present_to_rad(t, cal, j))
        return np.array(out)

    def rad_to_ticks(self, rad: Sequence[float]) -> dict[str, int]:
        if len(rad) != len(self.joints):
            raise ValueError(
                f"expected {len(self.joints)} joint angles ({', '.join(self.names)}), got {len(rad)}"
            )
        out = {}
        for j, r in zip(self.joints, rad, strict=True):
            cal = self.calibration[j.name]
            out[j.name] = int(min(cal.range_max, max(cal.range_min, round(rad_to_present(float(r), cal, j)))))
        return out


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
