"""The servo emulator at the byte level: raw protocol-0 packets over the pty, checked against the STS3215 facts.

No SDK here on purpose: these tests pin the emulator to the protocol itself, so the driver tests that run
through the SDK against it are tests against the real byte stream.
"""

from __future__ import annotations

import os
import threading
import time
from multiprocessing import resource_tracker

import pytest
import serial

from so101_deploy.hardware.tables import STS3215_CONTROL_TABLE as REG
from so101_deploy.twin.emulator import EmulatorConfig, EmulatorProcess, Faults, ServoEmulator, checksum


def packet(servo_id: int, instruction: int, *params: int) -> bytes:
    body = bytes([servo_id, len(params) + 2, instruction, *params])
    return b"\xff\xff" + body + bytes([checksum(body)])


def reply(servo_id: int, error: int = 0, *params: int) -> bytes:
    body = bytes([servo_id, len(params) + 2, error, *params])
    return b"\xff\xff" + body + bytes([checksum(body)])


def exchange(ser: serial.Serial, data: bytes, expect: int, timeout: float = 0.5) -> bytes:
    """Send ``data``; collect until ``expect`` bytes arrived or ``timeout``, then a short quiet period."""
    ser.reset_input_buffer()
    ser.write(data)
    got = b""
    deadline = time.monotonic() + timeout
    while len(got) < expect and time.monotonic() < deadline:
        got += ser.read(expect - len(got) or 1)
    time.sleep(0.01)
    return got + ser.read(ser.in_waiting or 0)


@pytest.fixture(autouse=True)
def no_leaks(request):
    if "process" in request.node.name:
        resource_tracker.ensure_running()  # multiprocessing's one helper per session keeps a pipe open by design
    threads, fds = set(threading.enumerate()), len(os.listdir("/proc/self/fd"))
    yield
    assert set(threading.enumerate()) <= threads, "a test left a thread running"
    assert len(os.listdir("/proc/self/fd")) <= fds, "a test left a file descriptor open"


@pytest.fixture
def emu():
    with ServoEmulator(EmulatorConfig(traffic_log=100, speed_ticks_per_s=50_000)) as emulator:
        yield emulator


@pytest.fixture
def ser(emu):
    port = serial.Serial(emu.port, baudrate=1_000_000, timeout=0.05)
    yield port
    port.close()


def test_ping_and_model_number(ser):
    assert packet(1, 0x01) == bytes.fromhex("ffff010201fb")
    assert exchange(ser, packet(1, 0x01), 6) == bytes.fromhex("ffff010200fc")
    # Model_Number (address 3, 2 bytes) = 777 = 0x0309, little-endian
    assert exchange(ser, packet(3, 0x02, 3, 2), 8) == reply(3, 0, 0x09, 0x03)
    # firmware bytes at 0 and 1
    assert exchange(ser, packet(2, 0x02, 0, 2), 8) == reply(2, 0, 3, 10)


def test_sync_read_reference_packet_each_servo_answers_in_order(ser):
    request = bytes.fromhex("ff ff fe 0a 82 38 02 01 02 03 04 05 06 26")  # REFERENCE.md example
    assert packet(0xFE, 0x82, 0x38, 2, 1, 2, 3, 4, 5, 6) == request
    answer = exchange(ser, request, 6 * 8)
    assert answer == b"".join(reply(i, 0, 0x00, 0x08) for i in range(1, 7))  # 2048 each


def test_sync_read_skips_a_missing_servo_and_the_rest_still_answer(emu, ser):
    emu.faults.missing.add(3)
    answer = exchange(ser, packet(0xFE, 0x82, 56, 2, 1, 2, 3, 4), 3 * 8)
    assert answer == reply(1, 0, 0, 8) + reply(2, 0, 0, 8) + reply(4, 0, 0, 8)


def test_bad_checksum_and_malformed_packets_get_no_reply(emu, ser):
    good = packet(1, 0x01)
    assert exchange(ser, good[:-1] + bytes([good[-1] ^ 0xFF]), 6, timeout=0.05) == b""
    assert exchange(ser, packet(1, 0x02, 56), 8, timeout=0.05) == b""  # READ without length
    assert exchange(ser, packet(0xFE, 0x02, 56, 2), 8, timeout=0.05) == b""  # READ cannot be broadcast
    assert exchange(ser, packet(1, 0x7A), 6, timeout=0.05) == b""  # unknown instruction
    assert exchange(ser, b"\xff\xff\x01\x01\xfd", 6, timeout=0.05) == b""  # LEN < 2
    assert exchange(ser, packet(9, 0x01), 6, timeout=0.05) == b""  # nobody has ID 9
    # garbage and a broken packet before a good one: the servo resyncs on the header
    assert exchange(ser, b"\x00\x13\xff" + good[:-1] + b"\x00" + good, 6) == reply(1)
    assert emu.stats["bad_checksum"] >= 2 and emu.stats["malformed"] >= 3


def test_sync_write_and_broadcast_write_have_no_reply_and_apply(emu, ser):
    # SYNC_WRITE Acceleration (41, 1 byte) = 10 + id on ids 1..3
    assert exchange(ser, packet(0xFE, 0x83, 41, 1, 1, 11, 2, 12, 3, 13), 6, timeout=0.05) == b""
    assert [emu.servo(i).peek("Acceleration") for i in (1, 2, 3, 4)] == [11, 12, 13, 0]
    assert exchange(ser, packet(0xFE, 0x03, 41, 77), 6, timeout=0.05) == b""
    assert {s.peek("Acceleration") for s in emu.servos} == {77}
    # a SYNC_WRITE whose parameter count does not fit its data length is ignored entirely
    assert exchange(ser, packet(0xFE, 0x83, 41, 1, 1, 5, 2), 6, timeout=0.05) == b""
    assert emu.servo(1).peek("Acceleration") == 77


def test_reg_write_waits_for_action(emu, ser):
    assert exchange(ser, packet(2, 0x04, 41, 42), 6) == reply(2)
    assert emu.servo(2).peek("Acceleration") == 0
    assert exchange(ser, packet(0xFE, 0x05), 6, timeout=0.05) == b""  # broadcast ACTION: no reply
    assert emu.servo(2).peek("Acceleration") == 42


def test_eeprom_needs_lock_zero_and_torque_off(emu, ser):
    servo = emu.servo(1)
    assert servo.peek("Lock") == 1 and servo.peek("Return_Delay_Time") == 250
    assert exchange(ser, packet(1, 0x03, 7, 0), 6) == reply(1)  # acknowledged, but locked
    assert servo.peek("Return_Delay_Time") == 250
    exchange(ser, packet(1, 0x03, 55, 0), 6)  # Lock = 0
    exchange(ser, packet(1, 0x03, 7, 0), 6)
    assert servo.peek("Return_Delay_Time") == 0
    exchange(ser, packet(1, 0x03, 40, 1), 6)  # torque on: EEPROM closed again
    exchange(ser, packet(1, 0x03, 7, 9), 6)
    assert servo.peek("Return_Delay_Time") == 0
    exchange(ser, packet(1, 0x03, 3, 0, 0), 6)  # Model_Number is read-only
    assert servo.peek("Model_Number") == 777


def test_homing_offset_shifts_present_position_sign_magnitude(emu, ser):
    servo = emu.servo(4)
    exchange(ser, packet(4, 0x03, 55, 0), 6)
    raw = (1 << 11) | 100  # Homing_Offset = -100, sign at bit 11
    assert REG["Homing_Offset"].encode(-100) == raw
    exchange(ser, packet(4, 0x03, 31, raw & 0xFF, raw >> 8), 6)
    assert servo.peek("Homing_Offset") == -100
    # Present = actual - offset = 2048 + 100
    assert exchange(ser, packet(4, 0x02, 56, 2), 8) == reply(4, 0, 2148 & 0xFF, 2148 >> 8)
    # wraps within one turn: actual 4000 - (-100) = 4100 -> 4
    emu.backend.place(4, 4000)
    assert servo.peek("Present_Position") == 4
    # multi-turn feedback (Phase bit 4) reports it unwrapped instead
    servo.poke("Phase", 0x1C)
    assert servo.peek("Present_Position") == 4100


def test_goal_clamped_to_limits_and_motion_at_speed(emu, ser):
    servo = emu.servo(5)
    exchange(ser, packet(5, 0x03, 55, 0), 6)
    exchange(ser, packet(5, 0x03, 9, 1000 & 0xFF, 1000 >> 8), 6)  # Min_Position_Limit 1000
    exchange(ser, packet(5, 0x03, 11, 3000 & 0xFF, 3000 >> 8), 6)  # Max_Position_Limit 3000
    exchange(ser, packet(5, 0x03, 40, 1), 6)  # torque on holds the present position
    assert servo.peek("Goal_Position") == 2048
    exchange(ser, packet(5, 0x03, 42, 3500 & 0xFF, 3500 >> 8), 6)
    assert servo.peek("Goal_Position") == 3000
    deadline = time.monotonic() + 1.0
    while servo.peek("Present_Position") != 3000 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert servo.peek("Present_Position") == 3000 and servo.peek("Moving") == 0
    # torque off: the joint stays where a hand puts it
    exchange(ser, packet(5, 0x03, 40, 0), 6)
    emu.backend.place(5, 1234)
    assert servo.peek("Present_Position") == 1234


def test_faults_error_bits_corruption_and_silence(emu, ser):
    emu.faults.error_bits[2] = 0x24  # overheat + overload
    assert exchange(ser, packet(2, 0x01), 6) == reply(2, 0x24)
    emu.faults.corrupt_probability = 1.0
    got = exchange(ser, packet(1, 0x01), 6)
    assert len(got) == 6 and got[:5] == reply(1)[:5] and checksum(got[2:-1]) != got[-1]
    emu.faults.corrupt_probability = 0.0
    emu.faults.silent_after[3] = 2
    assert exchange(ser, packet(3, 0x01), 6) == reply(3)
    assert exchange(ser, packet(3, 0x01), 6) == reply(3)
    assert exchange(ser, packet(3, 0x01), 6, timeout=0.05) == b""
    assert 3 in emu.faults.missing


def test_extra_latency_delays_the_reply(emu, ser):
    emu.faults.extra_latency_s[1] = 0.03
    t0 = time.monotonic()
    assert exchange(ser, packet(1, 0x01), 6) == reply(1)
    assert time.monotonic() - t0 >= 0.03


def test_pacing_honours_return_delay_and_baud_rate():
    config = EmulatorConfig(pace=True)  # factory Return_Delay_Time 250 = 500 us per servo
    with ServoEmulator(config) as emu, serial.Serial(emu.port, 1_000_000, timeout=0.05) as ser:
        request = packet(0xFE, 0x82, 56, 2, 1, 2, 3, 4, 5, 6)
        best = min(_timed(ser, request, 48) for _ in range(5))
    wire = (len(request) + 48) * 10e-6  # 10 bits per byte at 1 Mbaud
    assert best >= wire + 6 * 500e-6  # a real bus cannot answer sooner


def _timed(ser: serial.Serial, request: bytes, expect: int) -> float:
    ser.reset_input_buffer()
    t0 = time.perf_counter()
    ser.write(request)
    got = b""
    while len(got) < expect:
        got += ser.read(expect - len(got))
    return time.perf_counter() - t0


def test_emulator_process_serves_and_stops():
    proc = EmulatorProcess(EmulatorConfig(servo_ids=(1, 2), faults=Faults(error_bits={2: 0x01})))
    with proc, serial.Serial(proc.port, 1_000_000, timeout=0.05) as ser:
        assert exchange(ser, packet(2, 0x01), 6) == reply(2, 0x01)
        child = proc._proc
        assert child is not None and child.is_alive()
    assert proc._proc is None
