"""Joint readings as the bus reports them: noise, calibration offset, encoder quantisation. The joints
themselves are never touched."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sim.randomize.sampling import uniform

import numpy as np

from robot.encoder import TICK_RAD


@dataclass
class JointNoiseConfig:
    """Joint readings as the real bus gives them: noise, a calibration offset, 4096-tick quantisation.
    Changes what the policy and the controller read, never the joints themselves."""

    enabled: bool = False
    std_deg: float = 0.1  # per reading
    offset_deg: float = 0.0  # per episode and joint, +- (calibration error)
    quantize: bool = True  # 4096 ticks per turn, grid origin drawn per episode


class JointReadings:
    """Joint positions as the bus reports them (the joints themselves are untouched).

    The encoder reads the output shaft (see ``sim.randomize.physics.Backlash``), so a reading is the joint's
    true angle plus a per-episode calibration offset, per-reading noise and the encoder's quantisation. The
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
