"""The bus driver through the real Feetech SDK, against the emulator over a real pseudo-terminal. No mocks."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time

import pytest

from robot.so101 import SERVO_IDS
from so101_deploy.hardware.bus import BusConfig, FeetechBus
from so101_deploy.hardware.errors import (
    EepromWriteError,
    FirmwareMismatchError,
    ModelMismatchError,
    MotorCorruptReplyError,
    MotorNotFoundError,
    MotorOverheatError,
    MotorOverloadError,
    MotorStatusError,
    MotorTimeoutError,
    MotorVoltageError,
    PortError,
)
from so101_deploy.hardware.tables import STS3215_CONTROL_TABLE, Instruction
from so101_deploy.twin.emulator import EmulatorConfig, ServoEmulator

TIMEOUT_MS = 100.0  # generous: test machines are shared and busy; a real bus answers in well under 1 ms
RETRIES = 3  # a loaded 2-core machine can stall a thread for 100+ ms; four stalls in a row do not happen
DRAIN_MS = 1.0
WORST_CASE_S = (1 + RETRIES) * (TIMEOUT_MS + DRAIN_MS) / 1000  # a silent servo costs at most this per call


@pytest.fixture(autouse=True)
def no_leaks():
    threads, fds = set(threading.enumerate()), len(os.listdir("/proc/self/fd"))
    yield
    assert set(threading.enumerate()) <= threads, "a test left a thread running"
    assert len(os.listdir("/proc/self/fd")) <= fds, "a test left a file descriptor open"


def eventually(condition, timeout_s: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.002)
    return condition()


def bus_config(port: str, **kw) -> BusConfig:
    return BusConfig(
        **{"port": port, "packet_timeout_ms": TIMEOUT_MS, "retries": RETRIES, "drain_ms": DRAIN_MS, **kw}
    )


@pytest.fixture
def emu():
    with ServoEmulator(EmulatorConfig(speed_ticks_per_s=40_000, traffic_log=200)) as emulator:
        yield emulator


@pytest.fixture
def bus(emu):
    b = FeetechBus(bus_config(emu.port))
    b.connect()
    yield b
    b.close()


# -- connect -----------------------------------------------------------------------------------------------
def test_connect_reads_model_and_firmware(bus):
    assert set(bus.info) == set(SERVO_IDS)
    assert {(m.motor_id, m.model, m.firmware) for m in bus.info.values()} == {
        (i, 777, (3, 10)) for i in range(1, 7)
    }


def test_missing_motor_is_named_with_the_ids_that_answered(emu):
    emu.faults.missing.add(3)
    bus = FeetechBus(bus_config(emu.port))
    with pytest.raises(MotorNotFoundError) as err:
        bus.connect()
    assert err.value.missing == {"elbow_flex": 3}
    assert err.value.answered == [1, 2, 4, 5, 6]
    msg = str(err.value)
    assert "'elbow_flex' (ID 3)" in msg and "IDs that answered: 1, 2, 4, 5, 6" in msg
    assert not bus.is_open  # a failed connect releases the port


def test_no_motor_at_all_says_check_power_and_port(emu):
    emu.faults.missing.update(range(1, 7))
    with pytest.raises(MotorNotFoundError, match="no motor answered at 1000000 baud: is the arm powered"):
        FeetechBus(BusConfig(port=emu.port, packet_timeout_ms=15, retries=RETRIES)).connect()


def test_wrong_model_and_mixed_firmware_are_refused():
    wrong = pytest.raises(ModelMismatchError, match=r"'shoulder_pan' \(ID 1\) is model 1284, expected 777")
    with ServoEmulator(EmulatorConfig(model_number=1284)) as emu, wrong:
        FeetechBus(bus_config(emu.port)).connect()
    overrides = {5: {"Firmware_Minor_Version": 9}}
    with ServoEmulator(EmulatorConfig(register_overrides=overrides)) as emu:
        with pytest.raises(FirmwareMismatchError, match=r"wrist_roll \(ID 5\) 3\.9"):
            FeetechBus(bus_config(emu.port)).connect()
        info = FeetechBus(bus_config(emu.port, require_same_firmware=False))
        assert info.connect()["wrist_roll"].firmware == (3, 9)
        info.close()


def test_missing_port_lists_ports_and_says_what_to_do():
    with pytest.raises(
        PortError, match=r"/dev/ttyNOPE does not exist \(ports found: .*\); plug the bus adapter in"
    ):
        FeetechBus(BusConfig(port="/dev/ttyNOPE")).connect()


# -- configure, read, write --------------------------------------------------------------------------------
def test_configure_applies_lerobot_setup_and_clears_phase_bit_4():
    overrides = {4: {"Phase": 0x1C}}
    with (
        ServoEmulator(EmulatorConfig(register_overrides=overrides)) as emu,
        FeetechBus(bus_config(emu.port)) as bus,
    ):
        bus.configure()
        for name, mid in SERVO_IDS.items():
            servo = emu.servo(mid)
            got = {r: servo.peek(r) for r in ("Return_Delay_Time", "Acceleration", "Maximum_Acceleration")}
            assert got == {"Return_Delay_Time": 0, "Acceleration": 254, "Maximum_Acceleration": 254}
            assert (
                servo.peek("P_Coefficient"),
                servo.peek("I_Coefficient"),
                servo.peek("D_Coefficient"),
            ) == (16, 0, 32)
            limits = (
                servo.peek("Max_Torque_Limit"),
                servo.peek("Protection_Current"),
                servo.peek("Overload_Torque"),
            )
            assert limits == ((500, 250, 25) if name == "gripper" else (1000, 500, 80))
            assert servo.peek("Phase") == 0x0C  # bit 4 cleared, the others kept
            assert servo.peek("Torque_Enable") == 0


def test_single_register_round_trips_with_sign_magnitude(emu, bus):
    bus.write("Acceleration", "wrist_flex", 100)
    assert bus.read("Acceleration", "wrist_flex") == 100
    bus.write("Goal_Velocity", "gripper", -500)
    raw = emu.servo(6).memory[46] | emu.servo(6).memory[47] << 8
    assert raw == (1 << 15) | 500 and bus.read("Goal_Velocity", "gripper") == -500
    bus.torque_off()
    bus.write("Homing_Offset", "elbow_flex", -321)  # EEPROM: written and read back
    assert emu.servo(3).peek("Homing_Offset") == -321
    assert bus.read("Present_Position", "elbow_flex") == 2048 + 321
    with pytest.raises(ValueError, match="did you mean 'Goal_Position'"):
        bus.read("Goal_Positon", "gripper")
    with pytest.raises(ValueError, match="did you mean 'gripper'"):
        bus.read("Goal_Position", "griper")


def test_eeprom_write_with_torque_on_is_reported(bus):
    bus.torque_on(["shoulder_lift"])
    with pytest.raises(EepromWriteError, match=r"'shoulder_lift' \(ID 2\) kept Return_Delay_Time=250"):
        bus.write("Return_Delay_Time", "shoulder_lift", 0)


def test_sync_read_is_one_transaction_and_goals_move_the_joints(emu, bus):
    emu.traffic.clear()
    before = emu.count(Instruction.SYNC_READ)
    assert bus.read_positions() == {name: 2048 for name in SERVO_IDS}
    assert emu.count(Instruction.SYNC_READ) == before + 1
    sent = [data for direction, data in emu.traffic if direction == "rx"]
    assert sent == [bytes.fromhex("ff ff fe 0a 82 38 02 01 02 03 04 05 06 26")]  # the REFERENCE packet
    telemetry = bus.read_telemetry()
    assert emu.count(Instruction.SYNC_READ) == before + 2
    assert telemetry["gripper"] == {
        "Present_Position": 2048,
        "Present_Velocity": 0,
        "Present_Load": 0,
        "Present_Voltage": 120,
        "Present_Temperature": 30,
        "Status": 0,
        "Moving": 0,
        "Present_Current": 0,
    }
    goals = {name: 1000 + 300 * i for i, name in enumerate(SERVO_IDS)}
    bus.torque_on()
    assert all(emu.servo(i).peek("Lock") == 1 for i in range(1, 7))
    bus.write_goal_positions(goals)
    assert eventually(lambda: emu.count(Instruction.SYNC_WRITE) == 1)  # no reply: wait for the emulator
    deadline = time.monotonic() + 2.0
    while bus.read_positions() != goals and time.monotonic() < deadline:
        time.sleep(0.01)
    assert bus.read_positions() == goals
    bus.torque_off()
    assert all(
        emu.servo(i).peek("Torque_Enable") == 0 and emu.servo(i).peek("Lock") == 0 for i in range(1, 7)
    )


def test_concurrent_threads_share_the_port_safely(emu, bus):
    errors: list[BaseException] = []

    def hammer(offset: int) -> None:
        try:
            for k in range(60):
                bus.read_positions()
                bus.write("Acceleration", "wrist_roll", (offset + k) % 200)
                bus.read("Present_Temperature", "gripper")
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(i * 7,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert emu.stats["bad_checksum"] == 0 and emu.stats["garbage_bytes"] == 0  # never interleaved


# -- faults ------------------------------------------------------------------------------------------------
def test_dropped_replies_are_retried_transparently(emu):
    emu.faults.drop_probability = 0.2
    emu.faults.flaky_ids = {2, 5}
    with FeetechBus(
        BusConfig(port=emu.port, packet_timeout_ms=TIMEOUT_MS, retries=4, drain_ms=DRAIN_MS)
    ) as bus:
        for _ in range(25):
            assert bus.read_positions() == {name: 2048 for name in SERVO_IDS}
        assert bus.stats["timeout"] > 0 and bus.stats["retries"] == bus.stats["timeout"]
    assert emu.stats["dropped"] > 0


def test_a_reply_that_never_comes_names_the_motor(emu, bus):
    emu.faults.drop_probability = 1.0
    emu.faults.flaky_ids = {2}
    with pytest.raises(
        MotorTimeoutError, match=r"'shoulder_lift' \(ID 2\) did not answer while sync-reading"
    ) as err:
        bus.read_positions()
    assert (err.value.motor, err.value.motor_id) == ("shoulder_lift", 2)
    assert "shoulder_pan answered before it" in str(err.value)


def test_corrupted_replies_retry_then_raise_corrupt_error(emu, bus):
    emu.faults.flaky_ids = {4}
    emu.faults.corrupt_probability = 0.3
    for _ in range(20):
        with contextlib.suppress(MotorCorruptReplyError):  # 0.3**3 per read: rare, allowed
            assert bus.read("Present_Position", "wrist_flex") == 2048
    assert bus.stats["corrupt"] > 0
    emu.faults.corrupt_probability = 1.0
    with pytest.raises(MotorCorruptReplyError, match=r"'wrist_flex' \(ID 4\) sent corrupted replies"):
        bus.read_positions()
    emu.faults.corrupt_probability = 0.0
    assert bus.read_positions()["wrist_flex"] == 2048  # recovers once the line is clean


@pytest.mark.parametrize(
    ("bits", "error_type", "words"),
    [
        (0x20, MotorOverloadError, "overload"),
        (0x04, MotorOverheatError, "overheat"),
        (0x01, MotorVoltageError, "input voltage"),
        (0x24, MotorOverheatError, "overheat, overload"),
    ],
)
def test_status_error_bits_raise_typed_errors_naming_the_motor(emu, bus, bits, error_type, words):
    emu.faults.error_bits[6] = bits
    with pytest.raises(error_type) as err:
        bus.read_positions()
    assert isinstance(err.value, MotorStatusError) and err.value.motor == "gripper" and err.value.bits == bits
    assert f"'gripper' (ID 6) reports {words}" in str(err.value)
    assert err.value.values["gripper"]["Present_Position"] == 2048  # the data came anyway
    bus.torque_off()  # switching torque off never fails on status bits


def test_status_bits_outside_the_mask_are_not_raised(emu):
    emu.faults.error_bits[1] = 0x01
    with FeetechBus(bus_config(emu.port, status_error_mask=0x2E)) as bus:
        assert bus.read_positions()["shoulder_pan"] == 2048


def test_latency_below_the_timeout_is_fine_above_it_times_out(emu, bus):
    emu.faults.extra_latency_s[3] = 0.004
    assert bus.read_positions()["elbow_flex"] == 2048
    emu.faults.extra_latency_s[3] = 0.6  # later than all four attempts: no late reply lands in a retry
    t0 = time.monotonic()
    with pytest.raises(MotorTimeoutError, match="'elbow_flex'"):
        bus.read_positions()
    assert time.monotonic() - t0 < WORST_CASE_S + 0.2
    emu.faults.extra_latency_s.clear()
    time.sleep(0.9)  # the late replies arrive (and are dropped by the re-synchronisation)
    emu.servo(3).poke("Homing_Offset", 48)
    assert bus.read_positions()["elbow_flex"] == 2000  # fresh data, not a late reply from before


def test_a_late_reply_is_never_taken_for_the_next_answer(emu):
    # The link freezes for 100 ms: the reply to a read of Acceleration comes after the driver gave up, just
    # when it asks the same motor for Lock (same length). Without re-synchronisation it would read 5 as Lock.
    with FeetechBus(bus_config(emu.port, retries=0, packet_timeout_ms=60)) as bus:
        bus.write("Acceleration", "shoulder_lift", 5)
        emu.faults.stall_s = 0.1
        with pytest.raises(MotorTimeoutError, match="'shoulder_lift'"):
            bus.read("Acceleration", "shoulder_lift")
        assert bus.read("Lock", "shoulder_lift") == 1
        assert bus.stats["stale_replies"] >= 1 and bus.stats["resyncs"] == 1


def test_servo_dying_mid_run_surfaces_within_bounded_time(emu, bus):
    emu.faults.silent_after[5] = 25
    t_fail = None
    with pytest.raises(MotorTimeoutError) as err:
        for _ in range(100):
            t_fail = time.monotonic()
            bus.read_positions()
    assert (err.value.motor, err.value.motor_id) == ("wrist_roll", 5)
    assert time.monotonic() - t_fail < WORST_CASE_S + 0.2
    assert emu.count(Instruction.SYNC_READ) > 25


def test_port_vanishing_is_a_port_error_and_close_still_works(emu):
    bus = FeetechBus(bus_config(emu.port))
    bus.connect()
    emu.stop()  # like pulling the USB cable
    with pytest.raises(PortError):
        bus.read_positions()
    bus.close()
    assert not bus.is_open


def test_the_deploy_path_imports_no_torch():
    code = (
        "import sys\n"
        "import so101_deploy.hardware.arm, so101_deploy.hardware.bus, so101_deploy.hardware.camera\n"
        "import so101_deploy.hardware.calibration_file, so101_deploy.twin.emulator, so101_deploy.twin.mjpeg\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_register_table_addresses_match_the_reference():
    table = {name: (reg.address, reg.size) for name, reg in STS3215_CONTROL_TABLE.items()}
    expected = {
        "ID": (5, 1), "Baud_Rate": (6, 1), "Return_Delay_Time": (7, 1), "Min_Position_Limit": (9, 2),
        "Max_Position_Limit": (11, 2), "Max_Torque_Limit": (16, 2), "Phase": (18, 1), "P_Coefficient": (21, 1),
        "D_Coefficient": (22, 1), "I_Coefficient": (23, 1), "Protection_Current": (28, 2), "Homing_Offset": (31, 2),
        "Operating_Mode": (33, 1), "Overload_Torque": (36, 1), "Torque_Enable": (40, 1), "Acceleration": (41, 1),
        "Goal_Position": (42, 2), "Goal_Time": (44, 2), "Goal_Velocity": (46, 2), "Torque_Limit": (48, 2),
        "Lock": (55, 1), "Present_Position": (56, 2), "Present_Velocity": (58, 2), "Present_Load": (60, 2),
        "Present_Voltage": (62, 1), "Present_Temperature": (63, 1), "Status": (65, 1), "Moving": (66, 1),
        "Present_Current": (69, 2), "Maximum_Acceleration": (85, 1),
    }  # fmt: skip
    assert {k: table[k] for k in expected} == expected
    sign_bits = {n: r.sign_bit for n, r in STS3215_CONTROL_TABLE.items() if r.sign_bit is not None}
    assert sign_bits == {
        "Homing_Offset": 11, "Goal_Position": 15, "Goal_Velocity": 15,
        "Present_Position": 15, "Present_Velocity": 15, "Present_Load": 10,
    }  # fmt: skip
