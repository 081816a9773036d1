"""The lift task's fixed numbers: curriculum stages, start-state layout, privileged layout, cube look.

Its tunable numbers (stage, reward version, cube size/mass/friction, lift height, hold steps) are ``env.*``
keys of ``sim.config.EnvConfig``, because saved training configs name them there.
"""

from __future__ import annotations

from dataclasses import dataclass

STAGES = {
    0: "arm at home, gripper open, cube anywhere in env.workspace (the deployable start)",
    1: "cube in the closed gripper at lift height",
    2: "cube in the closed gripper at table height",
    3: "gripper open ~3 cm above the cube, wrist top-down, cube xy jitter +-2 cm",
    4: "gripper far from the cube",
}

FINGERTIP_PADS = ("static_finger_pad", "moving_finger_pad")  # small contact boxes at the jaw tips
CUBE_RGBA = (0.85, 0.12, 0.10, 1.0)

# Privileged entries: (size, bound). Concatenated in this order into ``privileged_state`` by the wrappers.
PRIVILEGED_LAYOUT = {
    "cube_pos": (3, 5.0),  # metres, arm base frame
    "cube_quat": (4, 1.0),  # w, x, y, z
    "cube_linvel": (3, 50.0),  # m/s
    "tool_pos": (3, 5.0),  # gripperframe site, metres
    "tool_quat": (4, 1.0),
    "cube_to_jaws": (3, 5.0),  # fingertip-pad midpoint minus cube centre, metres
    "jaw_contacts": (2, 1.0),  # fixed jaw, moving jaw touching the cube (0/1)
}
PRIVILEGED_KEYS = tuple(PRIVILEGED_LAYOUT)


@dataclass(frozen=True)
class LiftLayout:
    """Where things start, arm base frame, metres (all inside the controller's workspace and top-down reach).
    Stage 0's arm pose is the robot's home pose (``sim.poses``), not a task number."""

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
