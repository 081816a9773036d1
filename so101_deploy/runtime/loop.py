"""`so101 run` as a library: start-up checks, the slow move to the start pose, and the fixed-rate loop.

One tick: newest camera frame -> (when the contract's action schedule asks for a policy call) rectify + the
policy inputs built by policies.io (preprocessing, frame stack, low-dim) + ONNX policy -> the schedule's action
-> the sim's own action->joint-target controller -> safety -> one sync write; joint state by one sync read.
The arm always ends with torque off, whatever ends the run (done, fault, a stop signal, a dead judge, a bug):
every ending goes through one ``finally`` that first shields the shutdown from further signals (runtime.stop),
then switches torque off, then writes the summary. Everything that can refuse the run (contract, calibrations,
port, camera, judge) is checked before torque on and refused with exit code 2, leaving no --out folder behind.
No prompts here: the CLI passes a ``confirm`` callback and an ``operator`` judge.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from sim.arm_model import arm_mjcf_path, file_sha256
from sim.control import ControllerParams, action_to_joint_targets
from sim.kinematics import ArmKinematics
from sim.poses import home_pose

import numpy as np

from calibration.camera_model import CameraCalibration, CameraCalibrationError, FrameRectifier
from common.atomic_file import atomic_path
from policies.contract import ContractError, PolicyContract, crop_box
from policies.io import PolicyIO
from policies.onnx_policy import OnnxPolicy
from so101_deploy.hardware.arm import Arm, JointConverter
from so101_deploy.hardware.bus import BusConfig, FeetechBus
from so101_deploy.hardware.calibration_file import load_calibration, locate_calibration
from so101_deploy.hardware.camera import Camera, CameraConfig
from so101_deploy.hardware.errors import CameraError, HardwareError, MotorStatusError
from so101_deploy.runtime.judges import JudgeError
from so101_deploy.runtime.rate import Rate
from so101_deploy.runtime.reproduce import camera_mount_problem, latency_note, start_state_problem
from so101_deploy.runtime.safety import (
    BusFailureCounter,
    SafetyConfig,
    SafetyFilter,
    StaleFrameWatchdog,
    TorqueWatchdog,
    ramp,
    step_guard,
)
from so101_deploy.runtime.stop import Stop, StopSignals
from so101_deploy.runtime.telemetry import Telemetry, TickRecord

__all__ = ["RunConfig", "RunResult", "Runner", "StartupError", "Stop"]


class StartupError(RuntimeError):
    """Refused before any motion (bad calibration, contract/camera mismatch...): exit code 2."""


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
    max_steps: int | None = None  # control ticks per episode; None = the contract's trained episode length
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

    def probe(self, episodes: int) -> None: ...
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
        stop: StopSignals | None = None,
    ):
        self.config = config
        self.judge = judge
        self.log = log
        self.stop = stop  # the CLI's signal handlers; shielded before the shutdown
        self.progress: dict | None = None  # the episode under way: what an interrupted run reports
        self.telemetry = Telemetry(None)  # replaced by the --out one once the start-up checks pass
        self.bus: FeetechBus | None = None
        self.camera: Camera | None = None
        self.frame_clock: str | None = (
            None  # the camera's frame clock (it outlives the camera for the summary)
        )
        self.torque = False
        # The start pose target the servos hold, once moved there (the first tick's previous command).
        self.start_command: np.ndarray | None = None
        self.frames: list[tuple[int, int, np.ndarray, np.ndarray]] = []

    # -- start-up -----------------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Everything that can refuse the run, before any motion."""
        cfg = self.config
        try:
            self.bus_config = BusConfig(port=cfg.port, packet_timeout_ms=cfg.packet_timeout_ms)
            self.bus_config.validate()
        except ValueError as exc:
            raise StartupError(str(exc)) from None
        try:
            self.policy = OnnxPolicy(cfg.policy)  # validates the contract (PolicyContract.validate)
        except ContractError as exc:
            raise StartupError(
                f"{cfg.policy}: {exc}" if str(cfg.policy) not in str(exc) else str(exc)
            ) from None
        contract = self.policy.contract
        self._check_arm_model(contract)
        try:  # the controller the policy was trained with, motion limits included
            self.params = ControllerParams.from_action_spec(contract.action)
            max_step, note = step_guard(
                cfg.safety.max_joint_step_rad, self.params.max_joint_step_rad, tuple(contract.joint_names)
            )
        except ValueError as exc:
            raise StartupError(f"{cfg.policy}: {exc}") from None
        if note:
            self.log(note)
        self.kinematics = ArmKinematics(arm_mjcf_path())
        problem = start_state_problem(contract, self._home_pose())  # --start-pose hold cannot place it either
        if problem:
            raise StartupError(problem)
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
            problem = camera_mount_problem(contract, cam_cal.sim_camera)
            if problem:
                raise StartupError(f"{problem} (camera calibration {cam_cal_path})")
            note = latency_note(contract, getattr(cam_cal, "latency", None))
            if note:
                self.log(note)
            self.rectifier = FrameRectifier(cam_cal)
            width, height = cam_cal.image_width, cam_cal.image_height
            try:
                crop_box(height, width, image_spec)
            except ContractError as exc:
                raise StartupError(f"{exc} (camera calibration {cam_cal_path})") from None
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
            replace(cfg.safety, max_joint_step_rad=max_step),
            ee_height=self._lowest_tip_height,
            joint_names=self.convert.names,
        )
        if self.judge is not None:
            try:
                self.judge.probe(cfg.episodes)
            except JudgeError as exc:
                raise StartupError(str(exc)) from None
        self.log(f"policy {cfg.policy}: {contract.summary()}")
        if cfg.max_steps is None:
            cfg.max_steps = contract.episode_steps
        elif cfg.max_steps != contract.episode_steps:
            self.log(
                f"note: episodes run {cfg.max_steps} ticks; the policy was trained and evaluated on "
                f"{contract.episode_steps} (--max-steps)"
            )

    def _check_arm_model(self, contract: PolicyContract) -> None:
        """The policy was trained on this very arm model (joint ranges, link lengths, camera mount)."""
        if not contract.arm_model_sha256:
            self.log(
                f"warning: {self.config.policy} records no arm-model hash; cannot check it was trained on this arm"
            )
            return
        local = arm_mjcf_path()
        digest = file_sha256(local)
        if digest != contract.arm_model_sha256:
            raise StartupError(
                f"policy was trained on arm model {contract.arm_model} sha256 {contract.arm_model_sha256[:12]}..., "
                f"this install's {local.name} is {digest[:12]}...: export the policy from a matching install"
            )

    def _check_first_step(self, image: np.ndarray) -> None:
        """One policy step on the camera's first frame and a zero joint reading, nothing sent: a frame the crop
        does not fit, a low-dim input of the wrong size or a graph that fails or gives the wrong shape is
        refused now, not after torque on."""
        contract = self.policy.contract
        try:
            inputs = self.io.observe(
                self.rectifier(image) if self.rectifier else image, np.zeros(len(contract.joint_names))
            )
        except (ContractError, CameraCalibrationError) as exc:
            self.io.reset()
            raise StartupError(f"{exc} (a first policy step on camera {self.config.camera})") from None
        try:
            out = self.policy.run(inputs.rgb[None], inputs.low_dim[None])[0]
            self.io.load(out)  # the action schedule takes the output apart as the loop will
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises many private types
            raise StartupError(
                f"{self.config.policy}: a first policy step failed: {str(exc)[:200]}"
            ) from None
        finally:
            self.io.reset()
        if not np.all(np.isfinite(out)):
            raise StartupError(
                f"{self.config.policy}: a first policy step gave non-finite actions {out.tolist()}"
            )

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
        self.bus = FeetechBus(self.bus_config)
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
        self.frame_clock = self.camera.clock
        self._check_first_step(self.camera.latest(max_age_s=float("inf")).image)

    # -- the run ----------------------------------------------------------------------------------------------
    def run(self, confirm: Callable[[str], bool] = lambda _: True) -> RunResult:
        outcome = _Outcome()
        try:
            self._drive(confirm, outcome)
        except Stop as exc:  # landed in the instant between the run's end and its (finished) shutdown
            outcome.code, outcome.reason = exc.exit_code, _interrupted(exc)
        cfg = self.config
        if self.progress is not None:  # an episode cut short still counts, as interrupted
            outcome.episodes.append({**self.progress, "success": False, "stopped": outcome.reason})
            self.progress = None
        if cfg.save_frames and cfg.out_dir and self.frames:
            self._save_frames(Path(cfg.out_dir) / "frames.npz")
        episodes = outcome.episodes
        successes = [e["success"] for e in episodes]
        extra = {
            "exit_code": outcome.code,
            "reason": outcome.reason,
            "episodes": len(episodes),
            "interrupted_episodes": sum(1 for e in episodes if e.get("interrupted")),
            "successes": int(sum(successes)),
            "success_rate": float(np.mean(successes)) if successes else 0.0,
            "signals": list(self.stop.received) if self.stop else [],
            # frame_age_ms counts from the driver's capture time ("capture") or from delivery
            "frame_clock": self.frame_clock,
        }
        if outcome.error_trace:  # a bug: its traceback beside the telemetry, or here if there is none yet
            if self.telemetry.out_dir:
                (self.telemetry.out_dir / "error.txt").write_text(outcome.error_trace)
            else:
                self.log(outcome.error_trace)
        summary = self.telemetry.close(extra=extra)
        return RunResult(outcome.code, outcome.reason, episodes, summary)

    def _drive(self, confirm: Callable[[str], bool], outcome: _Outcome) -> None:
        """Start-up checks, torque on, the episodes; every ending maps to (code, reason) and then the shutdown."""
        cfg = self.config
        try:
            self.prepare()
            self.connect()
            if not cfg.dry_run and not confirm("Torque on and move the arm to its start pose?"):
                raise StartupError("not confirmed by the operator")
            # Only a run that passed every start-up check leaves a telemetry folder behind.
            self.telemetry = Telemetry(cfg.out_dir or None)
            if not cfg.dry_run:
                self.torque = True  # set first: a stop during torque_on still ends with torque off
                self.bus.torque_on()
            for episode in range(cfg.episodes):
                if self.judge is not None:
                    self.judge.reset(episode)
                self._move_to_start()
                result = self._episode(episode, self.telemetry)
                self.progress = None
                outcome.episodes.append(result)
                self.log(
                    f"episode {episode}: {result['steps']} steps, success={result['success']}"
                    + (f", stopped: {result['stopped']}" if result.get("stopped") else "")
                )
                if result.get("stopped"):
                    outcome.code, outcome.reason = 1, result["stopped"]
                    break
            if outcome.code == 0 and cfg.return_to_rest and self.torque:
                self._move_to(self._rest_pose())
        except StartupError as exc:
            outcome.code, outcome.reason = 2, str(exc)
        except JudgeError as exc:
            outcome.code, outcome.reason = 1, f"twin judge failed: {exc}"
        except (CameraError, HardwareError) as exc:
            started = outcome.episodes or self.torque or self.progress is not None
            outcome.code, outcome.reason = (1 if started else 2), str(exc)
        except Stop as exc:
            outcome.code, outcome.reason = exc.exit_code, _interrupted(exc)
        except KeyboardInterrupt:  # a library caller without StopSignals
            outcome.code, outcome.reason = 130, "interrupted: stopped, torque off"
        except Exception as exc:  # noqa: BLE001 - a bug must still end named, with torque off and a summary
            outcome.code = 1
            outcome.reason = f"internal error, stopped with torque off: {type(exc).__name__}: {exc}"
            outcome.error_trace = traceback.format_exc()
        finally:
            try:
                if self.stop is not None:
                    self.stop.shield()
            finally:
                self._shutdown()

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
        """Torque off (bounded: one sync write, then each motor acknowledged), close the port, stop the camera."""
        bus, self.bus = self.bus, None
        if bus is not None:
            try:
                bus.torque_off(raise_errors=False)
            finally:
                bus.close(torque_off=False)
                self.torque = False
        camera, self.camera = self.camera, None
        if camera is not None:
            camera.stop()

    def _home_pose(self) -> np.ndarray:
        return home_pose(self.kinematics, self.params)

    def _rest_pose(self) -> np.ndarray:
        return self._home_pose()

    def _move_to_start(self) -> None:
        self.start_command = None  # nothing commanded: the first tick starts from the readings
        if self.config.dry_run:
            return
        if self.config.start_pose == "hold":
            self._check_held_start()
            return
        self.start_command = self._move_to(self._home_pose())

    def _check_held_start(self) -> None:
        """--start-pose hold starts where the arm is (an operator's experiment, and the tests' way to skip the slow
        move): say so when that is not the start the policy was trained from, rather than run it silently."""
        start = self.policy.contract.start
        if start.pose != "home" or not start.joint_pos:
            return
        off = np.abs(self.arm.read_rad() - np.asarray(start.joint_pos))
        worst = int(np.argmax(off))
        if off[worst] > start.tolerance_rad:
            self.log(
                f"note: --start-pose hold: the arm is not at the start the policy was trained from "
                f"({self.convert.names[worst]} {off[worst]:.2f} rad off, tolerance {start.tolerance_rad:g}); "
                "--start-pose home moves it there"
            )

    def _move_to(self, goal: np.ndarray) -> np.ndarray:
        """Ramps to ``goal`` (within the safety limits); returns the last target written, which the servos hold."""
        hz = self.policy.contract.control_hz
        rate = Rate(hz)
        goal = np.clip(goal, self.safety.lower, self.safety.upper)
        for waypoint in ramp(self.arm.read_rad(), goal, self.config.safety.start_pose_speed_rad_s, hz):
            self.arm.write_rad(waypoint)
            rate.sleep()
        return waypoint

    def _episode(self, episode: int, telemetry: Telemetry) -> dict:
        cfg, contract = self.config, self.policy.contract
        rate = Rate(contract.control_hz)
        watchdog = StaleFrameWatchdog(cfg.safety)
        failures = BusFailureCounter(cfg.safety)
        torque_watch = TorqueWatchdog(cfg.safety, contract.control_hz)
        self.io.reset()
        q = self.arm.read_rad()
        # What the servos hold now: the start pose just moved to (as the sim's reset targets), else the readings.
        # It is the controller's reference and the base of its step limit, as the sim's previous targets are.
        last_command = q.copy() if self.start_command is None else self.start_command.copy()
        success, stopped = False, ""
        # The action schedule counts control ticks that reach the controller, as the sim (which never skips one)
        # does: a tick skipped for a failed read or a stale frame must not shift which ticks call the policy.
        applied = 0
        t0 = last_tick = time.perf_counter()
        for tick in range(cfg.max_steps):
            tick_start = rate.sleep()
            record = TickRecord(
                tick=tick, t=tick_start - t0, episode=episode, period_ms=(tick_start - last_tick) * 1e3
            )
            last_tick = tick_start
            self.progress = {"episode": episode, "steps": tick + 1, "interrupted": True}
            # joints: one sync read
            t = time.perf_counter()
            try:
                if self.torque and torque_watch.due(tick):
                    dropped = torque_watch.dropped(self.bus.torque_enabled())
                    if dropped:
                        stopped = (
                            f"torque dropped on {', '.join(dropped)} while driving (another program on the bus, "
                            "a servo protection, or a power dip): stopped"
                        )
                        break
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
            if self.io.policy_due(applied):  # new observation, new action chunk
                t = time.perf_counter()
                image = self.rectifier(frame.image) if self.rectifier else frame.image
                inputs = self.io.observe(image, q)
                if cfg.save_frames:
                    self.frames.append((episode, tick, frame.image, inputs.view))
                record.preprocess_ms = (time.perf_counter() - t) * 1e3
                t = time.perf_counter()
                self.io.load(self.policy.run(inputs.rgb[None], inputs.low_dim[None])[0])
                record.inference_ms = (time.perf_counter() - t) * 1e3
            action = self.io.action_at(applied)
            applied += 1
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


@dataclass
class _Outcome:
    code: int = 0
    reason: str = "done"
    episodes: list[dict] = field(default_factory=list)
    error_trace: str = ""


def _interrupted(stop: Stop) -> str:
    return f"interrupted by {stop.name}: stopped, torque off"
