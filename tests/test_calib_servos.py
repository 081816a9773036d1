"""The servo calibration procedure on the emulator through the real Feetech SDK, with scripted joint sweeps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from calibration.servos import (
    EncoderSpec,
    MotorSetupConfig,
    MotorSetupError,
    OffsetOutOfRangeError,
    ServoCalibration,
    ServoCalibrationConfig,
    ServoCalibrationError,
    SweepError,
    setup_motor,
    verify_calibration,
    write_calibration,
)
from robot.encoder import TICKS_PER_TURN
from robot.so101 import SERVO_IDS
from so101_deploy.hardware.arm import Arm
from so101_deploy.hardware.bus import BusConfig, FeetechBus
from so101_deploy.hardware.calibration_file import (
    MAX_HOMING_OFFSET,
    MotorCalibration,
    load_calibration,
    save_calibration,
)
from so101_deploy.hardware.tables import BAUD_RATE_CODES, STS3215_MODEL_NUMBER
from so101_deploy.twin.emulator import EmulatorConfig, ServoEmulator

ENCODER = EncoderSpec(TICKS_PER_TURN, MAX_HOMING_OFFSET)
FIXTURE = Path(__file__).parent / "fixtures" / "lerobot_so_follower_calibration.json"
FAST = ServoCalibrationConfig(sample_hz=1000.0)

# Encoder ticks (unwrapped) of each joint when the operator has centred it: where the horn happened to be
# mounted. The gripper's is beyond one turn: the servo reads it modulo 4096.
CENTRE = {1: 3517, 2: 1894, 3: 820, 4: 181, 5: 474, 6: 4096 + 956}
# How far each joint is swept either way from the centre (ticks): (down, up). wrist_roll is not swept.
SWEEP = {1: (-1250, 1250), 2: (-1235, 1100), 3: (-1100, 1100), 4: (-1180, 1180), 5: (0, 0), 6: (-60, 1300)}
CENTRE_TICK = 2047


def expected_entries() -> dict[str, MotorCalibration]:
    out = {}
    for name, mid in SERVO_IDS.items():
        offset = CENTRE[mid] % 4096 - CENTRE_TICK
        low, high = (
            (0, 4095) if name == "wrist_roll" else (CENTRE_TICK + SWEEP[mid][0], CENTRE_TICK + SWEEP[mid][1])
        )
        out[name] = MotorCalibration(mid, 0, offset, low, high)
    return out


def sweep_waypoints(sweep=SWEEP, steps: int = 12) -> list[dict[int, float]]:
    """centre -> low end -> high end -> centre for every joint at once, as an operator's hand would."""
    path = np.concatenate(
        [np.linspace(0, -1, steps), np.linspace(-1, 1, 2 * steps), np.linspace(1, 0, steps)]
    )
    out = []
    for s in path:
        out.append({mid: CENTRE[mid] + (lo * -s if s < 0 else hi * s) for mid, (lo, hi) in sweep.items()})
    return out


class ScriptedOperator:
    """Moves emulated joints as an operator would: a centring pose per request, then one waypoint per sample."""

    def __init__(self, emu: ServoEmulator, poses: list[dict[int, float]], waypoints: list[dict[int, float]]):
        self.backend, self.poses, self.waypoints = emu.backend, list(poses), waypoints
        self.problems: list[str | None] = []
        self.snapshots = []

    def centre(self, problem):
        self.problems.append(problem)
        for key, ticks in self.poses.pop(0).items():
            self.backend.place(key, ticks)

    def sweep(self, snapshot):
        self.snapshots.append(snapshot)
        k = snapshot.samples - 1
        if k < len(self.waypoints):
            for key, ticks in self.waypoints[k].items():
                self.backend.place(key, ticks)
        return k >= len(self.waypoints)


pytestmark = pytest.mark.usefixtures("no_thread_leaks")


@pytest.fixture
def emu():
    # Factory state, with the joints wherever they were left: not centred.
    with ServoEmulator(EmulatorConfig(initial_ticks={i: 3000.0 for i in range(1, 7)})) as emulator:
        yield emulator


def connect(port: str) -> FeetechBus:
    return FeetechBus(BusConfig(port=port, packet_timeout_ms=100, retries=3))


def eeprom(emu, mid: int) -> tuple[int, int, int]:
    servo = emu.servo(mid)
    return servo.peek("Homing_Offset"), servo.peek("Min_Position_Limit"), servo.peek("Max_Position_Limit")


def test_scripted_calibration_gives_lerobots_offsets_and_ranges_and_a_file_it_reads(emu, tmp_path):
    operator = ScriptedOperator(emu, [CENTRE], sweep_waypoints())
    with connect(emu.port) as bus:
        entries = ServoCalibration(bus, ENCODER, FAST).run(operator)
        expected = expected_entries()
        assert {n: MotorCalibration(**vars(e)) for n, e in entries.items()} == expected
        assert operator.problems == [None]
        # the live table saw every joint's min / now / max; wrist_roll is shown as the fixed full turn
        last = operator.snapshots[-1].joints
        assert last["elbow_flex"].low == CENTRE_TICK - 1100 and last["elbow_flex"].now == CENTRE_TICK
        assert last["wrist_roll"].full_turn and (last["wrist_roll"].low, last["wrist_roll"].high) == (0, 4095)
        # EEPROM holds the offsets and limits, locked again
        for name, cal in expected.items():
            assert eeprom(emu, cal.id) == (cal.homing_offset, cal.range_min, cal.range_max), name
            assert emu.servo(cal.id).peek("Lock") == 1 and emu.servo(cal.id).peek("Torque_Enable") == 0
        # The file is LeRobot's format: same motors, same key order, integers, 4-space indent.
        path = save_calibration(
            {n: MotorCalibration(**vars(e)) for n, e in entries.items()}, tmp_path / "a.json"
        )
        ours, lerobot = json.loads(path.read_text()), json.loads(FIXTURE.read_text())
        assert list(ours) == list(lerobot)
        assert all(list(ours[m]) == list(lerobot[m]) for m in ours)
        assert path.read_text().splitlines()[1] == '    "shoulder_pan": {'
        assert load_calibration(path) == expected
        # ...and the runtime's arm reads the centred pose (the middle of each symmetric sweep) as sim zero
        arm = Arm(bus, load_calibration(path))
        assert arm.calibration_mismatches() == []
        rad = arm.read_rad()
        assert np.allclose(rad[[0, 2, 3, 4]], 0.0, atol=2e-3)


def test_an_offset_the_register_cannot_hold_asks_to_recentre(emu):
    bad = {**CENTRE, 1: 4095}  # reads 4095: offset 2048 > 2047
    operator = ScriptedOperator(emu, [bad, CENTRE], sweep_waypoints())
    with connect(emu.port) as bus:
        entries = ServoCalibration(bus, ENCODER, FAST).run(operator)
    assert operator.problems[0] is None
    assert "'shoulder_pan' (ID 1) reads 4095, offset +2048" in operator.problems[1]
    assert "beyond the +-2047" in operator.problems[1] and "towards the middle" in operator.problems[1]
    assert entries["shoulder_pan"].homing_offset == 3517 - CENTRE_TICK


def test_recentring_gives_up_after_the_configured_attempts(emu):
    bad = {**CENTRE, 4: 4095}
    operator = ScriptedOperator(emu, [bad, bad], [])
    with connect(emu.port) as bus, pytest.raises(OffsetOutOfRangeError) as info:
        ServoCalibration(bus, ENCODER, ServoCalibrationConfig(centre_attempts=2)).run(operator)
    assert info.value.offsets["wrist_flex"] == 2048
    assert eeprom(emu, 4) == (0, 0, 4095)  # nothing written for a centring that failed


def test_a_joint_that_never_moved_is_named_and_nothing_is_written(emu):
    still = {**SWEEP, 3: (0, 0)}
    operator = ScriptedOperator(emu, [CENTRE], sweep_waypoints(still))
    with connect(emu.port) as bus, pytest.raises(SweepError) as info:
        ServoCalibration(bus, ENCODER, FAST).run(operator)
    message = str(info.value)
    assert "'elbow_flex' (ID 3) never moved (min 2047, max 2047)" in message
    assert "sweep it from one end stop to the other" in message and "shoulder_pan" not in message
    assert eeprom(emu, 3)[1:] == (0, 4095)  # limits not written


def test_a_reading_that_wraps_around_is_caught(emu):
    # wrist_flex centred near one end of its travel: sweeping up goes past half a turn and wraps 4095 -> 0
    wrapping = {**SWEEP, 4: (-100, 2300)}
    operator = ScriptedOperator(emu, [CENTRE], sweep_waypoints(wrapping, steps=20))
    with connect(emu.port) as bus, pytest.raises(SweepError) as info:
        ServoCalibration(bus, ENCODER, FAST).run(operator)
    assert "'wrist_flex' (ID 4) jumped from" in str(info.value)
    assert "wrapped around 0/4095" in str(info.value) and "Re-centre it" in str(info.value)


def test_import_writes_a_lerobot_file_to_the_servos_and_verify_reports_each_motor(emu):
    lerobot = load_calibration(FIXTURE)
    with connect(emu.port) as bus:
        before = verify_calibration(bus, lerobot)
        assert [c.ok for c in before] == [False] * 6  # factory EEPROM
        assert before[0].differences["Homing_Offset"] == (-1470, 0)
        write_calibration(bus, lerobot)
        for cal in lerobot.values():
            assert eeprom(emu, cal.id) == (cal.homing_offset, cal.range_min, cal.range_max)
            assert emu.servo(cal.id).peek("Lock") == 1
        assert all(c.ok for c in verify_calibration(bus, lerobot))
        emu.servo(3).poke("Max_Position_Limit", 3000)  # someone changed one servo behind our back
        checks = {c.name: c for c in verify_calibration(bus, lerobot)}
        assert not checks["elbow_flex"].ok and checks["elbow_flex"].differences == {
            "Max_Position_Limit": (3152, 3000)
        }
        assert all(c.ok for n, c in checks.items() if n != "elbow_flex")
        # a file for another robot (IDs shifted) is refused before anything is written
        wrong = {**lerobot, "gripper": MotorCalibration(7, 0, 0, 1990, 3352)}
        with pytest.raises(ServoCalibrationError, match="'gripper' has id 7 in the file but ID 6 on the bus"):
            write_calibration(bus, wrong)


# -- motor set-up ------------------------------------------------------------------------------------------
def opener(port: str):
    return lambda baud, motors: FeetechBus(
        BusConfig(
            port=port, baudrate=baud, motors=dict(motors), packet_timeout_ms=20, retries=1, drain_ms=0.5
        )
    )


SETUP = MotorSetupConfig(baud_codes=dict(BAUD_RATE_CODES), expected_model=STS3215_MODEL_NUMBER)


def test_a_new_servo_gets_its_joints_id():
    with ServoEmulator(EmulatorConfig(servo_ids=(1,))) as emu:  # new servos ship as ID 1 at 1 Mbaud
        result = setup_motor(opener(emu.port), "wrist_flex", 4, SETUP)
        assert emu.servos[0].id == 4 and emu.servos[0].peek("Baud_Rate") == 0
        assert (result.old_id, result.new_id, result.new_baud, result.changed) == (1, 4, 1_000_000, True)
        again = setup_motor(opener(emu.port), "wrist_flex", 4, SETUP)  # idempotent
        assert not again.changed


def test_a_servo_with_another_id_and_baud_rate_is_found_and_reset():
    overrides = {9: {"Baud_Rate": BAUD_RATE_CODES[115_200]}}
    with ServoEmulator(EmulatorConfig(servo_ids=(9,), register_overrides=overrides)) as emu:
        progress = []
        result = setup_motor(opener(emu.port), "shoulder_lift", 2, SETUP, progress.append)
        assert emu.servos[0].id == 2 and emu.servos[0].peek("Baud_Rate") == 0
        assert (result.old_id, result.old_baud) == (9, 115_200)
        assert any("more IDs" in p for p in progress)  # found by the full scan


def test_setup_refuses_when_several_motors_are_connected():
    with (
        ServoEmulator(EmulatorConfig()) as emu,
        pytest.raises(MotorSetupError, match="connect only the 'gripper'"),
    ):
        setup_motor(opener(emu.port), "gripper", 6, SETUP)
