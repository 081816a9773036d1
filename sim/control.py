"""The one mapping from a policy action to servo joint targets, shared unchanged by the sim and the real arm.

A pure function of (reference joint positions, action, parameters, kinematics): no simulator state, no time,
no torch. The sim env calls it every control step; the real-arm runtime calls the very same function with the
arm's joint readings, so a policy cannot learn a controller that the real arm does not have.

Actions are the policy's output in [-1, 1]:
- ``ee_delta`` (4): tool-point translation (dx, dy, dz) * ``ee_step_m`` in the arm base frame, then gripper.
  The tool keeps pointing straight down where the arm can (tool point below ~9 cm; above that it tilts as
  little as the wrist_flex limit allows), wrist_roll is held at ``wrist_roll_rad``.
- ``joint_delta`` (6): five arm joint increments * ``joint_step_rad``, then gripper.
The gripper dimension is absolute in both: -1 = ``gripper_open_rad``, +1 = ``gripper_closed_rad``, linear
in between.

Motion limits are part of the controller: each joint target moves at most ``max_joint_step_rad`` (per joint)
from the previous target per control tick (``limit_step``). The runtime's safety filter used to apply this bound after the
controller, on the arm only, so a policy trained in the sim met a slower arm than it learnt (jaws still open when
it lifts); applying it here makes the sim train with exactly the targets the arm is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.kinematics import DOWN, ArmKinematics

import numpy as np

from robot.so101 import (
    CTRL_HIGH,
    CTRL_LOW,
    GRIPPER_CLOSED_RAD,
    GRIPPER_OPEN_RAD,
    MAX_JOINT_STEP_RAD,
    TOP_DOWN_WRIST_FLEX_RAD,
    TOP_DOWN_WRIST_ROLL_RAD,
)

ACTION_TYPES = {"ee_delta": 4, "joint_delta": 6}


@dataclass(frozen=True)
class ControllerParams:
    action_type: str = "ee_delta"
    ee_step_m: float = 0.01  # tool translation per control step for a unit action
    joint_step_rad: float = 0.05  # joint increment per control step for a unit joint_delta action
    # Gripper and wrist angles (why these values: robot.so101). A policy's contract records the ones it was
    # trained with, and the runtime runs with those (``from_action_spec``).
    gripper_open_rad: float = GRIPPER_OPEN_RAD
    gripper_closed_rad: float = GRIPPER_CLOSED_RAD
    wrist_flex_rad: float = TOP_DOWN_WRIST_FLEX_RAD  # seeds the top-down IK, which solves wrist_flex
    wrist_roll_rad: float = TOP_DOWN_WRIST_ROLL_RAD  # held during ee_delta
    # Targets are clipped to the actuators' ctrlrange (robot.so101), in the sim and on the arm alike.
    joint_low: tuple[float, ...] = CTRL_LOW
    joint_high: tuple[float, ...] = CTRL_HIGH
    # Largest change of each joint target per control tick (why these values: robot.so101).
    max_joint_step_rad: tuple[float, ...] = MAX_JOINT_STEP_RAD
    # Workspace the tool point target is clipped to: a cylinder sector around the shoulder_pan axis, inside
    # which the IK reaches every point exactly (mapped on the MJCF; tests/test_sim_kinematics.py). Outside it
    # targets would be unreachable: the IK would spend its iterations and the tool would not follow.
    pan_axis_xy: tuple[float, float] = (
        0.0388,
        0.0,
    )  # shoulder_pan axis in the base frame (MJCF shoulder pos)
    reach_radius_m: tuple[float, float] = (0.14, 0.27)  # horizontal distance from the pan axis
    reach_height_m: tuple[float, float] = (0.005, 0.13)  # above the table
    max_azimuth_rad: float = 0.9  # either side of straight ahead
    # The reference is the previous joint target when the arm follows it within this bound, else the
    # measured joints (so a blocked arm does not wind the target up).
    max_target_lead_rad: float = 0.15
    ik_iters: int = 20

    def __post_init__(self):
        if self.action_type not in ACTION_TYPES:
            raise ValueError(f"unknown action type {self.action_type!r}; valid: {', '.join(ACTION_TYPES)}")
        steps = tuple(float(v) for v in self.max_joint_step_rad)
        if len(steps) != len(self.joint_low) or not all(np.isfinite(v) and v > 0 for v in steps):
            raise ValueError(
                f"max_joint_step_rad needs one positive value per joint ({len(self.joint_low)}), got {steps}"
            )
        object.__setattr__(self, "max_joint_step_rad", steps)

    @property
    def action_dim(self) -> int:
        return ACTION_TYPES[self.action_type]

    @classmethod
    def from_env_config(cls, cfg) -> ControllerParams:
        """Training side, from a ``sim.config.EnvConfig``: its steps, the robot's gripper and wrist angles.

        The other direction of the round trip is ``policies.contract.contract_for_env`` (these parameters ->
        the contract's ``ActionSpec``), and back on the arm :meth:`from_action_spec`.
        """
        return cls(action_type=cfg.action_type, ee_step_m=cfg.ee_step_m, joint_step_rad=cfg.joint_step_rad)

    @classmethod
    def from_action_spec(cls, spec) -> ControllerParams:
        """Run-time side, from a ``policies.contract.ActionSpec`` (read by attribute: sim does not import
        policies), so the arm runs the controller the policy was trained with."""
        kwargs = dict(
            action_type=spec.type,
            gripper_open_rad=spec.gripper_open_rad,
            gripper_closed_rad=spec.gripper_closed_rad,
            wrist_flex_rad=spec.wrist_flex_rad,
            wrist_roll_rad=spec.wrist_roll_rad,
            max_joint_step_rad=tuple(spec.max_joint_step_rad),
        )
        if spec.scale:
            kwargs["ee_step_m" if spec.type == "ee_delta" else "joint_step_rad"] = float(spec.scale[0])
        return cls(**kwargs)

    def action_scale(self) -> tuple[float, ...]:
        """Per-dimension scale as the contract records it (the gripper dimension is absolute: 1.0)."""
        step = self.ee_step_m if self.action_type == "ee_delta" else self.joint_step_rad
        return (step,) * (self.action_dim - 1) + (1.0,)

    def gripper_target(self, command: float) -> float:
        closing = (float(np.clip(command, -1.0, 1.0)) + 1.0) / 2.0
        return self.gripper_open_rad + closing * (self.gripper_closed_rad - self.gripper_open_rad)


def reference_joints(
    joint_pos_rad: np.ndarray, previous_targets: np.ndarray | None, params: ControllerParams
) -> np.ndarray:
    """Where the action's delta starts: the previous target while the arm keeps up with it, else the readings.

    Starting from the previous target stops the slow sag that position servos under gravity would otherwise
    integrate (each step would restart a little lower); falling back to the readings stops wind-up when the
    arm is blocked.
    """
    q = np.asarray(joint_pos_rad, dtype=np.float64)
    if previous_targets is None:
        return q.copy()
    prev = np.asarray(previous_targets, dtype=np.float64)
    if np.max(np.abs(prev[:5] - q[:5])) > params.max_target_lead_rad:
        return q.copy()
    return prev.copy()


def _cylindrical(p: np.ndarray, params: ControllerParams) -> np.ndarray:
    dx, dy = p[0] - params.pan_axis_xy[0], p[1] - params.pan_axis_xy[1]
    return np.array([np.hypot(dx, dy), np.arctan2(dy, dx), p[2]])


def clip_to_workspace(goal: np.ndarray, tool: np.ndarray, params: ControllerParams) -> np.ndarray:
    """``goal`` clipped into the workspace sector; a tool already outside may only move back towards it."""
    g, t = _cylindrical(goal, params), _cylindrical(tool, params)
    low = np.array([params.reach_radius_m[0], -params.max_azimuth_rad, params.reach_height_m[0]])
    high = np.array([params.reach_radius_m[1], params.max_azimuth_rad, params.reach_height_m[1]])
    r, az, z = np.clip(g, np.minimum(low, t), np.maximum(high, t))
    return np.array([params.pan_axis_xy[0] + r * np.cos(az), params.pan_axis_xy[1] + r * np.sin(az), z])


def action_to_joint_targets(
    joint_pos_rad: np.ndarray,
    action: np.ndarray,
    params: ControllerParams,
    kinematics: ArmKinematics,
    previous_targets: np.ndarray | None = None,
) -> np.ndarray:
    """Joint position targets (6,), radians, JOINT_NAMES order, within the joint limits and the step limits.

    ``joint_pos_rad`` are the measured joint positions; ``previous_targets`` (optional) the targets sent last
    step (see ``reference_joints``). Out-of-range actions are clipped to [-1, 1]. Each target moves at most
    ``params.max_joint_step_rad`` from the previous target, or from the measured joints when there is none
    (`so101 run` started without moving to a start pose).
    """
    a = np.clip(np.asarray(action, dtype=np.float64).reshape(-1), -1.0, 1.0)
    if a.shape[0] != params.action_dim:
        raise ValueError(f"{params.action_type} expects {params.action_dim} action values, got {a.shape[0]}")
    q_ref = reference_joints(joint_pos_rad, previous_targets, params)
    target = q_ref.copy()
    if params.action_type == "ee_delta":
        tool, _ = kinematics.fk(q_ref)
        goal = clip_to_workspace(tool + a[:3] * params.ee_step_m, tool, params)
        seed = q_ref.copy()
        seed[4] = params.wrist_roll_rad
        if abs(seed[3] - params.wrist_flex_rad) > 1.0:
            seed[3] = params.wrist_flex_rad
        target = kinematics.solve(goal, seed, approach=DOWN, max_iters=params.ik_iters).q
    else:
        target[:5] = q_ref[:5] + a[:5] * params.joint_step_rad
    target[5] = params.gripper_target(a[-1])
    target = np.clip(target, params.joint_low, params.joint_high)
    return limit_step(target, joint_pos_rad if previous_targets is None else previous_targets, params)


def limit_step(target: np.ndarray, previous: np.ndarray, params: ControllerParams) -> np.ndarray:
    """``target`` moved at most ``max_joint_step_rad`` away from ``previous`` on every joint.

    The arm joints are scaled back together, so the tool keeps the direction the action asked for (clipping
    each joint on its own bends the path: a full +x step at 5 cm height became 3.4 mm forward and 1 mm down);
    the gripper is bounded on its own. Joints that need no bound keep their target bit for bit, and the
    runtime's safety filter, which checks the same bound after the controller, finds nothing to do.
    """
    previous = np.asarray(previous, dtype=np.float64)
    bound = np.asarray(params.max_joint_step_rad)
    step = target - previous
    out = np.array(target, dtype=np.float64)
    excess = float(np.max(np.abs(step[:-1]) / bound[:-1]))
    if excess > 1.0:
        out[:-1] = previous[:-1] + step[:-1] / excess
    if abs(step[-1]) > bound[-1]:
        out[-1] = previous[-1] + np.sign(step[-1]) * bound[-1]
    return out
