"""The lift task's scripted pick-and-lift expert (``LiftTask.expert``). It reads privileged state: it proves the
task and rewards are solvable and seeds replay with demonstrations.

It acts on the same wrapped observations and the same [-1, 1] actions as a policy (``privileged_state`` from
``policies.wrappers``, or the raw env's named keys), so its episodes are ordinary training data. Phases:
hover above the grasp point, descend, close, lift and hold. The grasp point puts the fixed finger a few
millimetres beside the cube, jaws straddling it, because only the moving jaw travels. The controller's motion
limit walks the gripper target at 0.05 rad per tick, as on the arm, so the jaws are pre-closed while aligning
and the lift starts once the cube is held, not after a fixed time.
"""

from __future__ import annotations

from enum import Enum

from sim.arm_model import FIXED_JAW_BODY, TOOL_SITE
from sim.config import EnvConfig
from sim.control import ControllerParams
from sim.kinematics import ArmKinematics
from sim.tasks.base import privileged_slices
from sim.tasks.lift.config import PRIVILEGED_LAYOUT, LiftLayout

import mujoco
import numpy as np

GRIPPER_HOLDING_BELOW_RAD = 0.3  # jaws this closed with both touching the cube: it is in hand
# Jaws pre-closed to ~46 mm (gap table in robot.so101) while aligning: 17 mm clear of a 25 mm cube with the fixed
# finger 4 mm beside it, and the controller's motion limit then brings them to the cube in ~6 ticks, not ~14.
PRESHAPE_GRIPPER_RAD = 0.4
# Once the cube is held, keep closing this long before lifting (the gripper target keeps closing meanwhile).
SQUEEZE_S = 0.1


class Phase(Enum):
    HOVER = "hover"
    DESCEND = "descend"
    CLOSE = "close"
    LIFT = "lift"


class ScriptedLiftExpert:
    def __init__(self, env_cfg: EnvConfig | None = None, gain: float = 0.8):
        self.cfg = env_cfg or EnvConfig()
        if self.cfg.action_type != "ee_delta":
            raise ValueError("the scripted expert drives ee_delta actions; set env.action_type=ee_delta")
        self.params = ControllerParams.from_env_config(self.cfg)
        self.layout = LiftLayout()
        self.gain = gain
        self.hover_height = 0.03  # tool above the grasp height while aligning
        self.lift_tool_z = self.cfg.lift_height + 0.02
        self.close_steps = self._close_steps()
        self.squeeze_steps = max(1, int(np.ceil(SQUEEZE_S * self.cfg.control_hz / self._ticks_per_act)))
        self.held_steps = 0
        self._slices = privileged_slices(PRIVILEGED_LAYOUT)
        self._site_in_fixed_jaw = self._site_to_jaw_rotation()
        self.reset()

    def _close_steps(self) -> int:
        """Most policy steps spent closing: the controller's step limit walks the gripper target from the
        pre-shape to closed over several ticks, then 0.3 s more for the jaws to squeeze."""
        p = self.params
        travel = abs(PRESHAPE_GRIPPER_RAD - p.gripper_closed_rad)
        ramp_ticks = int(np.ceil(travel / p.max_joint_step_rad[-1] - 1e-9))
        return max(2, int(np.ceil((ramp_ticks + round(0.3 * self.cfg.control_hz)) / self._ticks_per_act)))

    @property
    def _ticks_per_act(self) -> int:
        return self.cfg.action_repeat * self.cfg.action_sequence

    def _gripper_command(self, angle: float) -> float:
        """The absolute gripper action for a jaw angle (the inverse of ControllerParams.gripper_target)."""
        p = self.params
        closing = (angle - p.gripper_open_rad) / (p.gripper_closed_rad - p.gripper_open_rad)
        return float(np.clip(2.0 * closing - 1.0, -1.0, 1.0))

    @staticmethod
    def _site_to_jaw_rotation() -> np.ndarray:
        """Rotation taking tool-site axes to fixed-jaw body axes (constant: the site is fixed on that body)."""
        kin = ArmKinematics()
        site = kin.model.site(TOOL_SITE).id
        if kin.model.site_bodyid[site] != kin.model.body(FIXED_JAW_BODY).id:
            raise ValueError(f"site {TOOL_SITE} is expected on body {FIXED_JAW_BODY}")
        mat = np.zeros(9)
        mujoco.mju_quat2Mat(mat, kin.model.site_quat[site])
        return mat.reshape(3, 3).T  # site frame -> body frame

    def reset(self) -> None:
        self.phase = Phase.HOVER
        self.phase_steps = self.held_steps = 0
        self.lift_xy: np.ndarray | None = None

    # -- observation access -------------------------------------------------------------------------------
    def _get(self, obs: dict, key: str) -> np.ndarray:
        if key in obs:
            return np.asarray(obs[key], dtype=np.float64)
        return np.asarray(obs["privileged_state"], dtype=np.float64)[self._slices[key]]

    def _gripper_angle(self, obs: dict) -> float:
        joints = obs["joint_pos"] if "joint_pos" in obs else obs["low_dim_state"][:6]
        return float(joints[5])

    def _closing_axis(self, tool_quat: np.ndarray) -> np.ndarray:
        site_mat = np.zeros(9)
        mujoco.mju_quat2Mat(site_mat, tool_quat)
        jaw_mat = site_mat.reshape(3, 3) @ self._site_in_fixed_jaw
        return jaw_mat[:, 0]

    # -- policy ---------------------------------------------------------------------------------------------
    def act(self, obs: dict) -> np.ndarray:
        cube = self._get(obs, "cube_pos")
        tool = self._get(obs, "tool_pos")
        contacts = self._get(obs, "jaw_contacts")
        axis = self._closing_axis(self._get(obs, "tool_quat"))
        axis[2] = 0.0
        axis /= max(np.linalg.norm(axis), 1e-9)
        grasp = cube - axis * (self.cfg.cube_size / 2 + self.layout.grasp_margin)
        grasp[2] = cube[2]
        gripper = self._gripper_command(PRESHAPE_GRIPPER_RAD)
        self.phase_steps += 1
        holding = contacts[0] > 0 and contacts[1] > 0 and self._gripper_angle(obs) < GRIPPER_HOLDING_BELOW_RAD
        if self.phase in (Phase.HOVER, Phase.DESCEND) and holding:
            self.lift_xy = tool[:2].copy()  # started (curriculum 1, 2) or ended up with the cube in hand
            self._enter(Phase.LIFT)

        if self.phase == Phase.HOVER:
            target = grasp + np.array([0.0, 0.0, self.hover_height])
            if np.linalg.norm((target - tool)[:2]) < 0.004 and abs(target[2] - tool[2]) < 0.01:
                self._enter(Phase.DESCEND)
        elif self.phase == Phase.DESCEND:
            target = grasp
            if np.linalg.norm((grasp - tool)[:2]) > 0.012:
                self._enter(Phase.HOVER)  # the cube moved: realign first
            elif abs(grasp[2] - tool[2]) < 0.004 or self.phase_steps > 20:
                self._enter(Phase.CLOSE)
        elif self.phase == Phase.CLOSE:
            target, gripper = tool, 1.0
            self.held_steps = self.held_steps + 1 if holding else 0
            if self.held_steps > self.squeeze_steps or self.phase_steps >= self.close_steps:
                self.lift_xy = tool[:2].copy()
                self._enter(Phase.LIFT)
        else:
            target = np.array([*self.lift_xy, self.lift_tool_z])
            gripper = 1.0
            if cube[2] < self.cfg.cube_size and not (contacts[0] and contacts[1]) and self.phase_steps > 4:
                self._enter(Phase.HOVER)  # dropped it: try again

        repeat = self.cfg.action_repeat * self.cfg.action_sequence
        move = self.gain * (target - tool) / (self.params.ee_step_m * repeat)
        action = np.concatenate([np.clip(move, -1.0, 1.0), [gripper]]).astype(np.float32)
        return np.tile(action, self.cfg.action_sequence)

    def _enter(self, phase: Phase) -> None:
        self.phase, self.phase_steps, self.held_steps = phase, 0, 0
