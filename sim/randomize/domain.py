"""The env's one handle on the randomisers: builds the enabled ones, gives each its own random stream, and
calls them at the right points of reset, step and render."""

from __future__ import annotations

from sim.randomize.config import RandomizationConfig
from sim.randomize.physics import ActuatorRandomizer, Backlash, CubeRandomizer
from sim.randomize.sensing import JointReadings
from sim.randomize.timing import ActuationQueue, DelaySampler, FrameDelay
from sim.randomize.visual import CameraJitter, DistractorRandomizer, LightingRandomizer, SurfaceRandomizer

import mujoco
import numpy as np


class DomainRandomizer:
    """Built by the raw env only when a sim-side group is enabled; each part has its own random stream."""

    STREAMS = ("lighting", "surfaces", "distractors", "camera", "cube", "actuators", "backlash",
               "joint_noise", "latency", "obs_delay")  # fmt: skip

    def __init__(self, cfg: RandomizationConfig, model: mujoco.MjModel, task, timing, render: bool):
        self.cfg = cfg
        self.lighting = LightingRandomizer(cfg.lighting, model) if cfg.lighting.enabled else None
        self.surfaces = SurfaceRandomizer(cfg.surfaces, model) if cfg.surfaces.enabled else None
        self.distractors = DistractorRandomizer(cfg.distractors, model) if cfg.distractors.enabled else None
        self.camera = CameraJitter(cfg.camera, model) if (cfg.camera.enabled and render) else None
        self.cube = CubeRandomizer(cfg.cube, model, task.set_cube_size) if cfg.cube.enabled else None
        self.actuators = (
            ActuatorRandomizer(cfg.actuators, model, task.dadr) if cfg.actuators.enabled else None
        )
        self.backlash = Backlash(cfg.backlash) if cfg.backlash.enabled else None
        self.readings = JointReadings(cfg.joint_noise) if cfg.joint_noise.enabled else None
        lat, od = cfg.latency, cfg.obs_delay
        latency = (
            DelaySampler(lat.max_steps, lat.ms, lat.from_telemetry, "action_latency_ms", timing)
            if lat.enabled
            else None
        )
        self.queue = ActuationQueue(latency, lat.per_step, self.backlash)
        self.frames = (
            FrameDelay(DelaySampler(od.max_steps, od.ms, od.from_telemetry, "frame_age_ms", timing), model)
            if (od.enabled and render)
            else None
        )
        self.rngs = {name: np.random.default_rng(i) for i, name in enumerate(self.STREAMS)}

    def seed(self, seed_seq: np.random.SeedSequence) -> None:
        for name, child in zip(self.STREAMS, seed_seq.spawn(len(self.STREAMS)), strict=True):
            self.rngs[name] = np.random.default_rng(child)

    def before_task_reset(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        """Per-episode model changes, made before the task places anything (physics settles with them)."""
        r = self.rngs
        if self.lighting:
            self.lighting.reset(model, r["lighting"])
        if self.surfaces:
            self.surfaces.reset(model, r["surfaces"])
        if self.cube:
            self.cube.reset(model, data, r["cube"])
        if self.actuators:
            self.actuators.reset(model, r["actuators"])

    def after_task_reset(self, model, data, targets: np.ndarray, cube_xy: np.ndarray | None = None) -> None:
        """Per-episode draws once the task has placed everything: distractors around ``cube_xy`` (needed only
        with that group on), camera mount, gears taken up at ``targets``, reading offsets, latency."""
        r = self.rngs
        if self.distractors:
            self.distractors.place(model, data, cube_xy, r["distractors"])
        if self.camera:
            self.camera.reset(r["camera"])
        if self.backlash:
            self.backlash.reset(r["backlash"], targets)
        if self.readings:
            self.readings.reset(r["joint_noise"])
        self.queue.reset(r["latency"])
        if self.frames:
            self.frames.reset(r["obs_delay"], data)

    def read_joints(self, q: np.ndarray) -> np.ndarray:
        return self.readings.read(q, self.rngs["joint_noise"]) if self.readings else np.array(q, np.float64)

    def believed_targets(self, targets: np.ndarray) -> np.ndarray:
        """The task's start targets (true angles) in the controller's frame, which a zero error shifts."""
        return self.readings.to_believed(targets) if self.readings else np.asarray(targets, np.float64)

    def step_physics(self, model, data, targets: np.ndarray, n_substeps: int) -> None:
        """Drive towards the controller's ``targets``; they land off by the zero error, as through a calibration."""
        snapshot = self.frames.snapshot if self.frames else None
        joints = self.readings.to_joint(targets) if self.readings else targets
        self.queue.step(model, data, joints, n_substeps, self.rngs["latency"], snapshot)

    def data_to_render(self, model: mujoco.MjModel, data: mujoco.MjData) -> mujoco.MjData:
        """Jitter the camera for this frame; the state to draw (an older one under observation delay)."""
        target = self.frames.data_to_render(model, data) if self.frames else data
        if self.camera:
            self.camera.frame(model, target, self.rngs["camera"])
        return target
