"""The Feetech bus as the small protocols the calibration procedures move the arm through.

``calibration/`` imports no hardware code: its procedures take a ``GripperDrive`` (latency, align's gripper
openings) or an ``ArmDrive`` (the wrist_roll check). These adapters take torque from where the joints are, so
nothing jumps when it comes on; the command turns torque off again when the procedure ends.
"""

from __future__ import annotations

import time

import numpy as np


class BusGripper:
    """``calibration.latency.GripperDrive`` on the Feetech bus: the gripper alone, torqued from where it is."""

    def __init__(self, bus, arm) -> None:
        from robot.so101 import GRIPPER_JOINT, JOINT_NAMES

        self.bus, self.arm, self.joint = bus, arm, GRIPPER_JOINT
        self.index = JOINT_NAMES.index(GRIPPER_JOINT)
        self.q = arm.read_rad()  # the other joints' angles only feed the conversion; they stay limp
        bus.configure()
        bus.write("Goal_Position", self.joint, bus.read("Present_Position", self.joint))
        bus.torque_on([self.joint])

    def move_gripper(self, target_rad: float) -> None:
        self.q[self.index] = target_rad
        self.bus.write_goal_positions({self.joint: self.arm.convert.rad_to_ticks(self.q)[self.joint]})


class BusArm:
    """``calibration.wrist_roll.ArmDrive`` on the Feetech bus: every joint held where it is, moved by ramps at
    the runtime's start-pose speed (``SafetyConfig.start_pose_speed_rad_s``)."""

    def __init__(self, bus, arm, hz: float = 30.0) -> None:
        from so101_deploy.runtime.safety import SafetyConfig

        self.arm, self.hz = arm, hz
        self.speed_rad_s = SafetyConfig().start_pose_speed_rad_s
        bus.configure()
        bus.write_goal_positions(arm.convert.rad_to_ticks(arm.read_rad()))  # torque on holds the arm there
        bus.torque_on()

    def read_rad(self) -> np.ndarray:
        return self.arm.read_rad()

    def move_to(self, goal: np.ndarray) -> None:
        from so101_deploy.runtime.safety import ramp

        for waypoint in ramp(self.arm.read_rad(), goal, self.speed_rad_s, self.hz):
            self.arm.write_rad(waypoint)
            time.sleep(1.0 / self.hz)
