"""How every randomiser draws from a configured range: one checked uniform draw, and the range types."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Range = tuple[float, float]
RGB = tuple[float, float, float]


def uniform(rng: np.random.Generator, bounds: Sequence[float], size=None) -> np.ndarray | float:
    lo, hi = float(bounds[0]), float(bounds[1])
    if hi < lo:
        raise ValueError(f"range ({lo}, {hi}) has its upper end below the lower one; swap them")
    return rng.uniform(lo, hi, size)
