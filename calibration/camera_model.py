"""Camera calibration results and how the runtime applies them: undistort, then crop to the sim's field of view.

A policy trained in sim saw a pinhole camera with ``fovy`` degrees. A real USB camera is wider (often 90-130
degrees) and distorted. Undistorting and centre-cropping the real frame so that its vertical FOV equals the
sim's is what makes the two images comparable; doing it with the calibrated focal length, not by eye, is what
makes it right.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from sim.config import WristCameraConfig

import cv2
import numpy as np

from common.atomic_file import write_text
from policies.contract import ImageSpec
from robot.camera_geometry import extent_px, fov_deg

CALIBRATION_VERSION = 1
_SIM_DEFAULT = WristCameraConfig()  # the sim's default mount: one source for both packages


class CameraCalibrationError(ValueError):
    """A calibration file or result that cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class SimCameraPose:
    """Wrist-camera mount as the sim should model it (written by `so101 calibrate align --solve`)."""

    pos: tuple[float, float, float] = _SIM_DEFAULT.pos
    euler: tuple[float, float, float] = _SIM_DEFAULT.euler
    fovy: float = _SIM_DEFAULT.fovy


@dataclass(frozen=True)
class MeasuredLatency:
    """Command -> first visible motion in the wrist camera, measured on the arm (`so101 calibrate latency`).

    ``command_to_capture_ms`` runs from the gripper command to the driver's timestamp of the first frame that
    shows the jaw move; ``frame_age_ms`` from that timestamp to the frame's delivery to the program. With a
    capture clock (V4L2) the two split the loop into action and image delay; with the delivery clock (streams,
    files, the twin) the second is 0 and the first holds both. Training centres its action latency and frame-age
    randomisation on them (``around_measured_ms`` in sim.randomize.timing).
    """

    median_ms: float  # command -> first changed frame delivered (the whole loop delay the policy lives with)
    command_to_capture_ms: float  # median: command -> the changed frame's timestamp
    frame_age_ms: float  # median: the changed frame's timestamp -> delivery (0 on the delivery clock)
    min_ms: float
    max_ms: float
    iqr_ms: float  # interquartile range of the samples
    samples_ms: tuple[float, ...]  # command -> delivery, one per repeat
    frame_period_ms: float  # the camera's measured frame period: the resolution of one sample
    clock: str  # "capture" (driver timestamp) or "delivery"
    step_rad: float  # the gripper step that was timed


@dataclass(frozen=True)
class CameraCalibration:
    image_width: int
    image_height: int
    camera_matrix: tuple[tuple[float, float, float], ...]  # 3x3 K
    dist_coeffs: tuple[float, ...]  # OpenCV (k1, k2, p1, p2, k3)
    rms_px: float
    views: int
    target_fovy_deg: float  # the sim fovy this calibration crops to
    crop_fov_ratio: float  # fraction of the undistorted frame's shorter side kept
    crop_center: tuple[float, float]  # principal point as fractions of (width, height)
    fov_h_deg: float  # undistorted horizontal FOV of the full frame
    fov_v_deg: float  # undistorted vertical FOV of the full frame
    suggested_sim_fovy_deg: float | None = None  # set when the real lens is narrower than the sim camera
    sim_camera: SimCameraPose | None = None
    latency: MeasuredLatency | None = None  # `so101 calibrate latency`; absent in files written before it
    version: int = CALIBRATION_VERSION
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def K(self) -> np.ndarray:  # noqa: N802 - the conventional name
        return np.array(self.camera_matrix, dtype=np.float64)

    @property
    def dist(self) -> np.ndarray:
        return np.array(self.dist_coeffs, dtype=np.float64)

    def image_spec_for(self, policy_image: ImageSpec, tolerance_deg: float = 0.5) -> ImageSpec:
        """The policy's ImageSpec with this camera's crop, or an error if the FOVs cannot be made to agree."""
        fovy = self.suggested_sim_fovy_deg or self.target_fovy_deg
        if abs(fovy - policy_image.fovy_deg) > tolerance_deg:
            raise CameraCalibrationError(
                f"policy was trained with a {policy_image.fovy_deg:g} deg camera but this calibration crops to "
                f"{fovy:.1f} deg; recalibrate with --sim-fovy {policy_image.fovy_deg:g} or retrain with fovy {fovy:.1f}"
            )
        return replace(policy_image, crop_fov_ratio=self.crop_fov_ratio, crop_center=self.crop_center)

    # -- files -----------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        return write_text(path, json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> CameraCalibration:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise CameraCalibrationError(
                f"{path}: no such camera calibration; run `so101 calibrate camera`"
            ) from None
        except json.JSONDecodeError as exc:
            raise CameraCalibrationError(f"{path}: not valid JSON ({exc})") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise CameraCalibrationError(f"{path}: cannot be read ({exc})") from None
        if not isinstance(data, dict):
            raise CameraCalibrationError(
                f"{path}: a camera calibration is a JSON object, this is a JSON {type(data).__name__}; "
                "run `so101 calibrate camera` again"
            )
        if data.get("version") != CALIBRATION_VERSION:
            raise CameraCalibrationError(
                f"{path}: camera calibration version {data.get('version')!r} not supported"
            )
        try:
            sim = data.get("sim_camera")
            data["sim_camera"] = (
                SimCameraPose(tuple(sim["pos"]), tuple(sim["euler"]), float(sim["fovy"])) if sim else None
            )
            data["camera_matrix"] = tuple(tuple(r) for r in data["camera_matrix"])
            data["dist_coeffs"] = tuple(data["dist_coeffs"])
            data["crop_center"] = tuple(data["crop_center"])
            data["notes"] = tuple(data.get("notes", ()))
            lat = data.get("latency")
            data["latency"] = (
                MeasuredLatency(**{**lat, "samples_ms": tuple(lat["samples_ms"])}) if lat else None
            )
            calibration = cls(**data)
        except (TypeError, KeyError, ValueError) as exc:
            raise CameraCalibrationError(f"{path}: missing or unknown keys ({exc})") from None
        problem = calibration.problem()
        if problem:
            raise CameraCalibrationError(f"{path}: {problem}; run `so101 calibrate camera` again")
        return calibration

    def problem(self) -> str:
        """What makes this calibration unusable ('' if nothing): every number the runtime uses, checked.

        A NaN crop ratio used to pass loading and crash the loop after torque on.
        """

        def finite(*values: object) -> bool:
            return all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values
            )

        for name in ("image_width", "image_height"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 16384:
                return f"{name} is {value!r}, not a size in pixels"
        rows = self.camera_matrix
        if len(rows) != 3 or any(len(r) != 3 for r in rows) or not finite(*(v for r in rows for v in r)):
            return "camera_matrix is not a 3x3 matrix of finite numbers"
        if not (rows[0][0] > 0 and rows[1][1] > 0):
            return "camera_matrix has a focal length <= 0"
        if not finite(*self.dist_coeffs):
            return "dist_coeffs holds a value that is not a finite number"
        if not (finite(self.crop_fov_ratio) and 0 < self.crop_fov_ratio <= 1):
            return f"crop_fov_ratio is {self.crop_fov_ratio!r}; it must be in (0, 1]"
        if len(self.crop_center) != 2 or not finite(*self.crop_center):
            return f"crop_center is {self.crop_center!r}, not two finite fractions"
        if not all(0 <= v <= 1 for v in self.crop_center):
            return f"crop_center is {self.crop_center!r}; both must be in [0, 1]"
        for name in ("target_fovy_deg", "suggested_sim_fovy_deg"):
            value = getattr(self, name)
            if value is not None and not (finite(value) and 0 < value < 180):
                return f"{name} is {value!r}; it must be in (0, 180) degrees"
        return ""


# -- geometry (the pinhole maths itself: robot.camera_geometry) ---------------------------------------------
def crop_for_fovy(K: np.ndarray, width: int, height: int, target_fovy_deg: float):  # noqa: N803
    """Square centre crop (as a fraction of the shorter side) whose vertical FOV is ``target_fovy_deg``.

    Returns (ratio, centre, suggested_sim_fovy). When the lens is narrower than the target the whole shorter
    side is kept (ratio 1) and the sim fovy that matches it is suggested instead.
    """
    fy = float(K[1, 1])
    side = extent_px(fy, target_fovy_deg)
    short = min(width, height)
    cx, cy = float(K[0, 2]) / width, float(K[1, 2]) / height
    if side > short:
        return 1.0, (cx, cy), fov_deg(fy, short)
    # keep the crop inside the frame even when the principal point is off-centre
    half_w, half_h = side / 2 / width, side / 2 / height
    cx = min(max(cx, half_w), 1 - half_w)
    cy = min(max(cy, half_h), 1 - half_h)
    return side / short, (cx, cy), None


class FrameRectifier:
    """Undistorts frames with precomputed maps (cheap enough for every control tick).

    The undistorted image keeps the calibrated camera matrix, so the crop computed from ``K`` stays valid.
    """

    def __init__(self, calibration: CameraCalibration):
        self.calibration = calibration
        size = (calibration.image_width, calibration.image_height)
        self._maps = cv2.initUndistortRectifyMap(
            calibration.K, calibration.dist, None, calibration.K, size, cv2.CV_16SC2
        )

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        if (w, h) != (self.calibration.image_width, self.calibration.image_height):
            raise CameraCalibrationError(
                f"frame is {w}x{h} but the camera was calibrated at "
                f"{self.calibration.image_width}x{self.calibration.image_height}; open the camera at that size"
            )
        return cv2.remap(frame, *self._maps, interpolation=cv2.INTER_LINEAR)
