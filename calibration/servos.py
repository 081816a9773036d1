"""Servo calibration, LeRobot-compatible, as library code: homing, range sweep, EEPROM, verify, motor set-up.

The numbers this produces are the ones ``lerobot-calibrate`` would: with torque off, the operator puts every
joint in the middle of its travel; offsets and limits are reset, the raw positions read, and
``Homing_Offset = raw - 2047`` written so that this pose reads 2047; the operator then sweeps every joint but
wrist_roll end to end while minima and maxima are recorded; wrist_roll keeps the full turn. Offsets and limits go
into each servo's EEPROM (the servo then clamps goals to the range) and into the LeRobot-format file.

Nothing here prompts. A procedure takes its bus (anything shaped like ``ServoBus``; the CLI passes the Feetech
driver, tests pass the same driver talking to the emulator) and an ``Operator`` whose two callbacks are where a
person acts: the CLI's operator prompts and draws a live table, the tests' operator moves emulated joints.

This package sits below ``so101_deploy`` and does not import it: encoder facts come in as an ``EncoderSpec``
built from the hardware tables by the caller, and results come out as plain entries that the caller saves with
its LeRobot file writer.

Traps guarded, each with what to do: an offset the register cannot hold (|offset| > 2047: re-centre), a joint
that never moved (min == max: sweep it), and a reading that wrapped around 0/4095 during the sweep (the joint
was centred too far from the middle of its travel: re-centre).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Protocol

from robot.so101 import FULL_TURN_JOINTS


class ServoCalibrationError(RuntimeError):
    """The procedure cannot go on; the message names the joint(s) and says what to do."""


class OffsetOutOfRangeError(ServoCalibrationError):
    """A centred pose whose Homing_Offset would not fit the register. ``offsets`` has every joint's value."""

    def __init__(self, message: str, offsets: Mapping[str, int]) -> None:
        super().__init__(message)
        self.offsets = dict(offsets)


class SweepError(ServoCalibrationError):
    """The recorded ranges are unusable (a joint never moved, or its reading wrapped around)."""


class MotorSetupError(ServoCalibrationError):
    """Assigning an ID or baud rate to one motor failed."""


# -- what the procedures need from the outside --------------------------------------------------------------
class ServoBus(Protocol):
    """The part of the Feetech driver the calibration uses (``FeetechBus`` satisfies it)."""

    @property
    def motors(self) -> Mapping[str, int]: ...

    def read(self, register: str, motor: str) -> int: ...

    def write(self, register: str, motor: str, value: int) -> None:
        """Write and confirm; an EEPROM register is read back (raises if it did not stick)."""

    def read_positions(self, motors: Iterable[str] | None = None) -> dict[str, int]: ...

    def torque_off(self, motors: Iterable[str] | None = None) -> None:
        """Torque off and Lock = 0: what EEPROM writes need."""


@dataclass(frozen=True)
class EncoderSpec:
    """Facts of the servo model. The caller builds it from the hardware tables (4096 ticks, offsets to 2047)."""

    resolution: int  # ticks per turn
    max_homing_offset: int  # largest |Homing_Offset| the register holds

    @property
    def max_tick(self) -> int:
        return self.resolution - 1

    @property
    def centre_tick(self) -> int:
        """What the centred pose reads after homing (LeRobot: (resolution - 1) // 2 = 2047)."""
        return self.max_tick // 2


@dataclass
class ServoCalibrationConfig:
    full_turn_motors: tuple[str, ...] = FULL_TURN_JOINTS  # not swept: range is the whole turn, as in LeRobot
    sample_hz: float = 50.0  # range sweep sampling rate (LeRobot's loop runs about this fast)
    min_travel_ticks: int = 20  # less than this between min and max (~1.8 deg) counts as "never moved"
    centre_attempts: int = 3  # re-centring requests before giving up on an out-of-range offset
    lock_after_write: bool = True  # Lock = 1 again once the EEPROM is written (protects it from stray writes)


@dataclass(frozen=True)
class JointSweep:
    """One joint's row in the live table."""

    name: str
    motor_id: int
    low: int
    now: int
    high: int
    full_turn: bool = False
    wrap: tuple[int, int] | None = None  # (before, after) of the first reading that jumped across 0/4095

    @property
    def travel(self) -> int:
        return self.high - self.low


@dataclass(frozen=True)
class SweepSnapshot:
    samples: int
    elapsed_s: float
    joints: dict[str, JointSweep]


class Operator(Protocol):
    """Where a person acts. The CLI prompts; the tests move emulated joints."""

    def centre(self, problem: str | None) -> None:
        """Return once every joint is in the middle of its travel (``problem``: why we ask again)."""

    def sweep(self, snapshot: SweepSnapshot) -> bool:
        """Called after every sample while the joints are swept; return True once every joint went end to end."""


@dataclass(frozen=True)
class ServoEntry:
    """One motor's calibration, in LeRobot's key order (id, drive_mode, homing_offset, range_min, range_max)."""

    id: int
    drive_mode: int
    homing_offset: int
    range_min: int
    range_max: int


class CalibrationEntry(Protocol):
    """Anything with a LeRobot entry's fields (``ServoEntry``, ``so101_deploy``'s ``MotorCalibration``)."""

    @property
    def id(self) -> int: ...

    @property
    def homing_offset(self) -> int: ...

    @property
    def range_min(self) -> int: ...

    @property
    def range_max(self) -> int: ...


# -- the procedure -----------------------------------------------------------------------------------------
class RangeRecorder:
    """Minimum / current / maximum per joint over a sweep, and the first wrap-around jump seen."""

    def __init__(self, motors: Mapping[str, int], encoder: EncoderSpec, full_turn: Iterable[str]) -> None:
        self.motors = dict(motors)
        self.encoder = encoder
        self.full_turn = set(full_turn) & set(motors)
        self.samples = 0
        self._low: dict[str, int] = {}
        self._high: dict[str, int] = {}
        self._now: dict[str, int] = {}
        self._wrap: dict[str, tuple[int, int]] = {}

    @property
    def swept(self) -> list[str]:
        return [name for name in self.motors if name not in self.full_turn]

    def add(self, positions: Mapping[str, int]) -> None:
        half = self.encoder.resolution // 2
        for name, value in positions.items():
            before = self._now.get(name)
            if before is not None and abs(value - before) > half and name not in self._wrap:
                self._wrap[name] = (before, value)
            self._now[name] = value
            self._low[name] = min(self._low.get(name, value), value)
            self._high[name] = max(self._high.get(name, value), value)
        self.samples += 1

    def snapshot(self, elapsed_s: float) -> SweepSnapshot:
        joints = {}
        for name, mid in self.motors.items():
            if name in self.full_turn:
                now = self._now.get(name, 0)
                joints[name] = JointSweep(name, mid, 0, now, self.encoder.max_tick, full_turn=True)
            elif name in self._now:
                joints[name] = JointSweep(
                    name, mid, self._low[name], self._now[name], self._high[name], wrap=self._wrap.get(name)
                )
        return SweepSnapshot(self.samples, elapsed_s, joints)


class ServoCalibration:
    """The procedure step by step; ``run`` chains the steps with an ``Operator``."""

    def __init__(
        self,
        bus: ServoBus,
        encoder: EncoderSpec,
        config: ServoCalibrationConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.bus = bus
        self.encoder = encoder
        self.config = config or ServoCalibrationConfig()
        self.motors = dict(bus.motors)
        unknown = [m for m in self.config.full_turn_motors if m not in self.motors]
        if unknown:
            raise ValueError(f"full-turn motor(s) {unknown} are not on the bus ({', '.join(self.motors)})")
        self.offsets: dict[str, int] = {}
        self.snapshot: SweepSnapshot | None = None
        self._clock, self._sleep = clock, sleep

    def run(self, operator: Operator) -> dict[str, ServoEntry]:
        self.prepare()
        problem = None
        for attempt in range(self.config.centre_attempts):
            operator.centre(problem)
            try:
                self.set_homing()
                break
            except OffsetOutOfRangeError as exc:
                if attempt + 1 == self.config.centre_attempts:
                    raise
                problem = str(exc)
        self.record_ranges(operator.sweep)
        return self.finish()

    def prepare(self) -> None:
        """Torque off (limp joints the operator can move), position mode, offsets and limits back to factory."""
        self.bus.torque_off()
        for name in self.motors:
            if self.bus.read("Operating_Mode", name) != 0:
                self.bus.write("Operating_Mode", name, 0)
        write_eeprom(
            self.bus,
            {name: _registers(0, 0, self.encoder.max_tick) for name in self.motors},
            lock_after=False,
        )

    def set_homing(self) -> dict[str, int]:
        """Offsets that make the present (centred) pose read the centre tick; written only if all fit."""
        raw = self.bus.read_positions(list(self.motors))
        limit = self.encoder.max_homing_offset
        outside = {n: v for n, v in raw.items() if not 0 <= v <= self.encoder.max_tick}
        if outside:
            what = ", ".join(f"'{n}' reads {v}" for n, v in outside.items())
            raise ServoCalibrationError(
                f"{what}, outside one turn (0..{self.encoder.max_tick}): the servo is in multi-turn mode "
                "(Phase bit 4); clear it (so101's bus configure() does) and calibrate again"
            )
        offsets = {name: value - self.encoder.centre_tick for name, value in raw.items()}
        bad = {n: o for n, o in offsets.items() if abs(o) > limit}
        if bad:
            what = ", ".join(
                f"'{n}' (ID {self.motors[n]}) reads {raw[n]}, offset {o:+d}" for n, o in bad.items()
            )
            raise OffsetOutOfRangeError(
                f"{what}: beyond the +-{limit} a Homing_Offset can hold. The servo horn sits near the "
                f"encoder's wrap point; move the joint a little (a few degrees) towards the middle of its "
                "travel and confirm again",
                offsets,
            )
        for name, offset in offsets.items():
            self.bus.write("Homing_Offset", name, offset)
        self.offsets = offsets
        return offsets

    def record_ranges(self, on_sample: Callable[[SweepSnapshot], bool]) -> SweepSnapshot:
        """Sample positions at ``sample_hz`` until ``on_sample`` returns True; full-turn joints shown, not swept."""
        recorder = RangeRecorder(self.motors, self.encoder, self.config.full_turn_motors)
        period = 1.0 / self.config.sample_hz
        start = next_at = self._clock()
        while True:
            recorder.add(self.bus.read_positions(list(self.motors)))
            self.snapshot = recorder.snapshot(self._clock() - start)
            if on_sample(self.snapshot):
                return self.snapshot
            next_at += period
            delay = next_at - self._clock()
            if delay > 0:
                self._sleep(delay)
            else:
                next_at = self._clock()  # fell behind (slow bus, busy machine): do not try to catch up

    def entries(self) -> dict[str, ServoEntry]:
        """The calibration from the homing and the last sweep; raises SweepError naming every problem."""
        if self.snapshot is None or not self.offsets:
            raise ServoCalibrationError("set_homing() and record_ranges() must run before entries()")
        problems = []
        out = {}
        for name, mid in self.motors.items():
            joint = self.snapshot.joints.get(name)
            if joint is None:
                problems.append(f"'{name}' was never read")
                continue
            if joint.wrap is not None:
                problems.append(
                    f"'{name}' (ID {mid}) jumped from {joint.wrap[0]} to {joint.wrap[1]}: its reading wrapped "
                    f"around 0/{self.encoder.max_tick}, so its travel reaches more than half a turn from where "
                    "you centred it. Re-centre it in the middle of its travel and calibrate again"
                )
            elif not joint.full_turn and joint.travel < self.config.min_travel_ticks:
                problems.append(
                    f"'{name}' (ID {mid}) never moved (min {joint.low}, max {joint.high}): sweep it from one "
                    "end stop to the other during the recording (a joint that does not move has a loose horn "
                    "or a dead servo)"
                )
            out[name] = ServoEntry(mid, 0, self.offsets[name], joint.low, joint.high)
        if problems:
            raise SweepError("the range recording is unusable: " + "; ".join(problems))
        return out

    def finish(self) -> dict[str, ServoEntry]:
        """Check the ranges, write offsets and limits into every servo's EEPROM, return the entries."""
        entries = self.entries()
        write_calibration(self.bus, entries, lock_after=self.config.lock_after_write)
        return entries


# -- EEPROM ------------------------------------------------------------------------------------------------
def _registers(offset: int, low: int, high: int) -> dict[str, int]:
    return {"Homing_Offset": offset, "Min_Position_Limit": low, "Max_Position_Limit": high}


def write_eeprom(bus: ServoBus, values: Mapping[str, Mapping[str, int]], *, lock_after: bool = True) -> None:
    """EEPROM writes with the servo's Lock handled: torque off and Lock = 0 first (the servo silently ignores
    EEPROM writes otherwise), each value read back by the driver, then Lock = 1 again (also after a failure)."""
    names = list(values)
    bus.torque_off(names)
    try:
        for name, registers in values.items():
            for register, value in registers.items():
                bus.write(register, name, int(value))
    except BaseException:
        if lock_after:
            for name in names:
                with suppress(Exception):  # best effort: the write error is the one to report
                    bus.write("Lock", name, 1)
        raise
    if lock_after:
        for name in names:
            bus.write("Lock", name, 1)


def write_calibration(
    bus: ServoBus, entries: Mapping[str, CalibrationEntry], *, lock_after: bool = True
) -> None:
    """Homing_Offset, Min_Position_Limit and Max_Position_Limit of every entry into its servo's EEPROM."""
    check_ids(bus, entries)
    write_eeprom(
        bus,
        {name: _registers(e.homing_offset, e.range_min, e.range_max) for name, e in entries.items()},
        lock_after=lock_after,
    )


def check_ids(bus: ServoBus, entries: Mapping[str, CalibrationEntry]) -> None:
    wrong = [
        f"'{name}' has id {e.id} in the file but ID {bus.motors.get(name)} on the bus"
        for name, e in entries.items()
        if bus.motors.get(name) != e.id
    ]
    if wrong:
        raise ServoCalibrationError(
            "the calibration does not fit this bus: " + "; ".join(wrong) + " (is it another robot's file?)"
        )


@dataclass(frozen=True)
class MotorCheck:
    """One motor's EEPROM against the file. ``present`` is Present_Position, for the in-range check."""

    name: str
    motor_id: int
    expected: dict[str, int]
    actual: dict[str, int]
    present: int

    @property
    def differences(self) -> dict[str, tuple[int, int]]:
        """register -> (file, servo) where they differ."""
        return {r: (v, self.actual[r]) for r, v in self.expected.items() if self.actual[r] != v}

    @property
    def in_range(self) -> bool:
        return self.actual["Min_Position_Limit"] <= self.present <= self.actual["Max_Position_Limit"]

    @property
    def ok(self) -> bool:
        return not self.differences


def verify_calibration(bus: ServoBus, entries: Mapping[str, CalibrationEntry]) -> list[MotorCheck]:
    """Read every servo's offset and limits back and compare them with the file, motor by motor."""
    check_ids(bus, entries)
    present = bus.read_positions(list(entries))
    out = []
    for name, e in entries.items():
        expected = _registers(e.homing_offset, e.range_min, e.range_max)
        actual = {register: bus.read(register, name) for register in expected}
        out.append(MotorCheck(name, e.id, expected, actual, present[name]))
    return out


# -- motor set-up: IDs 1-6 and one baud rate, one motor on the wire at a time ------------------------------
class ProbeBus(Protocol):
    """A bus opened at one baud rate with a chosen name -> ID map (``FeetechBus`` satisfies it)."""

    def open(self) -> None: ...

    def close(self, torque_off: bool = True) -> None: ...

    def ping(self, motor: str) -> int | None: ...

    def read(self, register: str, motor: str) -> int: ...

    def write(self, register: str, motor: str, value: int) -> None: ...

    def sync_write(self, register: str, values: Mapping[str, int]) -> None:
        """Broadcast write, no reply: the way to change ID and baud rate (a reply would come from the new ID)."""

    def torque_off(self, motors: Iterable[str] | None = None) -> None: ...


@dataclass
class MotorSetupConfig:
    baud_codes: dict[int, int]  # baud rate -> Baud_Rate register code (from the hardware tables)
    target_baud: int = 1_000_000
    expected_model: int | None = None  # refuse a motor of another model when set
    # Tried first at every rate, all of them, so that a second motor left on the wire is noticed: the target
    # ID, and 1 (a new servo ships as ID 1).
    quick_ids: tuple[int, ...] = (1,)
    # Then, if nothing answered, these (0..252) at every rate until one answers (a timeout per absent ID).
    scan_ids: range = field(default_factory=lambda: range(0, 253))


@dataclass(frozen=True)
class MotorSetupResult:
    name: str
    old_id: int
    old_baud: int
    new_id: int
    new_baud: int

    @property
    def changed(self) -> bool:
        return (self.old_id, self.old_baud) != (self.new_id, self.new_baud)


OpenBus = Callable[[int, Mapping[str, int]], ProbeBus]  # (baud rate, name -> ID) -> an unopened bus


def _probe_name(motor_id: int) -> str:
    return f"id{motor_id}"


def find_single_motor(
    open_bus: OpenBus,
    config: MotorSetupConfig,
    wanted: str,
    first_ids: Iterable[int] = (),
    on_progress: Callable[[str], None] | None = None,
) -> tuple[int, int, int]:
    """(baud rate, ID, model) of the one motor on the wire; raises if none or several answer."""
    rates = [config.target_baud] + [b for b in config.baud_codes if b != config.target_baud]
    quick = list(dict.fromkeys([*first_ids, *config.quick_ids]))
    refused: dict[int, str] = {}  # rates the serial port cannot be set to (some adapters, pseudo-terminals)
    for phase, ids in (("quick", quick), ("full", [i for i in config.scan_ids if i not in quick])):
        for baud in rates:
            if baud in refused:
                continue
            if on_progress:
                what = ", ".join(map(str, ids)) if phase == "quick" else f"{len(ids)} more IDs"
                on_progress(f"looking for the motor at {baud} baud (ID {what})")
            bus = open_bus(baud, {_probe_name(i): i for i in ids})
            try:
                bus.open()
            except (RuntimeError, OSError, ValueError) as exc:  # the driver's port error, whatever its type
                refused[baud] = str(exc)
                if on_progress:
                    on_progress(f"skipping {baud} baud: {exc}")
                continue
            try:
                found = {}
                for i in ids:
                    model = bus.ping(_probe_name(i))
                    if model is not None:
                        found[i] = model
                        if phase == "full":  # a full scan costs a timeout per absent ID: stop at the first
                            break
            finally:
                bus.close(torque_off=False)
            if len(found) > 1:
                raise MotorSetupError(
                    f"several motors answered at {baud} baud (IDs {', '.join(map(str, sorted(found)))}): "
                    f"connect only the '{wanted}' motor to the controller board and try again"
                )
            if found:
                ((motor_id, model),) = found.items()
                return baud, motor_id, model
    if len(refused) == len(rates):
        raise MotorSetupError(f"cannot open the port at any baud rate: {refused[config.target_baud]}")
    tried = [b for b in rates if b not in refused]
    raise MotorSetupError(
        f"no motor answered at any baud rate ({', '.join(map(str, tried))}): is the '{wanted}' motor "
        "connected to the controller board with its 3-pin cable, and is the board powered (the servo LED "
        "flashes once at power-up)?"
    )


def setup_motor(
    open_bus: OpenBus,
    name: str,
    target_id: int,
    config: MotorSetupConfig,
    on_progress: Callable[[str], None] | None = None,
) -> MotorSetupResult:
    """Give the single connected motor ID ``target_id`` and the target baud rate, then check it answers so."""
    if config.target_baud not in config.baud_codes:
        raise ValueError(f"baud rate {config.target_baud} is not one of {sorted(config.baud_codes)}")
    baud, motor_id, model = find_single_motor(open_bus, config, name, (target_id,), on_progress)
    if config.expected_model is not None and model != config.expected_model:
        raise MotorSetupError(
            f"the motor connected (ID {motor_id}) is model {model}, not {config.expected_model}: wrong servo "
            f"for the '{name}' joint"
        )
    probe = _probe_name(motor_id)
    bus = open_bus(baud, {probe: motor_id})
    bus.open()
    try:
        code = bus.read("Baud_Rate", probe)
        bus.torque_off([probe])  # EEPROM (ID, Baud_Rate) is writable with torque off and Lock = 0 only
        if motor_id != target_id:
            bus.sync_write("ID", {probe: target_id})
    finally:
        bus.close(torque_off=False)
    _expect(open_bus, baud, target_id, f"after writing ID {target_id} to motor ID {motor_id}", name)
    target_code = config.baud_codes[config.target_baud]
    if code != target_code:
        new = _probe_name(target_id)
        bus = open_bus(baud, {new: target_id})
        bus.open()
        try:
            bus.torque_off([new])
            bus.sync_write("Baud_Rate", {new: target_code})
        finally:
            bus.close(torque_off=False)
        _expect(open_bus, config.target_baud, target_id, f"after setting {config.target_baud} baud", name)
    old_baud = next((b for b, c in config.baud_codes.items() if c == code), baud)
    return MotorSetupResult(name, motor_id, old_baud, target_id, config.target_baud)


def _expect(open_bus: OpenBus, baud: int, motor_id: int, doing: str, name: str) -> None:
    probe = _probe_name(motor_id)
    bus = open_bus(baud, {probe: motor_id})
    bus.open()
    try:
        answered = bus.ping(probe) is not None
    finally:
        bus.close(torque_off=False)
    if not answered:
        raise MotorSetupError(
            f"the '{name}' motor does not answer as ID {motor_id} at {baud} baud {doing}: the EEPROM write did "
            "not take (power it off and on, then run the set-up for this motor again)"
        )
