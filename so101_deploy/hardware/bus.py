"""Feetech STS3215 bus driver on the feetech-servo-sdk: connect, configure, sync read/write, torque, retries.

All framing is the SDK's (PortHandler, PacketHandler(0), GroupSyncRead, GroupSyncWrite). What this module
adds is what the SDK leaves out:

- one lock around the port (the SDK's PortHandler is not thread-safe);
- a tunable packet timeout (the stock one is wire time + 34 ms, so every lost reply costs 34 ms);
- stale input dropped before each request, and after any failure a re-synchronisation (below), so a late
  reply is never taken for the answer to a later request;
- waiting for reply bytes in ``select`` instead of the SDK's busy loop, which starves other threads;
- bounded retries, and every failure raised as a typed error that names the motor;
- status error bits decoded (the SDK's GroupSyncRead throws them away), sign-magnitude fields decoded.

What each bus fault becomes (each is tested against the emulator):

=============================== ======================================================================
missing motor at connect        MotorNotFoundError naming it (name, ID) and listing the IDs that answered
dropped reply                   retried; after 1 + retries attempts MotorTimeoutError naming the motor
corrupted reply (checksum)      retried; then MotorCorruptReplyError naming the motor
status error bits               MotorOverheatError / MotorOverloadError / ... (a MotorStatusError) naming
                                the motor, with the values read attached; torque_off() ignores them
reply later than the timeout    as a dropped reply; the late bytes are discarded by a re-synchronisation
motor dies mid-run              MotorTimeoutError naming it, within (1 + retries) x (timeout + drain) while
                                another motor still answers (each retry first re-synchronises with it)
port vanishes (USB unplugged)   PortError saying so
wrong model / mixed firmware    ModelMismatchError / FirmwareMismatchError
EEPROM write that did not stick EepromWriteError (torque on or Lock=1)
=============================== ======================================================================

Values here are raw register values (ticks for positions); ``so101_deploy.hardware.arm`` converts units.
"""

from __future__ import annotations

import difflib
import errno
import glob
import math
import select
import termios
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import scservo_sdk as scs
import serial

from robot.so101 import GRIPPER_JOINT, SERVO_IDS
from so101_deploy.hardware.errors import (
    EepromWriteError,
    FirmwareMismatchError,
    HardwareError,
    ModelMismatchError,
    MotorCorruptReplyError,
    MotorNotFoundError,
    MotorTimeoutError,
    PortError,
    status_error,
)
from so101_deploy.hardware.port_lock import lock_port
from so101_deploy.hardware.tables import (
    ALL_STATUS_ERRORS,
    BAUD_RATE_CODES,
    PHASE_MULTI_TURN_BIT,
    PROTOCOL_END,
    SO101_GRIPPER_SETUP,
    SO101_SETUP,
    STS3215_CONTROL_TABLE,
    STS3215_MODEL_NUMBER,
    TELEMETRY_REGISTERS,
    Register,
)

REG = STS3215_CONTROL_TABLE
# Re-synchronisation read: from address 0, with a length no other request here uses (the longest is the
# 15-byte telemetry block); rotated so that one resync's late answer cannot pass for the next one's.
RESYNC_ADDRESS = 0
RESYNC_LENGTHS = tuple(range(32, 48))
PORT_FAILURES = (serial.SerialException, OSError, termios.error)  # what a vanished device raises
MAX_PACKET_TIMEOUT_MS = 1000.0  # beyond this a dead servo would hold the loop (and torque-off) for seconds


@dataclass
class BusConfig:
    port: str = "/dev/ttyACM0"
    baudrate: int = 1_000_000
    # Reply deadline = wire time of the expected reply + this margin. The SDK's stock margin is 34 ms and
    # LeRobot's 50 ms; USB adapters with a 16 ms latency timer (FTDI defaults) need more than 16.
    packet_timeout_ms: float = 20.0
    retries: int = 2  # extra attempts after a failed transaction (so 1 + retries in all)
    drain_ms: float = 2.0  # pause after a failed attempt before the next (lets a glitching line settle)
    status_error_mask: int = ALL_STATUS_ERRORS  # status bits that raise (clear a bit to only report it)
    require_same_firmware: bool = True
    expected_model: int = STS3215_MODEL_NUMBER
    motors: dict[str, int] = field(default_factory=lambda: dict(SERVO_IDS))

    def validate(self) -> None:
        if self.baudrate not in BAUD_RATE_CODES:
            raise ValueError(
                f"bus.baudrate {self.baudrate} is not an STS3215 rate ({sorted(BAUD_RATE_CODES)})"
            )
        # NaN passes every comparison: a NaN timeout never expires, and a dead servo then hangs the bus.
        if not (
            math.isfinite(self.packet_timeout_ms) and 0 < self.packet_timeout_ms <= MAX_PACKET_TIMEOUT_MS
        ):
            raise ValueError(
                f"packet timeout must be a number in (0, {MAX_PACKET_TIMEOUT_MS:g}] ms, got {self.packet_timeout_ms}"
            )
        if not (0 <= self.retries <= 10 and math.isfinite(self.drain_ms) and 0 <= self.drain_ms <= 100):
            raise ValueError("bus.retries must be in 0..10 and bus.drain_ms in [0, 100]")
        ids = list(self.motors.values())
        if len(set(ids)) != len(ids) or not all(0 <= i <= scs.MAX_ID for i in ids):
            raise ValueError(f"bus.motors must map names to distinct IDs in 0..{scs.MAX_ID}: {self.motors}")


@dataclass(frozen=True)
class MotorInfo:
    name: str
    motor_id: int
    model: int
    firmware: tuple[int, int]


def list_serial_ports() -> list[str]:
    return sorted(glob.glob("/dev/ttyACM*") + glob.glob("/dev/ttyUSB*") + glob.glob("/dev/tty.usbmodem*"))


def _port_error(path: str, exc: Exception) -> PortError:
    code = getattr(exc, "errno", None)
    if code is None and exc.args and isinstance(exc.args[0], int):  # termios.error carries (errno, text)
        code = exc.args[0]
    ports = ", ".join(list_serial_ports()) or "none"
    if code == errno.ENOENT:
        return PortError(
            f"serial port {path} does not exist (ports found: {ports}); plug the bus adapter in or set bus.port"
        )
    if code == errno.EACCES:
        return PortError(
            f"no permission to open {path}: sudo usermod -aG dialout $USER, then log out and in again"
        )
    if code == errno.EBUSY:
        return PortError(
            f"{path} is busy: another program (LeRobot, another so101, ModemManager) has it open"
        )
    return PortError(f"serial port {path} failed: {exc} (ports found: {ports}); is the USB cable unplugged?")


class _PortHandler(scs.PortHandler):
    """The SDK's port with our timeout, stale-input flush and a sleeping wait; packet framing untouched."""

    def __init__(self, port_name: str, margin_ms: float) -> None:
        super().__init__(port_name)
        self.margin_ms = margin_ms

    def setPacketTimeout(self, packet_length: int) -> None:  # noqa: N802 - SDK name
        self.packet_start_time = self.getCurrentTime()
        self.packet_timeout = self.tx_time_per_byte * packet_length + self.margin_ms

    def clearPort(self) -> None:  # noqa: N802
        # The SDK only flushes output here; a reply that arrived after its deadline would then be read as
        # the answer to this request. Drop everything still unread first.
        self.ser.reset_input_buffer()
        self.ser.flush()

    def readPort(self, length: int) -> bytes:  # noqa: N802
        data = self.ser.read(length)
        if data:
            return data
        # Sleep until bytes arrive or the deadline passes. Not a short poll: a thread that keeps dropping and
        # retaking the GIL starves the others (a servo emulator in this process waited 700 ms for it).
        remaining_ms = self.packet_timeout - self.getTimeSinceStart()
        if remaining_ms > 0:
            fd = getattr(self.ser, "fd", None)  # POSIX pyserial; elsewhere, a short sleep instead
            if fd is not None:
                select.select([fd], [], [], remaining_ms / 1000.0)
            else:
                time.sleep(min(remaining_ms / 1000.0, 0.0005))
            data = self.ser.read(length)
        return data


def _word(data: Sequence[int], offset: int, size: int) -> int:
    if size == 1:
        return data[offset]
    if size == 2:
        return scs.SCS_MAKEWORD(data[offset], data[offset + 1])
    return scs.SCS_MAKEDWORD(
        scs.SCS_MAKEWORD(data[offset], data[offset + 1]), scs.SCS_MAKEWORD(data[offset + 2], data[offset + 3])
    )


def _bytes(value: int, size: int) -> list[int]:
    if size == 1:
        return [value & 0xFF]
    return [scs.SCS_LOBYTE(value), scs.SCS_HIBYTE(value)]


class FeetechBus:
    """A chain of STS3215 servos on one serial port, addressed by joint name. Use as a context manager."""

    def __init__(self, config: BusConfig | None = None) -> None:
        self.config = config or BusConfig()
        self.config.validate()
        self.motors: dict[str, int] = dict(self.config.motors)
        self._names = {mid: name for name, mid in self.motors.items()}
        self._lock = threading.RLock()
        self._port: _PortHandler | None = None
        self._ph: Any = None
        self._readers: dict[tuple[int, int, tuple[int, ...]], scs.GroupSyncRead] = {}
        self._writers: dict[str, scs.GroupSyncWrite] = {}
        self.info: dict[str, MotorInfo] = {}
        self.stats: Counter[str] = Counter()  # timeouts, corrupt replies, retries, resyncs, stale replies
        self._dirty = False  # a request failed: replies may still be on their way
        self._alive: int | None = None  # the last motor that answered: the resync target
        self._resyncs = 0

    # -- connection ---------------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._port is not None

    def open(self) -> None:
        """Open the port only (no handshake): for scanning and motor set-up."""
        if self._port is not None:
            return
        port = _PortHandler(self.config.port, self.config.packet_timeout_ms)
        try:
            ok = port.setBaudRate(self.config.baudrate)
        except PORT_FAILURES as exc:
            raise _port_error(self.config.port, exc) from None
        if not ok:
            raise PortError(f"the Feetech SDK refuses baud rate {self.config.baudrate} on {self.config.port}")
        try:
            lock_port(port.ser.fileno(), self.config.port)
        except PortError:
            with suppress(*PORT_FAILURES):
                port.closePort()
            raise
        self._port, self._ph = port, scs.PacketHandler(PROTOCOL_END)
        self._readers.clear()
        self._writers.clear()
        self._dirty, self._alive = False, None

    def connect(self) -> dict[str, MotorInfo]:
        """Open the port, ping every motor, check models and firmware. Raises naming what is wrong."""
        self.open()
        try:
            self.info = self._handshake()
        except BaseException:
            self._close_port()
            raise
        return self.info

    def close(self, torque_off: bool = True) -> None:
        """Close the port, first switching torque off (best effort) so the arm is never left driven."""
        if self._port is None:
            return
        if torque_off:
            with suppress(HardwareError):
                self.torque_off(raise_errors=False)
        self._close_port()

    def __enter__(self) -> FeetechBus:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _close_port(self) -> None:
        with self._lock:
            if self._port is not None:
                with suppress(*PORT_FAILURES):
                    self._port.closePort()
                self._port = None

    def _handshake(self) -> dict[str, MotorInfo]:
        models: dict[str, int] = {}
        for name in self.motors:
            model = self.ping(name)
            if model is not None:
                models[name] = model
        missing = {name: mid for name, mid in self.motors.items() if name not in models}
        if missing:
            answered = sorted(self.motors[n] for n in models)
            what = ", ".join(f"'{n}' (ID {i})" for n, i in missing.items())
            if answered:
                hint = (
                    f"IDs that answered: {', '.join(map(str, answered))}. Check the missing motor's 3-pin cable "
                    "(the chain runs through every servo); a new servo ships as ID 1 and needs its ID set first."
                )
            else:
                hint = (
                    f"no motor answered at {self.config.baudrate} baud: is the arm powered, and is "
                    f"{self.config.port} the bus adapter (ports found: {', '.join(list_serial_ports()) or 'none'})?"
                )
            raise MotorNotFoundError(
                f"motor {what} did not answer on {self.config.port}. {hint}",
                missing,
                answered,
            )
        for name, model in models.items():
            if model != self.config.expected_model:
                raise ModelMismatchError(
                    f"motor '{name}' (ID {self.motors[name]}) is model {model}, expected "
                    f"{self.config.expected_model} (STS3215): wrong servo in the chain, or two servos share an ID",
                    name,
                    self.motors[name],
                )
        info = {}
        for name, mid in self.motors.items():
            major, minor = self._txrx(
                mid, "reading the firmware version", lambda m=mid: self._read_raw(m, 0, 2)
            )[0]
            info[name] = MotorInfo(name, mid, models[name], (major, minor))
        versions = {m.firmware for m in info.values()}
        if self.config.require_same_firmware and len(versions) > 1:
            table = ", ".join(
                f"{m.name} (ID {m.motor_id}) {m.firmware[0]}.{m.firmware[1]}" for m in info.values()
            )
            raise FirmwareMismatchError(
                f"the motors run different firmware ({table}): update them with Feetech's FD software, "
                "or set bus.require_same_firmware=false to accept it"
            )
        return info

    # -- single motor -------------------------------------------------------------------------------------
    def ping(self, motor: str) -> int | None:
        """Model number of ``motor``, or None if it stays silent through every retry."""
        mid = self._id(motor)

        def call() -> tuple[int, int, int]:
            try:
                return self._ph.ping(self._port, mid)
            except IndexError:  # the SDK indexes a too-short model reply (a late PING reply taken for it)
                return 0, scs.COMM_RX_CORRUPT, 0

        try:
            return self._txrx(mid, "pinging", call)[0]
        except (MotorTimeoutError, MotorCorruptReplyError):
            return None

    def read(self, register: str, motor: str) -> int:
        reg, mid = self._register(register), self._id(motor)
        data, _ = self._txrx(mid, f"reading {register}", lambda: self._read_raw(mid, reg.address, reg.size))
        return reg.decode(_word(data, 0, reg.size))

    def write(self, register: str, motor: str, value: int, *, check_status: bool = True) -> None:
        """Write one register and wait for the servo's acknowledgement; EEPROM writes are read back."""
        reg, mid = self._register(register), self._id(motor)
        if not reg.writable:
            raise ValueError(f"{register} is read-only")
        raw = reg.encode(int(value))

        def call() -> tuple[None, int, int]:
            comm, error = self._ph.writeTxRx(self._port, mid, reg.address, reg.size, _bytes(raw, reg.size))
            return None, comm, error

        self._txrx(mid, f"writing {register}={value}", call, check_status=check_status)
        if reg.area == "eeprom":
            stored = self.read(register, motor)
            if stored != int(value):
                raise EepromWriteError(
                    f"motor '{motor}' (ID {mid}) kept {register}={stored} after writing {value}: EEPROM is "
                    "write-protected while torque is on or Lock=1; call torque_off() first",
                    motor,
                    mid,
                )

    # -- all motors, one transaction ---------------------------------------------------------------------
    def sync_read(
        self, registers: Sequence[str] = ("Present_Position",), motors: Iterable[str] | None = None
    ) -> dict[str, dict[str, int]]:
        """Read ``registers`` of every motor in ONE sync-read transaction (the contiguous block covering them)."""
        regs = [self._register(r) for r in registers]
        start = min(r.address for r in regs)
        length = max(r.end for r in regs) - start
        names = list(motors) if motors is not None else list(self.motors)
        ids = tuple(self._id(n) for n in names)
        group = self._reader(start, length, ids)
        doing = f"sync-reading {', '.join(registers)}"
        for attempt in range(1 + self.config.retries):
            with self._io():
                self._resync_if_dirty()
                comm = group.txPacket()
                if comm != scs.COMM_SUCCESS:
                    raise PortError(f"could not send on {self.config.port}: {self._ph.getTxRxResult(comm)}")
                replies: dict[int, tuple[list[int], int]] = {}
                failed: tuple[int, int] | None = None
                for mid in ids:
                    data, comm, error = self._ph.readRx(self._port, mid, length)
                    if comm == scs.COMM_SUCCESS and len(data) != length:
                        comm = scs.COMM_RX_CORRUPT
                    if comm != scs.COMM_SUCCESS:
                        failed = (mid, comm)
                        break
                    replies[mid] = (data, error)
                if failed is None:
                    self._alive = ids[-1]
                    break
                self._failed(failed[1], attempt)
        else:
            mid, comm = failed
            answered = [self._names[i] for i in replies]
            extra = f" ({', '.join(answered)} answered before it)" if answered else ""
            raise self._comm_error(mid, comm, doing + extra)
        values = {
            self._names[mid]: {r.name: r.decode(_word(data, r.address - start, r.size)) for r in regs}
            for mid, (data, _) in replies.items()
        }
        for mid, (_, error) in replies.items():
            if error & self.config.status_error_mask:
                raise status_error(self._names[mid], mid, error, doing, values)
        return values

    def sync_write(self, register: str, values: Mapping[str, int]) -> None:
        """Write one register on several motors in one packet. No reply: a lost packet goes unnoticed."""
        reg = self._register(register)
        group = self._writers.get(register)
        if group is None:
            group = self._writers[register] = scs.GroupSyncWrite(self._port, self._ph, reg.address, reg.size)
        with self._io():
            group.clearParam()
            for name, value in values.items():
                group.addParam(self._id(name), _bytes(reg.encode(int(value)), reg.size))
            comm = group.txPacket()
        if comm != scs.COMM_SUCCESS:
            raise PortError(f"could not send on {self.config.port}: {self._ph.getTxRxResult(comm)}")

    def read_positions(self, motors: Iterable[str] | None = None) -> dict[str, int]:
        return {
            name: v["Present_Position"] for name, v in self.sync_read(("Present_Position",), motors).items()
        }

    def read_telemetry(self, motors: Iterable[str] | None = None) -> dict[str, dict[str, int]]:
        """Position, velocity, load, voltage, temperature, status, moving, current: one transaction."""
        return self.sync_read(TELEMETRY_REGISTERS, motors)

    def write_goal_positions(self, ticks: Mapping[str, int]) -> None:
        self.sync_write("Goal_Position", ticks)

    # -- torque and set-up --------------------------------------------------------------------------------
    def torque_on(self, motors: Iterable[str] | None = None) -> None:
        """Torque on, then Lock=1 (as LeRobot does) so EEPROM cannot change while the arm is driven."""
        for name in motors if motors is not None else self.motors:
            self.write("Torque_Enable", name, 1)
            self.write("Lock", name, 1)

    def torque_off(self, motors: Iterable[str] | None = None, *, raise_errors: bool = True) -> None:
        """Torque off and Lock=0 on every motor, trying them all even if some fail; status bits ignored.

        First one sync write to all of them: it needs no reply, so every servo still listening is released at
        once, even when one is dead and each write to it costs (1 + retries) timeouts. Then each motor is
        written with an acknowledgement; a motor that does not answer its Torque_Enable is not asked for Lock,
        which bounds the time to 1 + retries timeouts per dead motor.
        """
        names = list(motors) if motors is not None else list(self.motors)
        with suppress(HardwareError):
            self.sync_write("Torque_Enable", dict.fromkeys(names, 0))
        first: HardwareError | None = None
        for name in names:
            try:
                self.write("Torque_Enable", name, 0, check_status=False)
                self.write("Lock", name, 0, check_status=False)
            except HardwareError as exc:
                first = first or exc
        if first is not None and raise_errors:
            raise first

    def torque_enabled(self, motors: Iterable[str] | None = None) -> dict[str, bool]:
        """Torque_Enable of every motor, one transaction: the runtime checks nothing switched it off."""
        return {
            name: bool(v["Torque_Enable"]) for name, v in self.sync_read(("Torque_Enable",), motors).items()
        }

    def configure(
        self,
        setup: Mapping[str, int] = SO101_SETUP,
        gripper: str | None = GRIPPER_JOINT,
        gripper_setup: Mapping[str, int] = SO101_GRIPPER_SETUP,
    ) -> None:
        """LeRobot's SO-101 set-up on every motor, Phase bit 4 (multi-turn) cleared. Leaves torque off."""
        self.torque_off()
        for name in self.motors:
            values = {**setup, **(gripper_setup if name == gripper else {})}
            for register, value in values.items():
                if self.read(register, name) != value:
                    self.write(register, name, value)
            phase = self.read("Phase", name)
            if phase & PHASE_MULTI_TURN_BIT:
                self.write("Phase", name, phase & ~PHASE_MULTI_TURN_BIT)

    # -- plumbing -----------------------------------------------------------------------------------------
    def _id(self, motor: str) -> int:
        try:
            return self.motors[motor]
        except KeyError:
            near = difflib.get_close_matches(str(motor), list(self.motors), n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            raise ValueError(f"unknown motor '{motor}' (motors: {', '.join(self.motors)}){hint}") from None

    @staticmethod
    def _register(name: str) -> Register:
        try:
            return REG[name]
        except KeyError:
            near = difflib.get_close_matches(name, list(REG), n=1)
            raise ValueError(
                f"unknown register '{name}'" + (f"; did you mean '{near[0]}'?" if near else "")
            ) from None

    def _reader(self, start: int, length: int, ids: tuple[int, ...]) -> scs.GroupSyncRead:
        key = (start, length, ids)
        group = self._readers.get(key)
        if group is None:
            group = scs.GroupSyncRead(self._port, self._ph, start, length)
            for mid in ids:
                group.addParam(mid)
            self._readers[key] = group
        return group

    def _read_raw(self, mid: int, address: int, length: int) -> tuple[list[int], int, int]:
        data, comm, error = self._ph.readTxRx(self._port, mid, address, length)
        if comm == scs.COMM_SUCCESS and len(data) != length:
            comm = scs.COMM_RX_CORRUPT
        return data, comm, error

    @contextmanager
    def _io(self) -> Iterator[None]:
        """Hold the port; a vanished device (USB unplugged, emulator gone) becomes a PortError."""
        with self._lock:
            if self._port is None:
                raise PortError(f"the bus on {self.config.port} is not open: call connect() first")
            try:
                yield
            except PORT_FAILURES as exc:
                raise _port_error(self.config.port, exc) from None
            finally:
                if self._port is not None:
                    self._port.is_using = False  # the SDK leaves it set when a transaction fails midway

    def _txrx(
        self, mid: int, doing: str, call: Callable[[], tuple[Any, int, int]], *, check_status: bool = True
    ) -> tuple[Any, int]:
        """Run one request/reply with bounded retries; typed error naming the motor when it keeps failing."""
        for attempt in range(1 + self.config.retries):
            with self._io():
                self._resync_if_dirty()
                value, comm, error = call()
                if comm == scs.COMM_SUCCESS:
                    self._alive = mid
                    break
                self._failed(comm, attempt)
        else:
            raise self._comm_error(mid, comm, doing)
        if check_status and error & self.config.status_error_mask:
            raise status_error(self._names.get(mid, f"id{mid}"), mid, error, doing, value)
        return value, error

    def _failed(self, comm: int, attempt: int) -> None:
        self.stats["timeout" if comm == scs.COMM_RX_TIMEOUT else "corrupt"] += 1
        if attempt < self.config.retries:
            self.stats["retries"] += 1
        self._dirty = True
        time.sleep(self.config.drain_ms / 1000.0)  # let the line settle; the next request flushes what came

    def _resync_if_dirty(self) -> None:
        """After a failure, make sure no late reply is still on its way before the next request.

        Protocol 0 has no sequence numbers: a reply that arrives after its deadline looks exactly like the
        answer to the next request to the same motor with the same length (a read of Lock answered with the
        value of Acceleration). Replies do come back in order, though. So ask a motor that answers for a
        reply nothing else produces (a read of unusual length), and discard everything that arrives before
        it. If that fails too, the bus stays marked and the next request tries again, with another motor.
        """
        if not self._dirty:
            return
        ids = list(self.motors.values())
        mid = self._alive if self._alive is not None else ids[self._resyncs % len(ids)]
        length = RESYNC_LENGTHS[self._resyncs % len(RESYNC_LENGTHS)]
        self._resyncs += 1
        self.stats["resyncs"] += 1
        if self._ph.readTx(self._port, mid, RESYNC_ADDRESS, length) == scs.COMM_SUCCESS:
            while True:
                packet, comm = self._ph.rxPacket(self._port)
                if comm != scs.COMM_SUCCESS:
                    break
                if packet[scs.PKT_ID] == mid and packet[scs.PKT_LENGTH] == length + 2:  # our marker
                    self._dirty = False
                    self._alive = mid
                    return
                self.stats["stale_replies"] += 1
        self._alive = None

    def _comm_error(self, mid: int, comm: int, doing: str) -> HardwareError:
        name = self._names.get(mid, f"id{mid}")
        tries = 1 + self.config.retries
        if comm == scs.COMM_RX_TIMEOUT:
            return MotorTimeoutError(
                f"motor '{name}' (ID {mid}) did not answer while {doing} ({tries} tries, "
                f"{self.config.packet_timeout_ms:g} ms timeout): check its cable and power; a servo that "
                "goes silent mid-run was unplugged or browned out",
                name,
                mid,
            )
        if comm == scs.COMM_RX_CORRUPT:
            return MotorCorruptReplyError(
                f"motor '{name}' (ID {mid}) sent corrupted replies while {doing} ({tries} tries): check the "
                f"cable and connectors for noise, and that no two servos share ID {mid}",
                name,
                mid,
            )
        return PortError(
            f"{self.config.port}: {self._ph.getTxRxResult(comm)} while {doing} (motor '{name}', ID {mid})"
        )
