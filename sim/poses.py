"""Named arm poses that are no task's property: the top-down IK pose and the home pose.

The home pose is where ``so101 run`` moves a real arm before an episode and where lift's stage 0 starts, so
both read it from here (train what the arm runs). Its tool position is a robot fact (``robot.so101``); the joint
angles come from the IK, so a change of arm model moves them with it.
"""

from __future__ import annotations

from sim.control import ControllerParams
from sim.kinematics import ArmKinematics

import numpy as np

from robot.so101 import HOME_TOOL_POSITION_M


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
    """The home pose in joint angles: tool point at ``robot.so101.HOME_TOOL_POSITION_M``, gripper top-down and
    open."""
    return top_down_pose(kinematics, params, np.array(HOME_TOOL_POSITION_M), params.gripper_open_rad)
