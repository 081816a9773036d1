"""Everything that stands between a policy's wish and the servos.

Order matters: clamp to the joint limits first (a target outside them is never meaningful), then bound the
change per tick (a policy glitch becomes a small step, not a jump), then check the end effector stays above the
table by forward kinematics (if the step would go below, hold instead). Watchdogs turn stale camera frames,
repeated bus failures and torque that dropped under the run into holds and stops.

The per-tick bound is the policy's own motion limit (its contract's ``action.max_joint_step_rad``), which the
shared controller (``sim.control``) already applies in the sim and on the arm alike; here it is a last guard
that never binds on the policy path. An operator may make it stricter, never looser (``step_guard``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sim.control import ControllerParams

import numpy as np

# The shared controller keeps the tool goal at least this high (its workspace floor), but the IK lands up to
# ~0.5 mm under its goal; the safety floor sits 2 mm lower, so it only catches what the controller would not
# have sent, and never holds a tick the sim trained through.
CONTROLLER_FLOOR_M = ControllerParams().reach_height_m[0]

# Slack for float rounding when a step the controller already bounded is measured again here.
STEP_TOLERANCE_RAD = 1e-9


@dataclass
class SafetyConfig:
    # Per control tick: one value for every joint, one per joint, or None for the policy contract's step limits
    # (what it was trained with). Stricter than the contract slows the arm below training; looser is refused.
    max_joint_step_rad: float | tuple[float, ...] | None = None
    table_z_m: float = 0.0  # table plane in the arm base frame
    min_ee_height_m: float = CONTROLLER_FLOOR_M - 0.002  # the tool point must stay this far above the table
    max_frame_age_s: float = 0.25  # older camera frames -> hold position
    stale_frames_to_stop: int = 40  # consecutive stale ticks -> stop (2 s at 20 Hz)
    max_bus_failures: int = 5  # consecutive failed bus transactions -> torque off, exit non-zero
    gripper_torque_limit: int = 500  # Max_Torque_Limit / Torque_Limit written to the gripper (of 1000)
    start_pose_speed_rad_s: float = 0.3  # slow move to the start pose
    torque_check_period_s: float = 0.5  # how often Torque_Enable is read back while driving


@dataclass(frozen=True)
class SafetyResult:
    target: np.ndarray
    held: bool
    events: tuple[str, ...]


class SafetyFilter:
    """Stateless per tick apart from the last command, so it is easy to reason about and to test."""

    def __init__(
        self,
        lower: np.ndarray,
        upper: np.ndarray,
        config: SafetyConfig | None = None,
        ee_height: Callable[[np.ndarray], float] | None = None,
        joint_names: tuple[str, ...] | None = None,
    ):
        self.lower = np.asarray(lower, float)
        self.upper = np.asarray(upper, float)
        if np.any(self.lower >= self.upper):
            raise ValueError("every joint needs lower < upper limit")
        self.config = config or SafetyConfig()
        if self.config.max_joint_step_rad is None:
            raise ValueError("SafetyConfig.max_joint_step_rad is unset: resolve it with step_guard first")
        self.max_step = np.broadcast_to(np.asarray(self.config.max_joint_step_rad, float), self.lower.shape)
        self.ee_height = ee_height
        self.joint_names = joint_names or tuple(f"joint{i}" for i in range(len(self.lower)))

    def apply(self, measured: np.ndarray, last_command: np.ndarray, wish: np.ndarray) -> SafetyResult:
        events: list[str] = []
        target = np.clip(wish, self.lower, self.upper)
        for i in np.flatnonzero(np.abs(target - wish) > 1e-9):
            events.append(f"clamp:{self.joint_names[i]}")
        last_command = np.asarray(last_command, float)
        step = target - last_command
        over = np.abs(step) > self.max_step + STEP_TOLERANCE_RAD
        if np.any(over):  # joints within the bound keep their target exactly
            events.append("step_limited")
            target = np.where(over, last_command + np.clip(step, -self.max_step, self.max_step), target)
        if self.ee_height is not None:
            height = self.ee_height(target) - self.config.table_z_m
            if height < self.config.min_ee_height_m:
                events.append(f"workspace:ee_z={height * 1000:.1f}mm")
                return SafetyResult(target=np.array(last_command, float), held=True, events=tuple(events))
        return SafetyResult(target=target, held=False, events=tuple(events))


def step_guard(
    requested: float | tuple[float, ...] | None,
    trained: tuple[float, ...],
    joint_names: tuple[str, ...],
) -> tuple[tuple[float, ...], str]:
    """The safety filter's per-joint step bound for a policy trained with ``trained``, and a note ('' if none).

    ``requested`` (the operator's ``SafetyConfig.max_joint_step_rad``) may be stricter than training on any joint:
    the run then moves slower than the policy learnt, and the note says so. Looser is refused (ValueError, one
    line): the controller moves the arm at the trained limits anyway, so a looser guard would only claim a
    speed the arm never gets.
    """
    trained_arr = np.asarray(trained, float)
    if requested is None:
        return tuple(trained_arr.tolist()), ""
    try:
        values = np.broadcast_to(np.asarray(requested, float), trained_arr.shape)
    except ValueError:
        raise ValueError(
            f"safety step limit needs one value or {len(trained_arr)} (one per joint), got {requested!r}"
        ) from None
    if not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError(f"safety step limit must be positive and finite, got {requested!r}")

    def joints(mask: np.ndarray) -> str:
        if np.all(mask) and np.ptp(values) == 0 and np.ptp(trained_arr) == 0:
            return f"{values[0]:g} vs {trained_arr[0]:g} rad/tick on every joint"
        pairs = zip(joint_names, values, trained_arr, mask, strict=True)
        return ", ".join(f"{name} {v:g} vs {t:g}" for name, v, t, m in pairs if m) + " rad/tick"

    looser = values > trained_arr + STEP_TOLERANCE_RAD
    if np.any(looser):
        raise ValueError(
            f"safety step limit is looser than the policy was trained with ({joints(looser)}): "
            f"pass --max-joint-step {trained_arr.min():g} or less, or leave it out to use the policy's"
        )
    stricter = values < trained_arr - STEP_TOLERANCE_RAD
    note = ""
    if np.any(stricter):
        note = (
            f"note: safety step limit is stricter than training ({joints(stricter)}): "
            "the arm moves slower than the policy learnt"
        )
    return tuple(values.tolist()), note


def ramp(start: np.ndarray, goal: np.ndarray, speed_rad_s: float, hz: float) -> list[np.ndarray]:
    """Waypoints from ``start`` to ``goal`` at a bounded joint speed (the slow move to the start pose)."""
    start, goal = np.asarray(start, float), np.asarray(goal, float)
    distance = float(np.max(np.abs(goal - start)))
    steps = max(1, int(np.ceil(distance / (speed_rad_s / hz))))
    return [start + (goal - start) * (k / steps) for k in range(1, steps)] + [
        goal.copy()
    ]  # ends on goal exactly


class StaleFrameWatchdog:
    """Counts consecutive ticks whose camera frame is too old; the loop holds, then stops."""

    def __init__(self, config: SafetyConfig):
        self.config = config
        self.stale_ticks = 0

    def check(self, frame_age_s: float | None) -> str:
        """'ok', 'hold' or 'stop'."""
        if frame_age_s is not None and frame_age_s <= self.config.max_frame_age_s:
            self.stale_ticks = 0
            return "ok"
        self.stale_ticks += 1
        return "stop" if self.stale_ticks >= self.config.stale_frames_to_stop else "hold"


class BusFailureCounter:
    def __init__(self, config: SafetyConfig):
        self.config = config
        self.consecutive = 0
        self.last_error: str = ""

    def ok(self) -> None:
        self.consecutive = 0

    def failed(self, error: Exception) -> bool:
        """Record a failure; True when it is time to give up."""
        self.consecutive += 1
        self.last_error = str(error)
        return self.consecutive >= self.config.max_bus_failures


class TorqueWatchdog:
    """Reads back Torque_Enable now and then: torque switched off under a run (another program on the bus, a
    servo's own protection, a brown-out) would otherwise go unnoticed, the run reporting `done` on a limp arm."""

    def __init__(self, config: SafetyConfig, control_hz: float):
        self.every = max(1, round(config.torque_check_period_s * control_hz))

    def due(self, tick: int) -> bool:
        return tick % self.every == 0

    @staticmethod
    def dropped(enabled: dict[str, bool]) -> list[str]:
        """Names of the motors whose torque is off."""
        return [name for name, on in enabled.items() if not on]
