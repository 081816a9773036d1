"""`so101 run` as a library: start-up checks, the slow move to the start pose, and the fixed-rate loop.

One tick: newest camera frame -> (when the contract's action schedule asks for a policy call) rectify + the
policy inputs built by policies.io (preprocessing, frame stack, low-dim) + ONNX policy -> the schedule's action
-> the sim's own action->joint-target controller -> safety -> one sync write; joint state by one sync read.
The arm always ends with torque off, whatever ends the run (done, fault, Ctrl-C, SIGTERM).
No prompts here: the CLI passes a ``confirm`` callback and an ``operator`` for real-arm episodes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sim.arm_model import arm_mjcf_path
from sim.control import ControllerParams, action_to_joint_targets
from sim.kinematics import ArmKinematics
from sim.task import home_pose

import numpy as np

from calibration.camera_model import CameraCalibration, CameraCalibrationError, FrameRectifier
from common.atomic_file import atomic_path
from policies.contract import ContractError
from policies.io import PolicyIO
from policies.onnx_policy import OnnxPolicy
from so101_deploy.hardware.arm import Arm, JointConverter
from so101_deploy.hardware.bus import BusConfig, FeetechBus
from so101_deploy.hardware.calibration_file import load_calibration, locate_calibration
from so101_deploy.hardware.camera import Camera, CameraConfig
from so101_deploy.hardware.errors import CameraError, HardwareError, MotorStatusError
from so101_deploy.runtime.rate import Rate
from so101_deploy.runtime.safety import (
    BusFailureCounter,
    SafetyConfig,
    SafetyFilter,
    StaleFrameWatchdog,
    ramp,
)
from so101_deploy.runtime.telemetry import Telemetry, TickRecord


class StartupError(RuntimeError):
    """Refused before any motion (bad calibration, contract/camera mismatch...): exit code 2."""


class Stop(Exception):
    """Raised by a signal handler to end the run cleanly (torque off)."""


@dataclass
class RunConfig:
    policy: str = "policy.onnx"
    port: str = "/dev/ttyACM0"
    camera: str = "0"
    calibration: str = "so101"  # robot id (LeRobot location) or a path to the JSON
    camera_calibration: str = (
        ""  # default: <calibration file stem>_camera.json beside it; "none" = raw frames
    )
    episodes: int = 1
    max_steps: int = 200  # control ticks per episode
    dry_run: bool = False  # read camera and joints, log actions, torque stays off
    start_pose: str = "home"  # "home" (the task's home pose) or "hold" (start where the arm is)
    return_to_rest: bool = False
    out_dir: str = ""  # telemetry (ticks.jsonl, summary.json, telemetry.png); empty = none
    packet_timeout_ms: float = 20.0
    save_frames: bool = False  # frames.npz in out_dir: raw camera and policy-view images at each policy step
    safety: SafetyConfig = field(default_factory=SafetyConfig)


@dataclass
class RunResult:
    exit_code: int
    reason: str
    episodes: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)


class EpisodeJudge(Protocol):
    """Where episode resets and success come from: the twin's control endpoint, or the operator."""

    def reset(self, episode: int) -> None: ...
    def success(self) -> bool: ...
    def finish(self, episode: int) -> bool: ...


def resolve_calibration(value: str) -> Path:
    path = Path(value).expanduser()
    if path.suffix == ".json" or path.exists():
        return path
    return locate_calibration(value)


def camera_calibration_path(run: RunConfig, calibration_path: Path) -> Path | None:
    if run.camera_calibration.lower() == "none":
        return None
    if run.camera_calibration:
        return Path(run.camera_calibration).expanduser()
    return calibration_path.with_name(calibration_path.stem + "_camera.json")


class Runner:
    def __init__(
        self,
        config: RunConfig,
        judge: EpisodeJudge | None = None,
        log: Callable[[str], None] = print,
    ):
        self.config = config
        self.judge = judge
        self.log = log
        self.bus: FeetechBus | None = None
        self.camera: Camera | None = None
        self.torque = False
        self.frames: list[tuple[int, int, np.ndarray, np.ndarray]] = []

    # -- start-up -----------------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Everything that can refuse the run, before any motion."""
        cfg = self.config
        try:
            self.policy = OnnxPolicy(cfg.policy)
        except ContractError as exc:
            raise StartupError(str(exc)) from None
        contract = self.policy.contract
        self.params = ControllerParams.from_action_spec(contract.action)
        self.kinematics = ArmKinematics(arm_mjcf_path())
        calibration_path = resolve_calibration(cfg.calibration)
        try:
            calibration = load_calibration(calibration_path)
        except HardwareError as exc:
            raise StartupError(str(exc)) from None
        self.convert = JointConverter(calibration)
        if tuple(contract.joint_names) != self.convert.names:
            raise StartupError(
                f"policy joints {contract.joint_names} do not match the arm's {self.convert.names}"
            )

        cam_cal_path = camera_calibration_path(cfg, calibration_path)
        self.rectifier = None
        width = height = 0
        image_spec = contract.image
        if cam_cal_path is not None:
            try:
                cam_cal = CameraCalibration.load(cam_cal_path)
                image_spec = cam_cal.image_spec_for(contract.image)
            except CameraCalibrationError as exc:
                raise StartupError(
                    f"{exc} (camera calibration {cam_cal_path}); pass --camera-calibration none to use raw frames"
                ) from None
            self.rectifier = FrameRectifier(cam_cal)
            width, height = cam_cal.image_width, cam_cal.image_height
        self.camera_config = CameraConfig(source=cfg.camera, width=width, height=height, fps=0)
        try:
            self.io = PolicyIO(contract, image_spec)
        except ContractError as exc:
            raise StartupError(str(exc)) from None

        model_low = np.array(self.params.joint_low)
        model_high = np.array(self.params.joint_high)
        cal_low, cal_high = self._calibrated_limits()
        self.safety = SafetyFilter(
            np.maximum(model_low, cal_low),
            np.minimum(model_high, cal_high),
            cfg.safety,
            ee_height=self._lowest_tip_height,
            joint_names=self.convert.names,
        )
        self.log(f"policy {cfg.policy}: {contract.summary()}")

    def _calibrated_limits(self) -> tuple[np.ndarray, np.ndarray]:
        """The calibrated range of every joint, in sim radians (a sign of -1 swaps its ends)."""
        cal = self.convert.calibration
        at_min = self.convert.ticks_to_rad({n: c.range_min for n, c in cal.items()})
        at_max = self.convert.ticks_to_rad({n: c.range_max for n, c in cal.items()})
        return np.minimum(at_min, at_max), np.maximum(at_min, at_max)

    def _lowest_tip_height(self, q: np.ndarray) -> float:
        tool, _ = self.kinematics.fk(q)
        return float(tool[2])

    def connect(self) -> None:
        cfg = self.config
        self.bus = FeetechBus(BusConfig(port=cfg.port, packet_timeout_ms=cfg.packet_timeout_ms))
        self.bus.open()
        self.bus.connect()
        self.arm = Arm(self.bus, self.convert.calibration)
        mismatches = self.arm.calibration_mismatches()
        if mismatches:
            raise StartupError(
                "servo EEPROM does not match the calibration file: "
                + "; ".join(mismatches)
                + ". Run `so101 calibrate servos --verify` (or --import-lerobot to write the file to the servos)"
            )
        self.bus.configure()
        self.camera = Camera(self.camera_config).start()

    # -- the run ----------------------------------------------------------------------------------------------
    def run(self, confirm: Callable[[str], bool] = lambda _: True) -> RunResult:
        cfg = self.config
        telemetry = Telemetry(cfg.out_dir or None)
        episodes: list[dict] = []
        code, reason = 0, "done"
        try:
            self.prepare()
            self.connect()
            if not cfg.dry_run:
                if not confirm("Torque on and move the arm to its start pose?"):
                    raise StartupError("not confirmed by the operator")
                self.bus.torque_on()
                self.torque = True
            for episode in range(cfg.episodes):
                if self.judge is not None:
                    self.judge.reset(episode)
                self._move_to_start()
                result = self._episode(episode, telemetry)
                episodes.append(result)
                self.log(
                    f"episode {episode}: {result['steps']} steps, success={result['success']}"
                    + (f", stopped: {result['stopped']}" if result.get("stopped") else "")
                )
                if result.get("stopped"):
                    code, reason = 1, result["stopped"]
                    break
            if code == 0 and cfg.return_to_rest and self.torque:
                self._move_to(self._rest_pose())
        except StartupError as exc:
            code, reason = 2, str(exc)
        except (CameraError, HardwareError) as exc:
            code, reason = (2, str(exc)) if not episodes and not self.torque else (1, str(exc))
        except (Stop, KeyboardInterrupt):
            code, reason = 130, "interrupted: stopped, torque off"
        finally:
            self._shutdown()
        if cfg.save_frames and cfg.out_dir and self.frames:
            self._save_frames(Path(cfg.out_dir) / "frames.npz")
        successes = [e["success"] for e in episodes]
        summary = telemetry.close(
            extra={
                "exit_code": code,
                "reason": reason,
                "episodes": len(episodes),
                "successes": int(sum(successes)),
                "success_rate": float(np.mean(successes)) if successes else 0.0,
            }
        )
        return RunResult(code, reason, episodes, summary)

    def _save_frames(self, path: Path) -> None:
        """What the camera delivered and what the policy saw, per policy step (for sim/real comparisons)."""
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez_compressed(
                tmp,
                episode=np.array([f[0] for f in self.frames]),
                tick=np.array([f[1] for f in self.frames]),
                raw=np.stack([f[2] for f in self.frames]),
                policy_view=np.stack([f[3] for f in self.frames]),
            )

    def _shutdown(self) -> None:
        if self.bus is not None:
            try:
                self.bus.torque_off(raise_errors=False)
            finally:
                self.bus.close(torque_off=False)
                self.torque = False
        if self.camera is not None:
            self.camera.stop()

    def _home_pose(self) -> np.ndarray:
        return home_pose(self.kinematics, self.params)

    def _rest_pose(self) -> np.ndarray:
        return self._home_pose()

    def _move_to_start(self) -> None:
        if self.config.dry_run or self.config.start_pose == "hold":
            return
        self._move_to(self._home_pose())

    def _move_to(self, goal: np.ndarray) -> None:
        hz = self.policy.contract.control_hz
        rate = Rate(hz)
        goal = np.clip(goal, self.safety.lower, self.safety.upper)
        for waypoint in ramp(self.arm.read_rad(), goal, self.config.safety.start_pose_speed_rad_s, hz):
            self.arm.write_rad(waypoint)
            rate.sleep()

    def _episode(self, episode: int, telemetry: Telemetry) -> dict:
        cfg, contract = self.config, self.policy.contract
        rate = Rate(contract.control_hz)
        watchdog = StaleFrameWatchdog(cfg.safety)
        failures = BusFailureCounter(cfg.safety)
        self.io.reset()
        q = self.arm.read_rad()
        # What the servos hold now; like the sim's targets, it is also the controller's reference.
        last_command = q.copy()
        success, stopped = False, ""
        t0 = last_tick = time.perf_counter()
        for tick in range(cfg.max_steps):
            tick_start = rate.sleep()
            record = TickRecord(
                tick=tick, t=tick_start - t0, episode=episode, period_ms=(tick_start - last_tick) * 1e3
            )
            last_tick = tick_start
            # joints: one sync read
            t = time.perf_counter()
            try:
                q = self.arm.read_rad()
                failures.ok()
            except MotorStatusError:
                raise
            except HardwareError as exc:
                if failures.failed(exc):
                    stopped = f"{failures.consecutive} consecutive bus failures: {exc}"
                    break
                record.events.append(f"bus_read_failed: {exc}")
                telemetry.add(record)
                continue
            record.bus_read_ms = (time.perf_counter() - t) * 1e3
            # camera: newest frame and its age
            frame = self.camera.latest(max_age_s=float("inf")) if self.camera else None
            age = frame.age if frame is not None else None
            record.frame_age_ms = age * 1e3 if age is not None else float("nan")
            verdict = watchdog.check(age)
            if verdict == "stop":
                stopped = f"camera frames older than {cfg.safety.max_frame_age_s * 1000:.0f} ms for {watchdog.stale_ticks} ticks"
                break
            if verdict == "hold":
                record.held = True
                record.events.append("stale_frame_hold")
                telemetry.add(record)
                continue
            compute_start = time.perf_counter()
            if self.io.policy_due(tick):  # new observation, new action chunk
                t = time.perf_counter()
                image = self.rectifier(frame.image) if self.rectifier else frame.image
                inputs = self.io.observe(image, q)
                if cfg.save_frames:
                    self.frames.append((episode, tick, frame.image, inputs.view))
                record.preprocess_ms = (time.perf_counter() - t) * 1e3
                t = time.perf_counter()
                self.io.load(self.policy.run(inputs.rgb[None], inputs.low_dim[None])[0])
                record.inference_ms = (time.perf_counter() - t) * 1e3
            action = self.io.action_at(tick)
            wish = action_to_joint_targets(
                q, action, self.params, self.kinematics, previous_targets=last_command
            )
            safe = self.safety.apply(q, last_command, wish)
            record.compute_ms = (time.perf_counter() - compute_start) * 1e3
            record.held, record.events = safe.held, list(safe.events)
            t = time.perf_counter()
            if not cfg.dry_run:
                try:
                    self.arm.write_rad(safe.target)
                except HardwareError as exc:
                    if failures.failed(exc):
                        stopped = f"{failures.consecutive} consecutive bus failures: {exc}"
                        break
                    record.events.append(f"bus_write_failed: {exc}")
            record.bus_write_ms = (time.perf_counter() - t) * 1e3
            last_command = safe.target
            record.joint_pos, record.joint_target = q.tolist(), safe.target.tolist()
            record.action = action.tolist()
            telemetry.add(record)
            if self.judge is not None and self.judge.success():
                success = True
                break
        if self.judge is not None and not stopped:
            success = self.judge.finish(episode) or success
        return {"episode": episode, "steps": tick + 1, "success": bool(success), "stopped": stopped}
