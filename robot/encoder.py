"""The STS3215's magnetic encoder: ticks per turn, and ticks <-> angle in the units LeRobot records.

Two scales, on purpose. The encoder really has 4096 steps per turn: the servo reads ``ticks mod 4096`` and the
sim quantises joint readings on that grid (``TICK_RAD``). LeRobot's ``DEGREES`` normalisation, however,
divides by ``resolution - 1`` = 4095 per 360 degrees (``LEROBOT_TICKS_PER_DEGREE``). We keep LeRobot's 4095
exactly: its calibration files and datasets record joint angles with that scale, and a converter that used
4096 would read every LeRobot-recorded angle 0.024 % off (0.05 deg at 200 deg). So ticks <-> LeRobot degrees
uses 4095/360, and nothing else does.
"""

from __future__ import annotations

import math

TICKS_PER_TURN = 4096  # encoder steps per output-shaft turn (12 bit)
MAX_TICK = TICKS_PER_TURN - 1  # largest Present_Position / position limit
CENTRE_TICK = MAX_TICK // 2  # what the centred pose reads after LeRobot's homing (2047)
TICK_RAD = 2 * math.pi / TICKS_PER_TURN  # one encoder step, radians (the physical resolution)
LEROBOT_TICKS_PER_DEGREE = MAX_TICK / 360.0  # LeRobot's DEGREES mode: 4095 ticks per 360 deg (see above)


def ticks_to_lerobot_degrees(ticks_from_middle: float) -> float:
    """LeRobot degrees for a tick count measured from the middle of the calibrated range."""
    return ticks_from_middle / LEROBOT_TICKS_PER_DEGREE


def lerobot_degrees_to_ticks(degrees: float) -> float:
    """Inverse of :func:`ticks_to_lerobot_degrees` (unrounded: the caller decides how to round and clamp)."""
    return degrees * LEROBOT_TICKS_PER_DEGREE
