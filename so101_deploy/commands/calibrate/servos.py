"""`so101 calibrate servos`: LeRobot-compatible homing and ranges (calibration.servos) with a live table;
--import-lerobot adopts a file, --verify compares the servos' EEPROM with it and, with --camera, checks
wrist_roll's zero from the wrist image (calibration.wrist_roll)."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from robot.encoder import MAX_TICK
from so101_deploy.commands.calibrate.drives import BusArm
from so101_deploy.commands.calibrate.shared import (
    CALIBRATION_HELP,
    PORT_OPTION,
    calibration_file,
    camera_calibration_file,
    connect,
    console,
    fail,
    load_camera_calibration,
    load_servo_calibration,
)
from so101_deploy.numeric_options import numeric_option, packet_timeout_option

CAMERA_CALIBRATION_HINT = "; `so101 calibrate camera` writes it (--camera-calibration to point at it)"


def _encoder():
    from calibration.servos import EncoderSpec
    from robot.encoder import TICKS_PER_TURN
    from so101_deploy.hardware.calibration_file import MAX_HOMING_OFFSET

    return EncoderSpec(TICKS_PER_TURN, MAX_HOMING_OFFSET)


def _to_motor_calibration(entries):
    from so101_deploy.hardware.calibration_file import MotorCalibration

    return {name: MotorCalibration(**asdict(e)) for name, e in entries.items()}


class ConsoleOperator:
    """The person at the arm: prompts for centring, a live min / now / max table while sweeping."""

    def __init__(self, interactive: bool, sweep_seconds: float, min_travel: int, refresh_hz: float = 20.0):
        self.interactive = interactive
        self.sweep_seconds = sweep_seconds
        self.min_travel = min_travel
        self.period = 1.0 / refresh_hz
        self._live = None
        self._last = 0.0
        self._done = threading.Event()

    def centre(self, problem: str | None) -> None:
        if problem:
            console.print(f"[yellow]{problem}[/]")
        if self.interactive:
            typer.prompt(
                "With the arm limp, move every joint to the middle of its range, then press Enter",
                default="",
                show_default=False,
            )
        else:
            console.print("non-interactive: taking the present pose as the centred one")

    def sweep(self, snapshot) -> bool:
        from rich.live import Live

        if self._live is None:
            if self.interactive:
                console.print(
                    "Move every joint except wrist_roll from one end stop to the other; press Enter when done."
                )
                threading.Thread(target=self._wait_enter, name="calibrate-enter", daemon=True).start()
            else:
                console.print(f"non-interactive: recording ranges for {self.sweep_seconds:g} s")
            self._live = Live(self._table(snapshot), console=console, refresh_per_second=20, transient=False)
            self._live.start()
        now = time.monotonic()
        if now - self._last >= self.period:
            self._live.update(self._table(snapshot))
            self._last = now
        if self.sweep_seconds and snapshot.elapsed_s >= self.sweep_seconds:
            return True
        return self._done.is_set()

    def close(self, snapshot=None) -> None:
        if self._live is not None:
            if snapshot is not None:
                self._live.update(self._table(snapshot))
            self._live.stop()
            self._live = None
            console.line()

    def _wait_enter(self) -> None:
        sys.stdin.readline()
        self._done.set()

    def _table(self, snapshot) -> Table:
        from robot.encoder import LEROBOT_TICKS_PER_DEGREE

        table = Table(title=f"range recording - {snapshot.samples} samples, {snapshot.elapsed_s:.1f} s")
        for column in ("joint", "ID", "min", "now", "max", "range (deg)", "status"):
            table.add_column(column, justify="left" if column in ("joint", "status") else "right")
        for joint in snapshot.joints.values():
            if joint.full_turn:
                status = "[cyan]full turn, not swept[/]"
            elif joint.wrap is not None:
                status = "[red]WRAPPED: re-centre[/]"
            elif joint.travel < self.min_travel:
                status = "[yellow]move me[/]"
            else:
                status = "[green]moving[/]"
            table.add_row(
                joint.name,
                str(joint.motor_id),
                str(joint.low),
                str(joint.now),
                str(joint.high),
                f"{joint.travel / LEROBOT_TICKS_PER_DEGREE:.0f}",
                status,
            )
        return table


def _results_table(title: str, calibration) -> Table:
    from robot.encoder import LEROBOT_TICKS_PER_DEGREE

    table = Table(title=title)
    for column in ("joint", "ID", "homing_offset", "range_min", "range_max", "range (deg)"):
        table.add_column(column, justify="left" if column == "joint" else "right")
    for name, cal in calibration.items():
        span = (cal.range_max - cal.range_min) / LEROBOT_TICKS_PER_DEGREE
        table.add_row(
            name, str(cal.id), str(cal.homing_offset), str(cal.range_min), str(cal.range_max), f"{span:.0f}"
        )
    return table


def servos(
    port: Annotated[str, PORT_OPTION],
    robot_id: Annotated[
        str, typer.Option("--id", help="Robot id: the file goes where LeRobot keeps it.")
    ] = "",
    calibration: Annotated[
        str, typer.Option("--calibration", help=CALIBRATION_HELP + " Overrides --id.")
    ] = "",
    import_lerobot: Annotated[
        Path | None,
        typer.Option("--import-lerobot", help="Adopt this LeRobot calibration file: write it to the servos."),
    ] = None,
    verify: Annotated[
        bool, typer.Option("--verify", help="Compare the servos' EEPROM with the file, motor by motor.")
    ] = False,
    non_interactive: Annotated[
        bool,
        typer.Option(
            "--non-interactive",
            help="No prompts (scripts, tests): the present pose counts as centred; ranges are recorded for "
            "--sweep-seconds.",
        ),
    ] = False,
    sweep_seconds: Annotated[
        float,
        numeric_option(
            "--sweep-seconds",
            low=0,
            high=3600,
            help="Stop the range recording after this long (0: on Enter).",
        ),
    ] = 0.0,
    min_travel: Annotated[
        int,
        numeric_option(
            "--min-travel", kind=int, low=1, high=MAX_TICK, help="Ticks a joint must move to count as swept."
        ),
    ] = 20,
    camera_source: Annotated[
        str | None,
        typer.Option(
            "--camera",
            help="With --verify: also check wrist_roll's zero from the wrist camera (moves the arm to its home "
            "pose, wrist tilted up). Camera index, /dev/videoN or URL.",
        ),
    ] = None,
    camera_calibration: Annotated[
        Path | None,
        typer.Option(
            "--camera-calibration", help="Camera calibration JSON (default: <calibration>_camera.json)."
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before moving the arm.")] = False,
    packet_timeout_ms: Annotated[float, packet_timeout_option()] = 20.0,
) -> None:
    """LeRobot-compatible servo calibration: homing offsets, joint ranges, EEPROM and the LeRobot JSON file."""
    from calibration.servos import ServoCalibration, ServoCalibrationConfig, ServoCalibrationError
    from so101_deploy.hardware.calibration_file import save_calibration
    from so101_deploy.hardware.errors import CalibrationFileError, HardwareError

    if sum([import_lerobot is not None, verify]) > 1:
        raise fail("use one of --import-lerobot and --verify", 2)
    if not (calibration or robot_id):
        raise fail("say which robot: --id NAME (LeRobot's folder) or --calibration ID_OR_PATH", 2)
    if non_interactive and not sweep_seconds and not (verify or import_lerobot):
        raise fail("--non-interactive needs --sweep-seconds (how long to record the joint ranges)", 2)
    if camera_source is not None and not verify:
        raise fail("--camera checks wrist_roll's zero and goes with --verify", 2)
    target = calibration_file(calibration or robot_id, must_exist=verify)

    if verify:
        expected = load_servo_calibration(target)
        cam_cal = None
        if camera_source is not None:
            cam_cal = load_camera_calibration(
                camera_calibration or camera_calibration_file(target), CAMERA_CALIBRATION_HINT
            )
        bus = connect(port, packet_timeout_ms)
        try:
            _verify_table(bus, expected, target)
            if cam_cal is not None:
                _verify_wrist_roll(bus, expected, camera_source, cam_cal, yes)
        finally:
            bus.close()
        return

    if import_lerobot is not None:
        adopted = load_servo_calibration(import_lerobot)
        bus = connect(port, packet_timeout_ms)
        try:
            from calibration.servos import write_calibration

            write_calibration(bus, adopted)
            saved = (
                save_calibration(adopted, target) if target.resolve() != import_lerobot.resolve() else target
            )
            console.print(_results_table(f"adopted {import_lerobot}", adopted))
            console.print(f"written to the servos' EEPROM (locked again) and saved as [bold]{saved}[/]")
            _verify_table(bus, adopted, saved)
        except (ServoCalibrationError, HardwareError) as exc:
            raise fail(str(exc)) from None
        finally:
            bus.close()
        return

    bus = connect(port, packet_timeout_ms)
    operator = ConsoleOperator(not non_interactive, sweep_seconds, min_travel)
    procedure = ServoCalibration(bus, _encoder(), ServoCalibrationConfig(min_travel_ticks=min_travel))
    try:
        bus.configure()  # LeRobot's SO-101 set-up: position mode, single-turn feedback (no encoder surprises)
        if target.is_file():
            console.print(f"{target} exists; it is replaced only once the new calibration is complete")
        entries = procedure.run(operator)
        operator.close(procedure.snapshot)
        result = _to_motor_calibration(entries)
        saved = save_calibration(result, target)
    except (ServoCalibrationError, HardwareError, CalibrationFileError) as exc:
        operator.close()
        raise fail(f"{exc}. Nothing was saved; the servos are limp (torque off).") from None
    except KeyboardInterrupt:
        operator.close()
        raise fail("interrupted: nothing saved, torque off", 130) from None
    finally:
        bus.close()
    console.print(_results_table("calibration", result))
    console.print(
        f"offsets and limits written to the servos' EEPROM; saved [bold]{saved}[/] (LeRobot format)"
    )
    console.print(f"check it any time: so101 calibrate servos --verify --port {port} --calibration {saved}")


def _verify_wrist_roll(bus, expected, camera_source: str, cam_cal, yes: bool) -> None:
    """wrist_roll's zero from the wrist image (calibration.wrist_roll): why here and not at `run` start-up is
    in docs/calibration.md (an error made at homing is caught where homing is done, before any training or
    run depends on it, and `run` start-up stays one move)."""
    from sim.arm_model import arm_mjcf_path
    from sim.config import EnvConfig
    from sim.control import ControllerParams
    from sim.kinematics import ArmKinematics
    from sim.poses import home_pose

    from calibration.align import SimWristView
    from calibration.wrist_roll import check_wrist_roll_on_arm
    from so101_deploy.hardware.arm import Arm
    from so101_deploy.hardware.camera import Camera, CameraConfig
    from so101_deploy.hardware.errors import CameraError, HardwareError

    if not yes:
        typer.confirm("The arm will move to its home pose with the wrist tilted up (torque on). Continue?",
                      abort=True)  # fmt: skip
    arm = Arm(bus, expected)
    home = home_pose(ArmKinematics(arm_mjcf_path()), ControllerParams())
    try:
        cam = Camera(
            CameraConfig(source=camera_source, width=cam_cal.image_width, height=cam_cal.image_height, fps=0)
        ).start()
        try:
            drive = BusArm(bus, arm)
            with SimWristView(EnvConfig()) as view:
                if cam_cal.sim_camera is not None:  # the measured mount (calibrate align --solve)
                    view.set_pose(cam_cal.sim_camera)
                verdict = check_wrist_roll_on_arm(drive, cam, cam_cal, view, home)
        finally:
            cam.stop()
            bus.torque_off()
    except CameraError as exc:
        raise fail(str(exc), 2) from None
    except HardwareError as exc:
        raise fail(str(exc)) from None
    if not verdict.ok:
        raise fail(verdict.message(), 2)
    console.print(f"[green]{verdict.message()}[/]")


def _verify_table(bus, expected, path: Path) -> None:
    from calibration.servos import ServoCalibrationError, verify_calibration
    from so101_deploy.hardware.errors import HardwareError

    try:
        checks = verify_calibration(bus, expected)
    except (ServoCalibrationError, HardwareError) as exc:
        raise fail(str(exc)) from None
    table = Table(title=f"servo EEPROM vs {path}")
    for column in ("joint", "ID", "homing_offset", "range_min", "range_max", "position", "result"):
        table.add_column(column, justify="left" if column in ("joint", "result") else "right")
    for c in checks:
        cells = []
        for register in ("Homing_Offset", "Min_Position_Limit", "Max_Position_Limit"):
            file_value, servo_value = c.expected[register], c.actual[register]
            cells.append(
                str(file_value) if file_value == servo_value else f"[red]{servo_value} (file {file_value})[/]"
            )
        position = str(c.present) if c.in_range else f"[yellow]{c.present} outside range[/]"
        table.add_row(
            c.name, str(c.motor_id), *cells, position, "[green]ok[/]" if c.ok else "[red]MISMATCH[/]"
        )
    console.print(table)
    bad = [c.name for c in checks if not c.ok]
    if bad:
        raise fail(
            f"{len(bad)} motor(s) disagree with {path} ({', '.join(bad)}): write the file to the servos with "
            f"`so101 calibrate servos --import-lerobot {path} ...`, or calibrate again"
        )
    console.print(f"[green]all {len(checks)} motors match {path}[/]")
