"""The lift task: pick the cube up and hold it above ``lift_height`` (registered as ``env.task: lift``).

``config`` holds its fixed numbers, ``task`` the task (resets, measurement, rewards, success), ``expert`` its
scripted expert.
"""

from sim.tasks.lift.config import PRIVILEGED_KEYS, PRIVILEGED_LAYOUT, STAGES, LiftLayout
from sim.tasks.lift.expert import ScriptedLiftExpert
from sim.tasks.lift.task import REWARDS, LiftState, LiftTask

__all__ = [
    "PRIVILEGED_KEYS",
    "PRIVILEGED_LAYOUT",
    "REWARDS",
    "STAGES",
    "LiftLayout",
    "LiftState",
    "LiftTask",
    "ScriptedLiftExpert",
]
