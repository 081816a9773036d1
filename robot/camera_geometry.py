"""Pinhole camera geometry: field of view <-> focal length in pixels, and the camera matrix.

The sim describes a camera by its vertical field of view (MuJoCo's ``fovy``), OpenCV by its focal length in
pixels; the wrist camera's crop, the twin's virtual USB camera, the synthetic calibration board and the
alignment all convert between the two. One formula, here, so a real lens and the trained one are compared
with the same maths everywhere.
"""

from __future__ import annotations

import math

import numpy as np


def half_fov_tan(fov_deg: float) -> float:
    """tan(fov / 2): half the image extent at unit depth, the quantity every conversion goes through."""
    return math.tan(math.radians(fov_deg) / 2.0)


def focal_px(fov_deg: float, extent_px: float) -> float:
    """Focal length in pixels of a pinhole whose ``extent_px`` (height for fovy) spans ``fov_deg``."""
    return extent_px / (2.0 * half_fov_tan(fov_deg))


def extent_px(focal: float, fov_deg: float) -> float:
    """How many pixels span ``fov_deg`` at focal length ``focal`` (inverse of :func:`focal_px`)."""
    return 2.0 * focal * half_fov_tan(fov_deg)


def fov_deg(focal: float, extent: float) -> float:
    """Field of view, degrees, that ``extent`` pixels span at focal length ``focal`` pixels."""
    return math.degrees(2.0 * math.atan(extent / (2.0 * focal)))


def pinhole_matrix(fovy_deg: float, width: int, height: int) -> np.ndarray:
    """3x3 camera matrix of an ideal pinhole (square pixels, principal point at the image centre)."""
    f = focal_px(fovy_deg, height)
    return np.array([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]], dtype=np.float64)
