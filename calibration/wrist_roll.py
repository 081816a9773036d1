"""Catch a wrist_roll zero that is a quarter or half turn off, from one wrist-camera image.

LeRobot records wrist_roll over the full turn, so its zero is simply the pose the operator held at homing
(docs/calibration.md pins it: the gripper in line with the forearm, its moving jaw on top, opening upwards). Held a quarter turn off, every reading and command is 90 deg off: the arm still moves, but the
wrist image turns against the arm's motion and a policy fails without an error anywhere. The joint readings
cannot tell (the angles are self-consistent); the camera can, because it is screwed to the gripper and turns
with the roll.

So the arm is put in a pose where the wrist camera sees the table's far edge (the home pose with the wrist
tilted up by ``look_up_rad``), one frame is taken, and the sim's wrist view is rendered at the joints read
back with wrist_roll at the read angle plus each of 0, +90, -90 and 180 deg. The frame is compared with each
rendering (normalised cross-correlation of blurred grey images, the jaws masked out: they sit at the same
pixels whatever the roll). When a turned hypothesis fits clearly better (by ``margin``) than the read angle,
the calibration is refused; the message says to home again with the wrist in the documented pose.

No hardware code here: ``check_wrist_roll`` takes a ``look`` callback that moves the arm and grabs the frame;
``check_wrist_roll_on_arm`` builds it from an ``ArmDrive`` and a camera (``calibration.capture``). Rendering
goes through a small ``WristRenderer`` (``calibration.align.SimWristView`` is one).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from calibration.camera_model import CameraCalibration
from calibration.capture import JointReader, capture_view
from calibration.latency import FrameSource
from robot.so101 import JOINT_NAMES

WRIST_FLEX = JOINT_NAMES.index("wrist_flex")
WRIST_ROLL = JOINT_NAMES.index("wrist_roll")
REDO_HOMING = (
    "redo the servo calibration (`so101 calibrate servos`) holding the wrist in the documented homing pose "
    "(docs/calibration.md: gripper in line with the forearm, its moving jaw on top)"
)


class WristRenderer(Protocol):
    """The sim's wrist camera at given joint angles (sim radians), ``size`` x ``size`` RGB."""

    def full(self, joints: np.ndarray, size: int | None = None) -> np.ndarray: ...

    def jaws(self, joints: np.ndarray, size: int | None = None) -> np.ndarray: ...


class ArmDrive(JointReader, Protocol):
    """The whole arm, torque on (the CLI adapts the Feetech bus to it)."""

    def move_to(self, goal: np.ndarray) -> None:
        """Move to ``goal`` (sim radians) at a safe joint speed; return once it has been commanded there."""
        ...


@dataclass(frozen=True)
class WristRollCheckConfig:
    look_up_rad: float = 0.5  # wrist_flex raised from the home pose: the table's far edge comes into view
    hypotheses_deg: tuple[float, ...] = (0.0, 90.0, -90.0, 180.0)  # the read angle first
    size: int = 96  # compared images, pixels
    blur_px: float = 2.0  # Gaussian sigma: structure, not texture or JPEG noise
    jaw_margin_px: int = 3  # the jaws' mask grown by this (their edges are not the scene's)
    margin: float = 0.15  # a turned hypothesis must beat the read angle's correlation by this much


@dataclass(frozen=True)
class WristRollVerdict:
    scores: Mapping[float, float] = field(default_factory=dict)  # hypothesis (deg) -> correlation (-1..1)
    margin: float = 0.15

    @property
    def read_score(self) -> float:
        return self.scores[0.0]

    @property
    def best_turn_deg(self) -> float:
        return max(self.scores, key=self.scores.__getitem__)

    @property
    def ok(self) -> bool:
        turned = [s for h, s in self.scores.items() if h != 0.0]
        return not turned or max(turned) <= self.read_score + self.margin

    def message(self) -> str:
        if self.ok:
            return (
                f"wrist_roll zero ok: the wrist image fits the read angle (correlation {self.read_score:.2f}; "
                + ", ".join(f"{h:+.0f} deg {s:.2f}" for h, s in self.scores.items() if h != 0.0)
                + ")"
            )
        best = self.best_turn_deg
        return (
            f"wrist_roll zero is off by about {best:+.0f} deg: the wrist image fits that turn "
            f"(correlation {self.scores[best]:.2f}) better than the read angle ({self.read_score:.2f}); "
            + REDO_HOMING
        )


def check_pose(home: np.ndarray, config: WristRollCheckConfig = WristRollCheckConfig()) -> np.ndarray:
    """Where the arm is put for the check: the home pose with the wrist tilted up (see the module docstring)."""
    q = np.array(home, dtype=np.float64)
    q[WRIST_FLEX] -= config.look_up_rad
    return q


def _grey(image: np.ndarray, size: int, blur_px: float) -> np.ndarray:
    img = np.asarray(image)
    if img.shape[:2] != (size, size):
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY).astype(np.float64)
    return cv2.GaussianBlur(grey, (0, 0), blur_px)


def _correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    x, y = a[mask] - a[mask].mean(), b[mask] - b[mask].mean()
    denom = math.sqrt(float(x @ x) * float(y @ y))
    return float(x @ y / denom) if denom > 1e-9 else 0.0


def judge_wrist_roll(
    view: WristRenderer,
    image: np.ndarray,
    joints: np.ndarray,
    config: WristRollCheckConfig = WristRollCheckConfig(),
) -> WristRollVerdict:
    """Score the real wrist ``image`` (RGB, already prepared as the runtime prepares frames) against the sim's
    view at ``joints`` (the arm's readings) with wrist_roll turned by each hypothesis."""
    size = config.size
    real = _grey(image, size, config.blur_px)
    scores = {}
    for turn in config.hypotheses_deg:
        q = np.array(joints, dtype=np.float64)
        q[WRIST_ROLL] += math.radians(turn)
        jaws = view.jaws(q, size).max(axis=2) > 0
        grown = cv2.dilate(jaws.astype(np.uint8), np.ones((2 * config.jaw_margin_px + 1,) * 2, np.uint8))
        scene = grown == 0
        scores[float(turn)] = _correlation(real, _grey(view.full(q, size), size, config.blur_px), scene)
    return WristRollVerdict(scores=scores, margin=config.margin)


def check_wrist_roll(
    look: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    view: WristRenderer,
    home: np.ndarray,
    config: WristRollCheckConfig = WristRollCheckConfig(),
) -> WristRollVerdict:
    """Put the arm in the check pose and judge its wrist image. ``look(goal)`` moves the arm to ``goal`` (sim
    radians, through the calibration under test), waits until it is still and returns (joints read, RGB image
    prepared as the runtime prepares frames)."""
    joints, image = look(check_pose(home, config))
    return judge_wrist_roll(view, image, joints, config)


def check_wrist_roll_on_arm(
    arm: ArmDrive,
    camera: FrameSource,
    calibration: CameraCalibration,
    view: WristRenderer,
    home: np.ndarray,
    config: WristRollCheckConfig = WristRollCheckConfig(),
) -> WristRollVerdict:
    """``check_wrist_roll`` on the real arm: to the check pose, a still wrist frame prepared as the runtime
    prepares frames, then back to where the arm was (the operator left it there) whatever happened."""
    rest = arm.read_rad()

    def look(goal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        arm.move_to(goal)
        observation = capture_view(arm, camera, calibration, config.size)
        return observation.joints, observation.image

    try:
        return check_wrist_roll(look, view, home, config)
    finally:
        arm.move_to(rest)
