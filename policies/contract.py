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

CONTRACT_VERSION = 1
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


@dataclass(frozen=True)
class PolicyContract:
    version: int = CONTRACT_VERSION
    image: ImageSpec = field(default_factory=ImageSpec)
    low_dim: tuple[LowDimKey, ...] = (LowDimKey("joint_pos", 6, "rad"),)
    action: ActionSpec = field(default_factory=ActionSpec)
    control_hz: float = 20.0
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
        if version != CONTRACT_VERSION:
            raise ContractError(
                f"contract version {version!r} is not supported (this so101-deploy reads version {CONTRACT_VERSION})"
            )
        try:
            image = ImageSpec(**{**data["image"], "crop_center": tuple(data["image"]["crop_center"])})
            action = ActionSpec(**_action_fields(data["action"]))
            low_dim = tuple(LowDimKey(**k) for k in data["low_dim"])
            rest = {k: v for k, v in data.items() if k not in ("image", "action", "low_dim")}
            rest["joint_names"] = tuple(rest.get("joint_names", JOINT_NAMES))
            return cls(image=image, action=action, low_dim=low_dim, **rest)
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

    def summary(self) -> str:
        im, act = self.image, self.action
        lows = ", ".join(f"{k.name}[{k.size}] ({k.unit})" for k in self.low_dim)
        return (
            f"contract v{self.version}: image {im.camera} {im.stacked_shape} uint8 {im.color_order} "
            f"fovy {im.fovy_deg:g} deg crop {im.crop_fov_ratio:g} {im.interpolation}; low-dim {lows}; "
            f"action {act.type}[{act.size}] x{act.chunk_length} scale {list(act.scale)}; "
            f"{self.control_hz:g} Hz control, repeat {act.action_repeat}"
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


def contract_for_env(env_cfg) -> PolicyContract:
    """The contract a policy trained on ``env_cfg`` (a ``sim.config.EnvConfig``) is bound by.

    Built from the same objects the sim uses (controller parameters, wrist camera pose, arm MJCF), so the
    wrappers, the exporter and the runtime cannot drift apart. Imports no torch and no gymnasium.
    """
    from sim.arm_model import arm_mjcf_path, file_sha256
    from sim.control import ControllerParams
    from sim.scene import wrist_camera_pose

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
        arm_model=arm_path.name,
        arm_model_sha256=file_sha256(arm_path),
        reward_version=env_cfg.reward_version,
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
