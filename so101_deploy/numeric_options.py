"""Bounded numeric CLI options: every number a `so101` command takes is finite and in a stated range.

A NaN servo timeout compares false with everything, so it slipped past ``<= 0`` checks and hung the loop with
torque on; ``inf`` and negatives gave tracebacks; ``twin --width -5`` failed only after a 20 s wait. So each
numeric option is declared through :func:`numeric_option` with its range, and the value is checked while the
command line is parsed, before anything starts. ``tests/test_numeric_options.py`` walks every command and
refuses a numeric option declared any other way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import typer


@dataclass(frozen=True)
class Bounds:
    """A closed or half-open range for one option; ``kind`` is int or float. Floats must also be finite."""

    name: str
    kind: type
    low: float
    high: float
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        low = "<" if self.low_open else "<="
        high = "<" if self.high_open else "<="
        return f"{_plain(self.low)} {low} x {high} {_plain(self.high)}"

    def __call__(self, raw: Any) -> int | float:
        """Typer's parser hook: the checked value, or one-line BadParameter naming the option and the range."""
        what = "an integer" if self.kind is int else "a finite number"
        try:
            value = self._parse(raw)
        except (TypeError, ValueError):
            value = None
        if value is None or not self.contains(value):
            raise typer.BadParameter(
                f"must be {what} with {self.describe()}, got {raw!r}", param_hint=f"'{self.name}'"
            )
        return value

    def _parse(self, raw: Any) -> int | float:
        if self.kind is int:
            if isinstance(raw, bool | float):
                raise ValueError(raw)
            return int(raw)
        return float(raw)

    def contains(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def numeric_option(
    name: str,
    *aliases: str,
    kind: type = float,
    low: float,
    high: float,
    low_open: bool = False,
    high_open: bool = False,
    help: str = "",  # noqa: A002 - typer's own keyword
) -> Any:
    """A ``typer.Option`` whose value is parsed by :class:`Bounds`; the range is shown in ``--help``."""
    bounds = Bounds(name, kind, low, high, low_open, high_open)
    metavar = "INTEGER" if kind is int else "FLOAT"
    text = f"{help} [{bounds.describe()}]".strip()
    return typer.Option(name, *aliases, parser=bounds, metavar=metavar, help=text)


# Ranges shared by several commands (each fact once).
SEED_MAX = 2**31 - 1  # numpy accepts any non-negative seed; episode i uses seed + i, so leave head room


def seed_option(help: str = "") -> Any:  # noqa: A002
    return numeric_option("--seed", kind=int, low=0, high=SEED_MAX, help=help)


def packet_timeout_option() -> Any:
    return numeric_option(
        "--packet-timeout-ms",
        low=0,
        high=1000,
        low_open=True,
        help="Servo reply deadline margin (raise for slow USB adapters).",
    )


MAX_EPISODES = 100_000
MAX_STEPS = 1_000_000  # control ticks of one episode: 14 h at 20 Hz
