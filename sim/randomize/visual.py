"""Visual randomisers: lighting, surfaces, distractors and wrist-camera jitter, each with its config; and the
held-out visual perturbation (fixed values) the twin and the held-out sim put onto a model.

They mutate only visual model fields, never physics (tests compare the MjModel arrays: ``changed_fields``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sim.arm_model import WRIST_CAMERA
from sim.randomize.rotations import offset_quat, premultiply, rotvec_quat
from sim.randomize.sampling import RGB, Range, uniform
from sim.randomize.scene_elements import (
    CUBE_GEOM,
    DISTRACTOR_PREFIX,
    HELDOUT_TABLE_TEXTURES,
    HIDDEN_Z,
    KEY_LIGHT,
    PLAIN_TABLE,
    TABLE_GEOM,
    TABLE_TEXTURES,
    TRAIN_TABLE_TEXTURES,
    table_material,
)

import mujoco
import numpy as np


@dataclass
class LightingConfig:
    """Key light direction, intensity and colour, global ambient and headlight; per episode, visual only."""

    enabled: bool = False
    dir_cone_deg: float = 25.0  # key light direction within this angle of the scene's
    intensity: Range = (0.6, 1.4)  # key light diffuse, times the scene's
    color_jitter: float = 0.1  # key light colour, per channel times 1 +- this
    ambient: Range = (0.2, 0.5)  # headlight ambient level (grey; the scene's is 0.35)
    headlight: Range = (0.2, 0.5)  # headlight diffuse level (grey; the scene's is 0.35)


@dataclass
class SurfaceConfig:
    """Table colour and texture, cube colour; per episode, visual only."""

    enabled: bool = False
    table_rgb_low: RGB = (0.45, 0.40, 0.32)
    table_rgb_high: RGB = (0.95, 0.90, 0.82)
    table_textures: tuple[str, ...] = TRAIN_TABLE_TEXTURES
    texture_scale: Range = (0.6, 1.6)  # pattern size, times the texture's own repeat
    cube_rgb_low: RGB = (0.60, 0.00, 0.00)
    cube_rgb_high: RGB = (1.00, 0.30, 0.30)


@dataclass
class DistractorConfig:
    """Small visual-only objects on the table near the cube (no collisions: the task stays the same)."""

    enabled: bool = False
    count: int = 3  # slots built into the scene (box, cylinder, sphere, capsule, ...)
    probability: float = 0.7  # each slot is on the table this often
    size_m: Range = (0.008, 0.025)  # half size
    distance_m: Range = (0.05, 0.15)  # from the cube centre, in the table plane
    rgb_low: RGB = (0.0, 0.0, 0.0)
    rgb_high: RGB = (1.0, 1.0, 1.0)


@dataclass
class CameraJitterConfig:
    """Wrist camera pose and fovy around the configured/calibrated values: a per-episode mount error plus
    per-frame shake, in the gripper body frame. Visual only."""

    enabled: bool = False
    episode_pos_m: float = 0.004  # per axis, +-
    episode_rot_deg: float = 2.0  # per axis, +-
    frame_pos_m: float = 0.001
    frame_rot_deg: float = 0.5
    fovy_deg: float = 1.5  # per frame, +-


def _direction_in_cone(rng: np.random.Generator, axis: np.ndarray, cone_deg: float) -> np.ndarray:
    """Uniform over the solid angle within ``cone_deg`` of ``axis``."""
    axis = axis / np.linalg.norm(axis)
    cos_t = 1.0 - rng.uniform() * (1.0 - math.cos(math.radians(cone_deg)))
    sin_t, phi = math.sqrt(max(0.0, 1.0 - cos_t * cos_t)), rng.uniform(0, 2 * math.pi)
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u)
    w = np.cross(axis, u)
    return cos_t * axis + sin_t * (math.cos(phi) * u + math.sin(phi) * w)


class LightingRandomizer:
    def __init__(self, cfg: LightingConfig, model: mujoco.MjModel):
        self.cfg = cfg
        self.light = model.light(KEY_LIGHT).id
        self.dir0 = model.light_dir[self.light].copy()
        self.diffuse0 = model.light_diffuse[self.light].copy()

    def reset(self, model: mujoco.MjModel, rng: np.random.Generator) -> None:
        c = self.cfg
        model.light_dir[self.light] = _direction_in_cone(rng, self.dir0, c.dir_cone_deg)
        tint = 1.0 + uniform(rng, (-c.color_jitter, c.color_jitter), 3)
        model.light_diffuse[self.light] = np.clip(self.diffuse0 * uniform(rng, c.intensity) * tint, 0, 1)
        model.vis.headlight.ambient[:] = uniform(rng, c.ambient)
        model.vis.headlight.diffuse[:] = uniform(rng, c.headlight)


class SurfaceRandomizer:
    def __init__(self, cfg: SurfaceConfig, model: mujoco.MjModel):
        bad = [t for t in cfg.table_textures if t not in TRAIN_TABLE_TEXTURES]
        if bad or not cfg.table_textures:
            raise ValueError(
                f"env.randomization.surfaces.table_textures {list(cfg.table_textures)}: choose from "
                f"{list(TRAIN_TABLE_TEXTURES)} ({', '.join(HELDOUT_TABLE_TEXTURES)} are kept for held-out tests)"
            )
        self.cfg = cfg
        self.table = model.geom(TABLE_GEOM).id
        self.cube = model.geom(CUBE_GEOM).id
        self.materials = [
            -1 if t == PLAIN_TABLE else model.material(table_material(t)).id for t in cfg.table_textures
        ]
        self.repeats = [0.0 if t == PLAIN_TABLE else TABLE_TEXTURES[t][6] for t in cfg.table_textures]

    def reset(self, model: mujoco.MjModel, rng: np.random.Generator) -> None:
        c = self.cfg
        model.geom_rgba[self.table, :3] = rng.uniform(c.table_rgb_low, c.table_rgb_high)
        model.geom_rgba[self.cube, :3] = rng.uniform(c.cube_rgb_low, c.cube_rgb_high)
        i = int(rng.integers(len(self.materials)))
        model.geom_matid[self.table] = self.materials[i]
        if self.materials[i] >= 0:
            model.mat_texrepeat[self.materials[i]] = self.repeats[i] * uniform(rng, c.texture_scale)


class DistractorRandomizer:
    """Places the distractor geoms after the cube is placed; writes their world poses into ``data`` too, so the
    first frame shows them without a kinematics pass (which would touch the arm's state)."""

    def __init__(self, cfg: DistractorConfig, model: mujoco.MjModel, table_top: float = 0.0):
        self.cfg = cfg
        self.geoms = [model.geom(f"{DISTRACTOR_PREFIX}{i}").id for i in range(cfg.count)]
        self.table = model.geom(TABLE_GEOM).id
        self.table_top = table_top

    def place(self, model: mujoco.MjModel, data: mujoco.MjData, cube_xy: np.ndarray, rng) -> None:
        c = self.cfg
        centre, half = model.geom_pos[self.table, :2], model.geom_size[self.table, :2] - 0.03
        for g in self.geoms:
            s = uniform(rng, c.size_m, 3)
            kind = model.geom_type[g]
            if kind == mujoco.mjtGeom.mjGEOM_BOX:
                size, z = s, s[2]
            elif kind == mujoco.mjtGeom.mjGEOM_SPHERE:
                size, z = np.array([s[0], 0, 0]), s[0]
            elif kind == mujoco.mjtGeom.mjGEOM_CAPSULE:  # lying on its side
                size, z = np.array([s[0], s[1], 0]), s[0]
            else:  # cylinder, standing
                size, z = np.array([s[0], s[1], 0]), s[1]
            r, phi, yaw = uniform(rng, c.distance_m), rng.uniform(0, 2 * np.pi), rng.uniform(0, 2 * np.pi)
            xy = np.clip(cube_xy + r * np.array([np.cos(phi), np.sin(phi)]), centre - half, centre + half)
            quat = rotvec_quat((0, 0, yaw))
            if kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
                quat = premultiply(quat, rotvec_quat((np.pi / 2, 0, 0)))
            shown = rng.uniform() < c.probability
            pos = np.array([*xy, self.table_top + z]) if shown else np.array([0.0, 0.0, HIDDEN_Z])
            model.geom_size[g] = size
            model.geom_rgba[g] = [*rng.uniform(c.rgb_low, c.rgb_high), 1.0]
            model.geom_pos[g], model.geom_quat[g] = pos, quat
            data.geom_xpos[g] = pos
            mujoco.mju_quat2Mat(data.geom_xmat[g], quat)


class CameraJitter:
    """Wrist camera pose and fovy around the compiled (configured or calibrated) values, redrawn per frame."""

    def __init__(self, cfg: CameraJitterConfig, model: mujoco.MjModel):
        self.cfg = cfg
        self.cam = model.camera(WRIST_CAMERA).id
        self.pos0 = model.cam_pos[self.cam].copy()
        self.quat0 = model.cam_quat[self.cam].copy()
        self.fovy0 = float(model.cam_fovy[self.cam])
        self.episode_pos = np.zeros(3)
        self.episode_quat = np.array([1.0, 0.0, 0.0, 0.0])

    def reset(self, rng: np.random.Generator) -> None:
        c = self.cfg
        self.episode_pos = uniform(rng, (-c.episode_pos_m, c.episode_pos_m), 3)
        rot = np.radians(uniform(rng, (-c.episode_rot_deg, c.episode_rot_deg), 3))
        self.episode_quat = rotvec_quat(rot)

    def frame(self, model: mujoco.MjModel, data: mujoco.MjData, rng: np.random.Generator) -> None:
        c = self.cfg
        shake = rotvec_quat(np.radians(uniform(rng, (-c.frame_rot_deg, c.frame_rot_deg), 3)))
        model.cam_pos[self.cam] = (
            self.pos0 + self.episode_pos + uniform(rng, (-c.frame_pos_m, c.frame_pos_m), 3)
        )
        model.cam_quat[self.cam] = premultiply(premultiply(shake, self.episode_quat), self.quat0)
        model.cam_fovy[self.cam] = self.fovy0 + uniform(rng, (-c.fovy_deg, c.fovy_deg))
        mujoco.mj_camlight(model, data)  # camera world pose from the new mount; touches nothing else


VISUAL_KEYS = ("lighting", "table_rgba", "table_texture", "camera_offset")


@dataclass
class VisualSnapshot:
    """The visual model fields a perturbation changes, as they were; ``restore`` puts them back."""

    values: dict[str, np.ndarray]

    def restore(self, model: mujoco.MjModel) -> None:
        light, table, cam = (
            model.light(KEY_LIGHT).id,
            model.geom(TABLE_GEOM).id,
            model.camera(WRIST_CAMERA).id,
        )
        v = self.values
        model.light_dir[light], model.light_diffuse[light] = v["light_dir"], v["light_diffuse"]
        model.vis.headlight.ambient[:], model.vis.headlight.diffuse[:] = v["ambient"], v["headlight"]
        model.geom_rgba[table], model.geom_matid[table] = v["table_rgba"], int(v["table_matid"])
        model.cam_pos[cam], model.cam_quat[cam] = v["cam_pos"], v["cam_quat"]


def apply_visual_perturbation(model: mujoco.MjModel, perturbation: dict[str, Any]) -> VisualSnapshot:
    """Put a perturbation's visual keys onto ``model`` (any scene built by ``sim.scene``); others are ignored.

    - ``lighting``: ``dir`` (key light direction, world), ``diffuse`` (key light rgb), ``ambient`` and
      ``headlight`` (global headlight ambient/diffuse rgb); absolute values, any subset.
    - ``table_rgba``; ``table_texture``: one of ``TABLE_TEXTURES`` or ``"plain"``.
    - ``camera_offset``: [dx, dy, dz, droll, dpitch, dyaw], metres and radians in the gripper body frame,
      relative to the wrist camera pose ``model`` has now (roll about x, then pitch about y, then yaw about z).

    Call ``mj_forward`` (or step) afterwards so that camera and light world poses follow. Returns a snapshot
    whose ``restore(model)`` undoes it (applying twice would add the camera offset twice).
    """
    light, table, cam = model.light(KEY_LIGHT).id, model.geom(TABLE_GEOM).id, model.camera(WRIST_CAMERA).id
    snap = VisualSnapshot(
        {
            "light_dir": model.light_dir[light].copy(),
            "light_diffuse": model.light_diffuse[light].copy(),
            "ambient": model.vis.headlight.ambient.copy(),
            "headlight": model.vis.headlight.diffuse.copy(),
            "table_rgba": model.geom_rgba[table].copy(),
            "table_matid": np.array(model.geom_matid[table]),
            "cam_pos": model.cam_pos[cam].copy(),
            "cam_quat": model.cam_quat[cam].copy(),
        }
    )
    lighting = perturbation.get("lighting") or {}
    unknown = set(lighting) - {"dir", "diffuse", "ambient", "headlight"}
    if unknown:
        raise ValueError(f"unknown lighting keys {sorted(unknown)}; valid: dir, diffuse, ambient, headlight")
    if "dir" in lighting:
        d = np.asarray(lighting["dir"], dtype=np.float64)
        model.light_dir[light] = d / np.linalg.norm(d)
    if "diffuse" in lighting:
        model.light_diffuse[light] = lighting["diffuse"]
    if "ambient" in lighting:
        model.vis.headlight.ambient[:] = lighting["ambient"]
    if "headlight" in lighting:
        model.vis.headlight.diffuse[:] = lighting["headlight"]
    if perturbation.get("table_rgba") is not None:
        model.geom_rgba[table] = perturbation["table_rgba"]
    texture = perturbation.get("table_texture")
    if texture:
        if texture != PLAIN_TABLE and texture not in TABLE_TEXTURES:
            raise ValueError(f"unknown table_texture {texture!r}; valid: plain, {', '.join(TABLE_TEXTURES)}")
        if texture == PLAIN_TABLE:
            model.geom_matid[table] = -1
        else:
            mat = model.material(table_material(texture)).id
            model.geom_matid[table] = mat
            model.mat_texrepeat[mat] = TABLE_TEXTURES[texture][6]
    offset = perturbation.get("camera_offset")
    if offset is not None:
        if len(offset) != 6:
            raise ValueError(f"camera_offset needs [dx, dy, dz, droll, dpitch, dyaw], got {offset}")
        model.cam_pos[cam] = model.cam_pos[cam] + np.asarray(offset[:3], dtype=np.float64)
        model.cam_quat[cam] = premultiply(offset_quat(*offset[3:]), model.cam_quat[cam])
    return snap
