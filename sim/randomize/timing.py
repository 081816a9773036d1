"""Timing: action latency (a queue of joint targets in physics substeps) and camera frame age, with their
configs and the sampler that draws delays from telemetry, millisecond samples or whole control steps."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from sim.latency_model import load_latency_quantiles
from sim.randomize.physics import Backlash

import mujoco
import numpy as np


@dataclass
class LatencyConfig:
    """Time from an observation to its action reaching the servos, at physics-substep resolution.

    Drawn per episode (or per control step with ``per_step``) from, in order of precedence: ``around_measured_ms``
    when ``env.wrist_camera.calibration_file`` holds a measured latency (``sim.measured_latency``),
    ``from_telemetry`` (a ``sim.latency_model`` YAML or a runtime ``ticks.jsonl``), ``ms`` (samples in
    milliseconds), else 0..``max_steps`` whole control steps, uniformly."""

    enabled: bool = False
    max_steps: int = 0
    ms: tuple[float, ...] = ()
    from_telemetry: str = ""
    per_step: bool = False
    # (low, high) ms around the measured command -> capture latency (`so101 calibrate latency`), uniformly
    around_measured_ms: tuple[float, ...] = ()


@dataclass
class ObservationDelayConfig:
    """Age of the camera frame: the image shows the scene this many control steps ago (joint readings stay
    fresh: a bus read takes ~5 ms). Drawn per episode: ``around_measured_ms`` (with a measured latency in
    ``env.wrist_camera.calibration_file``), ``from_telemetry`` (its frame_age_ms), ``ms``, else 0..``max_steps``
    steps."""

    enabled: bool = False
    max_steps: int = 0
    ms: tuple[float, ...] = ()
    from_telemetry: str = ""
    # (low, high) ms around the measured capture -> delivery frame age (`so101 calibrate latency`), uniformly
    around_measured_ms: tuple[float, ...] = ()


def delay_samples_ms(ms: Sequence[float], from_telemetry: str, which: str) -> np.ndarray:
    """The delays (ms, sorted) a config draws from: the telemetry's quantiles of ``which`` if given, else ``ms``;
    empty means whole control steps (``max_steps``)."""
    samples = (
        load_latency_quantiles(from_telemetry, which) if from_telemetry else np.asarray(ms, dtype=np.float64)
    )
    if samples.size and (not np.all(np.isfinite(samples)) or samples.min() < 0):
        raise ValueError(f"{which} samples must be finite and >= 0 ms, got {samples.tolist()}")
    return np.sort(samples)


class DelaySampler:
    """Per-episode (or per-step) delays in physics substeps, from telemetry, millisecond samples or 0..k steps."""

    def __init__(self, max_steps: int, ms: Sequence[float], from_telemetry: str, which: str, timing):
        self.timing = timing
        self.max_steps = int(max_steps)
        if self.max_steps < 0:
            raise ValueError(f"max_steps must be >= 0, got {max_steps}")
        self.samples_ms = delay_samples_ms(ms, from_telemetry, which)

    def draw_ms(self, rng: np.random.Generator) -> float:
        if self.samples_ms.size:  # inverse CDF through the sorted samples (quantiles)
            u = rng.uniform() * (self.samples_ms.size - 1)
            return float(np.interp(u, np.arange(self.samples_ms.size), self.samples_ms))
        return 1000.0 * int(rng.integers(0, self.max_steps + 1)) / self.timing.control_hz

    def draw_substeps(self, rng: np.random.Generator) -> int:
        return int(round(self.draw_ms(rng) / 1000.0 / self.timing.timestep))

    def draw_steps(self, rng: np.random.Generator) -> int:
        """Whole control steps, rounded stochastically so the mean delay is kept."""
        steps = self.draw_ms(rng) / 1000.0 * self.timing.control_hz
        return int(math.floor(steps) + (rng.uniform() < steps - math.floor(steps)))


class ActuationQueue:
    """Applies joint targets ``delay`` physics substeps after they were computed (through the gears'
    ``Backlash`` where it lands), splitting the physics where a new target lands; with no delay it is one
    ``mj_step`` of the whole control step.

    The training sim calls ``step`` once per control step (all joints' targets at once). The digital twin uses
    the same queue asynchronously: ``push`` when a servo's goal arrives from its bus, ``run`` one substep at a
    time as its real-time physics thread advances, ``release`` when a servo's torque goes off."""

    def __init__(self, latency: DelaySampler | None, per_step: bool, backlash: Backlash | None):
        self.latency, self.per_step, self.backlash = latency, per_step, backlash
        self.pending: deque[tuple[int, np.ndarray]] = deque()
        self.clock = 0
        self.last_due = 0
        self.delay = 0

    def reset(self, rng: np.random.Generator) -> None:
        self.pending.clear()
        self.clock = self.last_due = 0
        self.delay = self.latency.draw_substeps(rng) if self.latency else 0

    def _apply(self, data: mujoco.MjData, targets: np.ndarray) -> None:
        data.ctrl[:] = self.backlash.apply(targets) if self.backlash else targets

    def step(self, model, data, targets: np.ndarray, n_substeps: int, rng, snapshot=None) -> None:
        """``snapshot(data)`` is called right before the last substep (the state a frame would show)."""
        self.push(targets, rng)
        self.run(model, data, n_substeps, snapshot)

    def push(self, targets: np.ndarray, rng: np.random.Generator) -> None:
        """Queue ``targets`` (every joint) computed now; they land after this episode's (or a fresh) delay."""
        delay = self.latency.draw_substeps(rng) if (self.latency and self.per_step) else self.delay
        due = max(self.clock + delay, self.last_due)  # actions never overtake each other
        self.last_due = due
        self.pending.append((due, np.array(targets, dtype=np.float64)))

    def run(self, model, data, n_substeps: int, snapshot=None) -> None:
        """Step the physics ``n_substeps``, applying each queued target when it is due."""
        end = self.clock + n_substeps
        while self.clock < end:
            while self.pending and self.pending[0][0] <= self.clock:
                self._apply(data, self.pending.popleft()[1])
            if snapshot is not None and self.clock == end - 1:
                snapshot(data)
            stop = min(end, self.pending[0][0]) if self.pending else end
            if snapshot is not None and self.clock < end - 1:
                stop = min(stop, end - 1)
            mujoco.mj_step(model, data, nstep=stop - self.clock)
            self.clock = stop

    def release(self, data: mujoco.MjData, index: int, position: float) -> None:
        """Joint ``index``'s torque goes off at ``position``: its queued goals are dropped (the others' stay),
        it is held there at once, and its gears are taken up from there."""
        for _, targets in self.pending:
            targets[index] = position
        if self.backlash:
            self.backlash.seat(index, position)
        data.ctrl[index] = position


class FrameDelay:
    """Keeps the joint positions behind the last ``max_delay`` frames, to render the image ``delay`` steps old."""

    def __init__(self, sampler: DelaySampler, model: mujoco.MjModel):
        self.sampler = sampler
        self.delay = 0
        self.history: deque[np.ndarray] = deque(maxlen=1)
        self.scratch = mujoco.MjData(model)

    def reset(self, rng: np.random.Generator, data: mujoco.MjData) -> None:
        self.delay = self.sampler.draw_steps(rng)
        self.history = deque([data.qpos.copy()] * (self.delay + 1), maxlen=self.delay + 1)

    def snapshot(self, data: mujoco.MjData) -> None:
        self.history.append(data.qpos.copy())

    def data_to_render(self, model: mujoco.MjModel, data: mujoco.MjData) -> mujoco.MjData:
        if self.delay == 0:
            return data
        self.scratch.qpos[:] = self.history[0]
        mujoco.mj_kinematics(model, self.scratch)
        mujoco.mj_camlight(model, self.scratch)
        return self.scratch
