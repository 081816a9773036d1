"""The scene: the SO-101 MJCF from its PyPI package, plus table, lights, cameras and the task's objects (the
lift task's cube), built with MjSpec.

Building in code (not a second XML that includes the arm) lets one config change the wrist camera pose, the
task's objects and the control rate without editing files, and keeps the arm file untouched so its hash
identifies it.
The arm base sits at the origin on the table top (z = 0); x points away from the arm, z up.

Geom groups are chosen for rendering: the wrist render draws only what its camera can see (see sim/render.py).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

from sim.arm_model import FIXED_JAW_BODY, MOVING_JAW_BODY, WRIST_CAMERA, arm_mjcf_path
from sim.camera_calibration_json import read_camera_calibration_json
from sim.config import EnvConfig, WristCameraConfig
from sim.randomize import add_scene_assets, scene_key
from sim.tasks.registry import task_class

import mujoco
import numpy as np

# Geom groups. MuJoCo draws groups 0-2 by default; the arm MJCF puts its visual meshes in 2, collision in 3.
GROUP_SCENE = 0
GROUP_OBJECT = 1
GROUP_ARM_VISUAL = 2
GROUP_COLLISION = 3
GROUP_CULLED = 5  # arm meshes outside the wrist frustum for the current frame (set per render)

# Collision bitmasks: the table touches the cube and the jaws only, so the arm's base links resting on it
# do not generate contacts every step.
ARM_BIT, TABLE_BIT = 1, 2

# Fixed-jaw collision shapes, gripper body frame, metres, measured from the wrist_roll_follower mesh vertices.
FIXED_JAW_MESH = "wrist_roll_follower_so101_v1"
FIXED_FINGER_INNER_TIP = (-0.0079, 0.0, -0.1044)  # inner face (towards the moving jaw) at the tip
FIXED_FINGER_INNER_ROOT = (-0.0133, 0.0, -0.0470)  # ... and where the finger meets the mount
FIXED_FINGER_HALF = (0.004, 0.007)  # half thickness (x), half width (y)
FIXED_PALM_CENTRE = (-0.0165, 0.0, -0.026)
FIXED_PALM_HALF = (0.0185, 0.022, 0.021)

OVERVIEW_CAMERA = "overview"
MAX_TIMESTEP = 0.002  # the arm MJCF's own timestep; never integrate coarser than this

TABLE_TOP = 0.0
TABLE_HALF = (0.30, 0.40, 0.02)
TABLE_CENTRE_XY = (0.18, 0.0)
TABLE_RGBA = (0.72, 0.66, 0.58, 1.0)
FLOOR_Z = -0.75
OVERVIEW_POS = (0.60, -0.45, 0.40)
OVERVIEW_TARGET = (0.12, 0.0, 0.12)
OVERVIEW_FOVY = 40.0
KEY_LIGHT_DIR = (-0.15, 0.15, -1.0)  # directional key light, world frame (sim.heldout lights away from it)
KEY_LIGHT_DIFFUSE = (0.55, 0.55, 0.55)


@dataclass(frozen=True)
class PhysicsTiming:
    """Physics substeps per control step, derived from the control rate (never coarser than the MJCF's 2 ms)."""

    control_hz: float
    n_substeps: int
    timestep: float

    @classmethod
    def for_rate(cls, control_hz: float) -> PhysicsTiming:
        if not control_hz > 0:
            raise ValueError(f"env.control_hz must be positive, got {control_hz}")
        n = max(1, math.ceil(1.0 / (control_hz * MAX_TIMESTEP) - 1e-9))
        return cls(control_hz, n, 1.0 / (control_hz * n))


def euler_to_quat(euler: tuple[float, float, float]) -> np.ndarray:
    """MuJoCo's default ``eulerseq="xyz"`` (rotations about the moving axes), as the MJCF ``euler`` attribute."""
    quat = np.zeros(4)
    mujoco.mju_euler2Quat(quat, np.asarray(euler, dtype=np.float64), "xyz")
    return quat


def look_at_quat(pos, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Camera orientation looking from ``pos`` at ``target`` (MuJoCo cameras look along their -z axis)."""
    back = np.asarray(pos, float) - np.asarray(target, float)
    back /= np.linalg.norm(back)
    right = np.cross(up, back)
    right /= np.linalg.norm(right)
    mat = np.column_stack([right, np.cross(back, right), back])
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, mat.flatten())
    return quat


def wrist_camera_pose(cam: WristCameraConfig) -> WristCameraConfig:
    """The wrist camera pose in force: the config, overridden by a calibration file's ``sim_camera`` if given.

    The file is the JSON that ``so101 calibrate camera/align`` writes; we read only its ``sim_camera`` block
    (pos, euler, fovy) and ``suggested_sim_fovy_deg``, so the sim does not depend on the calibration package.
    """
    if not cam.calibration_file:
        return cam
    data = read_camera_calibration_json(cam.calibration_file)
    sim_cam = data.get("sim_camera") or {}
    fovy = sim_cam.get("fovy", data.get("suggested_sim_fovy_deg") or cam.fovy)
    return WristCameraConfig(
        pos=tuple(sim_cam.get("pos", cam.pos)),
        euler=tuple(sim_cam.get("euler", cam.euler)),
        fovy=float(fovy),
        calibration_file=cam.calibration_file,
    )


def build_spec(cfg: EnvConfig) -> mujoco.MjSpec:
    arm_path = arm_mjcf_path(cfg.model_path)
    spec = mujoco.MjSpec.from_file(str(arm_path))
    timing = PhysicsTiming.for_rate(cfg.control_hz)
    spec.option.timestep = timing.timestep
    # The near plane scales with the model extent; fix both so the jaws 3 cm from the lens are not clipped.
    spec.stat.extent = 1.0
    spec.visual.map.znear = 0.002
    spec.visual.map.zfar = 10.0
    spec.visual.global_.offwidth = 1280  # room for overview pictures larger than MuJoCo's 640x480 default
    spec.visual.global_.offheight = 960
    spec.visual.quality.offsamples = 4 if cfg.antialias else 0
    spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
    spec.visual.headlight.diffuse = [0.35, 0.35, 0.35]
    spec.visual.headlight.specular = [0.0, 0.0, 0.0]

    _replace_fixed_jaw_collision(spec)
    _set_collision_masks(spec)
    world = spec.worldbody
    table_pos = [TABLE_CENTRE_XY[0], TABLE_CENTRE_XY[1], TABLE_TOP - TABLE_HALF[2]]
    world.add_geom(
        name="table",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=list(TABLE_HALF),
        pos=table_pos,
        rgba=list(TABLE_RGBA),
        group=GROUP_SCENE,
        contype=TABLE_BIT,
        conaffinity=TABLE_BIT,
        friction=[0.8, 0.005, 0.0001],
    )
    world.add_geom(
        name="floor",
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=[2.0, 2.0, 0.1],
        pos=[0, 0, FLOOR_Z],
        rgba=[0.35, 0.35, 0.38, 1.0],
        group=GROUP_SCENE,
        contype=TABLE_BIT,
        conaffinity=TABLE_BIT,
    )
    world.add_light(
        name="key",
        type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL,
        pos=[0.3, -0.3, 1.5],
        dir=list(KEY_LIGHT_DIR),
        diffuse=list(KEY_LIGHT_DIFFUSE),
        specular=[0.1, 0.1, 0.1],
        castshadow=cfg.shadows,
    )
    task_class(cfg.task).add_to_scene(spec, cfg)  # the task's objects (lift: the cube)
    world.add_camera(
        name=OVERVIEW_CAMERA,
        pos=list(OVERVIEW_POS),
        quat=list(look_at_quat(OVERVIEW_POS, OVERVIEW_TARGET)),
        fovy=OVERVIEW_FOVY,
    )
    _place_wrist_camera(spec, wrist_camera_pose(cfg.wrist_camera))
    add_scene_assets(spec, cfg.randomization, group=GROUP_SCENE)  # table textures; distractors when enabled
    return spec


def build_model(cfg: EnvConfig) -> mujoco.MjModel:
    """A private copy of the compiled scene (compiling parses ~400k mesh triangles: cached per scene config)."""
    cam = wrist_camera_pose(cfg.wrist_camera)
    task = task_class(cfg.task)
    key = (
        str(arm_mjcf_path(cfg.model_path)),
        float(cfg.control_hz),
        task,  # the class, not its name: a test may register a throw-away task under a reused name
        task.scene_key(cfg),
        bool(cfg.shadows),
        bool(cfg.antialias),
        tuple(cam.pos),
        tuple(cam.euler),
        float(cam.fovy),
        scene_key(cfg.randomization),
    )
    return copy.copy(_compiled_scene(key, cfg))


_SCENE_CACHE: dict[tuple, mujoco.MjModel] = {}


def _compiled_scene(key: tuple, cfg: EnvConfig) -> mujoco.MjModel:
    if key not in _SCENE_CACHE:
        if len(_SCENE_CACHE) >= 8:
            _SCENE_CACHE.pop(next(iter(_SCENE_CACHE)))
        _SCENE_CACHE[key] = build_spec(cfg).compile()
    return _SCENE_CACHE[key]


def _fixed_finger_box() -> tuple[list[float], list[float], list[float]]:
    """Box (size, pos, quat) whose inner face follows the fixed finger's inner face, tip to root."""
    tip, root = np.array(FIXED_FINGER_INNER_TIP), np.array(FIXED_FINGER_INNER_ROOT)
    along = (root - tip) / np.linalg.norm(root - tip)
    inward = np.array([along[2], 0.0, -along[0]])  # towards the moving jaw (+x of the gripper body)
    if inward[0] < 0:
        inward = -inward
    half_len = np.linalg.norm(root - tip) / 2
    centre = (tip + root) / 2 - inward * FIXED_FINGER_HALF[0]
    mat = np.column_stack([inward, np.cross(along, inward), along])
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, mat.flatten())
    return [FIXED_FINGER_HALF[0], FIXED_FINGER_HALF[1], half_len], list(centre), list(quat)


def _replace_fixed_jaw_collision(spec: mujoco.MjSpec) -> None:
    """The fixed jaw's mesh is one part with its servo mount, so MuJoCo's convex hull of it is a wedge that
    fills the space between the jaws and pushes the cube away. Replace it by a finger box and a palm box
    measured from the mesh (gripper body frame); keep the MJCF's fingertip pads."""
    mesh_geoms = [
        g
        for g in spec.body(FIXED_JAW_BODY).geoms
        if g.meshname == FIXED_JAW_MESH and (g.contype or g.conaffinity)
    ]
    if not mesh_geoms:
        return  # another MJCF with its own collision shapes: leave it alone
    for geom in mesh_geoms:
        geom.contype = geom.conaffinity = 0
    body = spec.body(FIXED_JAW_BODY)
    size, pos, quat = _fixed_finger_box()
    for name, box_size, box_pos, box_quat in (
        ("fixed_finger", size, pos, quat),
        ("fixed_palm", list(FIXED_PALM_HALF), list(FIXED_PALM_CENTRE), [1.0, 0.0, 0.0, 0.0]),
    ):
        body.add_geom(
            name=name,
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=box_size,
            pos=box_pos,
            quat=box_quat,
            group=GROUP_COLLISION,
            contype=ARM_BIT | TABLE_BIT,
            conaffinity=ARM_BIT | TABLE_BIT,
            friction=[1.0, 0.05, 0.001],
        )


def _set_collision_masks(spec: mujoco.MjSpec) -> None:
    """Jaws collide with the table too (so the gripper cannot dig into it); other arm links only with the cube."""
    for body_name in (FIXED_JAW_BODY, MOVING_JAW_BODY):
        for geom in spec.body(body_name).geoms:
            if geom.contype or geom.conaffinity:
                geom.contype = ARM_BIT | TABLE_BIT
                geom.conaffinity = ARM_BIT | TABLE_BIT


def _place_wrist_camera(spec: mujoco.MjSpec, cam: WristCameraConfig) -> None:
    camera = spec.camera(WRIST_CAMERA)
    if camera is None:  # another MJCF without the camera: mount it on the fixed jaw like the real one
        camera = spec.body(FIXED_JAW_BODY).add_camera(name=WRIST_CAMERA)
    camera.pos = list(cam.pos)
    camera.quat = list(euler_to_quat(cam.euler))
    camera.alt.type = mujoco.mjtOrientation.mjORIENTATION_QUAT
    camera.fovy = cam.fovy
