"""The aggregated DAgger dataset: (student inputs, expert label) pairs in a fixed-size ring, oldest dropped first.

It holds only what the student may see (``student_inputs``) and the label; at 32x32 with one frame a step is
about 3 KB, so distill_cpu's 60k steps take about 190 MB.
"""

from __future__ import annotations

import numpy as np

from policies.distill.student import StudentSpec


class LabelledDataset:
    def __init__(self, capacity: int, spec: StudentSpec, seed: int = 0):
        self.capacity = capacity
        self.rgb = np.zeros((capacity, *spec.rgb_shape), np.uint8)
        self.low_dim = np.zeros((capacity, spec.low_dim), np.float32)
        self.label = np.zeros((capacity, spec.action_dim), np.float32)
        self.size = self.cursor = 0
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.size

    def add(self, rgb: np.ndarray, low_dim: np.ndarray, label: np.ndarray) -> None:
        i = self.cursor
        self.rgb[i], self.low_dim[i], self.label[i] = rgb, low_dim, label
        self.cursor = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        idx = self.rng.integers(0, self.size, batch_size)
        return self.rgb[idx], self.low_dim[idx], self.label[idx]
