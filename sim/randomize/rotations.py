"""Small rotations as MuJoCo quaternions (w, x, y, z): camera mount errors, distractor poses, held-out offsets."""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numpy as np


def rotvec_quat(rotvec: Sequence[float]) -> np.ndarray:
    """Unit quaternion (w, x, y, z) of a rotation vector (axis * angle, radians)."""
    v = np.asarray(rotvec, dtype=np.float64)
    angle = float(np.linalg.norm(v))
    quat = np.array([1.0, 0.0, 0.0, 0.0])
    if angle > 0:
        mujoco.mju_axisAngle2Quat(quat, v / angle, angle)
    return quat


def offset_quat(droll: float, dpitch: float, dyaw: float) -> np.ndarray:
    """Rotation by roll about x, then pitch about y, then yaw about z, all axes of the gripper body frame."""
    out, tmp = np.zeros(4), np.zeros(4)
    mujoco.mju_mulQuat(tmp, rotvec_quat((0, dpitch, 0)), rotvec_quat((droll, 0, 0)))
    mujoco.mju_mulQuat(out, rotvec_quat((0, 0, dyaw)), tmp)
    return out


def premultiply(offset: np.ndarray, quat: np.ndarray) -> np.ndarray:
    out = np.zeros(4)
    mujoco.mju_mulQuat(out, offset, quat)
    return out
