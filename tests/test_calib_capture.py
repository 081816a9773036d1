"""calibration.capture: the still view that alignment and the wrist_roll check compare with the sim.

The whole path runs on the twin in test_calib_align.py; here the order of events is checked, which the twin
cannot show: the gripper is commanded first, the frame is one exposed after the joints stopped, and the joints
returned are read after that frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from calibration.capture import SettleConfig, capture_view, capture_views, gripper_openings
from so101_deploy.twin.app import twin_camera_calibration
from so101_deploy.twin.world import WorldConfig

FAST = SettleConfig(poll_s=0.0)


@dataclass
class Frame:
    image: np.ndarray
    timestamp: float
    index: int


class Recorder:
    """Joints that move for ``moving_reads`` readings, then stay; a camera and a gripper that log each call."""

    clock = "capture"

    def __init__(self, moving_reads: int, shape=(240, 320)):
        self.events: list[str] = []
        self.reads = 0
        self.moving_reads = moving_reads
        self.index = 10
        self.shape = shape

    def read_rad(self) -> np.ndarray:
        self.reads += 1
        self.events.append(f"read {self.reads}")
        q = np.zeros(6)
        q[0] = 0.1 * min(self.reads, self.moving_reads)  # 0.1 rad per reading until still
        return q

    def wait_new(self, after_index: int = -1, timeout_s: float = 1.0) -> Frame:
        self.index = max(self.index, after_index) + 1
        self.events.append(f"frame {self.index} after {after_index}")
        return Frame(np.full((*self.shape, 3), self.index, np.uint8), 0.0, self.index)

    def move_gripper(self, target_rad: float) -> None:
        self.events.append(f"gripper {target_rad:g}")


def test_the_gripper_moves_first_and_the_frame_is_taken_after_the_joints_stop():
    rec = Recorder(moving_reads=3)
    cal = twin_camera_calibration(WorldConfig())
    obs = capture_view(rec, rec, cal, 64, gripper=rec, opening_rad=0.3, config=FAST)
    # readings 1-3 move (0.1 rad apart), reading 4 equals 3: still; then two frames, the second after the first
    assert rec.events == [
        "gripper 0.3",
        "read 1",
        "read 2",
        "read 3",
        "read 4",
        "frame 11 after -1",
        "frame 12 after 11",
        "read 5",
    ]
    assert obs.joints[0] == pytest.approx(0.3) and obs.image.shape == (64, 64, 3)
    assert obs.image.mean() == pytest.approx(12, abs=1)  # the second frame's pixels, not the first's


def test_a_pose_as_it_is_moves_nothing_and_an_opening_needs_a_gripper():
    rec = Recorder(moving_reads=1)
    cal = twin_camera_calibration(WorldConfig())
    views = capture_views(rec, rec, cal, 32, [None], config=FAST)
    assert len(views) == 1 and not any(e.startswith("gripper") for e in rec.events)
    with pytest.raises(ValueError, match="gripper drive"):
        capture_view(rec, rec, cal, 32, opening_rad=0.2, config=FAST)


def test_gripper_openings_span_both_jaws_in_view():
    assert gripper_openings(1) == [None]
    assert gripper_openings(3) == pytest.approx([0.1, 0.25, 0.4])
