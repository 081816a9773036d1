"""Feetech STS3215 facts as data: control table, encodings, instructions, error bits, the SO-101's set-up.

The driver, the emulator and the calibration code all read these tables; nothing else in the project writes
an address or a bit mask as a literal. The arm's joints and servo IDs, and the encoder's resolution, are in
``robot`` (facts every layer needs, not only the bus). Sources: Feetech's STS memory table as transcribed by LeRobot
(motors/feetech/tables.py), the feetech-servo-sdk and Feetech's SMS_STS headers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from robot.encoder import MAX_TICK

# -- protocol 0 framing constants -------------------------------------------------------------------------
HEADER = b"\xff\xff"
BROADCAST_ID = 0xFE
MAX_ID = 0xFC
PROTOCOL_END = 0  # little-endian words (STS/SMS series); the SDK's PacketHandler(0)


class Instruction(IntEnum):
    PING = 0x01
    READ = 0x02
    WRITE = 0x03
    REG_WRITE = 0x04
    ACTION = 0x05
    SYNC_READ = 0x82
    SYNC_WRITE = 0x83


# Status packet error byte. The servo sets these bits on every reply while the condition lasts.
STATUS_ERROR_BITS: dict[int, str] = {
    0x01: "input voltage",
    0x02: "angle sensor",
    0x04: "overheat",
    0x08: "over-current",
    0x20: "overload",
}
ALL_STATUS_ERRORS = sum(STATUS_ERROR_BITS)

# -- model facts ------------------------------------------------------------------------------------------
STS3215_MODEL_NUMBER = 777
RETURN_DELAY_UNIT_S = 2e-6  # Return_Delay_Time counts 2 us steps (factory 250 = 500 us)
PHASE_MULTI_TURN_BIT = 0x10  # Phase bit 4: multi-turn position feedback; the SO-101 needs it clear
BITS_PER_BYTE_ON_WIRE = 10  # 8N1: start + 8 data + stop

# Baud_Rate register code per rate (Feetech STS/SMS series).
BAUD_RATE_CODES: dict[int, int] = {
    1_000_000: 0,
    500_000: 1,
    250_000: 2,
    128_000: 3,
    115_200: 4,
    76_800: 5,
    57_600: 6,
    38_400: 7,
}


@dataclass(frozen=True)
class Register:
    """One control-table entry. ``sign_bit`` marks a sign-magnitude field (bit index of the sign)."""

    name: str
    address: int
    size: int
    area: str  # "eeprom" (persistent, needs torque off and Lock=0 to write) or "sram"
    writable: bool = True
    sign_bit: int | None = None

    @property
    def end(self) -> int:
        return self.address + self.size

    def encode(self, value: int) -> int:
        """Signed value -> unsigned register content (sign-magnitude where the servo uses it)."""
        if self.sign_bit is None:
            if not 0 <= value < 1 << (8 * self.size):
                raise ValueError(f"{self.name}: {value} does not fit in {self.size} unsigned byte(s)")
            return value
        return encode_sign_magnitude(value, self.sign_bit)

    def decode(self, raw: int) -> int:
        """Unsigned register content -> signed value."""
        if self.sign_bit is None:
            return raw
        return decode_sign_magnitude(raw, self.sign_bit)


def encode_sign_magnitude(value: int, sign_bit: int) -> int:
    """Feetech sign-magnitude: the magnitude in the low bits, the sign in ``sign_bit`` (not two's complement)."""
    limit = (1 << sign_bit) - 1
    if abs(value) > limit:
        raise ValueError(
            f"{value} does not fit in a sign-magnitude field with the sign at bit {sign_bit} (|v| <= {limit})"
        )
    return (1 << sign_bit) | -value if value < 0 else value


def decode_sign_magnitude(raw: int, sign_bit: int) -> int:
    magnitude = raw & ((1 << sign_bit) - 1)
    return -magnitude if raw >> sign_bit & 1 else magnitude


def _table(*rows: tuple) -> dict[str, Register]:
    return {row[0]: Register(*row) for row in rows}


# name, address, size, area, writable, sign bit
STS3215_CONTROL_TABLE: dict[str, Register] = _table(
    # EEPROM
    ("Firmware_Major_Version", 0, 1, "eeprom", False),
    ("Firmware_Minor_Version", 1, 1, "eeprom", False),
    ("Model_Number", 3, 2, "eeprom", False),
    ("ID", 5, 1, "eeprom"),
    ("Baud_Rate", 6, 1, "eeprom"),
    ("Return_Delay_Time", 7, 1, "eeprom"),
    ("Response_Status_Level", 8, 1, "eeprom"),
    ("Min_Position_Limit", 9, 2, "eeprom"),
    ("Max_Position_Limit", 11, 2, "eeprom"),
    ("Max_Temperature_Limit", 13, 1, "eeprom"),
    ("Max_Voltage_Limit", 14, 1, "eeprom"),
    ("Min_Voltage_Limit", 15, 1, "eeprom"),
    ("Max_Torque_Limit", 16, 2, "eeprom"),
    ("Phase", 18, 1, "eeprom"),
    ("Unloading_Condition", 19, 1, "eeprom"),
    ("LED_Alarm_Condition", 20, 1, "eeprom"),
    ("P_Coefficient", 21, 1, "eeprom"),
    ("D_Coefficient", 22, 1, "eeprom"),
    ("I_Coefficient", 23, 1, "eeprom"),
    ("Minimum_Startup_Force", 24, 2, "eeprom"),
    ("CW_Dead_Zone", 26, 1, "eeprom"),
    ("CCW_Dead_Zone", 27, 1, "eeprom"),
    ("Protection_Current", 28, 2, "eeprom"),
    ("Angular_Resolution", 30, 1, "eeprom"),
    ("Homing_Offset", 31, 2, "eeprom", True, 11),
    ("Operating_Mode", 33, 1, "eeprom"),
    ("Protective_Torque", 34, 1, "eeprom"),
    ("Protection_Time", 35, 1, "eeprom"),
    ("Overload_Torque", 36, 1, "eeprom"),
    ("Velocity_P_Coefficient", 37, 1, "eeprom"),
    ("Over_Current_Protection_Time", 38, 1, "eeprom"),
    ("Velocity_I_Coefficient", 39, 1, "eeprom"),
    # SRAM
    ("Torque_Enable", 40, 1, "sram"),
    ("Acceleration", 41, 1, "sram"),
    ("Goal_Position", 42, 2, "sram", True, 15),
    ("Goal_Time", 44, 2, "sram"),
    ("Goal_Velocity", 46, 2, "sram", True, 15),
    ("Torque_Limit", 48, 2, "sram"),
    ("Lock", 55, 1, "sram"),
    ("Present_Position", 56, 2, "sram", False, 15),
    ("Present_Velocity", 58, 2, "sram", False, 15),
    ("Present_Load", 60, 2, "sram", False, 10),
    ("Present_Voltage", 62, 1, "sram", False),
    ("Present_Temperature", 63, 1, "sram", False),
    ("Status", 65, 1, "sram", False),
    ("Moving", 66, 1, "sram", False),
    ("Present_Current", 69, 2, "sram", False),
    # Factory area: stored like EEPROM (LeRobot writes Maximum_Acceleration with torque off and Lock=0).
    ("Moving_Velocity_Threshold", 80, 1, "eeprom"),
    ("DTs", 81, 1, "eeprom"),
    ("Velocity_Unit_Factor", 82, 1, "eeprom"),
    ("Hts", 83, 1, "eeprom"),
    ("Maximum_Velocity_Limit", 84, 1, "eeprom"),
    ("Maximum_Acceleration", 85, 1, "eeprom"),
    ("Acceleration_Multiplier", 86, 1, "eeprom"),
)
CONTROL_TABLE_SIZE = 256  # bytes of address space the emulator models (reads of unlisted addresses give 0)

# Present_* block read by one sync read when telemetry is wanted (Present_Position .. Present_Current).
TELEMETRY_REGISTERS = (
    "Present_Position",
    "Present_Velocity",
    "Present_Load",
    "Present_Voltage",
    "Present_Temperature",
    "Status",
    "Moving",
    "Present_Current",
)

# What a new STS3215 powers up with (what the emulator starts from). Reference facts: model, ID 1,
# 1 Mbaud, Return_Delay_Time 250, limits 0..4095, Homing_Offset 0, position mode. The rest are plausible
# factory values (gains, protections) that no code here relies on.
STS3215_FACTORY_DEFAULTS: dict[str, int] = {
    "Model_Number": STS3215_MODEL_NUMBER,
    "ID": 1,
    "Baud_Rate": 0,
    "Return_Delay_Time": 250,
    "Response_Status_Level": 1,
    "Min_Position_Limit": 0,
    "Max_Position_Limit": MAX_TICK,
    "Max_Temperature_Limit": 70,
    "Max_Voltage_Limit": 140,
    "Min_Voltage_Limit": 40,
    "Max_Torque_Limit": 1000,
    "Phase": 0x0C,
    "Unloading_Condition": 44,
    "LED_Alarm_Condition": 47,
    "P_Coefficient": 32,
    "D_Coefficient": 32,
    "I_Coefficient": 0,
    "Minimum_Startup_Force": 16,
    "CW_Dead_Zone": 1,
    "CCW_Dead_Zone": 1,
    "Protection_Current": 500,
    "Angular_Resolution": 1,
    "Homing_Offset": 0,
    "Operating_Mode": 0,
    "Protective_Torque": 20,
    "Protection_Time": 200,
    "Overload_Torque": 80,
    "Torque_Enable": 0,
    "Acceleration": 0,
    "Torque_Limit": 1000,
    "Lock": 1,
    "Present_Voltage": 120,
    "Present_Temperature": 30,
    "Maximum_Acceleration": 254,
}

# -- the SO-101 arm (its joints and servo IDs: robot.so101) -----------------------------------------------
# LeRobot's per-connect set-up for the SO-101 follower (so an arm behaves the same under both tools).
SO101_SETUP: dict[str, int] = {
    "Return_Delay_Time": 0,
    "Maximum_Acceleration": 254,
    "Acceleration": 254,
    "Operating_Mode": 0,
    "P_Coefficient": 16,
    "I_Coefficient": 0,
    "D_Coefficient": 32,
}
# The gripper squeezes objects: lower torque and current limits keep it (and the object) from overheating.
SO101_GRIPPER_SETUP: dict[str, int] = {
    "Max_Torque_Limit": 500,
    "Protection_Current": 250,
    "Overload_Torque": 25,
}
