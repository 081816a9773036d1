"""The twin's physical world: the training scene and task (``env.task``) in MuJoCo, stepped in real time.

One thread owns the physics and advances it to match the wall clock; servo goals arrive from the emulator
thread, camera frames are taken from the MJPEG thread. A lock guards the MjData. Everything the training sim
defines (scene, cube, curriculum reset, success) is reused from ``sim`` so the twin is the training world,
seen through a real-camera-like lens and a real servo bus.

The servo-side perturbations (latency, backlash, joint-reading noise) are the training randomisers themselves,
composed with fixed values: a perturbation is one point of ``RandomizationConfig``
(``sim.randomize.perturbation_config``) run through a ``DomainRandomizer``, so a held-out value means here what it
means in the held-out training sim. Goals go through the sim's ``ActuationQueue`` (latency, then the gears'
``Backlash``), readings through its ``JointReadings``; the twin only feeds them asynchronously, as its bus and
real-time physics thread go. Two differences are real ones: the emulated servo quantises readings to whole ticks
itself, and the added latency comes on top of ``so101 run``'s own (real) compute and bus delays.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from sim.arm_model import WRIST_CAMERA, arm_mjcf_path
from sim.config import EnvConfig
from sim.control import ControllerParams
from sim.kinematics import ArmKinematics
from sim.randomize import (
    PHYSICAL_KEYS,
    DomainRandomizer,
    RandomizationConfig,
    apply_visual_perturbation,
    offset_quat,
    perturbation_config,
)
from sim.scene import GROUP_COLLISION, PhysicsTiming, build_model, euler_to_quat, wrist_camera_pose
from sim.tasks import make_task

import mujoco
import numpy as np

from so101_deploy.twin.perturbation_request import VISUAL_KEYS, validate_perturbation

# Where the twin leaves the arm at each reset of a deployable (home-start) task: every joint at its calibration
# zero, the arm stretched forward high above the table. Not the home pose, so `so101 run` has to move there with
# its own start-up move, as on the real arm; the straight joint-space ramp from here to home keeps the tool
# above 8 cm, clear of any cube in the workspace.
REST_POSE_RAD = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


class EpisodeObserver(Protocol):
    """Told of every reset and control step, under the world's lock (the recorder of `so101 twin --video`)."""

    def episode_started(self, world: TwinWorld) -> None: ...

    def control_step(self, world: TwinWorld) -> None: ...


@dataclass
class Perturbations:
    """Sim-to-real gap knobs, all off by default."""

    camera_offset: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)  # dx dy dz (m), droll dpitch dyaw (rad)
    light_scale: float = 1.0  # multiplies every light's diffuse colour and the headlight
    # One point of the training randomisation (sim.randomize.perturbation_config), applied by its own code:
    latency_ms: float = 0.0  # a goal lands this much later (ActuationQueue, physics-substep resolution)
    backlash_deg: float = 0.0  # gear play of the five arm joints (Backlash: play on the goal)
    joint_noise_deg: float = 0.0  # std of the noise on every joint reading (JointReadings)


def twin_perturbation(perturbation: dict[str, Any], env_cfg: EnvConfig) -> dict[str, Any]:
    """A perturbation in the training sim's meaning (``sim.heldout``) as ``TwinWorld.perturb`` takes it.

    Only ``camera_offset`` needs translating. The sim premultiplies its rotations in the gripper body frame
    (``sim.randomize.apply_visual_perturbation``); the twin adds them to the mount's euler angles, the convention
    ``so101 calibrate align`` solves in. For the held-out set the two differ by up to 3 deg, so the twin gets the
    euler offsets that give the sim's camera pose."""
    if perturbation.get("camera_offset") is None:
        return dict(perturbation)
    offset = [float(v) for v in perturbation["camera_offset"]]
    mount = wrist_camera_pose(env_cfg.wrist_camera).euler
    quat, mat = np.zeros(4), np.zeros(9)
    mujoco.mju_mulQuat(quat, offset_quat(*offset[3:]), euler_to_quat(tuple(mount)))
    mujoco.mju_quat2Mat(mat, quat)
    r = mat.reshape(3, 3)  # = Rx(a) Ry(b) Rz(c), MuJoCo's intrinsic "xyz"
    euler = (
        math.atan2(-r[1, 2], r[2, 2]),
        math.asin(max(-1.0, min(1.0, r[0, 2]))),
        math.atan2(-r[0, 1], r[0, 0]),
    )
    turn = [math.remainder(e - m, 2 * math.pi) for e, m in zip(euler, mount, strict=True)]
    return {**perturbation, "camera_offset": [*offset[:3], *turn]}


@dataclass
class TwinCameraConfig:
    width: int = 320
    height: int = 240
    fovy_deg: float = 70.0  # vertical FOV of the virtual USB camera: wider than the sim's, like a real one
    fps: float = 15.0
    jpeg_quality: int = 85


@dataclass
class WorldConfig:
    env: EnvConfig = field(default_factory=EnvConfig)
    camera: TwinCameraConfig = field(default_factory=TwinCameraConfig)
    seed: int = 0
    real_time_factor: float = 1.0
    perturbations: Perturbations = field(default_factory=Perturbations)


class TwinWorld:
    def __init__(self, config: WorldConfig | None = None):
        self.config = config or WorldConfig()
        env_cfg = self.config.env
        self.model = build_model(env_cfg)
        self.data = mujoco.MjData(self.model)
        self.timing = PhysicsTiming.for_rate(env_cfg.control_hz)
        self.kinematics = ArmKinematics(arm_mjcf_path(env_cfg.model_path))
        self.params = ControllerParams.from_env_config(env_cfg)
        self.task = make_task(env_cfg.task, env_cfg, self.model, self.kinematics, self.params)
        self.qadr = self.task.qadr
        self.lock = threading.RLock()
        self.rng = np.random.default_rng(self.config.seed)
        self.perturbations = dataclasses.replace(self.config.perturbations)
        self._dr_seed = self.config.seed
        self.randomization, self.dr = self._compose()
        self._camera_id = self.model.camera(WRIST_CAMERA).id
        self._light_diffuse = self.model.light_diffuse.copy()
        self._headlight = self.model.vis.headlight.diffuse.copy()
        self._visual: dict[str, Any] = {}
        self._visual_snapshot = None
        self._held = np.zeros(6, dtype=bool)  # torque on: the actuator drives the joint
        self._commanded = np.zeros(6)  # the latest goal of every servo (sim radians), as queued
        self._renderer: mujoco.Renderer | None = None
        self._camera_option = mujoco.MjvOption()
        self._camera_option.geomgroup[GROUP_COLLISION] = 0
        self.recorder: EpisodeObserver | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sim_time = 0.0
        self.episode = 0
        self.success = False
        self.steps_per_control = max(1, round(1.0 / (env_cfg.control_hz * self.model.opt.timestep)))
        self.perturb({})  # the configured perturbations (camera mount, light scale) onto the scene
        self.reset(self.config.seed)

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> TwinWorld:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="twin physics", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def close_renderer(self) -> None:
        """Call from the thread that rendered (GL contexts belong to a thread)."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # -- episode -----------------------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> dict[str, Any]:
        with self.lock:
            if seed is not None:
                self.rng = np.random.default_rng(seed)
            targets = self.task.reset(self.data, self.rng)
            if self.task.is_home_start(self.task.stage):
                # Deployable start: the cube is placed, the arm is left at rest; `run` moves it home. Other
                # (training-aid) stages keep the teleport: they place the arm from the cube's true position.
                targets = self._put_arm_at_rest()
            self.data.ctrl[:] = targets  # the servos hold the arm where it is
            self._commanded = np.array(targets, dtype=np.float64)
            if seed is not None:
                self._dr_seed = seed
                self.dr.seed(np.random.SeedSequence(seed))
            self._reset_servo_models(targets)
            self.success = False
            self.episode += 1
            if self.recorder is not None:
                self.recorder.episode_started(self)
            return {
                "ok": True,
                "episode": self.episode,
                "seed": seed,
                "joint_pos": self.joint_positions().tolist(),
            }

    def _put_arm_at_rest(self) -> np.ndarray:
        rest = np.array(REST_POSE_RAD, dtype=np.float64)
        self.data.qpos[self.qadr] = rest
        self.data.qvel[self.task.dadr] = 0.0
        mujoco.mj_forward(self.model, self.data)
        return rest

    # -- what the servos see -------------------------------------------------------------------------------
    def set_goal(self, index: int, rad: float | None) -> None:
        """A servo's goal (sim radians), landing after the configured latency through the gears' play;
        None = torque off (at once: the joint is held where it is, its queued goals dropped)."""
        with self.lock:
            if rad is None:
                self._held[index] = False
                hold = float(self.data.qpos[self.qadr[index]])
                self._commanded[index] = hold
                self.dr.queue.release(self.data, index, hold)
                return
            self._held[index] = True
            if (
                self.dr.readings is not None
            ):  # a reading zero error shifts commands too (sensing.JointReadings)
                rad = float(self.dr.readings.to_joint(np.array([rad]), joints=[index])[0])
            self._commanded[index] = float(rad)
            self.dr.queue.push(self._commanded, self.dr.rngs["latency"])

    def joint_positions(self) -> np.ndarray:
        with self.lock:
            return self.data.qpos[self.qadr].copy()

    def read_joint(self, index: int) -> float:
        """What the servo's encoder reports: the joint's true angle (the encoder is on the output shaft, so
        gear play never shows here), with the reading noise; the emulated servo rounds it to ticks."""
        with self.lock:
            q = self.data.qpos[self.qadr[index]]
            if self.dr.readings is None:
                return float(q)
            return float(self.dr.readings.read(np.array([q]), self.dr.rngs["joint_noise"], joints=[index])[0])

    # -- ground truth and perturbations ------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        with self.lock:
            s = self.task.measure(self.data, np.zeros(self.params.action_dim))
            return {
                "episode": self.episode,
                "sim_time": round(self.sim_time, 4),
                "success": bool(self.success),
                **self.task.ground_truth(s),  # lift: grasped, cube_pos, tool_pos
                "joint_pos": [round(float(v), 5) for v in self.data.qpos[self.qadr]],
                "torque": [bool(h) for h in self._held],
                "stage": self.task.stage,
                "perturbations": dataclasses.asdict(self.perturbations),
            }

    def validate_perturbation(self, changes: Any) -> dict[str, Any]:
        """``changes`` checked as a whole (keys, types, finite values in range) and normalised; nothing changes."""
        return validate_perturbation(changes)

    def perturb(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply gap perturbations all at once or not at all; visual keys given together replace the previous
        visual ones. A refused request (PerturbationError) leaves the world exactly as it was."""
        changes = self.validate_perturbation(changes)
        with self.lock:
            before = dataclasses.replace(self.perturbations), dict(self._visual), self._visual_snapshot
            scene = apply_visual_perturbation(
                self.model, {}
            )  # the scene as it is: put back if applying fails
            try:
                return self._apply_perturbation(changes)
            except Exception:
                self.perturbations, self._visual, self._visual_snapshot = before
                if any(k in changes for k in PHYSICAL_KEYS):
                    self._recompose()
                self.model.light_diffuse[:] = self._light_diffuse * self.perturbations.light_scale
                scene.restore(self.model)
                mujoco.mj_forward(self.model, self.data)
                raise

    def _apply_perturbation(self, changes: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            for key, value in changes.items():
                if key not in VISUAL_KEYS:
                    setattr(self.perturbations, key, value)
            if any(k in changes for k in PHYSICAL_KEYS):
                self._recompose()
            if any(k in changes for k in VISUAL_KEYS):
                self._visual = {k: changes[k] for k in VISUAL_KEYS if k in changes}
            if self._visual_snapshot is not None:
                self._visual_snapshot.restore(self.model)
                self._visual_snapshot = None
            self._set_camera_mount()
            self.model.light_diffuse[:] = self._light_diffuse * self.perturbations.light_scale
            self.model.vis.headlight.diffuse[:] = self._headlight * self.perturbations.light_scale
            if self._visual:
                self._visual_snapshot = apply_visual_perturbation(self.model, self._visual)
            mujoco.mj_forward(self.model, self.data)
        return {"ok": True, "perturbations": dataclasses.asdict(self.perturbations), "visual": self._visual}

    # -- the servo-side perturbations: the training randomisers at one fixed point ---------------------------
    def _compose(self) -> tuple[RandomizationConfig, DomainRandomizer]:
        cfg = perturbation_config(dataclasses.asdict(self.perturbations))
        # the emulated servo quantises (Present_Position is whole ticks of the twin's calibration), not the sim
        cfg.joint_noise = dataclasses.replace(cfg.joint_noise, quantize=False)
        dr = DomainRandomizer(cfg, self.model, self.task, self.timing, render=False)
        dr.seed(np.random.SeedSequence(self._dr_seed))
        return cfg, dr

    def _reset_servo_models(self, drive: np.ndarray) -> None:
        """Fresh latency queue, gears taken up at ``drive`` (what the actuators drive to now), reading offsets."""
        self.dr.after_task_reset(
            self.model, self.data, np.array(drive, dtype=np.float64)
        )  # no distractors here

    def _recompose(self) -> None:
        """New fixed values mid-episode: the gears keep where they drive now, the latest goals land anew."""
        self.randomization, self.dr = self._compose()
        self._reset_servo_models(self.data.ctrl.copy())
        if self._held.any():
            self.dr.queue.push(self._commanded, self.dr.rngs["latency"])

    def _set_camera_mount(self) -> None:
        base = wrist_camera_pose(self.config.env.wrist_camera)
        off = self.perturbations.camera_offset
        self.model.cam_pos[self._camera_id] = np.array(base.pos) + np.array(off[:3])
        euler = tuple(b + d for b, d in zip(base.euler, off[3:], strict=True))
        self.model.cam_quat[self._camera_id] = euler_to_quat(euler)
        self.model.cam_fovy[self._camera_id] = self.config.camera.fovy_deg

    # -- camera ----------------------------------------------------------------------------------------------
    def render_camera(self) -> np.ndarray:
        """The virtual USB camera's frame (H x W x 3 RGB); create and use from one thread only."""
        if self._renderer is None:
            self._renderer = self.camera_renderer()
        with self.lock:
            self.view_camera(self._renderer, self.data)
        return self._renderer.render()

    def camera_renderer(self) -> mujoco.Renderer:
        """A renderer at the virtual USB camera's size (its GL context belongs to the calling thread)."""
        return mujoco.Renderer(self.model, self.config.camera.height, self.config.camera.width)

    def view_camera(self, renderer: mujoco.Renderer, data: mujoco.MjData) -> None:
        """Point ``renderer`` at ``data`` through the USB camera (mount, lens and lighting as perturbed now)."""
        renderer.update_scene(data, camera=self._camera_id, scene_option=self._camera_option)

    # -- physics -----------------------------------------------------------------------------------------------
    def advance(self, seconds: float) -> None:
        """Step the physics by ``seconds`` of sim time (the real-time thread calls this; tests may too)."""
        dt = self.model.opt.timestep
        steps = int(round(seconds / dt))
        with self.lock:
            for _ in range(steps):
                self.dr.queue.run(self.model, self.data, 1)  # goals due by now land, then one substep
                self.sim_time += dt
                self._physics_steps = getattr(self, "_physics_steps", 0) + 1
                if self._physics_steps % self.steps_per_control == 0:
                    state = self.task.measure(self.data, np.zeros(self.params.action_dim))
                    _, success, _ = self.task.update(state)
                    self.success |= success
                    if self.recorder is not None:
                        self.recorder.control_step(self)

    def _run(self) -> None:
        factor = self.config.real_time_factor
        chunk = 0.002
        start_wall = time.monotonic()
        start_sim = self.sim_time
        while not self._stop.is_set():
            behind = (time.monotonic() - start_wall) * factor - (self.sim_time - start_sim)
            if behind > 0.25:  # the machine cannot keep up: drop the debt rather than spiral
                start_wall = time.monotonic()
                start_sim = self.sim_time
                behind = chunk
            if behind >= chunk:
                self.advance(min(behind, 0.02))
            else:
                time.sleep(0.001)
