"""Checkerboard camera calibration: pick good views automatically, solve intrinsics, derive the FOV crop.

The procedure takes frames from any source (a camera object, a folder, a twin stream) and reports progress
through a callback; the CLI owns the preview window or the terminal count.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import astuple, dataclass, field

import cv2
import numpy as np

from calibration.camera_model import CameraCalibration, CameraCalibrationError, crop_for_fovy
from robot.camera_geometry import fov_deg


@dataclass(frozen=True)
class BoardSpec:
    cols: int  # inner corners along the board's width
    rows: int  # inner corners along the board's height
    square_m: float

    @classmethod
    def parse(cls, text: str, square_m: float) -> BoardSpec:
        try:
            cols, rows = (int(v) for v in text.lower().split("x"))
        except ValueError:
            raise CameraCalibrationError(
                f"board '{text}' must be COLSxROWS inner corners, e.g. 9x6"
            ) from None
        if cols < 3 or rows < 3 or square_m <= 0:
            raise CameraCalibrationError("board needs at least 3x3 inner corners and a positive square size")
        return cls(cols, rows, square_m)

    def object_points(self) -> np.ndarray:
        grid = np.zeros((self.rows * self.cols, 3), np.float32)
        grid[:, :2] = np.mgrid[0 : self.cols, 0 : self.rows].T.reshape(-1, 2) * self.square_m
        return grid


@dataclass
class CaptureConfig:
    still_px: float = 1.5  # mean corner motion between frames below which the board counts as still
    still_frames: int = 3  # consecutive still frames before a capture
    new_view_distance: float = (
        0.2  # a capture must differ from every previous one by this much (BoardView.distance)
    )
    min_views: int = 12
    max_rms_px: float = 1.0  # refuse a calibration whose reprojection error is above this


def find_corners(frame_rgb: np.ndarray, board: BoardSpec) -> np.ndarray | None:
    """Sub-pixel inner corners (N x 2, float32) or None when the whole board is not visible."""
    gray = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2GRAY)
    found, corners = cv2.findChessboardCorners(
        gray, (board.cols, board.rows), flags=cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
    )
    if not found:
        return None
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 40, 1e-3)
    corners = cv2.cornerSubPix(gray, corners, (5, 5), (-1, -1), criteria)
    return corners.reshape(-1, 2)


@dataclass(frozen=True)
class BoardView:
    """Where and how the board sits in one view, in the parameter space ROS camera_calibration measures novelty in:
    board centre ``x`` and ``y`` (0-1 across the room the board leaves in the image), apparent ``size`` (square root
    of the image fraction it covers) and skew, the outer corners' departure from a right angle.

    Novelty used to be a mean corner displacement in pixels: tilting the board about its centre barely moves its
    corners, so five tilted hand-held views of seven counted as one pose, yet tilt is what pins down the focal
    length. Unlike ROS, skew here is signed and taken at two adjacent outer corners, so tilting towards and away,
    and about either board axis, are different views (ROS's single unsigned angle cannot tell them apart, and
    misses a tilt about the diagonal through its corner).
    """

    x: float
    y: float
    size: float
    skew_first: float  # at the first detected corner, 2 x (angle - 90 deg) in radians, clipped to [-1, 1]
    skew_second: float  # at the end of the first row

    @classmethod
    def measure(cls, corners: np.ndarray, board: BoardSpec, image_size: tuple[int, int]) -> BoardView:
        corners = np.asarray(corners, dtype=np.float64).reshape(-1, 2)
        if corners[0].sum() > corners[-1].sum():  # the detector may number a board from either end: pick one
            corners = corners[::-1]
        width, height = image_size
        first, row_end, last, last_row = (
            corners[0],
            corners[board.cols - 1],
            corners[-1],
            corners[-board.cols],
        )
        diagonal_1, diagonal_2 = last - first, last_row - row_end
        area = abs(diagonal_1[0] * diagonal_2[1] - diagonal_1[1] * diagonal_2[0]) / 2
        side = math.sqrt(area)  # the board's extent, as if square: its centre can only range over the rest
        centre = corners.mean(axis=0)
        return cls(
            x=_unit((centre[0] - side / 2) / max(width - side, 1.0)),
            y=_unit((centre[1] - side / 2) / max(height - side, 1.0)),
            size=math.sqrt(area / (width * height)),
            skew_first=_skew(last_row, first, row_end),
            skew_second=_skew(first, row_end, last),
        )

    def distance(self, other: BoardView) -> float:
        """Sum of absolute parameter differences (ROS's measure; 0.2 is its threshold for a new view)."""
        return sum(abs(a - b) for a, b in zip(astuple(self), astuple(other), strict=True))


def _unit(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


def _skew(a: np.ndarray, corner: np.ndarray, b: np.ndarray) -> float:
    """2 x (angle a-corner-b minus a right angle), clipped to [-1, 1]."""
    u, v = a - corner, b - corner
    cosine = float(np.dot(u, v) / max(np.linalg.norm(u) * np.linalg.norm(v), 1e-12))
    return max(-1.0, min(1.0, 2.0 * (math.acos(max(-1.0, min(1.0, cosine))) - math.pi / 2)))


@dataclass
class ViewSelector:
    """Automatic capture: accept a view when the board has been still for a few frames and is in a new pose."""

    board: BoardSpec
    config: CaptureConfig = field(default_factory=CaptureConfig)
    captured: list[np.ndarray] = field(default_factory=list)
    views: list[BoardView] = field(default_factory=list)
    _previous: np.ndarray | None = None
    _still: int = 0

    def offer(self, corners: np.ndarray | None, image_size: tuple[int, int]) -> bool:
        """``image_size`` is (width, height) of the frame the corners were found in."""
        if corners is None:
            self._previous, self._still = None, 0
            return False
        moving = (
            self._previous is None
            or np.linalg.norm(corners - self._previous, axis=1).mean() > self.config.still_px
        )
        self._previous = corners
        self._still = 0 if moving else self._still + 1
        if self._still < self.config.still_frames:
            return False
        view = BoardView.measure(corners, self.board, image_size)
        if any(view.distance(seen) < self.config.new_view_distance for seen in self.views):
            return False
        self.captured.append(corners)
        self.views.append(view)
        self._still = 0
        return True


@dataclass(frozen=True)
class CalibrationProgress:
    frames_seen: int
    views: int
    needed: int
    accepted_now: bool
    corners: np.ndarray | None
    frame: np.ndarray


def calibrate_from_frames(
    frames: Iterable[np.ndarray],
    board: BoardSpec,
    target_fovy_deg: float,
    config: CaptureConfig | None = None,
    on_progress: Callable[[CalibrationProgress], None] | None = None,
) -> CameraCalibration:
    """Run the whole procedure on a stream of RGB frames (stops once ``min_views`` views are captured)."""
    config = config or CaptureConfig()
    selector = ViewSelector(board, config)
    size: tuple[int, int] | None = None
    for i, frame in enumerate(frames):
        size = (frame.shape[1], frame.shape[0])
        corners = find_corners(frame, board)
        accepted = selector.offer(corners, size)
        if on_progress:
            on_progress(
                CalibrationProgress(i + 1, len(selector.captured), config.min_views, accepted, corners, frame)
            )
        if len(selector.captured) >= config.min_views:
            break
    if size is None:
        raise CameraCalibrationError("the camera delivered no frames")
    if len(selector.captured) < config.min_views:
        raise CameraCalibrationError(
            f"only {len(selector.captured)} of {config.min_views} board views captured: show the whole board, "
            "hold it still for a moment, and vary distance and tilt between views"
        )
    return solve_calibration(selector.captured, board, size, target_fovy_deg, config.max_rms_px)


def solve_calibration(
    views: list[np.ndarray],
    board: BoardSpec,
    image_size: tuple[int, int],
    target_fovy_deg: float,
    max_rms_px: float = 1.0,
) -> CameraCalibration:
    width, height = image_size
    objects = [board.object_points() for _ in views]
    images = [v.reshape(-1, 1, 2).astype(np.float32) for v in views]
    rms, K, dist, _, _ = cv2.calibrateCamera(objects, images, (width, height), None, None)  # noqa: N806
    if rms > max_rms_px:
        raise CameraCalibrationError(
            f"reprojection error {rms:.2f} px is above {max_rms_px:.2f} px: the board was probably moving, "
            "bent or mismeasured; print it flat, measure --square precisely, and hold each pose still"
        )
    ratio, centre, suggested = crop_for_fovy(K, width, height, target_fovy_deg)
    notes = ()
    if suggested is not None:
        notes = (
            f"real lens is narrower than {target_fovy_deg:g} deg; train the sim with fovy {suggested:.1f}",
        )
    return CameraCalibration(
        image_width=width,
        image_height=height,
        camera_matrix=tuple(tuple(float(x) for x in row) for row in K),
        dist_coeffs=tuple(float(x) for x in dist.ravel()[:5]),
        rms_px=float(rms),
        views=len(views),
        target_fovy_deg=float(target_fovy_deg),
        crop_fov_ratio=float(ratio),
        crop_center=(float(centre[0]), float(centre[1])),
        fov_h_deg=fov_deg(float(K[0, 0]), width),
        fov_v_deg=fov_deg(float(K[1, 1]), height),
        suggested_sim_fovy_deg=suggested,
        notes=notes,
    )
