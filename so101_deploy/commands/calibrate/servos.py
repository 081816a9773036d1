"""`so101 calibrate servos | camera | align | latency | setup-motors`: where the operator's hands and eyes come in.

The procedures live in ``calibration/`` and take callbacks; this module is their console: prompts, the live
servo table, the camera preview or thumbnails, and turning errors into one line that says what to do
(exit code 2 for bad input, 1 for a procedure that failed).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from robot.encoder import MAX_TICK
from so101_deploy.hardware.tables import BAUD_RATE_CODES
from so101_deploy.numeric_options import numeric_option, packet_timeout_option
from so101_deploy.output_paths import output_dir_problem

app = typer.Typer(
    name="calibrate",
    help="Calibrate the arm: servos (LeRobot-compatible), camera (intrinsics, FOV crop), sim/real alignment, loop latency.",
    no_args_is_help=True,
)
console = Console(highlight=False, soft_wrap=True)

PORT_OPTION = typer.Option("--port", help="Servo bus serial port, e.g. /dev/ttyACM0 (or a twin's pty).")
CALIBRATION_HELP = "Robot id (LeRobot's calibration folder) or a calibration JSON path."


def _fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[red]error:[/] {message}")
    return typer.Exit(code)


def calibration_file(value: str, must_exist: bool) -> Path:
    """A robot id or a path -> the LeRobot-format file (where `so101 run --calibration` looks for it)."""
    from so101_deploy.hardware.calibration_file import calibration_path, locate_calibration
    from so101_deploy.hardware.errors import CalibrationFileError

    path = Path(value).expanduser()
    if path.suffix == ".json" or path.exists() or os.sep in value:
        if must_exist and not path.is_file():
            raise _fail(f"no calibration file at {path}: run `so101 calibrate servos` first", 2)
        return path
    try:
        return locate_calibration(value)
    except CalibrationFileError as exc:
        if must_exist:
            raise _fail(str(exc), 2) from None
        return calibration_path(value)  # a new robot id: the file goes where LeRobot keeps it


def camera_calibration_file(servo_file: Path) -> Path:
    """Where `so101 run` looks for the camera calibration by default: beside the servo file."""
    return servo_file.with_name(servo_file.stem + "_camera.json")


def _encoder():
    from calibration.servos import EncoderSpec
    from robot.encoder import TICKS_PER_TURN
    from so101_deploy.hardware.calibration_file import MAX_HOMING_OFFSET

    return EncoderSpec(TICKS_PER_TURN, MAX_HOMING_OFFSET)


def _connect(port: str, packet_timeout_ms: float):
    from so101_deploy.hardware.bus import BusConfig, FeetechBus
    from so101_deploy.hardware.errors import HardwareError, PortError

    try:
        bus = FeetechBus(BusConfig(port=port, packet_timeout_ms=packet_timeout_ms))
    except ValueError as exc:  # a packet timeout that is NaN, infinite or out of range
        raise _fail(str(exc), 2) from None
    try:
        bus.connect()
    except PortError as exc:
        raise _fail(str(exc), 2) from None
    except HardwareError as exc:
        raise _fail(str(exc)) from None
    return bus


def _to_motor_calibration(entries):
    from so101_deploy.hardware.calibration_file import MotorCalibration

    return {name: MotorCalibration(**asdict(e)) for name, e in entries.items()}


# -- servos ------------------------------------------------------------------------------------------------
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


@app.command("servos")
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
    from so101_deploy.hardware.calibration_file import load_calibration, save_calibration
    from so101_deploy.hardware.errors import CalibrationFileError, HardwareError

    if sum([import_lerobot is not None, verify]) > 1:
        raise _fail("use one of --import-lerobot and --verify", 2)
    if not (calibration or robot_id):
        raise _fail("say which robot: --id NAME (LeRobot's folder) or --calibration ID_OR_PATH", 2)
    if non_interactive and not sweep_seconds and not (verify or import_lerobot):
        raise _fail("--non-interactive needs --sweep-seconds (how long to record the joint ranges)", 2)
    if camera_source is not None and not verify:
        raise _fail("--camera checks wrist_roll's zero and goes with --verify", 2)
    target = calibration_file(calibration or robot_id, must_exist=verify)

    if verify:
        try:
            expected = load_calibration(target)
        except CalibrationFileError as exc:
            raise _fail(str(exc), 2) from None
        cam_cal = None
        if camera_source is not None:
            cam_cal = _load_camera_calibration(camera_calibration or camera_calibration_file(target))
        bus = _connect(port, packet_timeout_ms)
        try:
            _verify_table(bus, expected, target)
            if cam_cal is not None:
                _verify_wrist_roll(bus, expected, camera_source, cam_cal, yes)
        finally:
            bus.close()
        return

    if import_lerobot is not None:
        try:
            adopted = load_calibration(import_lerobot)
        except CalibrationFileError as exc:
            raise _fail(str(exc), 2) from None
        bus = _connect(port, packet_timeout_ms)
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
            raise _fail(str(exc)) from None
        finally:
            bus.close()
        return

    bus = _connect(port, packet_timeout_ms)
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
        raise _fail(f"{exc}. Nothing was saved; the servos are limp (torque off).") from None
    except KeyboardInterrupt:
        operator.close()
        raise _fail("interrupted: nothing saved, torque off", 130) from None
    finally:
        bus.close()
    console.print(_results_table("calibration", result))
    console.print(
        f"offsets and limits written to the servos' EEPROM; saved [bold]{saved}[/] (LeRobot format)"
    )
    console.print(f"check it any time: so101 calibrate servos --verify --port {port} --calibration {saved}")


def _load_camera_calibration(path: Path):
    from calibration.camera_model import CameraCalibration, CameraCalibrationError

    try:
        return CameraCalibration.load(path)
    except CameraCalibrationError as exc:
        raise _fail(
            f"{exc}; `so101 calibrate camera` writes it (--camera-calibration to point at it)", 2
        ) from None


def _verify_wrist_roll(bus, expected, camera_source: str, cam_cal, yes: bool) -> None:
    """wrist_roll's zero from the wrist image (calibration.wrist_roll): why here and not at `run` start-up is
    in docs/calibration.md (an error made at homing is caught where homing is done, before any training or
    run depends on it, and `run` start-up stays one move)."""
    from sim.arm_model import arm_mjcf_path
    from sim.config import EnvConfig
    from sim.control import ControllerParams
    from sim.kinematics import ArmKinematics
    from sim.task import home_pose

    import numpy as np

    from calibration.align import SimWristView
    from calibration.wrist_roll import check_wrist_roll
    from so101_deploy.hardware.arm import Arm
    from so101_deploy.hardware.camera import Camera, CameraConfig
    from so101_deploy.hardware.errors import CameraError, HardwareError
    from so101_deploy.runtime.safety import SafetyConfig, ramp

    if not yes:
        typer.confirm("The arm will move to its home pose with the wrist tilted up (torque on). Continue?",
                      abort=True)  # fmt: skip
    arm = Arm(bus, expected)
    params = ControllerParams()
    home = home_pose(ArmKinematics(arm_mjcf_path()), params)
    hz = 30.0

    def move(goal):
        for waypoint in ramp(arm.read_rad(), goal, SafetyConfig().start_pose_speed_rad_s, hz):
            arm.write_rad(waypoint)
            time.sleep(1.0 / hz)

    def look(goal):
        move(goal)
        observation = _capture(bus, arm, cam, cam_cal, None, 96, np)
        return observation.joints, observation.image

    try:
        cam = Camera(
            CameraConfig(source=camera_source, width=cam_cal.image_width, height=cam_cal.image_height, fps=0)
        ).start()
        try:
            bus.configure()
            rest = arm.read_rad()
            bus.write_goal_positions(arm.convert.rad_to_ticks(rest))  # torque on holds the arm where it is
            bus.torque_on()
            try:
                with SimWristView(EnvConfig()) as view:
                    if cam_cal.sim_camera is not None:  # the measured mount (calibrate align --solve)
                        view.set_pose(cam_cal.sim_camera)
                    verdict = check_wrist_roll(look, view, home)
            finally:
                move(rest)  # back where the operator left it before the torque goes off
        finally:
            cam.stop()
            bus.torque_off()
    except CameraError as exc:
        raise _fail(str(exc), 2) from None
    except HardwareError as exc:
        raise _fail(str(exc)) from None
    if not verdict.ok:
        raise _fail(verdict.message(), 2)
    console.print(f"[green]{verdict.message()}[/]")


def _verify_table(bus, expected, path: Path) -> None:
    from calibration.servos import ServoCalibrationError, verify_calibration
    from so101_deploy.hardware.errors import HardwareError

    try:
        checks = verify_calibration(bus, expected)
    except (ServoCalibrationError, HardwareError) as exc:
        raise _fail(str(exc)) from None
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
        raise _fail(
            f"{len(bad)} motor(s) disagree with {path} ({', '.join(bad)}): write the file to the servos with "
            f"`so101 calibrate servos --import-lerobot {path} ...`, or calibrate again"
        )
    console.print(f"[green]all {len(checks)} motors match {path}[/]")


# -- motor set-up ------------------------------------------------------------------------------------------
@app.command("setup-motors")
def setup_motors(
    port: Annotated[str, PORT_OPTION],
    motor: Annotated[
        str, typer.Option("--motor", help="Set up this joint only (default: all six, one after the other).")
    ] = "",
    baud: Annotated[
        int,
        numeric_option(
            "--baud",
            kind=int,
            low=min(BAUD_RATE_CODES),
            high=max(BAUD_RATE_CODES),
            help="Baud rate every motor is set to.",
        ),
    ] = 1_000_000,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not wait for Enter before each motor.")
    ] = False,
    packet_timeout_ms: Annotated[float, packet_timeout_option()] = 20.0,
) -> None:
    """Give each motor its ID (1-6) and the bus baud rate, one motor on the cable at a time."""
    from calibration.servos import MotorSetupConfig, MotorSetupError, setup_motor
    from robot.so101 import SERVO_IDS
    from so101_deploy.hardware.bus import BusConfig, FeetechBus
    from so101_deploy.hardware.errors import HardwareError, PortError
    from so101_deploy.hardware.tables import BAUD_RATE_CODES, STS3215_MODEL_NUMBER

    if baud not in BAUD_RATE_CODES:
        raise _fail(f"--baud {baud} is not an STS3215 rate ({', '.join(map(str, BAUD_RATE_CODES))})", 2)
    if motor and motor not in SERVO_IDS:
        raise _fail(f"--motor {motor!r} is not an SO-101 joint ({', '.join(SERVO_IDS)})", 2)
    names = [motor] if motor else list(reversed(SERVO_IDS))  # gripper first, as LeRobot does

    def open_bus(rate, motors):
        return FeetechBus(
            BusConfig(
                port=port, baudrate=rate, motors=dict(motors), packet_timeout_ms=packet_timeout_ms, retries=0
            )
        )

    config = MotorSetupConfig(
        baud_codes=dict(BAUD_RATE_CODES), target_baud=baud, expected_model=STS3215_MODEL_NUMBER
    )
    try:  # a wrong --port or packet timeout is bad input: say so before asking for any motor
        probe = open_bus(baud, {"probe": 1})
        probe.open()
    except (PortError, ValueError) as exc:
        raise _fail(str(exc), 2) from None
    probe.close(torque_off=False)
    for name in names:
        if not yes:
            typer.prompt(
                f"Connect the controller board to the '{name}' motor ONLY (it becomes ID {SERVO_IDS[name]}), "
                "then press Enter",
                default="",
                show_default=False,
            )
        try:
            result = setup_motor(open_bus, name, SERVO_IDS[name], config, lambda m: console.print(f"  {m}"))
        except PortError as exc:
            raise _fail(str(exc), 2) from None
        except (MotorSetupError, HardwareError) as exc:
            raise _fail(str(exc)) from None
        if result.changed:
            console.print(
                f"[green]'{name}'[/]: ID {result.old_id} at {result.old_baud} baud -> ID {result.new_id} at "
                f"{result.new_baud} baud"
            )
        else:
            console.print(f"[green]'{name}'[/]: already ID {result.new_id} at {result.new_baud} baud")
    if not motor:
        console.print("all motors set up: chain them together, then run `so101 calibrate servos`")


# -- camera ------------------------------------------------------------------------------------------------
def _display_available() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class CameraFeedback:
    """Preview window where there is a display; otherwise PNG thumbnails of each view and a line per capture."""

    def __init__(self, preview: bool, thumbnails: Path, board):
        self.preview = preview
        self.thumbnails = thumbnails
        self.board = board
        self.saved: list[Path] = []
        self._last_report = time.monotonic()

    def __call__(self, progress) -> None:
        import cv2

        image = progress.frame
        if progress.corners is not None:
            image = cv2.cvtColor(progress.frame, cv2.COLOR_RGB2BGR)
            cv2.drawChessboardCorners(
                image, (self.board.cols, self.board.rows), progress.corners.reshape(-1, 1, 2), True
            )
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        if self.preview:
            self._show(image, progress)
        if progress.accepted_now:
            self.thumbnails.mkdir(parents=True, exist_ok=True)
            path = self.thumbnails / f"view_{progress.views:02d}.png"
            scale = 200 / image.shape[1]
            thumb = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(path), cv2.cvtColor(thumb, cv2.COLOR_RGB2BGR))
            self.saved.append(path)
            console.print(
                f"view {progress.views}/{progress.needed} captured (frame {progress.frames_seen}) -> {path}"
            )
        elif time.monotonic() - self._last_report > 5.0:
            self._last_report = time.monotonic()
            hint = (
                "board seen: hold it still, then move it to a new pose"
                if progress.corners is not None
                else "no board found: show the whole board, well lit"
            )
            console.print(
                f"  {progress.views}/{progress.needed} views, {progress.frames_seen} frames: {hint}"
            )

    def _show(self, image, progress) -> None:
        import cv2

        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        cv2.putText(bgr, f"{progress.views}/{progress.needed} views  (q: stop)", (10, 24),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 255, 0), 2)  # fmt: skip
        try:
            cv2.imshow("so101 calibrate camera", bgr)
            if cv2.waitKey(1) & 0xFF == ord("q"):
                raise KeyboardInterrupt
        except cv2.error:  # an OpenCV without GUI (opencv-python-headless): fall back to thumbnails
            self.preview = False
            console.print("no preview window available (headless OpenCV): saving thumbnails instead")

    def close(self) -> None:
        if self.preview:
            import cv2

            with contextlib.suppress(cv2.error):
                cv2.destroyAllWindows()


def _frames(cam, timeout_s: float):
    """New frames from the camera until the timeout (or the end of a video file)."""
    from so101_deploy.hardware.errors import CameraStaleError

    deadline = time.monotonic() + timeout_s
    index = -1
    while time.monotonic() < deadline:
        try:
            frame = cam.wait_new(index, timeout_s=2.0)
        except CameraStaleError:
            if cam.ended:
                return
            raise
        index = frame.index
        yield frame.image


@app.command("camera")
def camera(
    camera_source: Annotated[
        str, typer.Option("--camera", help="Camera index, /dev/videoN, video file or URL.")
    ],
    board: Annotated[str, typer.Option("--board", help="Inner corners COLSxROWS, e.g. 9x6.")],
    square: Annotated[
        float,
        numeric_option("--square", low=0, high=1, low_open=True, help="Square size in metres, e.g. 0.025."),
    ],
    sim_fovy: Annotated[
        float,
        numeric_option(
            "--sim-fovy", low=10, high=150, help="Vertical FOV (deg) of the sim camera the crop matches."
        ),
    ] = 60.0,
    out: Annotated[Path | None, typer.Option("--out", help="Camera calibration JSON to write.")] = None,
    calibration: Annotated[
        str,
        typer.Option(
            "--calibration", help=CALIBRATION_HELP + " Default --out: <file>_camera.json beside it."
        ),
    ] = "",
    width: Annotated[
        int,
        numeric_option("--width", kind=int, low=0, high=8192, help="Capture width (0: the camera's own)."),
    ] = 640,
    height: Annotated[
        int,
        numeric_option("--height", kind=int, low=0, high=8192, help="Capture height (0: the camera's own)."),
    ] = 480,
    min_views: Annotated[
        int, numeric_option("--min-views", kind=int, low=4, high=200, help="Board views to capture.")
    ] = 12,
    max_rms: Annotated[
        float,
        numeric_option(
            "--max-rms",
            low=0,
            high=100,
            low_open=True,
            help="Refuse a calibration with a larger reprojection error (px).",
        ),
    ] = 1.0,
    timeout: Annotated[
        float,
        numeric_option(
            "--timeout", low=0, high=86400, low_open=True, help="Give up after this many seconds."
        ),
    ] = 180.0,
    thumbnails: Annotated[
        Path | None, typer.Option("--thumbnails", help="Folder for view thumbnails (default: beside --out).")
    ] = None,
    preview: Annotated[
        bool | None,
        typer.Option("--preview/--no-preview", help="Live window (default: when a display exists)."),
    ] = None,
) -> None:
    """Checkerboard calibration: intrinsics, distortion, FOV, and the crop that matches the sim camera."""
    from calibration.camera import BoardSpec, CaptureConfig, calibrate_from_frames
    from calibration.camera_model import CameraCalibrationError
    from so101_deploy.hardware.camera import Camera, CameraConfig
    from so101_deploy.hardware.errors import CameraError

    try:
        spec = BoardSpec.parse(board, square)
    except CameraCalibrationError as exc:
        raise _fail(str(exc), 2) from None
    if not 10.0 <= sim_fovy <= 150.0:
        raise _fail(f"--sim-fovy {sim_fovy:g} is not a plausible camera FOV (10-150 deg)", 2)
    if out is None:
        if not calibration:
            raise _fail("say where to save: --out PATH, or --calibration ID_OR_PATH (saves beside it)", 2)
        out = camera_calibration_file(calibration_file(calibration, must_exist=False))
    thumbs = thumbnails or out.with_name(out.stem + "_views")
    feedback = CameraFeedback(_display_available() if preview is None else preview, thumbs, spec)
    try:
        cam = Camera(CameraConfig(source=camera_source, width=width, height=height, fps=0)).start()
    except (CameraError, ValueError) as exc:
        raise _fail(str(exc), 2) from None
    console.print(
        f"show the {spec.cols}x{spec.rows} board ({spec.square_m * 1000:g} mm squares) at {cam.width}x{cam.height}: "
        f"{min_views} still views in different poses are captured automatically"
    )
    capture = CaptureConfig(min_views=min_views, max_rms_px=max_rms)  # novelty is measured scale-free
    try:
        result = calibrate_from_frames(_frames(cam, timeout), spec, sim_fovy, capture, on_progress=feedback)
    except CameraCalibrationError as exc:
        raise _fail(str(exc)) from None
    except CameraError as exc:
        raise _fail(f"{exc} (views captured so far are in {thumbs})") from None
    except KeyboardInterrupt:
        raise _fail("stopped: nothing saved", 130) from None
    finally:
        cam.stop()
        feedback.close()
    saved = result.save(out)
    table = Table(title=f"camera calibration ({result.views} views)", show_header=False)
    fx, fy, cx, cy = result.K[0, 0], result.K[1, 1], result.K[0, 2], result.K[1, 2]
    table.add_row("image", f"{result.image_width} x {result.image_height}")
    table.add_row("focal (px)", f"fx {fx:.1f}  fy {fy:.1f}")
    table.add_row("principal point (px)", f"{cx:.1f}, {cy:.1f}")
    table.add_row("distortion k1 k2 p1 p2 k3", " ".join(f"{d:+.4f}" for d in result.dist_coeffs))
    table.add_row("RMS reprojection error", f"{result.rms_px:.3f} px (limit {max_rms:g})")
    table.add_row(
        "undistorted FOV", f"{result.fov_h_deg:.1f} deg horizontal, {result.fov_v_deg:.1f} deg vertical"
    )
    table.add_row("sim fovy", f"{sim_fovy:g} deg")
    table.add_row("crop", f"{result.crop_fov_ratio:.3f} of the shorter side around {result.crop_center[0]:.3f}, "
                  f"{result.crop_center[1]:.3f}")  # fmt: skip
    console.print(table)
    for note in result.notes:
        console.print(f"[yellow]{note}[/]")
    console.print(f"saved [bold]{saved}[/]: `so101 run` undistorts and crops with it (--camera-calibration), and "
                  f"training reads its sim fovy with env.wrist_camera.calibration_file={saved}")  # fmt: skip


# -- align -------------------------------------------------------------------------------------------------
def _parse_gripper_openings(views: int) -> list[float | None]:
    """None = the pose as it is; otherwise gripper targets (sim radians) from nearly closed to 0.4 rad: with the
    default (Menagerie) mount both jaws are in view there; from ~0.45 rad the moving jaw leaves the 60 deg view
    (docs/simulation.md), and a view of one jaw barely tells a shifted camera from a turned one."""
    if views <= 1:
        return [None]
    low, high = 0.1, 0.4
    return [low + (high - low) * i / (views - 1) for i in range(views)]


@app.command("align")
def align(
    port: Annotated[str, PORT_OPTION],
    camera_source: Annotated[
        str, typer.Option("--camera", help="Camera index, /dev/videoN, video file or URL.")
    ],
    calibration: Annotated[str, typer.Option("--calibration", help=CALIBRATION_HELP)],
    camera_calibration: Annotated[
        Path | None,
        typer.Option(
            "--camera-calibration", help="Camera calibration JSON (default: <calibration>_camera.json)."
        ),
    ] = None,
    solve: Annotated[
        bool, typer.Option("--solve", help="Search the camera mount that fits best and save it (sim_camera).")
    ] = False,
    views: Annotated[
        int | None,
        numeric_option(
            "--views",
            kind=int,
            low=1,
            high=50,
            help="Frames to align on; with more than one the gripper is moved to that many openings "
            "(default: 3 with --solve, else 1). Several openings separate a shifted camera from a turned one.",
        ),
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where the overlay PNGs and report go.")] = Path(
        "align"
    ),
    no_fovy: Annotated[
        bool, typer.Option("--no-fovy", help="Keep the calibrated FOV; solve the pose only.")
    ] = False,
    time_budget: Annotated[
        float,
        numeric_option(
            "--time-budget", low=0, high=86400, low_open=True, help="Seconds the search may take."
        ),
    ] = 120.0,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before moving the gripper.")] = False,
    packet_timeout_ms: Annotated[float, packet_timeout_option()] = 20.0,
) -> None:
    """Overlay the sim's wrist view on the real one at the arm's joints; score it; --solve fits the mount."""
    from sim.config import EnvConfig
    from sim.scene import wrist_camera_pose

    import cv2
    import numpy as np

    from calibration.align import (
        OFFSET_NAMES,
        AlignConfig,
        AlignmentError,
        SimWristView,
        apply_solution,
        score_pose,
    )
    from calibration.align import solve as solve_mount
    from calibration.camera_model import CameraCalibration, CameraCalibrationError, SimCameraPose
    from so101_deploy.hardware.arm import Arm
    from so101_deploy.hardware.calibration_file import load_calibration
    from so101_deploy.hardware.camera import Camera, CameraConfig
    from so101_deploy.hardware.errors import CalibrationFileError, CameraError, HardwareError

    servo_file = calibration_file(calibration, must_exist=True)
    cam_file = camera_calibration or camera_calibration_file(servo_file)
    try:
        servo_cal = load_calibration(servo_file)
        cam_cal = CameraCalibration.load(cam_file)
    except (CalibrationFileError, CameraCalibrationError) as exc:
        raise _fail(str(exc), 2) from None
    n_views = views or (3 if solve else 1)
    env = EnvConfig()
    start = cam_cal.sim_camera
    if start is None:  # not aligned yet: the training default mount, at the fovy the real frame is cropped to
        base = wrist_camera_pose(env.wrist_camera)
        fovy = cam_cal.suggested_sim_fovy_deg or cam_cal.target_fovy_deg
        start = SimCameraPose(tuple(base.pos), tuple(base.euler), float(fovy))
    config = AlignConfig(solve_fovy=not no_fovy, time_budget_s=time_budget)
    if problem := output_dir_problem(out_dir):  # before the arm moves, not after the search
        raise _fail(f"--out-dir {out_dir}: {problem}", 2)

    bus = _connect(port, packet_timeout_ms)
    observations: list = []
    try:
        arm = Arm(bus, servo_cal)
        mismatches = arm.calibration_mismatches()
        if mismatches:
            raise _fail(
                "the servos' EEPROM does not match "
                + str(servo_file)
                + ": "
                + "; ".join(mismatches[:3])
                + ". Run `so101 calibrate servos --verify` (or --import-lerobot to write the file to the servos)"
            )
        targets = _parse_gripper_openings(n_views)
        if targets[0] is not None and not yes:
            typer.confirm(f"The gripper will move to {n_views} openings (torque on the gripper only). Continue?",
                          abort=True)  # fmt: skip
        cam = Camera(
            CameraConfig(source=camera_source, width=cam_cal.image_width, height=cam_cal.image_height, fps=0)
        ).start()
        try:
            if targets[0] is not None:
                bus.configure()
            for target in targets:
                observations.append(_capture(bus, arm, cam, cam_cal, target, config.overlay_size, np))
        finally:
            cam.stop()
            bus.torque_off()
    except (CameraError, CameraCalibrationError) as exc:
        raise _fail(str(exc), 2) from None
    except HardwareError as exc:
        raise _fail(str(exc)) from None
    finally:
        bus.close()

    out_dir.mkdir(parents=True, exist_ok=True)
    report: dict = {"calibration": str(servo_file), "camera_calibration": str(cam_file), "views": []}
    try:
        with SimWristView(env, config.size) as view:
            before = score_pose(view, observations, start, config)
            _write_overlays(view, observations[0], start, out_dir, "before" if solve else "", config, cv2)
            console.print(
                f"alignment score {before.score:.3f} (1 = perfect), {before.overlap * 100:.0f}% of the sim jaw "
                f"edges within {config.overlap_px:g} px of a real edge ({len(observations)} view(s))"
            )
            report["before"] = asdict(before)
            report["views"] = [o.joints.tolist() for o in observations]
            if solve:
                result = solve_mount(
                    view, observations, start, config, on_progress=lambda m: console.print(f"  {m}")
                )
                _write_overlays(view, observations[0], result.pose, out_dir, "after", config, cv2)
                report.update(
                    after=asdict(result.after),
                    offset=dict(
                        zip(
                            ("dx_m", "dy_m", "dz_m", "droll_rad", "dpitch_rad", "dyaw_rad", "dfovy_deg"),
                            result.offset,
                            strict=True,
                        )
                    ),  # fmt: skip
                    pose=asdict(result.pose),
                    renders=result.renders,
                    method=result.method,
                    seconds=round(result.seconds, 2),
                    at_bounds=list(result.at_bounds),
                )
                updated = apply_solution(cam_cal, result.pose)
                updated.save(cam_file)
                o = result.offset
                console.print(
                    f"solved by {result.method} in {result.seconds:.1f} s ({result.renders} renders): score "
                    f"{result.before.score:.3f} -> {result.after.score:.3f}; mount offset "
                    f"{o[0] * 1000:+.1f} {o[1] * 1000:+.1f} {o[2] * 1000:+.1f} mm, "
                    f"{np.degrees(o[3]):+.1f} {np.degrees(o[4]):+.1f} {np.degrees(o[5]):+.1f} deg, fovy {o[6]:+.1f} deg"
                )
                if result.at_bounds:
                    bounds = dict(zip(OFFSET_NAMES, config.bounds, strict=True))
                    console.print(
                        "[yellow]warning:[/] solved at the search bound for "
                        + ", ".join(f"{n} (+-{bounds[n]:g})" for n in result.at_bounds)
                        + ": the real mount may lie beyond it; check the overlays, measure the camera mount "
                        "and set env.wrist_camera, then align again from there"
                    )
                console.print(
                    f"saved the mount in [bold]{cam_file}[/] (sim_camera): train with "
                    f"env.wrist_camera.calibration_file={cam_file} so the sim camera sits where the real one does"
                )
    except AlignmentError as exc:
        raise _fail(str(exc)) from None
    (out_dir / "align_report.json").write_text(json.dumps(report, indent=2))
    console.print(f"overlays and report in {out_dir}/")


# -- latency -----------------------------------------------------------------------------------------------
class _BusGripper:
    """``calibration.latency.GripperDrive`` on the Feetech bus: the gripper alone, torqued from where it is."""

    def __init__(self, bus, arm) -> None:
        from robot.so101 import GRIPPER_JOINT, JOINT_NAMES

        self.bus, self.arm, self.joint = bus, arm, GRIPPER_JOINT
        self.index = JOINT_NAMES.index(GRIPPER_JOINT)
        self.q = arm.read_rad()  # the other joints' angles only feed the conversion; they stay limp
        bus.configure()
        bus.write("Goal_Position", self.joint, bus.read("Present_Position", self.joint))
        bus.torque_on([self.joint])

    def move_gripper(self, target_rad: float) -> None:
        self.q[self.index] = target_rad
        self.bus.write_goal_positions({self.joint: self.arm.convert.rad_to_ticks(self.q)[self.joint]})


@app.command("latency")
def latency(
    port: Annotated[str, PORT_OPTION],
    camera_source: Annotated[
        str, typer.Option("--camera", help="Camera index, /dev/videoN, video file or URL.")
    ],
    calibration: Annotated[str, typer.Option("--calibration", help=CALIBRATION_HELP)],
    camera_calibration: Annotated[
        Path | None,
        typer.Option(
            "--camera-calibration",
            help="Camera calibration JSON the result is written into (default: <calibration>_camera.json).",
        ),
    ] = None,
    repeats: Annotated[
        int, numeric_option("--repeats", "-n", kind=int, low=1, high=100, help="Timed gripper steps.")
    ] = 7,
    base: Annotated[
        float,
        numeric_option(
            "--base", low=-0.17, high=1.7, help="Gripper angle between steps (sim rad; both jaws in view)."
        ),
    ] = 0.1,
    step: Annotated[
        float, numeric_option("--step", low=-0.5, high=0.5, help="The timed gripper step (sim rad, not 0).")
    ] = 0.2,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before moving the gripper.")] = False,
    packet_timeout_ms: Annotated[float, packet_timeout_option()] = 20.0,
) -> None:
    """Time gripper command -> first changed wrist frame; write it into the camera calibration for training."""
    from calibration.camera_model import CameraCalibration, CameraCalibrationError
    from calibration.latency import LatencyError, LatencyProbeConfig, measure_latency
    from so101_deploy.hardware.arm import Arm
    from so101_deploy.hardware.calibration_file import load_calibration
    from so101_deploy.hardware.camera import Camera, CameraConfig
    from so101_deploy.hardware.errors import CalibrationFileError, CameraError, HardwareError

    config = LatencyProbeConfig(base_rad=base, step_rad=step, repeats=repeats)
    try:
        config.validate()
    except ValueError as exc:
        raise _fail(f"{exc}: give --step a non-zero value", 2) from None
    servo_file = calibration_file(calibration, must_exist=True)
    cam_file = camera_calibration or camera_calibration_file(servo_file)
    try:
        servo_cal = load_calibration(servo_file)
        cam_cal = CameraCalibration.load(cam_file)
    except (CalibrationFileError, CameraCalibrationError) as exc:
        raise _fail(str(exc), 2) from None
    if not yes:
        typer.confirm(f"The gripper will step {repeats + 1} times between {base:.2f} and {base + step:.2f} rad "
                      "(torque on the gripper only). Continue?", abort=True)  # fmt: skip
    bus = _connect(port, packet_timeout_ms)
    try:
        arm = Arm(bus, servo_cal)
        cam = Camera(
            CameraConfig(source=camera_source, width=cam_cal.image_width, height=cam_cal.image_height, fps=0)
        ).start()
        try:
            console.print(
                f"camera frames stamped at {cam.clock}; timing {repeats} gripper steps of {step:+.2f} rad"
            )
            result = measure_latency(
                _BusGripper(bus, arm), cam, config, on_progress=lambda m: console.print(f"  {m}")
            )
        finally:
            cam.stop()
            bus.torque_off()
    except LatencyError as exc:
        raise _fail(str(exc)) from None
    except CameraError as exc:
        raise _fail(str(exc), 2) from None
    except HardwareError as exc:
        raise _fail(str(exc)) from None
    finally:
        bus.close()
    dataclasses.replace(cam_cal, latency=result).save(cam_file)
    console.print(
        f"command -> first changed frame: median [bold]{result.median_ms:.0f} ms[/] (min {result.min_ms:.0f}, "
        f"max {result.max_ms:.0f}, IQR {result.iqr_ms:.0f} ms over {len(result.samples_ms)} steps; frame period "
        f"{result.frame_period_ms:.0f} ms, {result.clock} clock: command -> capture "
        f"{result.command_to_capture_ms:.0f} ms, capture -> delivery {result.frame_age_ms:.0f} ms)"
    )
    console.print(
        f"saved in [bold]{cam_file}[/] (latency): training with env.wrist_camera.calibration_file={cam_file} "
        "centres its latency randomisation on it (env.randomization.latency/obs_delay.around_measured_ms)"
    )


def _capture(bus, arm, cam, cam_cal, gripper_target, size: int, np):
    """One observation: move the gripper (if asked), wait until the joints are still, then a frame and joints."""
    from calibration.align import Observation, real_view
    from robot.so101 import GRIPPER_JOINT, JOINT_NAMES

    if gripper_target is not None:
        q = arm.read_rad()
        q[JOINT_NAMES.index(GRIPPER_JOINT)] = gripper_target
        goal = arm.convert.rad_to_ticks(q)[GRIPPER_JOINT]
        bus.write("Goal_Position", GRIPPER_JOINT, bus.read("Present_Position", GRIPPER_JOINT))
        bus.torque_on([GRIPPER_JOINT])
        bus.write_goal_positions({GRIPPER_JOINT: goal})
    deadline = time.monotonic() + 5.0
    previous = arm.read_rad()
    while time.monotonic() < deadline:
        time.sleep(0.15)
        now = arm.read_rad()
        if np.abs(now - previous).max() < 0.003:
            break
        previous = now
    frame = cam.wait_new(cam.wait_new(timeout_s=2.0).index, timeout_s=2.0)  # taken after the arm settled
    joints = arm.read_rad()
    return Observation(joints, real_view(frame.image, cam_cal, size))


def _write_overlays(view, observation, pose, out_dir: Path, tag: str, config, cv2) -> None:
    from calibration.align import overlays

    view.set_pose(pose)
    big = config.overlay_size
    side, blend = overlays(
        observation.image, view.full(observation.joints, big), view.jaws(observation.joints, big), config
    )
    suffix = f"_{tag}" if tag else ""
    cv2.imwrite(str(out_dir / f"side_by_side{suffix}.png"), cv2.cvtColor(side, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(out_dir / f"overlay{suffix}.png"), cv2.cvtColor(blend, cv2.COLOR_RGB2BGR))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="calibrate")
