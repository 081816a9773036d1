"""Typed hardware errors. Each names the part at fault (motor name and ID, port, file, camera) and says what to do.

The runtime decides per type: a dropped reply is retried, an overheating servo stops the run, a stale camera
frame pauses the policy. So the type carries the meaning and the message carries the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from so101_deploy.hardware.tables import STATUS_ERROR_BITS


class HardwareError(RuntimeError):
    """Base class of everything that goes wrong talking to the arm or the camera."""


# -- serial port ------------------------------------------------------------------------------------------
class PortError(HardwareError):
    """The serial port cannot be opened or vanished (cable unplugged, permissions, another program)."""


# -- motors -----------------------------------------------------------------------------------------------
class MotorError(HardwareError):
    """Something about one motor. ``motor`` is its joint name, ``motor_id`` its bus ID."""

    def __init__(self, message: str, motor: str, motor_id: int) -> None:
        super().__init__(message)
        self.motor = motor
        self.motor_id = motor_id


class MotorNotFoundError(HardwareError):
    """One or more motors did not answer a ping when connecting."""

    def __init__(self, message: str, missing: dict[str, int], answered: list[int]) -> None:
        super().__init__(message)
        self.missing = missing
        self.answered = answered


class MotorTimeoutError(MotorError):
    """A motor sent no status packet (silent: power, cable, wrong ID, or it died mid-run)."""


class MotorCorruptReplyError(MotorError):
    """A motor's replies kept failing their checksum (noise, loose cable, two servos with one ID)."""


class ModelMismatchError(MotorError):
    """A motor answered with a model number other than the STS3215's."""


class FirmwareMismatchError(HardwareError):
    """The motors run different firmware versions."""


class EepromWriteError(MotorError):
    """An EEPROM value did not stick (torque on or Lock=1 while writing)."""


class MotorStatusError(MotorError):
    """A motor reported error bits in its status byte. ``values`` holds what the read returned anyway."""

    def __init__(self, message: str, motor: str, motor_id: int, bits: int, values: Any = None) -> None:
        super().__init__(message, motor, motor_id)
        self.bits = bits
        self.values = values

    @property
    def conditions(self) -> list[str]:
        return describe_status(self.bits)


class MotorVoltageError(MotorStatusError):
    pass


class MotorAngleSensorError(MotorStatusError):
    pass


class MotorOverheatError(MotorStatusError):
    pass


class MotorOverCurrentError(MotorStatusError):
    pass


class MotorOverloadError(MotorStatusError):
    pass


# Most serious first: when several bits are set, the exception type follows the first one present.
STATUS_ERROR_TYPES: tuple[tuple[int, type[MotorStatusError], str], ...] = (
    (0x04, MotorOverheatError, "let it cool down; reduce load or the gripper's torque limit"),
    (0x08, MotorOverCurrentError, "check for a jam or a collision; the servo cut its current"),
    (0x20, MotorOverloadError, "the joint is blocked or overloaded; free it, then re-enable torque"),
    (0x01, MotorVoltageError, "check the power supply (the SO-101 follower wants 12 V, enough current)"),
    (0x02, MotorAngleSensorError, "the magnetic encoder reports a fault; the servo may need replacing"),
)


def describe_status(bits: int) -> list[str]:
    return [name for bit, name in STATUS_ERROR_BITS.items() if bits & bit] + (
        [f"unknown bits 0x{bits & ~sum(STATUS_ERROR_BITS):02x}"] if bits & ~sum(STATUS_ERROR_BITS) else []
    )


def status_error(motor: str, motor_id: int, bits: int, doing: str, values: Any = None) -> MotorStatusError:
    """The typed exception for a status byte, its message naming the motor and every condition reported."""
    cls, hint = MotorStatusError, "see the servo's status bits"
    for bit, candidate, candidate_hint in STATUS_ERROR_TYPES:
        if bits & bit:
            cls, hint = candidate, candidate_hint
            break
    text = ", ".join(describe_status(bits))
    return cls(
        f"motor '{motor}' (ID {motor_id}) reports {text} (status 0x{bits:02x}) while {doing}: {hint}",
        motor,
        motor_id,
        bits,
        values,
    )


# -- calibration files ------------------------------------------------------------------------------------
class CalibrationFileError(HardwareError, ValueError):
    """A calibration file is missing, unreadable, malformed or incomplete. ``path`` names it."""

    def __init__(self, message: str, path: Path | str) -> None:
        super().__init__(message)
        self.path = Path(path)


# -- cameras ----------------------------------------------------------------------------------------------
class CameraError(HardwareError):
    """Base class for camera problems."""


class CameraOpenError(CameraError):
    """The camera, file or stream could not be opened or delivered no first frame."""


class CameraModeError(CameraError):
    """The camera delivers another size or frame rate than the one asked for."""


class CameraStaleError(CameraError):
    """The newest frame is older than allowed: the camera stalled, was unplugged, or the stream ended."""
