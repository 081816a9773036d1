"""A checkerboard rendered by MuJoCo at a known field of view, optionally through a known lens distortion.

This is how camera calibration is tested without a camera: the answer (fovy, distortion) is known, so the
recovered one can be checked. The digital twin uses the same board for `so101 calibrate camera` demos.
"""

from __future__ import annotations

from dataclasses import dataclass

import sim  # noqa: F401  (headless GL backend before mujoco)

import cv2
import mujoco
import numpy as np

from calibration.camera import BoardSpec
from robot.camera_geometry import half_fov_tan, pinhole_matrix


@dataclass(frozen=True)
class SyntheticCamera:
    width: int = 640
    height: int = 480
    fovy_deg: float = 75.0
    dist_coeffs: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)

    @property
    def K(self) -> np.ndarray:  # noqa: N802
        return pinhole_matrix(self.fovy_deg, self.width, self.height)


def board_xml(board: BoardSpec) -> str:
    squares_x, squares_y = board.cols + 1, board.rows + 1
    if squares_x % 2 or squares_y % 2:
        raise ValueError(
            "the synthetic board needs an even number of squares each way (odd inner-corner counts)"
        )
    half_x, half_y = squares_x * board.square_m / 2, squares_y * board.square_m / 2
    margin = 2 * board.square_m
    return f"""
<mujoco>
  <visual><headlight ambient="0.6 0.6 0.6" diffuse="0.4 0.4 0.4" specular="0 0 0"/>
          <global offwidth="1920" offheight="1440"/><quality shadowsize="0"/></visual>
  <asset>
    <texture name="board" type="2d" builtin="checker" rgb1="0.05 0.05 0.05" rgb2="0.95 0.95 0.95"
             width="512" height="512"/>
    <material name="board" texture="board" texrepeat="{squares_x // 2} {squares_y // 2}"/>
  </asset>
  <worldbody>
    <geom type="plane" size="2 2 0.1" rgba="0.35 0.35 0.38 1"/>
    <geom type="box" pos="0 0 0.001" size="{half_x + margin} {half_y + margin} 0.001" rgba="0.95 0.95 0.95 1"/>
    <geom type="plane" pos="0 0 0.0025" size="{half_x} {half_y} 0.01" material="board"/>
  </worldbody>
</mujoco>"""


def distort(image: np.ndarray, camera: SyntheticCamera) -> np.ndarray:
    """Apply the lens distortion ``camera.dist_coeffs`` to an ideal pinhole image (inverse of undistortion)."""
    if not any(camera.dist_coeffs):
        return image
    h, w = image.shape[:2]
    grid = np.stack(np.meshgrid(np.arange(w), np.arange(h)), -1).reshape(-1, 1, 2).astype(np.float64)
    K = camera.K  # noqa: N806
    ideal = (
        cv2.undistortPoints(grid, K, np.array(camera.dist_coeffs), P=K).reshape(h, w, 2).astype(np.float32)
    )
    return cv2.remap(
        image, ideal[..., 0], ideal[..., 1], interpolation=cv2.INTER_LINEAR, borderValue=(90, 90, 97)
    )


class BoardRenderer:
    """Renders the board from chosen viewpoints with a free camera of the requested fovy."""

    def __init__(self, board: BoardSpec, camera: SyntheticCamera):
        self.board, self.camera = board, camera
        self.model = mujoco.MjModel.from_xml_string(board_xml(board))
        self.model.vis.global_.fovy = camera.fovy_deg
        self.data = mujoco.MjData(self.model)
        mujoco.mj_forward(self.model, self.data)
        self.renderer = mujoco.Renderer(self.model, camera.height, camera.width)

    def render(self, azimuth: float, elevation: float, distance: float, lookat=(0.0, 0.0, 0.0)) -> np.ndarray:
        cam = mujoco.MjvCamera()
        cam.type = mujoco.mjtCamera.mjCAMERA_FREE
        cam.azimuth, cam.elevation, cam.distance = azimuth, elevation, distance
        cam.lookat[:] = lookat
        self.renderer.update_scene(self.data, camera=cam)
        return distort(self.renderer.render().copy(), self.camera)

    def random_views(self, n: int, seed: int = 0, hold: int = 1):
        """Yield ``n`` varied poses, each repeated ``hold`` times (a board held still for the auto-capture)."""
        rng = np.random.default_rng(seed)
        extent = max(self.board.cols + 1, self.board.rows + 1) * self.board.square_m
        for _ in range(n):
            distance = extent / half_fov_tan(self.camera.fovy_deg) * rng.uniform(0.75, 1.3)
            frame = self.render(
                azimuth=rng.uniform(60, 120),
                elevation=rng.uniform(-88, -55),
                distance=distance,
                lookat=(rng.uniform(-0.3, 0.3) * extent, rng.uniform(-0.3, 0.3) * extent, 0.0),
            )
            for _ in range(hold):
                yield frame

    def close(self) -> None:
        self.renderer.close()
