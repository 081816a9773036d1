"""The policy contract: one description of what a policy sees and does, shared by sim, export and runtime.

Every sim-to-real failure of this design that we know of was a disagreement between two copies of this
information (images divided by 255 twice, frames stacked on a new axis, BGR vs RGB, a wider real lens, wrong
joint units). So there is exactly one copy: this dataclass. The sim wrappers are built from it, the exporter
writes it into the ONNX metadata, and the runtime reads it back and refuses what it cannot honour.

What the image spec's crop and interpolation names mean (``crop_box``, ``INTERPOLATIONS``) lives here too; applying
the contract to frames, readings and actions is policies.io's job.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

import cv2

from robot.so101 import (
    GRIPPER_CLOSED_RAD,
    GRIPPER_OPEN_RAD,
    JOINT_NAMES,
    MAX_JOINT_STEP_RAD,
    TOP_DOWN_WRIST_FLEX_RAD,
    TOP_DOWN_WRIST_ROLL_RAD,
)

CONTRACT_VERSION = 2  # 2: the start state, episode length, camera mount and latency the arm must reproduce
METADATA_KEY = "so101_contract"

INTERPOLATIONS = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST}
# What the runtime can feed a policy, and nothing else: a contract asking for more is refused before torque on.
SUPPORTED_IMAGE = {
    "color_order": "RGB",
    "layout": "CHW",
    "dtype": "uint8",
    "stack_axis": "channel",
    "stack_order": "oldest_first",
}
IN_MODEL_NORMALISATION = "in_model"  # prefix: the model normalises, the runtime feeds raw uint8


class ContractError(ValueError):
    """A policy and a runtime (or a file) disagree about the contract; the message says on what."""


@dataclass(frozen=True)
class ImageSpec:
    """How a raw camera frame becomes the policy's image input."""

    camera: str = "wrist_cam"
    size: int = 84  # square output, pixels
    fovy_deg: float = 60.0  # vertical field of view the policy was trained with (after crop)
    # Centre crop of the raw frame as a fraction of its shorter side: 1.0 keeps the largest centred square.
    # A real camera with a wider lens gets a ratio < 1 from its calibration so that the FOV matches fovy_deg.
    crop_fov_ratio: float = 1.0
    crop_center: tuple[float, float] = (0.5, 0.5)  # (x, y) of the crop centre as fractions of width, height
    interpolation: str = "area"
    color_order: str = "RGB"
    layout: str = "CHW"
    dtype: str = "uint8"
    normalisation: str = "in_model: x/255 - 0.5"  # the model normalises; nothing upstream may
    frame_stack: int = 3
    stack_axis: str = "channel"  # frames concatenated on C: (3*frame_stack) x H x W
    stack_order: str = "oldest_first"  # newest frame is the last 3 channels

    @property
    def stacked_shape(self) -> tuple[int, int, int]:
        return (3 * self.frame_stack, self.size, self.size)


@dataclass(frozen=True)
class LowDimKey:
    name: str
    size: int
    unit: str


@dataclass(frozen=True)
class ActionSpec:
    """Meaning of the policy's output (in [-1, 1] after tanh) and how it maps to joint targets."""

    type: str = "ee_delta"  # "ee_delta" (dx, dy, dz, gripper) or "joint_delta" (6 joints)
    size: int = 4
    # Per-dimension scale applied to the [-1, 1] output: metres per control step for ee_delta translation,
    # radians per control step for joint_delta; the gripper dimension is an absolute command (see below).
    scale: tuple[float, ...] = (0.01, 0.01, 0.01, 1.0)
    low: float = -1.0
    high: float = 1.0
    chunk_length: int = 1  # actions per policy call (action chunking)
    action_repeat: int = 1  # control ticks each action is held for
    gripper_open_rad: float = GRIPPER_OPEN_RAD  # gripper joint target for action -1
    gripper_closed_rad: float = GRIPPER_CLOSED_RAD  # gripper joint target for action +1
    wrist_flex_rad: float = TOP_DOWN_WRIST_FLEX_RAD  # ee_delta: seed of the top-down IK (sim.control)
    wrist_roll_rad: float = TOP_DOWN_WRIST_ROLL_RAD  # ee_delta holds wrist_roll here
    # Largest change of each joint target per control tick (JOINT_NAMES order), applied by the shared controller
    # in training and on the arm. A contract written before this field ran on the arm with the runtime's
    # 0.05 rad safety step, which is the default.
    max_joint_step_rad: tuple[float, ...] = MAX_JOINT_STEP_RAD


START_POSES = ("home", "placed")  # StartSpec.pose: reproducible by `so101 run`, or placed by the sim


@dataclass(frozen=True)
class StartSpec:
    """Where every episode the policy was trained and evaluated on starts.

    ``pose == "home"``: the arm at ``joint_pos`` (the home pose `so101 run` moves to, gripper open), within
    ``tolerance_rad`` per joint; the cube anywhere in the workspace. ``pose == "placed"``: the sim put the arm
    somewhere from simulation-only truth (e.g. lift stage 3: above the cube's true position), which no arm can
    reproduce; `so101 run` refuses such a policy."""

    task: str = "lift"
    stage: int = 0
    description: str = ""
    pose: str = "home"  # "home" (deployable) or "placed" (a training aid)
    joint_pos: tuple[float, ...] = ()  # sim radians, joint_names order; the home pose when pose == "home"
    tolerance_rad: float = 0.05  # per joint: how far run's own home pose may be from the trained one
    workspace_radius_m: tuple[float, ...] = ()  # cube sector from the pan axis (deployable start)
    workspace_azimuth_deg: tuple[float, ...] = ()

    @property
    def deployable(self) -> bool:
        return self.pose == "home"


@dataclass(frozen=True)
class CameraMount:
    """The wrist camera's mount in the gripper body frame the policy was trained with (sim.scene's pose)."""

    pos: tuple[float, ...] = (0.0, 0.0, 0.0)  # metres
    euler: tuple[float, ...] = (0.0, 0.0, 0.0)  # radians, MuJoCo xyz euler
    fovy_deg: float = 60.0


@dataclass(frozen=True)
class LatencySpec:
    """Delays the policy was trained with (``env.randomization``), ranges in milliseconds: (0, 0) = none."""

    action_ms: tuple[float, ...] = (0.0, 0.0)  # observation -> action reaching the servos
    observation_ms: tuple[float, ...] = (0.0, 0.0)  # camera frame age
    source: str = "none"  # "none", "ms", "steps" or the telemetry file the samples came from


@dataclass(frozen=True)
class PolicyContract:
    version: int = CONTRACT_VERSION
    image: ImageSpec = field(default_factory=ImageSpec)
    low_dim: tuple[LowDimKey, ...] = (LowDimKey("joint_pos", 6, "rad"),)
    action: ActionSpec = field(default_factory=ActionSpec)
    control_hz: float = 20.0
    episode_steps: int = 200  # control ticks per training/evaluation episode
    start: StartSpec = field(default_factory=StartSpec)
    camera: CameraMount = field(default_factory=CameraMount)
    latency: LatencySpec = field(default_factory=LatencySpec)
    joint_names: tuple[str, ...] = JOINT_NAMES
    arm_model: str = "so101_new_calib.xml"
    arm_model_sha256: str = ""
    reward_version: str = ""
    train_config_hash: str = ""
    git_commit: str = ""

    @property
    def low_dim_size(self) -> int:
        return sum(k.size for k in self.low_dim)

    @property
    def policy_hz(self) -> float:
        return self.control_hz / self.action.action_repeat

    # -- serialisation -------------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PolicyContract:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ContractError(f"contract is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PolicyContract:
        if not isinstance(data, dict):
            raise ContractError(f"contract must be a JSON object, got a JSON {type(data).__name__}")
        for key in ("image", "action"):
            if key in data and not isinstance(data[key], dict):
                raise ContractError(
                    f"contract field '{key}' must be an object, got {type(data[key]).__name__}"
                )
        if not isinstance(data.get("low_dim", []), list) or not all(
            isinstance(k, dict) for k in data["low_dim"]
        ):
            raise ContractError("contract field 'low_dim' must be a list of objects")
        version = data.get("version")
        if version == 1:
            raise ContractError(
                "contract version 1 records no start state, camera mount or latency, so `so101 run` cannot check "
                "that the arm reproduces them: re-export the policy from its checkpoint (`so101 export RUN_DIR`)"
            )
        if version != CONTRACT_VERSION:
            raise ContractError(
                f"contract version {version!r} is not supported (this so101-deploy reads version {CONTRACT_VERSION})"
            )
        try:
            image = ImageSpec(**{**data["image"], "crop_center": tuple(data["image"]["crop_center"])})
            action = ActionSpec(**_action_fields(data["action"]))
            low_dim = tuple(LowDimKey(**k) for k in data["low_dim"])
            start = StartSpec(
                **_tuples(data["start"], ("joint_pos", "workspace_radius_m", "workspace_azimuth_deg"))
            )
            camera = CameraMount(**_tuples(data["camera"], ("pos", "euler")))
            latency = LatencySpec(**_tuples(data["latency"], ("action_ms", "observation_ms")))
            nested = ("image", "action", "low_dim", "start", "camera", "latency")
            rest = {k: v for k, v in data.items() if k not in nested}
            rest["joint_names"] = tuple(rest.get("joint_names", JOINT_NAMES))
            return cls(
                image=image,
                action=action,
                low_dim=low_dim,
                start=start,
                camera=camera,
                latency=latency,
                **rest,
            )
        except (KeyError, TypeError) as exc:
            raise ContractError(f"contract is incomplete or has unknown fields: {exc}") from None

    def validate(self) -> None:
        """Refuse (ContractError, one line) any field the runtime cannot honour: called before torque on.

        A contract is data from a file: a value the loop would crash on after torque on (action_repeat 0,
        control_hz 0, an unknown interpolation) or silently misread (BGR frames, HWC layout, normalisation
        expected outside the model) is caught here instead.
        """
        from sim.control import ACTION_TYPES

        im, act = self.image, self.action
        for name, supported in SUPPORTED_IMAGE.items():
            if getattr(im, name) != supported:
                raise ContractError(
                    f"contract image.{name} is {getattr(im, name)!r}; this runtime feeds only {supported!r}"
                )
        if not str(im.normalisation).startswith(IN_MODEL_NORMALISATION):
            raise ContractError(
                f"contract image.normalisation is {im.normalisation!r}: this runtime feeds raw uint8 and needs "
                "a model that normalises itself ('in_model: ...'); re-export with `so101 export`"
            )
        if im.interpolation not in INTERPOLATIONS:
            raise ContractError(
                f"contract image.interpolation {im.interpolation!r} is unknown; valid: {', '.join(INTERPOLATIONS)}"
            )
        _check_int("image.size", im.size, 1, 1024)
        _check_int("image.frame_stack", im.frame_stack, 1, 16)
        _check_number("image.fovy_deg", im.fovy_deg, 0.0, 180.0, low_open=True, high_open=True)
        _check_number("image.crop_fov_ratio", im.crop_fov_ratio, 0.0, 1.0, low_open=True)
        if len(im.crop_center) != 2:
            raise ContractError(f"contract image.crop_center must be (x, y), got {im.crop_center!r}")
        for value in im.crop_center:
            _check_number("image.crop_center", value, 0.0, 1.0)
        if act.type not in ACTION_TYPES:
            raise ContractError(
                f"contract action.type {act.type!r} is unknown; valid: {', '.join(ACTION_TYPES)}"
            )
        if act.size != ACTION_TYPES[act.type]:
            raise ContractError(
                f"contract action.size {act.size!r} does not match action.type {act.type!r} "
                f"({ACTION_TYPES[act.type]} values)"
            )
        if len(act.scale) != act.size:
            raise ContractError(
                f"contract action.scale has {len(act.scale)} values for {act.size} action values"
            )
        for value in act.scale:
            _check_number("action.scale", value, 0.0, 10.0, low_open=True)
        if (
            len(set(act.scale[:-1])) > 1
        ):  # the controller takes one step size for every dimension but the gripper
            raise ContractError(
                f"contract action.scale {list(act.scale)} is not one step size for every non-gripper value"
            )
        for key in self.low_dim:
            if key.name == "joint_pos" and key.unit != "rad":
                raise ContractError(
                    f"contract low_dim joint_pos is in {key.unit!r}; the runtime reads radians ('rad')"
                )
        _check_number("action.low", act.low, -10.0, 10.0)
        _check_number("action.high", act.high, act.low, 10.0, low_open=True)
        _check_int("action.chunk_length", act.chunk_length, 1, 64)
        _check_int("action.action_repeat", act.action_repeat, 1, 100)
        for name in ("gripper_open_rad", "gripper_closed_rad", "wrist_flex_rad", "wrist_roll_rad"):
            _check_number(f"action.{name}", getattr(act, name), -math.pi, math.pi)
        if len(act.max_joint_step_rad) != len(self.joint_names):
            raise ContractError(
                f"contract action.max_joint_step_rad has {len(act.max_joint_step_rad)} values for "
                f"{len(self.joint_names)} joints"
            )
        for value in act.max_joint_step_rad:
            _check_number("action.max_joint_step_rad", value, 0.0, math.pi, low_open=True)
        _check_number("control_hz", self.control_hz, 0.0, 200.0, low_open=True)
        self._validate_what_the_arm_reproduces()

    def _validate_what_the_arm_reproduces(self) -> None:
        """The v2 fields: start state, episode length, camera mount, latency (their meaning: docs/sim_to_real.md)."""
        _check_int("episode_steps", self.episode_steps, 1, 1_000_000)
        start, cam = self.start, self.camera
        if start.pose not in START_POSES:
            raise ContractError(
                f"contract start.pose {start.pose!r} is unknown; valid: {', '.join(START_POSES)}"
            )
        _check_number("start.tolerance_rad", start.tolerance_rad, 0.0, 0.5, low_open=True)
        if start.joint_pos and len(start.joint_pos) != len(self.joint_names):
            raise ContractError(
                f"contract start.joint_pos has {len(start.joint_pos)} values for {len(self.joint_names)} joints"
            )
        for value in start.joint_pos:
            _check_number("start.joint_pos", value, -math.pi, math.pi)
        if len(cam.pos) != 3 or len(cam.euler) != 3:
            raise ContractError("contract camera.pos and camera.euler must have 3 values each")
        for value in cam.pos:
            _check_number("camera.pos", value, -0.5, 0.5)
        for value in cam.euler:
            _check_number("camera.euler", value, -2 * math.pi, 2 * math.pi)
        _check_number("camera.fovy_deg", cam.fovy_deg, 0.0, 180.0, low_open=True, high_open=True)
        if abs(cam.fovy_deg - self.image.fovy_deg) > 1e-6:
            raise ContractError(
                f"contract camera.fovy_deg {cam.fovy_deg:g} and image.fovy_deg {self.image.fovy_deg:g} disagree: "
                "one camera was trained with; re-export the policy from its checkpoint"
            )
        for name in ("action_ms", "observation_ms"):
            span = getattr(self.latency, name)
            if len(span) != 2:
                raise ContractError(f"contract latency.{name} must be (low, high) in ms, got {list(span)}")
            for value in span:
                _check_number(f"latency.{name}", value, 0.0, 10_000.0)

    def summary(self) -> str:
        im, act = self.image, self.action
        lows = ", ".join(f"{k.name}[{k.size}] ({k.unit})" for k in self.low_dim)
        return (
            f"contract v{self.version}: image {im.camera} {im.stacked_shape} uint8 {im.color_order} "
            f"fovy {im.fovy_deg:g} deg crop {im.crop_fov_ratio:g} {im.interpolation}; low-dim {lows}; "
            f"action {act.type}[{act.size}] x{act.chunk_length} scale {list(act.scale)}; "
            f"{self.control_hz:g} Hz control, repeat {act.action_repeat}; "
            f"start {self.start.task} stage {self.start.stage} ({self.start.pose}), {self.episode_steps} steps"
        )


def _check_number(
    name: str, value: Any, low: float, high: float, *, low_open: bool = False, high_open: bool = False
) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ContractError(f"contract {name} is {value!r}; it must be a finite number in {interval}")


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ContractError(f"contract {name} is {value!r}; it must be a whole number in {low}..{high}")


def _action_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """JSON lists back to tuples; a contract written before the step limits keeps ActionSpec's default."""
    out = {**fields, "scale": tuple(fields["scale"])}
    if "max_joint_step_rad" in fields:
        out["max_joint_step_rad"] = tuple(fields["max_joint_step_rad"])
    return out


def _tuples(data: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """JSON lists back to the tuples the frozen dataclasses hold (so a round trip compares equal)."""
    if not isinstance(data, dict):
        raise TypeError(f"expected an object, got {type(data).__name__}")
    return {k: tuple(v) if k in keys else v for k, v in data.items()}


def contract_for_env(env_cfg) -> PolicyContract:
    """The contract a policy trained on ``env_cfg`` (a ``sim.config.EnvConfig``) is bound by.

    Built from the same objects the sim uses (controller parameters, wrist camera pose, arm MJCF), so the
    wrappers, the exporter and the runtime cannot drift apart. Imports no torch and no gymnasium.
    """
    from sim.arm_model import arm_mjcf_path, file_sha256
    from sim.control import ControllerParams
    from sim.kinematics import ArmKinematics
    from sim.poses import home_pose
    from sim.scene import wrist_camera_pose
    from sim.tasks import task_class

    params = ControllerParams.from_env_config(env_cfg)
    camera = wrist_camera_pose(env_cfg.wrist_camera)
    arm_path = arm_mjcf_path(env_cfg.model_path)
    low_dim = [LowDimKey("joint_pos", len(JOINT_NAMES), "rad")]
    if env_cfg.include_prev_action:
        low_dim.append(LowDimKey("prev_action", params.action_dim, "normalised [-1, 1]"))
    return PolicyContract(
        image=ImageSpec(
            size=env_cfg.image_size, fovy_deg=float(camera.fovy), frame_stack=env_cfg.frame_stack
        ),
        low_dim=tuple(low_dim),
        action=ActionSpec(
            type=params.action_type,
            size=params.action_dim,
            scale=params.action_scale(),
            chunk_length=env_cfg.action_sequence,
            action_repeat=env_cfg.action_repeat,
            gripper_open_rad=params.gripper_open_rad,
            gripper_closed_rad=params.gripper_closed_rad,
            wrist_flex_rad=params.wrist_flex_rad,
            wrist_roll_rad=params.wrist_roll_rad,
            max_joint_step_rad=params.max_joint_step_rad,
        ),
        control_hz=float(env_cfg.control_hz),
        episode_steps=int(env_cfg.episode_steps),
        start=_start_spec(
            env_cfg, task_class(env_cfg.task), lambda: home_pose(ArmKinematics(arm_path), params)
        ),
        camera=CameraMount(
            pos=tuple(float(v) for v in camera.pos),
            euler=tuple(float(v) for v in camera.euler),
            fovy_deg=float(camera.fovy),
        ),
        latency=latency_spec(env_cfg),
        arm_model=arm_path.name,
        arm_model_sha256=file_sha256(arm_path),
        reward_version=env_cfg.reward_version,
    )


def _start_spec(env_cfg, task, home) -> StartSpec:
    """The evaluated start (``env.stage``; a training ``stage_mix`` is an aid and not recorded)."""
    stage = int(env_cfg.stage)
    common = {"task": env_cfg.task, "stage": stage, "description": task.stages.get(stage, "")}
    if not task.is_home_start(stage):
        return StartSpec(**common, pose="placed")
    return StartSpec(
        **common,
        pose="home",
        joint_pos=tuple(round(float(v), 6) for v in home()),
        workspace_radius_m=tuple(float(v) for v in env_cfg.workspace.radius_m),
        workspace_azimuth_deg=tuple(float(v) for v in env_cfg.workspace.azimuth_deg),
    )


def latency_spec(env_cfg) -> LatencySpec:
    """The delay ranges ``env.randomization`` trains with, in milliseconds (whole steps at ``control_hz``)."""
    from sim.measured_latency import centre_on_measured
    from sim.randomize.timing import delay_samples_ms

    rand = centre_on_measured(env_cfg.randomization, env_cfg.wrist_camera.calibration_file)
    step_ms = 1000.0 / env_cfg.control_hz

    def span(cfg, which: str) -> tuple[tuple[float, float], str]:
        if not cfg.enabled:
            return (0.0, 0.0), "none"
        samples = delay_samples_ms(cfg.ms, cfg.from_telemetry, which)
        if len(samples):
            return (float(min(samples)), float(max(samples))), cfg.from_telemetry or "ms"
        return (0.0, cfg.max_steps * step_ms), "steps"

    action, source = span(rand.latency, "action_latency_ms")
    observation, obs_source = span(rand.obs_delay, "frame_age_ms")
    return LatencySpec(
        action_ms=action, observation_ms=observation, source=source if source != "none" else obs_source
    )


# -- the image spec's crop, in pixels of a given frame ------------------------------------------------------
def crop_box(height: int, width: int, spec: ImageSpec) -> tuple[int, int, int, int]:
    """(top, left, side, side) of the square crop that ``spec`` takes out of an ``height x width`` frame."""
    side = max(1, int(round(min(height, width) * spec.crop_fov_ratio)))
    cx, cy = spec.crop_center
    left = int(round(cx * width - side / 2))
    top = int(round(cy * height - side / 2))
    if left < 0 or top < 0 or left + side > width or top + side > height:
        raise ContractError(
            f"crop of {side}px around ({cx:.2f}, {cy:.2f}) does not fit a {width}x{height} frame; "
            "lower crop_fov_ratio or move crop_center"
        )
    return top, left, side, side
