"""Wrist and overview renderers. The wrist render is the training cost, so it draws only what its camera sees.

The scene has ~400k mesh triangles and a CPU (llvmpipe) rasteriser pays for every one, even off screen. Per
frame we test each arm mesh's bounding box against the wrist camera's frustum and move the ones fully outside
into a hidden geom group. With shadows off (the default) a mesh outside the frustum cannot change a single
pixel, so the image is identical to drawing everything (tests/test_sim_render.py checks this), at several
times the speed. With shadows on, off-screen meshes cast visible shadows, so culling is switched off.
"""

from __future__ import annotations

from sim.arm_model import WRIST_CAMERA
from sim.scene import GROUP_ARM_VISUAL, GROUP_COLLISION, GROUP_CULLED, OVERVIEW_CAMERA

import mujoco
import numpy as np

from robot.camera_geometry import half_fov_tan

_CORNER_SIGNS = np.array(
    [[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64
)


def _option(show_culled: bool) -> mujoco.MjvOption:
    opt = mujoco.MjvOption()
    opt.geomgroup[GROUP_COLLISION] = 0
    opt.geomgroup[GROUP_CULLED] = 1 if show_culled else 0
    return opt


class WristRenderer:
    """Renders the wrist camera at ``size`` x ``size`` into HxWx3 uint8 RGB."""

    def __init__(self, model: mujoco.MjModel, size: int, cull: bool = True, camera: str = WRIST_CAMERA):
        self.model = model
        self.camera_id = model.camera(camera).id
        self.size = size
        self.renderer = mujoco.Renderer(model, size, size)
        shadows = bool(np.any(model.light_castshadow))
        self.cull = cull and not shadows
        self._option = _option(show_culled=not self.cull)
        self._candidates = np.flatnonzero(
            (model.geom_group == GROUP_ARM_VISUAL) | (model.geom_group == GROUP_CULLED)
        )
        self._candidates = self._candidates[model.geom_type[self._candidates] == mujoco.mjtGeom.mjGEOM_MESH]
        aabb = model.geom_aabb[self._candidates]  # local centre (3) + half sizes (3) per geom
        self._local_corners = aabb[:, None, :3] + _CORNER_SIGNS[None] * aabb[:, None, 3:]
        self._buffer = np.zeros((size, size, 3), dtype=np.uint8)
        self.culled_last = 0  # meshes skipped in the last frame
        self.frames = 0  # frames rendered so far (tests use it to prove skipped renders are skipped)

    def visible_mask(self, data: mujoco.MjData) -> np.ndarray:
        """Conservative: False only for meshes whose bounding box lies wholly outside the frustum."""
        m = self.model
        tan_y = half_fov_tan(float(m.cam_fovy[self.camera_id])) * (1 + 1e-6)
        tan_x = tan_y  # square image
        znear = m.vis.map.znear * m.stat.extent
        rot = data.geom_xmat[self._candidates].reshape(-1, 3, 3)
        world = (
            np.einsum("gij,gkj->gki", rot, self._local_corners) + data.geom_xpos[self._candidates][:, None]
        )
        cam_rot = data.cam_xmat[self.camera_id].reshape(3, 3)
        pts = (world - data.cam_xpos[self.camera_id]) @ cam_rot  # camera frame: x right, y up, looks along -z
        x, y, depth = pts[..., 0], pts[..., 1], -pts[..., 2]
        outside = (
            np.all(depth < znear, axis=1)
            | np.all(x > depth * tan_x, axis=1)
            | np.all(-x > depth * tan_x, axis=1)
            | np.all(y > depth * tan_y, axis=1)
            | np.all(-y > depth * tan_y, axis=1)
        )
        return ~outside

    def render(self, data: mujoco.MjData) -> np.ndarray:
        if self.cull:
            visible = self.visible_mask(data)
            self.model.geom_group[self._candidates] = np.where(visible, GROUP_ARM_VISUAL, GROUP_CULLED)
            self.culled_last = int((~visible).sum())
        self.renderer.update_scene(data, camera=self.camera_id, scene_option=self._option)
        self.renderer.render(out=self._buffer)
        self.frames += 1
        return self._buffer.copy()

    def close(self) -> None:
        self.renderer.close()

    def __enter__(self) -> WristRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class OverviewRenderer:
    """Fixed third-person camera for videos and docs; draws everything."""

    def __init__(
        self, model: mujoco.MjModel, height: int = 480, width: int = 640, camera: str = OVERVIEW_CAMERA
    ):
        self.camera_id = model.camera(camera).id
        self.renderer = mujoco.Renderer(model, height, width)
        self._option = _option(show_culled=True)

    def render(self, data: mujoco.MjData) -> np.ndarray:
        self.renderer.update_scene(data, camera=self.camera_id, scene_option=self._option)
        return self.renderer.render().copy()

    def close(self) -> None:
        self.renderer.close()
