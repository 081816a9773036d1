"""Joint readings as the bus reports them: noise, calibration zero error, encoder quantisation. The joints
themselves are never touched; a zero error also shifts where commands land (``JointReadings.offset``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sim.randomize.sampling import uniform

import numpy as np

from robot.encoder import TICK_RAD


@dataclass
class JointNoiseConfig:
    """Joint readings as the real bus gives them: noise, a calibration zero error, 4096-tick quantisation.

    ``offset_deg`` is a joint-zero error: the calibration's zero is off the model's by up to this much, per
    episode and joint (LeRobot's zero is the middle of the operator's sweep, wrist_roll's the pose held at
    homing; real arms differ from the model by a few degrees). The runtime converts readings and commands with
    the same calibration, so the error shifts both: the controller reads ``true + offset`` and a target ``t``
    lands at ``t - offset``. (A reading-only offset would not be a zero error: the arm would still go exactly
    where the controller aims, and only see itself ``offset`` away from its target.) Deployable presets use
    2-3 deg."""

    enabled: bool = False
    std_deg: float = 0.1  # per reading
    offset_deg: float = 0.0  # per episode and joint, +-: the joint-zero error (readings AND commands)
    quantize: bool = True  # 4096 ticks per turn, grid origin drawn per episode


class JointReadings:
    """Joint positions as the bus reports them (the joints themselves are untouched).

    The encoder reads the output shaft (see ``sim.randomize.physics.Backlash``), so a reading is the joint's
    true angle plus a per-episode zero error (``offset``), per-reading noise and the encoder's quantisation.
    Commands go through the same calibration: :meth:`to_joint` is where a commanded angle lands. The
    training sim reads all joints at once each control step; the digital twin reads one servo at a time, as its
    bus asks (``joints``), and leaves quantisation to its emulated servo, which rounds to whole ticks itself.
    """

    def __init__(self, cfg: JointNoiseConfig, n: int = 6):
        self.cfg, self.n = cfg, n
        self.offset = np.zeros(n)
        self.grid = np.zeros(n)

    def reset(self, rng: np.random.Generator) -> None:
        off = math.radians(self.cfg.offset_deg)
        self.offset = uniform(rng, (-off, off), self.n)
        self.grid = rng.uniform(0.0, TICK_RAD, self.n)  # where the encoder's ticks fall relative to our zero

    def to_joint(self, believed: np.ndarray, joints: Sequence[int] | None = None) -> np.ndarray:
        """The true joint angle that a commanded (believed) angle ``believed`` is: the zero error removed."""
        index = slice(None) if joints is None else np.asarray(joints, dtype=np.intp)
        return np.asarray(believed, dtype=np.float64) - self.offset[index]

    def to_believed(self, q: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_joint` (no noise): what the controller calls the true angle ``q``."""
        return np.asarray(q, dtype=np.float64) + self.offset

    def read(
        self, q: np.ndarray, rng: np.random.Generator, joints: Sequence[int] | None = None
    ) -> np.ndarray:
        """Readings of ``q``: every joint, or the joints ``joints`` (``q`` then holds just those). Reading all
        joints at once or one by one in order draws the same noise from ``rng``."""
        index = slice(None) if joints is None else np.asarray(joints, dtype=np.intp)
        out = np.asarray(q, dtype=np.float64) + self.offset[index]
        if self.cfg.std_deg > 0:
            out = out + rng.normal(0.0, math.radians(self.cfg.std_deg), out.shape)
        if self.cfg.quantize:
            out = np.round((out + self.grid[index]) / TICK_RAD) * TICK_RAD - self.grid[index]
        return out
