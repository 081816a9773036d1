"""Forward and inverse kinematics of the SO-101 tool point, computed by MuJoCo on the arm MJCF itself.

Using the same MJCF as the simulation (rather than hand-written DH parameters) means the IK can never disagree
with the sim about link lengths or joint zeros. It needs no renderer and no torch, so the real-arm runtime uses
it as is. The tool point is the ``gripperframe`` site between the jaw tips; its x axis is the approach direction.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from sim.arm_model import TOOL_SITE, arm_mjcf_path

import mujoco
import numpy as np

from robot.so101 import JOINT_NAMES

DOWN = np.array([0.0, 0.0, -1.0])
POSITION_JOINTS = (0, 1, 2, 3)  # pan, lift, elbow, wrist_flex place the tool point and tilt the approach axis


@functools.lru_cache(maxsize=4)
def _arm_model(path: str) -> mujoco.MjModel:
    """Compiled once per file and shared read-only (each ArmKinematics has its own MjData)."""
    return mujoco.MjModel.from_xml_path(path)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """3-vector cross product (np.cross costs ~20x more on tiny arrays, and the IK calls it every iteration)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


@dataclass(frozen=True)
class IKResult:
    q: np.ndarray  # (6,) joint positions, radians, JOINT_NAMES order
    position_error_m: float
    axis_error_rad: float
    iterations: int
    converged: bool


class ArmKinematics:
    """FK/IK for one arm model. Holds a private MjData as scratch space; not thread-safe."""

    def __init__(self, mjcf_path: str | Path = ""):
        self.mjcf_path = arm_mjcf_path(str(mjcf_path))
        self.model = _arm_model(str(self.mjcf_path))
        self.data = mujoco.MjData(self.model)
        joint_ids = [self.model.joint(name).id for name in JOINT_NAMES]
        self._qadr = np.array([self.model.jnt_qposadr[j] for j in joint_ids])
        self._dadr = np.array([self.model.jnt_dofadr[j] for j in joint_ids])
        self.lower = self.model.jnt_range[joint_ids, 0].copy()
        self.upper = self.model.jnt_range[joint_ids, 1].copy()
        self._site = self.model.site(TOOL_SITE).id
        self._jacp = np.zeros((3, self.model.nv))
        self._jacr = np.zeros((3, self.model.nv))

    def fk(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tool point position (3,) and orientation (3x3, columns = site axes) in the arm base frame."""
        self.data.qpos[self._qadr] = q
        mujoco.mj_kinematics(self.model, self.data)
        return self.data.site_xpos[self._site].copy(), self.data.site_xmat[self._site].reshape(3, 3).copy()

    def approach_axis(self, q: np.ndarray) -> np.ndarray:
        return self.fk(q)[1][:, 0]

    def clip(self, q: np.ndarray) -> np.ndarray:
        return np.clip(q, self.lower, self.upper)

    def solve(
        self,
        target_pos: np.ndarray,
        q_init: np.ndarray,
        approach: np.ndarray | None = DOWN,
        active: tuple[int, ...] = POSITION_JOINTS,
        max_iters: int = 50,
        pos_tol: float = 2e-4,
        axis_tol: float = 1e-3,
        damping: float = 1e-3,
        max_step_rad: float = 0.2,
    ) -> IKResult:
        """Damped least squares from ``q_init``: put the tool point at ``target_pos`` and, as far as the joint
        limits allow, turn its approach axis along ``approach`` (None: position only). Joints not in ``active``
        keep their ``q_init`` values.

        Position comes first; the axis is aligned in the null space of the position task. The SO-101 can only
        point straight down with the tool below ~9 cm (wrist_flex stops at 95 deg); higher up the gripper tilts
        as little as the limits allow instead of missing the position. Rotation about the axis is left alone
        (that is wrist_roll's business), so the axis rows are projected off the current axis.
        """
        q = self.clip(np.asarray(q_init, dtype=np.float64).copy())
        target = np.asarray(target_pos, dtype=np.float64)
        active_idx = np.array(active)
        pos_err = axis_err = np.inf
        it = 0
        previous_axis_err = np.inf
        for it in range(max_iters + 1):
            pos, rot = self.fk(q)
            e_pos = target - pos
            pos_err = float(np.linalg.norm(e_pos))
            axis = rot[:, 0]
            if approach is not None:
                e_axis = _cross(axis, approach)
                axis_err = float(np.arctan2(np.linalg.norm(e_axis), float(axis @ approach)))
            else:
                axis_err = 0.0
            if pos_err < pos_tol and (axis_err < axis_tol or previous_axis_err - axis_err < 1e-4):
                break  # converged, or the axis is as close as the joint limits allow
            if it == max_iters:
                break
            previous_axis_err = axis_err
            # The Jacobian needs cdof, which mj_kinematics leaves stale.
            mujoco.mj_comPos(self.model, self.data)
            mujoco.mj_jacSite(self.model, self.data, self._jacp, self._jacr, self._site)
            free = np.ones(len(active_idx), dtype=bool)
            for _ in range(len(active_idx)):  # drop joints that the step would push further into a limit
                dq = np.zeros(len(active_idx))
                cols = self._dadr[active_idx[free]]
                dq[free] = self._priority_step(cols, e_pos, axis, approach, damping)
                qa = q[active_idx]
                pushing = ((qa <= self.lower[active_idx] + 1e-9) & (dq < 0)) | (
                    (qa >= self.upper[active_idx] - 1e-9) & (dq > 0)
                )
                if not pushing[free].any():
                    break
                free &= ~pushing
                if not free.any():
                    break
            largest = float(np.max(np.abs(dq)))
            if largest < 1e-7:
                break  # stuck at the best compromise the limits allow
            if largest > max_step_rad:
                dq *= max_step_rad / largest
            q[active_idx] += dq
            q = self.clip(q)
        return IKResult(q, pos_err, axis_err, it, pos_err < 5 * pos_tol)

    def _priority_step(
        self,
        cols: np.ndarray,
        e_pos: np.ndarray,
        axis: np.ndarray,
        approach: np.ndarray | None,
        damping: float,
    ) -> np.ndarray:
        jac_p = self._jacp[:, cols]
        lam = damping**2 * np.eye(3)
        pinv_p = jac_p.T @ np.linalg.inv(jac_p @ jac_p.T + lam)
        dq = pinv_p @ e_pos
        if approach is None:
            return dq
        null = np.eye(len(cols)) - pinv_p @ jac_p
        jac_a = (np.eye(3) - np.outer(axis, axis)) @ self._jacr[:, cols]
        e_axis = _cross(axis, approach) - jac_a @ dq
        jn = jac_a @ null
        return dq + null @ (jn.T @ np.linalg.solve(jn @ jn.T + lam, e_axis))
