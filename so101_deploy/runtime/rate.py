"""Fixed-rate ticking with low jitter on a stock (non-RT) Linux kernel.

``time.sleep`` alone overshoots by 0.1-1 ms on a loaded machine, so we sleep until shortly before the deadline
and spin for the rest. Deadlines advance on a fixed grid (no drift); a tick that overran is counted, and the
grid is re-anchored instead of bursting to catch up, which would send commands faster than the arm expects.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class RateStats:
    ticks: int = 0
    overruns: int = 0


class Rate:
    def __init__(self, hz: float, spin_s: float = 0.0015, clock=time.perf_counter):
        if hz <= 0:
            raise ValueError(f"rate must be positive, got {hz}")
        self.period = 1.0 / hz
        self.spin_s = spin_s
        self.clock = clock
        self.stats = RateStats()
        self._next = clock() + self.period

    def reset(self) -> None:
        self._next = self.clock() + self.period

    def sleep(self) -> float:
        """Block until the next tick; return the time it was reached."""
        remaining = self._next - self.clock()
        if remaining > self.spin_s:
            time.sleep(remaining - self.spin_s)
        while self.clock() < self._next:
            pass
        now = self.clock()
        self.stats.ticks += 1
        self._next += self.period
        if now - self._next > -self.period * 0.5:  # we are already late for the following tick
            self.stats.overruns += 1
            self._next = now + self.period
        return now
