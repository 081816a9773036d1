"""A bus of emulated STS3215 servos behind a pseudo-terminal, speaking Feetech protocol 0 byte for byte.

Open ``emulator.port`` with anything that opens a serial port (the Feetech SDK, LeRobot, minicom) and it
answers as an SO-101's servos would: PING, READ, WRITE, REG_WRITE/ACTION, SYNC_READ (each addressed servo
answers in turn), SYNC_WRITE (no reply). A packet with a bad checksum or a wrong length gets no reply.

Faults are injected live through ``emulator.faults`` (a missing servo, dropped or corrupted replies,
status error bits, extra latency, a servo that goes silent mid-run), so that the driver's handling of
each is tested against the same bytes a real bus would produce.

With ``pace=True`` the wire is modelled at the configured baud rate (10 bits per byte): a request is in
when its last byte would have arrived, each servo waits its Return_Delay_Time, and each reply packet is
delivered when its last byte would have crossed the wire. Pacing busy-waits the last millisecond; use
``EmulatorProcess`` then, so it does not compete with the driver under test for the GIL.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import multiprocessing
import os
import random
import select
import threading
import time
import tty
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from robot.encoder import TICKS_PER_TURN
from robot.so101 import SERVO_IDS
from so101_deploy.hardware.tables import (
    BITS_PER_BYTE_ON_WIRE,
    BROADCAST_ID,
    CONTROL_TABLE_SIZE,
    HEADER,
    RETURN_DELAY_UNIT_S,
    STS3215_CONTROL_TABLE,
    STS3215_MODEL_NUMBER,
    Instruction,
)
from so101_deploy.twin.servo_model import ConstantSpeedBackend, PositionBackend, ServoModel

MID_TICKS = TICKS_PER_TURN / 2  # a fresh servo powers up half a turn round
SPIN_BELOW_S = 0.001  # with pacing on, busy-wait the last millisecond before a reply is due


@dataclass
class Faults:
    """What goes wrong on the bus. Change fields at any time; the next packet sees the change."""

    missing: set[int] = field(default_factory=set)  # servos that never answer and ignore writes
    drop_probability: float = 0.0  # each reply is lost with this probability
    corrupt_probability: float = 0.0  # each reply has one payload/checksum bit flipped with this probability
    flaky_ids: set[int] | None = None  # servos subject to drop/corrupt (None: all)
    error_bits: dict[int, int] = field(default_factory=dict)  # id -> status error bits in every reply
    extra_latency_s: dict[int, float] = field(default_factory=dict)  # id -> added delay before replying
    silent_after: dict[int, int] = field(default_factory=dict)  # id -> replies it still sends, then silence
    stall_s: float = 0.0  # one-shot: the link freezes this long before the next request (replies keep order),
    #                       like a USB adapter hiccup; replies then arrive after the driver gave up on them


@dataclass
class EmulatorConfig:
    servo_ids: tuple[int, ...] = tuple(SERVO_IDS.values())
    baudrate: int = 1_000_000
    pace: bool = False  # real-time byte pacing at ``baudrate``, Return_Delay_Time honoured
    speed_ticks_per_s: float = 3000.0  # default backend's joint speed
    model_number: int = STS3215_MODEL_NUMBER
    firmware: tuple[int, int] = (3, 10)
    initial_ticks: dict[int, float] = field(default_factory=dict)  # motor ticks at power-up (default 2048)
    register_overrides: dict[int, dict[str, int]] = field(default_factory=dict)  # id -> power-up registers
    seed: int = 0
    partial_packet_timeout_s: float = 0.05  # an unfinished packet is dropped after this long
    traffic_log: int = 0  # keep this many recent (direction, bytes) records for inspection
    faults: Faults = field(default_factory=Faults)


@dataclass(frozen=True)
class Packet:
    servo_id: int
    instruction: int
    params: bytes
    raw: bytes


def checksum(body: bytes) -> int:
    return ~sum(body) & 0xFF


def status_packet(servo_id: int, error: int, params: bytes = b"") -> bytes:
    body = bytes([servo_id, len(params) + 2, error]) + params
    return HEADER + body + bytes([checksum(body)])


class PacketParser:
    """Turns a byte stream into instruction packets the way a servo does: resync on the header, drop garbage."""

    def __init__(self, partial_timeout_s: float) -> None:
        self.buf = bytearray()
        self.partial_timeout_s = partial_timeout_s
        self.last_byte_at = 0.0
        self.stats: Counter[str] = Counter()

    def feed(self, data: bytes, now: float) -> Iterator[Packet]:
        if self.buf and now - self.last_byte_at > self.partial_timeout_s:
            self.stats["stale_partial"] += 1
            self.buf.clear()
        self.buf += data
        self.last_byte_at = now
        while True:
            start = self.buf.find(HEADER)
            if start < 0:
                keep = 1 if self.buf.endswith(b"\xff") else 0
                if len(self.buf) > keep:
                    self.stats["garbage_bytes"] += len(self.buf) - keep
                del self.buf[: len(self.buf) - keep]
                return
            if start:
                self.stats["garbage_bytes"] += start
                del self.buf[:start]
            if len(self.buf) < 4:
                return
            servo_id, length = self.buf[2], self.buf[3]
            if servo_id == 0xFF or length < 2:
                self.stats["malformed"] += 1
                del self.buf[: 1 if servo_id == 0xFF else 2]
                continue
            total = length + 4
            if len(self.buf) < total:
                return
            raw = bytes(self.buf[:total])
            if checksum(raw[2:-1]) != raw[-1]:
                self.stats["bad_checksum"] += 1
                del self.buf[:2]  # resync: the next header may be inside what we took for this packet
                continue
            del self.buf[:total]
            self.stats["packets"] += 1
            yield Packet(servo_id, raw[4], raw[5:-1], raw)

    def expire(self, now: float) -> None:
        if self.buf and now - self.last_byte_at > self.partial_timeout_s:
            self.stats["stale_partial"] += 1
            self.buf.clear()


class ServoEmulator:
    """Emulated servos on a pseudo-terminal, served by a background thread. Use as a context manager."""

    def __init__(self, config: EmulatorConfig | None = None, backend: PositionBackend | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.faults = self.config.faults
        if backend is None:
            backend = ConstantSpeedBackend(self.config.speed_ticks_per_s)
            for sid in self.config.servo_ids:
                backend.add(sid, self.config.initial_ticks.get(sid, MID_TICKS))
        self.backend = backend
        self.servos: list[ServoModel] = [
            ServoModel(
                sid,
                backend,
                model_number=self.config.model_number,
                firmware=self.config.firmware,
                overrides=self.config.register_overrides.get(sid),
            )
            for sid in self.config.servo_ids
        ]
        self.parser = PacketParser(self.config.partial_packet_timeout_s)
        self.stats: Counter[str] = self.parser.stats
        self.traffic: deque[tuple[str, bytes]] = deque(maxlen=max(1, self.config.traffic_log))
        self._rng = random.Random(self.config.seed)
        self._byte_s = BITS_PER_BYTE_ON_WIRE / self.config.baudrate
        self._wire_free_at = 0.0
        self._outbox: list[tuple[float, int, bytes]] = []  # (due time, tie-break, bytes) min-heap
        self._seq = itertools.count()
        self._master = self._slave = self._wake_r = self._wake_w = -1
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.port = ""

    # -- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> ServoEmulator:
        if self._thread is not None:
            raise RuntimeError("emulator already started")
        self._master, self._slave = os.openpty()
        # Raw mode now, before any client opens it: no echo, no line editing, no CR/LF translation.
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self._wake_r, self._wake_w = os.pipe()
        self.port = os.ttyname(self._slave)
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name=f"servo-emulator {self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5.0)
        if self._thread.is_alive():  # pragma: no cover - would be a bug in _serve
            raise RuntimeError("servo emulator thread did not stop")
        self._thread = None
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            os.close(fd)
        self._master = self._slave = self._wake_r = self._wake_w = -1

    def __enter__(self) -> ServoEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- inspection and fault helpers ---------------------------------------------------------------------
    def servo(self, servo_id: int) -> ServoModel:
        for servo in self.servos:
            if servo.id == servo_id:
                return servo
        raise KeyError(f"no emulated servo with ID {servo_id}")

    def kill(self, servo_id: int) -> None:
        """The servo stops answering from the next packet on (power or cable lost mid-run)."""
        self.faults.missing.add(servo_id)

    def revive(self, servo_id: int) -> None:
        self.faults.missing.discard(servo_id)

    def count(self, instruction: Instruction) -> int:
        """Packets received with this instruction (valid checksum), since start."""
        return self.stats[f"instr_{instruction.name}"]

    # -- the serving thread -------------------------------------------------------------------------------
    def _serve(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            wait = 0.05 if not self._outbox else max(0.0, self._outbox[0][0] - now)
            if self.config.pace and 0.0 < wait < SPIN_BELOW_S:
                while time.monotonic() < self._outbox[0][0]:  # sub-millisecond precision for paced replies
                    pass
                wait = 0.0
            ready, _, _ = select.select([self._master, self._wake_r], [], [], wait)
            now = time.monotonic()
            if self._master in ready:
                try:
                    data = os.read(self._master, 4096)
                except (BlockingIOError, InterruptedError):
                    data = b""
                except OSError:  # EIO: nothing holds the slave open any more
                    data = b""
                    time.sleep(0.01)
                if self.config.traffic_log and data:
                    self.traffic.append(("rx", data))
                if data and self.faults.stall_s > 0:
                    stall, self.faults.stall_s = self.faults.stall_s, 0.0
                    self._stop.wait(stall)
                    now = time.monotonic()
                for packet in self.parser.feed(data, now) if data else ():
                    self.stats[f"instr_{_name(packet.instruction)}"] += 1
                    self._handle(packet, now)
            else:
                self.parser.expire(now)
            self._flush(time.monotonic())

    def _flush(self, now: float) -> None:
        while self._outbox and self._outbox[0][0] <= now:
            self._write(heapq.heappop(self._outbox)[2])

    def _present(self, servo_id: int) -> ServoModel | None:
        if servo_id in self.faults.missing:
            return None
        for servo in self.servos:
            if servo.id == servo_id:
                return servo
        return None

    def _everyone(self) -> list[ServoModel]:
        return [s for s in self.servos if s.id not in self.faults.missing]

    def _handle(self, packet: Packet, now: float) -> None:
        sid, instr, params = packet.servo_id, packet.instruction, packet.params
        broadcast = sid == BROADCAST_ID
        targets = self._everyone() if broadcast else [s for s in [self._present(sid)] if s is not None]
        replies: list[tuple[ServoModel, bytes]] = []
        if instr == Instruction.PING and not params:
            # Every servo answers a broadcast ping (in ID order): LeRobot's motor scan relies on it.
            replies = [(s, b"") for s in sorted(targets, key=lambda s: s.id)]
        elif instr == Instruction.READ and len(params) == 2 and not broadcast:
            if params[0] + params[1] > CONTROL_TABLE_SIZE:
                self.stats["malformed"] += 1
                return
            replies = [(s, s.read(params[0], params[1])) for s in targets]
        elif instr in (Instruction.WRITE, Instruction.REG_WRITE) and len(params) >= 2:
            for s in targets:
                (s.write if instr == Instruction.WRITE else s.reg_write)(params[0], params[1:])
            replies = [] if broadcast else [(s, b"") for s in targets if _acks_writes(s)]
        elif instr == Instruction.ACTION and not params:
            for s in targets:
                s.action()
            replies = [] if broadcast else [(s, b"") for s in targets if _acks_writes(s)]
        elif instr == Instruction.SYNC_READ and broadcast and len(params) >= 2:
            address, length = params[0], params[1]
            for wanted in params[2:]:
                servo = self._present(wanted)
                if servo is not None:
                    replies.append((servo, servo.read(address, length)))
        elif instr == Instruction.SYNC_WRITE and broadcast and len(params) >= 2:
            address, length = params[0], params[1]
            block = length + 1
            if length == 0 or (len(params) - 2) % block:
                self.stats["malformed"] += 1
                return
            for i in range(2, len(params), block):
                servo = self._present(params[i])
                if servo is not None:
                    servo.write(address, params[i + 1 : i + block])
        else:
            self.stats["malformed"] += 1
            return
        self._send(replies, len(packet.raw), now)

    def _send(self, replies: list[tuple[ServoModel, bytes]], request_len: int, received_at: float) -> None:
        """Schedule the replies: in turn, each after its servo's delay; paced, each when its last bit is in.

        Scheduling rather than sleeping keeps a late servo from stalling the whole bus: the emulator goes
        on reading requests, as each real servo would, while a late reply is still pending.
        """
        pace = self.config.pace
        t = max(received_at, self._wire_free_at) + (request_len * self._byte_s if pace else 0.0)
        for servo, params in replies:
            sid = servo.id
            if not self._answers(sid):
                continue
            error = servo.error_bits | self.faults.error_bits.get(sid, 0)
            reply = status_packet(sid, error, params)
            flaky = self.faults.flaky_ids is None or sid in self.faults.flaky_ids
            if flaky and self._rng.random() < self.faults.drop_probability:
                self.stats["dropped"] += 1
                continue
            if flaky and self._rng.random() < self.faults.corrupt_probability:
                reply = _flip_one_bit(reply, self._rng)
                self.stats["corrupted"] += 1
            t += self.faults.extra_latency_s.get(sid, 0.0)
            if pace:
                t += servo.memory[STS3215_CONTROL_TABLE["Return_Delay_Time"].address] * RETURN_DELAY_UNIT_S
                t += len(reply) * self._byte_s
            heapq.heappush(self._outbox, (t, next(self._seq), reply))
            self.stats["replies"] += 1
        self._wire_free_at = t if pace else 0.0

    def _answers(self, sid: int) -> bool:
        left = self.faults.silent_after.get(sid)
        if left is None:
            return True
        if left <= 0:
            self.faults.missing.add(sid)
            return False
        self.faults.silent_after[sid] = left - 1
        return True

    def _write(self, data: bytes) -> None:
        if self.config.traffic_log:
            self.traffic.append(("tx", data))
        try:
            os.write(self._master, data)
        except BlockingIOError:  # nobody reads the port and its buffer is full: the bytes are lost
            self.stats["overflow"] += 1


def _acks_writes(servo: ServoModel) -> bool:
    """Response_Status_Level 0: the servo answers only PING and READ."""
    return servo.memory[STS3215_CONTROL_TABLE["Response_Status_Level"].address] != 0


def _flip_one_bit(reply: bytes, rng: random.Random) -> bytes:
    """Corrupt the error/payload/checksum part so the checksum fails (header, ID, length left intact)."""
    out = bytearray(reply)
    index = rng.randrange(5, len(out))
    out[index] ^= 1 << rng.randrange(8)
    return bytes(out)


def _name(instruction: int) -> str:
    try:
        return Instruction(instruction).name
    except ValueError:
        return f"0x{instruction:02x}"


# -- the emulator in its own process -----------------------------------------------------------------------
def _serve_process(config: EmulatorConfig, conn) -> None:  # type: ignore[no-untyped-def]
    with ServoEmulator(config) as emulator:
        conn.send(emulator.port)
        with contextlib.suppress(EOFError):  # EOF: the parent went away
            conn.recv()


class EmulatorProcess:
    """``ServoEmulator`` in a child process: for real-time pacing and benchmarks (no GIL shared with the driver).

    Faults are fixed by the config at start; for live fault injection use ``ServoEmulator`` in-process.
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.port = ""
        self._proc: multiprocessing.process.BaseProcess | None = None
        self._conn = None

    def start(self, timeout_s: float = 30.0) -> EmulatorProcess:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve_process, args=(self.config, child), daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent
        try:
            if not parent.poll(timeout_s):
                raise EOFError
            self.port = parent.recv()
        except EOFError:
            self.stop()
            raise RuntimeError(f"servo emulator process did not start within {timeout_s:.0f} s") from None
        return self

    def stop(self) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(OSError):
            self._conn.send("stop")  # type: ignore[union-attr]
        self._proc.join(timeout=5.0)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(timeout=5.0)
        self._conn.close()  # type: ignore[union-attr]
        self._proc.close()  # releases its sentinel descriptor
        self._proc = None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
