"""A still view of the real arm for comparison with the sim: gripper to an opening (if asked), wait until the
joints stop, then a frame taken after that and the joints read with it.

Alignment (``calibration.align``) and the wrist_roll check (``calibration.wrist_roll``) render the sim at the
joint angles read from the arm and compare; a frame exposed while the arm still moves pairs an image with the
wrong angles, so the frame is the second one to arrive after the arm settled (the first may have been exposed
before). Hardware comes in through small protocols (``GripperDrive`` and ``FrameSource`` of
``calibration.latency``, and ``JointReader``), so this module imports no hardware code and asks nothing of the
user.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from calibration.align import Observation, real_view
from calibration.camera_model import CameraCalibration
from calibration.latency import FrameSource, GripperDrive


class JointReader(Protocol):
    """The arm's joint angles: ``so101_deploy.hardware.arm.Arm`` is one."""

    def read_rad(self) -> np.ndarray:
        """All joints, sim radians, in ``robot.so101.JOINT_NAMES`` order."""
        ...


@dataclass(frozen=True)
class SettleConfig:
    timeout_s: float = 5.0  # still moving after this long: take the view anyway
    poll_s: float = 0.15  # between joint readings
    still_rad: float = 0.003  # largest change of any joint between two readings that counts as still
    frame_timeout_s: float = 2.0  # for each of the two frames waited for


def gripper_openings(views: int) -> list[float | None]:
    """None = the pose as it is; otherwise gripper targets (sim radians) from nearly closed to 0.4 rad: with the
    default (Menagerie) mount both jaws are in view there; from ~0.45 rad the moving jaw leaves the 60 deg view
    (docs/simulation.md), and a view of one jaw barely tells a shifted camera from a turned one."""
    if views <= 1:
        return [None]
    low, high = 0.1, 0.4
    return [low + (high - low) * i / (views - 1) for i in range(views)]


def wait_until_still(joints: JointReader, config: SettleConfig = SettleConfig()) -> None:
    deadline = time.monotonic() + config.timeout_s
    previous = joints.read_rad()
    while time.monotonic() < deadline:
        time.sleep(config.poll_s)
        now = joints.read_rad()
        if np.abs(now - previous).max() < config.still_rad:
            return
        previous = now


def capture_view(
    joints: JointReader,
    camera: FrameSource,
    calibration: CameraCalibration,
    size: int,
    gripper: GripperDrive | None = None,
    opening_rad: float | None = None,
    config: SettleConfig = SettleConfig(),
) -> Observation:
    """One observation: the gripper to ``opening_rad`` (None: as it is), still joints, a frame, the joints."""
    if opening_rad is not None:
        if gripper is None:
            raise ValueError("a gripper opening needs a gripper drive")
        gripper.move_gripper(opening_rad)
    wait_until_still(joints, config)
    first = camera.wait_new(timeout_s=config.frame_timeout_s)
    frame = camera.wait_new(first.index, timeout_s=config.frame_timeout_s)  # exposed after the arm settled
    return Observation(joints.read_rad(), real_view(frame.image, calibration, size))


def capture_views(
    joints: JointReader,
    camera: FrameSource,
    calibration: CameraCalibration,
    size: int,
    openings: Sequence[float | None],
    gripper: GripperDrive | None = None,
    config: SettleConfig = SettleConfig(),
) -> list[Observation]:
    """One observation per gripper opening (``gripper_openings``), in order."""
    return [capture_view(joints, camera, calibration, size, gripper, o, config) for o in openings]
