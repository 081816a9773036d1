"""PositionBackend that puts the emulated servos on MuJoCo joints: the seam between bus and physics."""

from __future__ import annotations

from robot.so101 import SO101_JOINTS
from so101_deploy.twin.factory import TickMapping
from so101_deploy.twin.servo_model import JointReading
from so101_deploy.twin.world import TwinWorld


class MujocoBackend:
    """Servo key (power-up ID) -> joint index; goals and readings in encoder ticks, the servo's own units."""

    def __init__(self, world: TwinWorld, mapping: TickMapping):
        self.world = world
        self.mapping = mapping
        self.index = {joint.motor_id: i for i, joint in enumerate(SO101_JOINTS)}

    def set_goal(self, key: int, ticks: float | None) -> None:
        i = self.index[key]
        self.world.set_goal(i, None if ticks is None else self.mapping.encoder_to_rad(i, ticks))

    def read(self, key: int) -> JointReading:
        i = self.index[key]
        return JointReading(position=self.mapping.rad_to_encoder(i, self.world.read_joint(i)))
