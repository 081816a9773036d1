"""Domain randomisation: what differs between the training sim and a real SO-101 cell, drawn per episode or step.

Direct transfer of a wrist-camera lift policy has failed before on lighting, camera pose, lens, servo backlash and
~100 ms of latency (docs/robustness.md). Each of those is a small randomiser here, configured by its own dataclass
(ranges, not values) and switched on per group; all are off by default, and with every group off the env takes
exactly its original code path (no per-step work).

Every randomiser draws from its own random stream, spawned from the episode's seed, so switching one on never
shifts the draws of another (or of the task's cube placement): tests can show that each one changes only what it
claims. Visual randomisers mutate only visual model fields and never physics; physical ones never pixels.

The held-out evaluation (``sim.heldout``) uses values outside what these ranges can sample;
``apply_visual_perturbation`` is how the digital twin puts the visual ones onto its own MjModel.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from sim.arm_model import WRIST_CAMERA

import cv2
import mujoco
import numpy as np

# Names given to scene elements in sim/scene.py.
KEY_LIGHT = "key"
TABLE_GEOM = "table"
CUBE_GEOM = "cube"
CUBE_BODY = "cube"
DISTRACTOR_PREFIX = "distractor"
N_ARM_JOINTS = 5  # backlash applies to the five arm joints; the gripper squeezes against its force limit

TICK_RAD = 2 * math.pi / 4096  # STS3215 magnetic encoder resolution
HIDDEN_Z = -10.0  # where unused distractors wait, far below the floor

# Table textures as data: name -> (builtin, mark, rgb1, rgb2, markrgb, random, repeats per metre).
# Texture colours multiply the table's (randomised) rgba, so each pattern comes in every table colour.
TABLE_TEXTURES: dict[str, tuple] = {
    "checker": ("checker", "none", (1.0, 1.0, 1.0), (0.72, 0.72, 0.72), (0.0, 0.0, 0.0), 0.0, 10.0),
    "speckle": ("flat", "random", (1.0, 1.0, 1.0), (1.0, 1.0, 1.0), (0.45, 0.45, 0.45), 0.04, 4.0),
    "grain": ("gradient", "none", (1.0, 1.0, 1.0), (0.78, 0.78, 0.78), (0.0, 0.0, 0.0), 0.0, 6.0),
    # held out: never sampled in training (SurfaceConfig refuses them), used by sim.heldout only
    "grid": ("flat", "edge", (1.0, 1.0, 1.0), (1.0, 1.0, 1.0), (0.25, 0.25, 0.25), 0.0, 14.0),
    "blotch": ("gradient", "random", (1.0, 1.0, 1.0), (0.55, 0.55, 0.55), (0.3, 0.3, 0.3), 0.02, 2.5),
}
PLAIN_TABLE = "plain"  # no material: the scene's untextured table
TRAIN_TABLE_TEXTURES = (PLAIN_TABLE, "checker", "speckle", "grain")
HELDOUT_TABLE_TEXTURES = ("grid", "blotch")
DISTRACTOR_SHAPES = ("box", "cylinder", "sphere", "capsule")


def table_material(texture: str) -> str:
    return f"table_{texture}"


Range = tuple[float, float]
RGB = tuple[float, float, float]


# -- configs ------------------------------------------------------------------------------------------------
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


@dataclass
class ImageNoiseConfig:
    """What the real camera's sensor and MJPG path do to a frame, applied before preprocess_frame."""

    enabled: bool = False
    brightness: float = 0.1  # additive, fraction of full scale, +- (per episode: exposure)
    contrast: float = 0.15  # times 1 +- (per episode)
    saturation: float = 0.15  # times 1 +- (per episode)
    channel_gain: float = 0.05  # white balance, per channel times 1 +- (per episode)
    blur_probability: float = 0.3  # an episode is defocused this often
    blur_sigma_px: Range = (0.3, 0.9)
    noise_std: Range = (0.0, 4.0)  # sensor noise, grey levels (std drawn per episode, noise per frame)
    jpeg_quality: tuple[int, int] = (60, 95)  # per episode; 0 or 100 at both ends turns JPEG off


@dataclass
class CubeConfig:
    """Cube size, mass and friction; per episode. Physics (and the cube's size on screen)."""

    enabled: bool = False
    size_scale: Range = (0.9, 1.1)
    mass_scale: Range = (0.7, 1.5)
    friction: Range = (0.7, 1.3)  # sliding coefficient (the scene's is env.cube_friction)


@dataclass
class ActuatorConfig:
    """Servo stiffness, damping and force limit; per episode, per joint. Physics only."""

    enabled: bool = False
    kp_scale: Range = (0.8, 1.2)
    kv_scale: Range = (0.7, 1.3)  # the position actuator's derivative gain
    damping_scale: Range = (0.7, 1.3)  # joint damping
    force_scale: Range = (0.8, 1.2)  # force limit


@dataclass
class BacklashConfig:
    """Gear play on the five arm joints: the commanded position moves only once the command has crossed
    the play (a play operator on the target), so direction reversals lose up to the play. Per episode, per joint."""

    enabled: bool = False
    deg: Range = (0.3, 0.7)  # full play width


@dataclass
class JointNoiseConfig:
    """Joint readings as the real bus gives them: noise, a calibration offset, 4096-tick quantisation.
    Changes what the policy and the controller read, never the joints themselves."""

    enabled: bool = False
    std_deg: float = 0.1  # per reading
    offset_deg: float = 0.0  # per episode and joint, +- (calibration error)
    quantize: bool = True  # 4096 ticks per turn, grid origin drawn per episode


@dataclass
class LatencyConfig:
    """Time from an observation to its action reaching the servos, at physics-substep resolution.

    Drawn per episode (or per control step with ``per_step``) from, in order of precedence: ``from_telemetry``
    (a ``sim.latency_model`` YAML or a runtime ``ticks.jsonl``), ``ms`` (samples in milliseconds), else
    0..``max_steps`` whole control steps, uniformly."""

    enabled: bool = False
    max_steps: int = 0
    ms: tuple[float, ...] = ()
    from_telemetry: str = ""
    per_step: bool = False


@dataclass
class ObservationDelayConfig:
    """Age of the camera frame: the image shows the scene this many control steps ago (joint readings stay
    fresh: a bus read takes ~5 ms). Drawn per episode: ``from_telemetry`` (its frame_age_ms), ``ms``, else
    0..``max_steps`` steps."""

    enabled: bool = False
    max_steps: int = 0
    ms: tuple[float, ...] = ()
    from_telemetry: str = ""


@dataclass
class RandomizationConfig:
    """``env.randomization.*``: every group off by default (the env then behaves exactly as without it)."""

    lighting: LightingConfig = field(default_factory=LightingConfig)
    surfaces: SurfaceConfig = field(default_factory=SurfaceConfig)
    distractors: DistractorConfig = field(default_factory=DistractorConfig)
    camera: CameraJitterConfig = field(default_factory=CameraJitterConfig)
    image: ImageNoiseConfig = field(default_factory=ImageNoiseConfig)
    cube: CubeConfig = field(default_factory=CubeConfig)
    actuators: ActuatorConfig = field(default_factory=ActuatorConfig)
    backlash: BacklashConfig = field(default_factory=BacklashConfig)
    joint_noise: JointNoiseConfig = field(default_factory=JointNoiseConfig)
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    obs_delay: ObservationDelayConfig = field(default_factory=ObservationDelayConfig)

    def enabled_groups(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self) if getattr(self, f.name).enabled)

    def sim_enabled(self) -> bool:
        """Any group the raw env applies (``image`` is applied by a wrapper)."""
        return any(g != "image" for g in self.enabled_groups())


# -- helpers ------------------------------------------------------------------------------------------------
def _uniform(rng: np.random.Generator, bounds: Sequence[float], size=None) -> np.ndarray | float:
    lo, hi = float(bounds[0]), float(bounds[1])
    if hi < lo:
        raise ValueError(f"range ({lo}, {hi}) has its upper end below the lower one; swap them")
    return rng.uniform(lo, hi, size)


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


def _premultiply(offset: np.ndarray, quat: np.ndarray) -> np.ndarray:
    out = np.zeros(4)
    mujoco.mju_mulQuat(out, offset, quat)
    return out


def _angle_deg(a: Sequence[float], b: Sequence[float]) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    cos = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    return math.degrees(math.acos(float(np.clip(cos, -1.0, 1.0))))


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


# -- scene assets (built into every scene so the twin can apply held-out textures) ----------------------------
def add_scene_assets(spec: mujoco.MjSpec, cfg: RandomizationConfig, group: int) -> None:
    """Table texture materials (unused until assigned) and, when enabled, the distractor geoms (hidden)."""
    for name, (builtin, mark, rgb1, rgb2, markrgb, random, _repeat) in TABLE_TEXTURES.items():
        spec.add_texture(
            name=f"table_tex_{name}",
            type=mujoco.mjtTexture.mjTEXTURE_2D,
            builtin=getattr(mujoco.mjtBuiltin, f"mjBUILTIN_{builtin.upper()}"),
            mark=getattr(mujoco.mjtMark, f"mjMARK_{mark.upper()}"),
            rgb1=list(rgb1),
            rgb2=list(rgb2),
            markrgb=list(markrgb),
            random=random,
            width=128,
            height=128,
        )
        material = spec.add_material(name=table_material(name), texrepeat=[1.0, 1.0], texuniform=True)
        material.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = f"table_tex_{name}"
    if cfg.distractors.enabled:
        for i in range(cfg.distractors.count):
            shape = DISTRACTOR_SHAPES[i % len(DISTRACTOR_SHAPES)]
            spec.worldbody.add_geom(
                name=f"{DISTRACTOR_PREFIX}{i}",
                type=getattr(mujoco.mjtGeom, f"mjGEOM_{shape.upper()}"),
                size=[0.01, 0.01, 0.01],
                pos=[0.0, 0.0, HIDDEN_Z],
                rgba=[0.5, 0.5, 0.5, 1.0],
                group=group,
                contype=0,
                conaffinity=0,
            )


def scene_key(cfg: RandomizationConfig) -> tuple:
    """What of the randomisation changes the compiled scene (for sim.scene's model cache)."""
    return (cfg.distractors.count if cfg.distractors.enabled else 0,)


# -- randomisers that change the model once per episode ---------------------------------------------------------
class LightingRandomizer:
    def __init__(self, cfg: LightingConfig, model: mujoco.MjModel):
        self.cfg = cfg
        self.light = model.light(KEY_LIGHT).id
        self.dir0 = model.light_dir[self.light].copy()
        self.diffuse0 = model.light_diffuse[self.light].copy()

    def reset(self, model: mujoco.MjModel, rng: np.random.Generator) -> None:
        c = self.cfg
        model.light_dir[self.light] = _direction_in_cone(rng, self.dir0, c.dir_cone_deg)
        tint = 1.0 + _uniform(rng, (-c.color_jitter, c.color_jitter), 3)
        model.light_diffuse[self.light] = np.clip(self.diffuse0 * _uniform(rng, c.intensity) * tint, 0, 1)
        model.vis.headlight.ambient[:] = _uniform(rng, c.ambient)
        model.vis.headlight.diffuse[:] = _uniform(rng, c.headlight)


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
            model.mat_texrepeat[self.materials[i]] = self.repeats[i] * _uniform(rng, c.texture_scale)


class CubeRandomizer:
    """Size, mass (with the inertia of a solid cube) and friction; the task is told the new size."""

    def __init__(self, cfg: CubeConfig, model: mujoco.MjModel, set_cube_size: Callable[[float], None]):
        self.cfg = cfg
        self.geom = model.geom(CUBE_GEOM).id
        self.body = model.body(CUBE_BODY).id
        self.half0 = float(model.geom_size[self.geom, 0])
        self.mass0 = float(model.body_mass[self.body])
        self.set_cube_size = set_cube_size

    def reset(self, model: mujoco.MjModel, data: mujoco.MjData, rng: np.random.Generator) -> None:
        c = self.cfg
        half = self.half0 * _uniform(rng, c.size_scale)
        mass = self.mass0 * _uniform(rng, c.mass_scale)
        model.geom_size[self.geom] = half
        model.geom_rbound[self.geom] = half * math.sqrt(3)
        model.geom_aabb[self.geom] = [0, 0, 0, half, half, half]
        model.geom_friction[self.geom, 0] = _uniform(rng, c.friction)
        model.body_mass[self.body] = mass
        model.body_inertia[self.body] = mass * (2 * half) ** 2 / 6
        mujoco.mj_setConst(model, data)  # the solver's inverse weights follow the new mass
        self.set_cube_size(2 * half)


class ActuatorRandomizer:
    def __init__(self, cfg: ActuatorConfig, model: mujoco.MjModel, dof_ids: np.ndarray):
        self.cfg = cfg
        self.dofs = np.asarray(dof_ids)
        self.n = model.nu
        self.kp0 = model.actuator_gainprm[:, 0].copy()
        self.kv0 = -model.actuator_biasprm[:, 2].copy()
        self.force0 = model.actuator_forcerange.copy()
        self.damping0 = model.dof_damping[self.dofs].copy()

    def reset(self, model: mujoco.MjModel, rng: np.random.Generator) -> None:
        c = self.cfg
        kp = self.kp0 * _uniform(rng, c.kp_scale, self.n)
        model.actuator_gainprm[:, 0] = kp
        model.actuator_biasprm[:, 1] = -kp
        model.actuator_biasprm[:, 2] = -self.kv0 * _uniform(rng, c.kv_scale, self.n)
        model.actuator_forcerange[:] = self.force0 * _uniform(rng, c.force_scale, (self.n, 1))
        model.dof_damping[self.dofs] = self.damping0 * _uniform(rng, c.damping_scale, len(self.dofs))


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
            s = _uniform(rng, c.size_m, 3)
            kind = model.geom_type[g]
            if kind == mujoco.mjtGeom.mjGEOM_BOX:
                size, z = s, s[2]
            elif kind == mujoco.mjtGeom.mjGEOM_SPHERE:
                size, z = np.array([s[0], 0, 0]), s[0]
            elif kind == mujoco.mjtGeom.mjGEOM_CAPSULE:  # lying on its side
                size, z = np.array([s[0], s[1], 0]), s[0]
            else:  # cylinder, standing
                size, z = np.array([s[0], s[1], 0]), s[1]
            r, phi, yaw = _uniform(rng, c.distance_m), rng.uniform(0, 2 * np.pi), rng.uniform(0, 2 * np.pi)
            xy = np.clip(cube_xy + r * np.array([np.cos(phi), np.sin(phi)]), centre - half, centre + half)
            quat = rotvec_quat((0, 0, yaw))
            if kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
                quat = _premultiply(quat, rotvec_quat((np.pi / 2, 0, 0)))
            shown = rng.uniform() < c.probability
            pos = np.array([*xy, self.table_top + z]) if shown else np.array([0.0, 0.0, HIDDEN_Z])
            model.geom_size[g] = size
            model.geom_rgba[g] = [*rng.uniform(c.rgb_low, c.rgb_high), 1.0]
            model.geom_pos[g], model.geom_quat[g] = pos, quat
            data.geom_xpos[g] = pos
            mujoco.mju_quat2Mat(data.geom_xmat[g], quat)


# -- randomisers of the control loop ------------------------------------------------------------------------------
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
        self.episode_pos = _uniform(rng, (-c.episode_pos_m, c.episode_pos_m), 3)
        rot = np.radians(_uniform(rng, (-c.episode_rot_deg, c.episode_rot_deg), 3))
        self.episode_quat = rotvec_quat(rot)

    def frame(self, model: mujoco.MjModel, data: mujoco.MjData, rng: np.random.Generator) -> None:
        c = self.cfg
        shake = rotvec_quat(np.radians(_uniform(rng, (-c.frame_rot_deg, c.frame_rot_deg), 3)))
        model.cam_pos[self.cam] = (
            self.pos0 + self.episode_pos + _uniform(rng, (-c.frame_pos_m, c.frame_pos_m), 3)
        )
        model.cam_quat[self.cam] = _premultiply(_premultiply(shake, self.episode_quat), self.quat0)
        model.cam_fovy[self.cam] = self.fovy0 + _uniform(rng, (-c.fovy_deg, c.fovy_deg))
        mujoco.mj_camlight(model, data)  # camera world pose from the new mount; touches nothing else


class JointReadings:
    """Joint positions as the bus reports them (the joints themselves are untouched)."""

    def __init__(self, cfg: JointNoiseConfig, n: int = 6):
        self.cfg, self.n = cfg, n
        self.offset = np.zeros(n)
        self.grid = np.zeros(n)

    def reset(self, rng: np.random.Generator) -> None:
        off = math.radians(self.cfg.offset_deg)
        self.offset = _uniform(rng, (-off, off), self.n)
        self.grid = rng.uniform(0.0, TICK_RAD, self.n)  # where the encoder's ticks fall relative to our zero

    def read(self, q: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = np.asarray(q, dtype=np.float64) + self.offset
        if self.cfg.std_deg > 0:
            out = out + rng.normal(0.0, math.radians(self.cfg.std_deg), self.n)
        if self.cfg.quantize:
            out = np.round((out + self.grid) / TICK_RAD) * TICK_RAD - self.grid
        return out


class Backlash:
    """Play operator on the arm joints' commanded position: the output follows the command only once the
    command is more than half the play away from it."""

    def __init__(self, cfg: BacklashConfig, n: int = N_ARM_JOINTS):
        self.cfg, self.n = cfg, n
        self.half = np.zeros(n)
        self.state: np.ndarray | None = None

    def reset(self, rng: np.random.Generator, targets: np.ndarray) -> None:
        self.half = np.radians(_uniform(rng, self.cfg.deg, self.n)) / 2
        self.state = np.asarray(targets[: self.n], dtype=np.float64).copy()

    def apply(self, targets: np.ndarray) -> np.ndarray:
        out = np.asarray(targets, dtype=np.float64).copy()
        self.state = np.clip(self.state, out[: self.n] - self.half, out[: self.n] + self.half)
        out[: self.n] = self.state
        return out


class DelaySampler:
    """Per-episode (or per-step) delays in physics substeps, from telemetry, millisecond samples or 0..k steps."""

    def __init__(self, max_steps: int, ms: Sequence[float], from_telemetry: str, which: str, timing):
        self.timing = timing
        self.max_steps = int(max_steps)
        if self.max_steps < 0:
            raise ValueError(f"max_steps must be >= 0, got {max_steps}")
        samples = np.asarray(ms, dtype=np.float64)
        if from_telemetry:
            from sim.latency_model import load_latency_quantiles

            samples = load_latency_quantiles(from_telemetry, which)
        if samples.size and (not np.all(np.isfinite(samples)) or samples.min() < 0):
            raise ValueError(f"{which} samples must be finite and >= 0 ms, got {samples.tolist()}")
        self.samples_ms = np.sort(samples)

    def draw_ms(self, rng: np.random.Generator) -> float:
        if self.samples_ms.size:  # inverse CDF through the sorted samples (quantiles)
            u = rng.uniform() * (self.samples_ms.size - 1)
            return float(np.interp(u, np.arange(self.samples_ms.size), self.samples_ms))
        return 1000.0 * int(rng.integers(0, self.max_steps + 1)) / self.timing.control_hz

    def draw_substeps(self, rng: np.random.Generator) -> int:
        return int(round(self.draw_ms(rng) / 1000.0 / self.timing.timestep))

    def draw_steps(self, rng: np.random.Generator) -> int:
        """Whole control steps, rounded stochastically so the mean delay is kept."""
        steps = self.draw_ms(rng) / 1000.0 * self.timing.control_hz
        return int(math.floor(steps) + (rng.uniform() < steps - math.floor(steps)))


class ActuationQueue:
    """Applies joint targets ``delay`` physics substeps after they were computed, splitting the control step's
    physics where a new target lands; with no delay it is one ``mj_step`` of the whole control step."""

    def __init__(self, latency: DelaySampler | None, per_step: bool, backlash: Backlash | None):
        self.latency, self.per_step, self.backlash = latency, per_step, backlash
        self.pending: deque[tuple[int, np.ndarray]] = deque()
        self.clock = 0
        self.last_due = 0
        self.delay = 0

    def reset(self, rng: np.random.Generator) -> None:
        self.pending.clear()
        self.clock = self.last_due = 0
        self.delay = self.latency.draw_substeps(rng) if self.latency else 0

    def _apply(self, data: mujoco.MjData, targets: np.ndarray) -> None:
        data.ctrl[:] = self.backlash.apply(targets) if self.backlash else targets

    def step(self, model, data, targets: np.ndarray, n_substeps: int, rng, snapshot=None) -> None:
        """``snapshot(data)`` is called right before the last substep (the state a frame would show)."""
        delay = self.latency.draw_substeps(rng) if (self.latency and self.per_step) else self.delay
        due = max(self.clock + delay, self.last_due)  # actions never overtake each other
        self.last_due = due
        self.pending.append((due, np.array(targets, dtype=np.float64)))
        end = self.clock + n_substeps
        while self.clock < end:
            while self.pending and self.pending[0][0] <= self.clock:
                self._apply(data, self.pending.popleft()[1])
            if snapshot is not None and self.clock == end - 1:
                snapshot(data)
            stop = min(end, self.pending[0][0]) if self.pending else end
            if snapshot is not None and self.clock < end - 1:
                stop = min(stop, end - 1)
            mujoco.mj_step(model, data, nstep=stop - self.clock)
            self.clock = stop


class FrameDelay:
    """Keeps the joint positions behind the last ``max_delay`` frames, to render the image ``delay`` steps old."""

    def __init__(self, sampler: DelaySampler, model: mujoco.MjModel):
        self.sampler = sampler
        self.delay = 0
        self.history: deque[np.ndarray] = deque(maxlen=1)
        self.scratch = mujoco.MjData(model)

    def reset(self, rng: np.random.Generator, data: mujoco.MjData) -> None:
        self.delay = self.sampler.draw_steps(rng)
        self.history = deque([data.qpos.copy()] * (self.delay + 1), maxlen=self.delay + 1)

    def snapshot(self, data: mujoco.MjData) -> None:
        self.history.append(data.qpos.copy())

    def data_to_render(self, model: mujoco.MjModel, data: mujoco.MjData) -> mujoco.MjData:
        if self.delay == 0:
            return data
        self.scratch.qpos[:] = self.history[0]
        mujoco.mj_kinematics(model, self.scratch)
        mujoco.mj_camlight(model, self.scratch)
        return self.scratch


# -- image corruption (used by policies.wrappers.CameraImageNoise, before preprocess_frame) ----------------------
class ImageCorruptor:
    """Exposure, contrast, saturation, white balance, defocus, sensor noise and JPEG, in the order a real
    camera applies them before its MJPG stream reaches us."""

    def __init__(self, cfg: ImageNoiseConfig):
        self.cfg = cfg
        self.params: dict[str, Any] = {}

    def reset(self, rng: np.random.Generator) -> None:
        c = self.cfg
        q_lo, q_hi = c.jpeg_quality
        self.params = {
            "brightness": _uniform(rng, (-c.brightness, c.brightness)) * 255.0,
            "contrast": 1.0 + _uniform(rng, (-c.contrast, c.contrast)),
            "saturation": 1.0 + _uniform(rng, (-c.saturation, c.saturation)),
            "gain": 1.0 + _uniform(rng, (-c.channel_gain, c.channel_gain), 3),
            "blur": _uniform(rng, c.blur_sigma_px) if rng.uniform() < c.blur_probability else 0.0,
            "noise": _uniform(rng, c.noise_std),
            "jpeg": int(rng.integers(q_lo, q_hi + 1)) if q_lo > 0 and q_hi < 100 else 0,
        }

    def __call__(self, frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p = self.params
        img = frame.astype(np.float32)
        grey = img @ np.array([0.299, 0.587, 0.114], np.float32)
        img = grey[..., None] + (img - grey[..., None]) * p["saturation"]
        img = (img - float(grey.mean())) * p["contrast"] + float(grey.mean()) + p["brightness"]
        img = img * p["gain"].astype(np.float32)
        if p["blur"] > 0:
            img = cv2.GaussianBlur(img, (0, 0), p["blur"])
        if p["noise"] > 0:
            img = img + rng.normal(0.0, p["noise"], img.shape).astype(np.float32)
        out = np.clip(np.rint(img), 0, 255).astype(np.uint8)
        if p["jpeg"]:
            ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, p["jpeg"]])
            if not ok:
                raise RuntimeError("OpenCV could not JPEG-encode a frame; check the opencv install")
            out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
        return np.ascontiguousarray(out)


# -- the env's one handle on all of it -------------------------------------------------------------------------------
class DomainRandomizer:
    """Built by the raw env only when a sim-side group is enabled; each part has its own random stream."""

    STREAMS = ("lighting", "surfaces", "distractors", "camera", "cube", "actuators", "backlash",
               "joint_noise", "latency", "obs_delay")  # fmt: skip

    def __init__(self, cfg: RandomizationConfig, model: mujoco.MjModel, task, timing, render: bool):
        self.cfg = cfg
        self.lighting = LightingRandomizer(cfg.lighting, model) if cfg.lighting.enabled else None
        self.surfaces = SurfaceRandomizer(cfg.surfaces, model) if cfg.surfaces.enabled else None
        self.distractors = DistractorRandomizer(cfg.distractors, model) if cfg.distractors.enabled else None
        self.camera = CameraJitter(cfg.camera, model) if (cfg.camera.enabled and render) else None
        self.cube = CubeRandomizer(cfg.cube, model, task.set_cube_size) if cfg.cube.enabled else None
        self.actuators = (
            ActuatorRandomizer(cfg.actuators, model, task.dadr) if cfg.actuators.enabled else None
        )
        self.backlash = Backlash(cfg.backlash) if cfg.backlash.enabled else None
        self.readings = JointReadings(cfg.joint_noise) if cfg.joint_noise.enabled else None
        lat, od = cfg.latency, cfg.obs_delay
        latency = (
            DelaySampler(lat.max_steps, lat.ms, lat.from_telemetry, "action_latency_ms", timing)
            if lat.enabled
            else None
        )
        self.queue = ActuationQueue(latency, lat.per_step, self.backlash)
        self.frames = (
            FrameDelay(DelaySampler(od.max_steps, od.ms, od.from_telemetry, "frame_age_ms", timing), model)
            if (od.enabled and render)
            else None
        )
        self.rngs = {name: np.random.default_rng(i) for i, name in enumerate(self.STREAMS)}

    def seed(self, seed_seq: np.random.SeedSequence) -> None:
        for name, child in zip(self.STREAMS, seed_seq.spawn(len(self.STREAMS)), strict=True):
            self.rngs[name] = np.random.default_rng(child)

    def before_task_reset(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        """Per-episode model changes, made before the task places anything (physics settles with them)."""
        r = self.rngs
        if self.lighting:
            self.lighting.reset(model, r["lighting"])
        if self.surfaces:
            self.surfaces.reset(model, r["surfaces"])
        if self.cube:
            self.cube.reset(model, data, r["cube"])
        if self.actuators:
            self.actuators.reset(model, r["actuators"])

    def after_task_reset(self, model, data, targets: np.ndarray, cube_xy: np.ndarray) -> None:
        r = self.rngs
        if self.distractors:
            self.distractors.place(model, data, cube_xy, r["distractors"])
        if self.camera:
            self.camera.reset(r["camera"])
        if self.backlash:
            self.backlash.reset(r["backlash"], targets)
        if self.readings:
            self.readings.reset(r["joint_noise"])
        self.queue.reset(r["latency"])
        if self.frames:
            self.frames.reset(r["obs_delay"], data)

    def read_joints(self, q: np.ndarray) -> np.ndarray:
        return self.readings.read(q, self.rngs["joint_noise"]) if self.readings else np.array(q, np.float64)

    def step_physics(self, model, data, targets: np.ndarray, n_substeps: int) -> None:
        snapshot = self.frames.snapshot if self.frames else None
        self.queue.step(model, data, targets, n_substeps, self.rngs["latency"], snapshot)

    def data_to_render(self, model: mujoco.MjModel, data: mujoco.MjData) -> mujoco.MjData:
        """Jitter the camera for this frame; the state to draw (an older one under observation delay)."""
        target = self.frames.data_to_render(model, data) if self.frames else data
        if self.camera:
            self.camera.frame(model, target, self.rngs["camera"])
        return target


# -- held-out perturbations: applying them, and checking that training never samples them ------------------------
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
        model.cam_quat[cam] = _premultiply(offset_quat(*offset[3:]), model.cam_quat[cam])
    return snap


def changed_fields(a: mujoco.MjModel, b: mujoco.MjModel) -> set[str]:
    """Names of the model arrays (and headlight colours) that differ between two models of one scene: what a
    randomiser or perturbation really touched (``geom_group`` is the wrist renderer's per-frame culling)."""
    out = {
        n
        for n in dir(a)
        if not n.startswith("_")
        and isinstance(getattr(a, n), np.ndarray)
        and not np.array_equal(getattr(a, n), getattr(b, n))
    }
    for n in ("ambient", "diffuse", "specular"):
        if not np.array_equal(getattr(a.vis.headlight, n), getattr(b.vis.headlight, n)):
            out.add(f"vis.headlight.{n}")
    return out - {"geom_group"}


def training_support(perturbation: dict[str, Any], cfg: RandomizationConfig, model: mujoco.MjModel,
                     control_hz: float) -> dict[str, bool]:  # fmt: skip
    """For each key of ``perturbation``: could the training randomisers of ``cfg`` (on the scene ``model``
    as built, before any randomisation) ever produce that value? Held-out perturbations must answer False.
    A disabled group samples only the scene's own value."""
    tol = 1e-6
    out: dict[str, bool] = {}
    light = model.light(KEY_LIGHT).id
    if "lighting" in perturbation:
        lc, li = cfg.lighting, perturbation["lighting"]
        if not lc.enabled:
            a0, h0 = float(model.vis.headlight.ambient[0]), float(model.vis.headlight.diffuse[0])
            lc = LightingConfig(True, 0.0, (1.0, 1.0), 0.0, (a0, a0), (h0, h0))
        inside = (
            _angle_deg(li.get("dir", model.light_dir[light]), model.light_dir[light]) <= lc.dir_cone_deg + tol
        )
        if "diffuse" in li:  # scene colour x intensity x per-channel tint
            ratio = np.asarray(li["diffuse"], dtype=np.float64) / model.light_diffuse[light]
            lo, hi = lc.intensity[0] * (1 - lc.color_jitter), lc.intensity[1] * (1 + lc.color_jitter)
            spread = (1 + lc.color_jitter) / (1 - lc.color_jitter)
            inside &= bool(
                np.all((ratio >= lo - tol) & (ratio <= hi + tol))
                and ratio.max() / ratio.min() <= spread + tol
            )
        for key, bounds in (("ambient", lc.ambient), ("headlight", lc.headlight)):
            if key in li:  # a grey level
                v = np.asarray(li[key], dtype=np.float64)
                inside &= bool(np.ptp(v) < tol and bounds[0] - tol <= v[0] <= bounds[1] + tol)
        out["lighting"] = bool(inside)
    sc = cfg.surfaces
    if "table_rgba" in perturbation:
        rgb = np.asarray(perturbation["table_rgba"][:3], dtype=np.float64)
        low, high = (
            (sc.table_rgb_low, sc.table_rgb_high)
            if sc.enabled
            else (model.geom_rgba[model.geom(TABLE_GEOM).id, :3],) * 2
        )
        out["table_rgba"] = bool(
            np.all(rgb >= np.asarray(low) - tol) and np.all(rgb <= np.asarray(high) + tol)
        )
    if "table_texture" in perturbation:
        out["table_texture"] = perturbation["table_texture"] in (
            sc.table_textures if sc.enabled else (PLAIN_TABLE,)
        )
    if "camera_offset" in perturbation:
        cc = cfg.camera
        off = np.asarray(perturbation["camera_offset"], dtype=np.float64)
        pos_max = cc.episode_pos_m + cc.frame_pos_m if cc.enabled else 0.0
        # per-axis bound of the composed episode and frame rotations, to first order (5% margin for the rest)
        rot_max = 1.05 * math.radians(cc.episode_rot_deg + cc.frame_rot_deg) if cc.enabled else 0.0
        out["camera_offset"] = bool(
            np.all(np.abs(off[:3]) <= pos_max + tol) and np.all(np.abs(off[3:]) <= rot_max + tol)
        )
    if "latency_ms" in perturbation:
        out["latency_ms"] = _in_delay_support(float(perturbation["latency_ms"]), cfg.latency, control_hz)
    if "backlash_deg" in perturbation:
        b, v = cfg.backlash, float(perturbation["backlash_deg"])
        out["backlash_deg"] = bool(b.deg[0] - tol <= v <= b.deg[1] + tol) if b.enabled else v == 0.0
    if "joint_noise_deg" in perturbation:
        j, v = cfg.joint_noise, float(perturbation["joint_noise_deg"])
        out["joint_noise_deg"] = v <= j.std_deg + tol if j.enabled else v == 0.0
    return out


def _in_delay_support(ms: float, cfg: LatencyConfig, control_hz: float) -> bool:
    if not cfg.enabled:
        return ms == 0.0
    if cfg.from_telemetry or cfg.ms:
        from sim.latency_model import load_latency_quantiles

        s = (
            load_latency_quantiles(cfg.from_telemetry, "action_latency_ms")
            if cfg.from_telemetry
            else np.asarray(cfg.ms)
        )
        return bool(s.min() <= ms <= s.max())
    grid = 1000.0 * np.arange(cfg.max_steps + 1) / control_hz
    return bool(np.any(np.abs(grid - ms) < 1e-6))


__all__ = [
    "ActuatorConfig",
    "BacklashConfig",
    "CameraJitterConfig",
    "CubeConfig",
    "DistractorConfig",
    "DomainRandomizer",
    "ImageCorruptor",
    "ImageNoiseConfig",
    "JointNoiseConfig",
    "LatencyConfig",
    "LightingConfig",
    "ObservationDelayConfig",
    "RandomizationConfig",
    "SurfaceConfig",
    "apply_visual_perturbation",
    "changed_fields",
    "training_support",
]
