"""One emulated STS3215: its control table and what writing to it does, with the motion left to a backend.

The servo logic (Lock and torque gate EEPROM writes, Homing_Offset shifts Present_Position, the position
limits clamp goals, sign-magnitude fields) lives here; where the joint actually is comes from a
``PositionBackend``. The default backend moves at constant speed; the digital twin plugs MuJoCo in instead.

Positions handed to a backend are *motor ticks*: the magnetic encoder's count, unwrapped (4096 per turn).
The servo reads ``ticks mod 4096`` and, like the real one, regulates in its own Present_Position frame.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from robot.encoder import TICKS_PER_TURN
from so101_deploy.hardware.tables import (
    CONTROL_TABLE_SIZE,
    PHASE_MULTI_TURN_BIT,
    STS3215_CONTROL_TABLE,
    STS3215_FACTORY_DEFAULTS,
    STS3215_MODEL_NUMBER,
    Register,
)

REG = STS3215_CONTROL_TABLE


@dataclass(frozen=True)
class JointReading:
    position: float  # motor ticks, unwrapped
    velocity: float = 0.0  # ticks per second
    load: float = 0.0  # signed fraction of the maximum torque, -1..1


class PositionBackend(Protocol):
    """Where the joints are. Keys are the servo's ID at power-up (stable even if its ID register changes)."""

    def set_goal(self, key: int, ticks: float | None) -> None:
        """Drive joint ``key`` towards ``ticks`` (motor ticks); ``None`` releases it (torque off)."""

    def read(self, key: int) -> JointReading:
        """Where joint ``key`` is now."""


class ConstantSpeedBackend:
    """Each joint moves straight to its goal at a fixed speed; a released joint stays where it is.

    ``place`` moves a joint instantly, as a hand would (a joint with torque on then returns to its goal).
    """

    def __init__(
        self, speed_ticks_per_s: float = 3000.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if speed_ticks_per_s <= 0:
            raise ValueError("speed_ticks_per_s must be > 0")
        self.speed = speed_ticks_per_s
        self._clock = clock
        self._lock = threading.Lock()
        self._start: dict[int, tuple[float, float]] = {}  # key -> (position, time) at the last change
        self._goal: dict[int, float | None] = {}

    def add(self, key: int, ticks: float) -> None:
        with self._lock:
            self._start[key] = (float(ticks), self._clock())
            self._goal[key] = None

    def place(self, key: int, ticks: float) -> None:
        with self._lock:
            self._start[key] = (float(ticks), self._clock())

    def set_goal(self, key: int, ticks: float | None) -> None:
        with self._lock:
            now = self._clock()
            self._start[key] = (self._position(key, now), now)
            self._goal[key] = None if ticks is None else float(ticks)

    def read(self, key: int) -> JointReading:
        with self._lock:
            now = self._clock()
            pos = self._position(key, now)
            goal = self._goal[key]
            moving = goal is not None and abs(goal - pos) > 1e-9
            velocity = (self.speed if goal > pos else -self.speed) if moving else 0.0  # type: ignore[operator]
            return JointReading(pos, velocity, 0.0)

    def _position(self, key: int, now: float) -> float:
        pos, t0 = self._start[key]
        goal = self._goal[key]
        if goal is None:
            return pos
        step = self.speed * max(0.0, now - t0)
        if abs(goal - pos) <= step:
            return goal
        return pos + step if goal > pos else pos - step


def _by_address() -> dict[int, Register]:
    out: dict[int, Register] = {}
    for reg in REG.values():
        for addr in range(reg.address, reg.end):
            out[addr] = reg
    return out


_ADDRESS_OWNER = _by_address()


class ServoModel:
    """Control table plus semantics of one servo. Thread-safe: the emulator thread and tests both use it."""

    def __init__(
        self,
        servo_id: int,
        backend: PositionBackend,
        *,
        model_number: int = STS3215_MODEL_NUMBER,
        firmware: tuple[int, int] = (3, 10),
        overrides: dict[str, int] | None = None,
    ) -> None:
        self.key = servo_id
        self.backend = backend
        self.memory = bytearray(CONTROL_TABLE_SIZE)
        self._lock = threading.RLock()
        self.ignored_writes = 0  # EEPROM/read-only writes the servo refused, for tests and diagnostics
        self.error_bits = 0  # conditions reported in every status packet and in the Status register
        self._pending: tuple[int, bytes] | None = None  # REG_WRITE waiting for ACTION
        defaults = {
            **STS3215_FACTORY_DEFAULTS,
            "ID": servo_id,
            "Model_Number": model_number,
            "Firmware_Major_Version": firmware[0],
            "Firmware_Minor_Version": firmware[1],
        }
        for name, value in {**defaults, **(overrides or {})}.items():
            self.poke(name, value)
        backend.set_goal(self.key, None)

    # -- direct access (no servo semantics): set-up and test inspection ---------------------------------
    @property
    def id(self) -> int:
        return self.memory[REG["ID"].address]

    def poke(self, name: str, value: int) -> None:
        reg = REG[name]
        with self._lock:
            self.memory[reg.address : reg.end] = reg.encode(value).to_bytes(reg.size, "little")

    def peek(self, name: str) -> int:
        reg = REG[name]
        with self._lock:
            if name.startswith("Present_") or name in ("Moving", "Status"):
                self._refresh()
            return reg.decode(int.from_bytes(self.memory[reg.address : reg.end], "little"))

    # -- what the bus does ------------------------------------------------------------------------------
    def read(self, address: int, length: int) -> bytes:
        with self._lock:
            self._refresh()
            return bytes(self.memory[address : address + length])

    def write(self, address: int, data: bytes) -> None:
        with self._lock:
            torque_was = self.memory[REG["Torque_Enable"].address]
            eeprom_open = self.memory[REG["Lock"].address] == 0 and torque_was == 0
            touched: set[str] = set()
            for offset, byte in enumerate(data):
                addr = address + offset
                reg = _ADDRESS_OWNER.get(addr)
                if reg is None or not reg.writable or (reg.area == "eeprom" and not eeprom_open):
                    self.ignored_writes += 1
                    continue
                self.memory[addr] = byte
                touched.add(reg.name)
            if "Torque_Enable" in touched:
                self._torque_changed(torque_was)
            if "Goal_Position" in touched:
                self._apply_goal()

    def reg_write(self, address: int, data: bytes) -> None:
        with self._lock:
            self._pending = (address, bytes(data))

    def action(self) -> None:
        with self._lock:
            if self._pending is not None:
                address, data = self._pending
                self._pending = None
                self.write(address, data)

    # -- semantics ----------------------------------------------------------------------------------------
    def _torque_on(self) -> bool:
        return self.memory[REG["Torque_Enable"].address] != 0

    def _present(self, ticks: float) -> int:
        """Encoder -> Present_Position: minus Homing_Offset, wrapped to one turn unless multi-turn (Phase bit 4)."""
        value = int(round(ticks)) - self.peek("Homing_Offset")
        if self.memory[REG["Phase"].address] & PHASE_MULTI_TURN_BIT:
            return max(-32767, min(32767, value))
        return value % TICKS_PER_TURN

    def _torque_changed(self, torque_was: int) -> None:
        if not self._torque_on():
            self.backend.set_goal(self.key, None)
        elif not torque_was:
            # Enabling torque holds the joint where it is: the goal becomes the present position.
            ticks = self.backend.read(self.key).position
            self.poke("Goal_Position", self._present(ticks))
            self.backend.set_goal(self.key, ticks)

    def _apply_goal(self) -> None:
        goal = self.peek("Goal_Position")
        low, high = self.peek("Min_Position_Limit"), self.peek("Max_Position_Limit")
        if self.memory[REG["Operating_Mode"].address] == 0 and high > low:
            clamped = max(low, min(high, goal))
            if clamped != goal:
                self.poke("Goal_Position", clamped)
                goal = clamped
        if self._torque_on():
            # Regulate in the Present_Position frame, as the servo does: it never crosses its own wrap point.
            ticks = self.backend.read(self.key).position
            self.backend.set_goal(self.key, ticks + (goal - self._present(ticks)))

    def _refresh(self) -> None:
        reading = self.backend.read(self.key)
        present = self._present(reading.position)
        self.poke("Present_Position", present)
        self.poke("Present_Velocity", max(-32767, min(32767, int(round(reading.velocity)))))
        self.poke("Present_Load", max(-1000, min(1000, int(round(reading.load * 1000)))))
        self.poke("Present_Current", min(1000, int(round(abs(reading.load) * 500))))
        moving = self._torque_on() and (
            reading.velocity != 0.0 or abs(self.peek("Goal_Position") - present) > 1
        )
        self.memory[REG["Moving"].address] = int(moving)
        self.memory[REG["Status"].address] = self.error_bits
