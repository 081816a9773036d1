"""Videos of the sim world: the overview camera and a wrist camera image side by side, as H.264 mp4 through
imageio-ffmpeg.

Here rather than with the training code because two layers record them: the evaluator (``policies``: the
policy's own wrist input) and the digital twin (``so101_deploy``: its USB camera's view), and the deploy path
imports no torch. The wrist image is scaled up with nearest-neighbour so the pixels the policy saw stay visible,
keeping its aspect ratio (the policy's image is square, the twin's camera 4:3).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from common.atomic_file import atomic_path

OVERVIEW_SIZE = (240, 320)  # a video's overview render (height, width); it costs ~0.1 s a frame on a CPU


def side_by_side(overview: np.ndarray | None, wrist_chw: np.ndarray | None, height: int = 256) -> np.ndarray:
    """One H x W x 3 uint8 video frame from an overview render (HWC) and a wrist image (CHW, newest 3 channels)."""
    panels = []
    if overview is not None:
        scale = height / overview.shape[0]
        panels.append(
            cv2.resize(
                overview, (int(round(overview.shape[1] * scale)), height), interpolation=cv2.INTER_AREA
            )
        )
    if wrist_chw is not None:
        wrist = np.ascontiguousarray(wrist_chw[-3:].transpose(1, 2, 0))
        width = int(round(wrist.shape[1] * height / wrist.shape[0]))
        panels.append(cv2.resize(wrist, (width, height), interpolation=cv2.INTER_NEAREST))
    if not panels:
        raise ValueError("a video frame needs an overview render or a wrist image")
    frame = np.concatenate(panels, axis=1)
    # H.264 with yuv420p wants sides divisible by 16 (else imageio rescales with a warning): pad with black
    pad_h, pad_w = -frame.shape[0] % 16, -frame.shape[1] % 16
    return np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)))


class VideoRecorder:
    def __init__(self, fps: float = 10.0, height: int = 240):
        self.fps, self.height = fps, height
        self.frames: list[np.ndarray] = []

    def add(self, overview: np.ndarray | None, wrist_chw: np.ndarray | None) -> None:
        self.frames.append(side_by_side(overview, wrist_chw, self.height))

    def save(self, path: str | Path) -> Path:
        import imageio.v2 as imageio

        path = Path(path)
        with (
            atomic_path(path, suffix=path.suffix) as tmp,
            imageio.get_writer(tmp, fps=self.fps, codec="libx264", quality=7, macro_block_size=16) as writer,
        ):
            for frame in self.frames:
                writer.append_data(frame)
        self.frames = []
        return path
