"""Policy I/O: the one place a policy's inputs are built and its outputs scheduled, driven by the contract.

The sim wrappers (policies.wrappers), OnnxPolicy, the ONNX evaluator and the runtime loop all go through here,
so the real arm cannot feed the policy anything the sim did not: the same crop and resize of a raw frame, the
same stacking order and reset fill, the same low-dim order, and the same action held for the same ticks.
Every hand-built copy of these (a ``tick % repeat`` here, a name match on ``prev_action`` there) was a place
for the two sides to drift apart, which is what sank the predecessor's real-arm transfer.

Three pieces, and one object that holds them for a control loop:
  ``FramePipeline``   raw HxWx3 RGB frame -> policy image (``preprocess_frame``) -> channel stack (``FrameStacker``)
  ``low_dim_vector``  named readings -> the float32 vector, in the contract's key order, sizes checked
  ``ActionSchedule``  which action each control tick applies and when the policy is asked again
  ``PolicyIO``        the three, for a loop that supplies a raw frame and the joint reading each tick

Imports no torch and no gymnasium: this is on the deploy path.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from policies.contract import (
    INTERPOLATIONS,
    ActionSpec,
    ContractError,
    ImageSpec,
    LowDimKey,
    PolicyContract,
    crop_box,
)

# Low-dim keys a control loop can supply from the arm: the joint reading and the action it applied last.
JOINT_POS = "joint_pos"
PREV_ACTION = "prev_action"
LOOP_READINGS = (JOINT_POS, PREV_ACTION)


# -- images ---------------------------------------------------------------------------------------------------
def preprocess_frame(frame: np.ndarray, spec: ImageSpec) -> np.ndarray:
    """Raw camera/render frame (H x W x 3, uint8, RGB) -> policy image (3 x size x size, uint8).

    No normalisation here: the exported model divides by 255 itself, so dividing here would do it twice.
    """
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ContractError(f"expected an HxWx3 frame, got shape {frame.shape}")
    if frame.dtype != np.uint8:
        raise ContractError(f"expected a uint8 frame, got {frame.dtype} (frames must not be pre-normalised)")
    top, left, h, w = crop_box(frame.shape[0], frame.shape[1], spec)
    crop = frame[top : top + h, left : left + w]
    if h != spec.size:
        crop = cv2.resize(crop, (spec.size, spec.size), interpolation=INTERPOLATIONS[spec.interpolation])
    return np.ascontiguousarray(crop.transpose(2, 0, 1))


class FrameStacker:
    """Keeps the last ``n`` policy images and returns them concatenated on the channel axis, oldest first.

    On reset every slot holds the first frame, as in training.
    """

    def __init__(self, n: int):
        self.n = n
        self._frames: deque[np.ndarray] = deque(maxlen=n)

    def reset(self, first: np.ndarray) -> np.ndarray:
        self._frames.clear()
        for _ in range(self.n):
            self._frames.append(first)
        return self.stacked()

    def push(self, frame: np.ndarray) -> np.ndarray:
        if not self._frames:
            return self.reset(frame)
        self._frames.append(frame)
        return self.stacked()

    def clear(self) -> None:
        """Forget the history: the next push fills every slot, as a reset would."""
        self._frames.clear()

    def stacked(self) -> np.ndarray:
        return np.concatenate(list(self._frames), axis=0)


class FramePipeline:
    """Raw frame -> policy image -> frame stack, for one episode at a time.

    ``spec`` is the contract's image spec, or the same spec with a calibrated camera's crop (the runtime gets
    it from ``CameraCalibration.image_spec_for``, which refuses a FOV that does not match the contract).
    """

    def __init__(self, spec: ImageSpec):
        self.spec = spec
        self.stacker = FrameStacker(spec.frame_stack)

    def reset(self) -> None:
        """A new episode: the next frame fills every slot."""
        self.stacker.clear()

    def view(self, frame: np.ndarray) -> np.ndarray:
        """The single policy image of a raw frame (3 x size x size), not stacked."""
        return preprocess_frame(frame, self.spec)

    def push(self, view: np.ndarray) -> np.ndarray:
        """Add a policy image to the stack; returns the stack (3*frame_stack x size x size), newest last."""
        return self.stacker.push(view)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self.push(self.view(frame))


# -- low-dim state --------------------------------------------------------------------------------------------
def concat_named(names: Sequence[str], readings: Mapping[str, np.ndarray]) -> np.ndarray:
    """``readings[name]`` for each name in order, flattened and concatenated as float32."""
    return np.concatenate([np.asarray(readings[name], np.float32).reshape(-1) for name in names])


def low_dim_vector(keys: Sequence[LowDimKey], readings: Mapping[str, np.ndarray]) -> np.ndarray:
    """The policy's low-dim input: each contract key's reading, in the contract's order, float32.

    A missing key or a reading of the wrong size is an error rather than a silently shifted vector.
    """
    missing = [k.name for k in keys if k.name not in readings]
    if missing:
        raise ContractError(f"policy needs low-dim {missing}; supplied: {sorted(readings)}")
    for key in keys:
        size = np.asarray(readings[key.name]).size
        if size != key.size:
            raise ContractError(f"low-dim '{key.name}' has {size} values; the contract says {key.size}")
    return concat_named([k.name for k in keys], readings)


def lists_low_dim(contract: PolicyContract, name: str) -> bool:
    """Whether the policy's low-dim input includes ``name`` (e.g. ``prev_action``)."""
    return any(k.name == name for k in contract.low_dim)


# -- actions --------------------------------------------------------------------------------------------------
class ActionSchedule:
    """Which action each control tick applies, and on which ticks the policy is asked again.

    One policy output is a chunk of ``chunk_length`` actions (row-major: action 0 first); each is applied on a
    decision tick (``tick % action_repeat == 0``, ticks counted from the episode's start) and held until the
    next one; the policy is asked again on the first decision tick after the chunk is used up. That is what
    ``ActionSequence(ActionRepeat(env))`` executes in the sim, which calls ``expand`` from this same class. A
    tick the loop skips (a stale frame, a failed bus read) neither moves the schedule nor consumes an action.
    """

    def __init__(self, chunk_length: int, action_repeat: int, size: int):
        if chunk_length < 1:
            raise ValueError(f"action chunk length (action_sequence) must be >= 1, got {chunk_length}")
        if action_repeat < 1:
            raise ValueError(f"action_repeat must be >= 1, got {action_repeat}")
        self.chunk_length, self.action_repeat, self.size = chunk_length, action_repeat, size
        self.reset()

    @classmethod
    def from_spec(cls, action: ActionSpec) -> ActionSchedule:
        return cls(action.chunk_length, action.action_repeat, action.size)

    def reset(self) -> None:
        """A new episode, as in training: no pending chunk, and the previous action is zero."""
        self._pending: deque[np.ndarray] = deque()
        self.current = np.zeros(self.size)

    @property
    def previous_action(self) -> np.ndarray:
        """The action applied last (zeros before the first one): the ``prev_action`` low-dim reading."""
        return np.asarray(self.current, np.float32)

    def is_decision_tick(self, tick: int) -> bool:
        return tick % self.action_repeat == 0

    def policy_due(self, tick: int) -> bool:
        """Whether the policy must be called (and ``load`` its output) before ``action_at(tick)``."""
        return self.is_decision_tick(tick) and not self._pending

    def split(self, output: np.ndarray) -> np.ndarray:
        """A policy output (flat or batched-of-one) -> its actions, (chunk_length, size)."""
        return np.asarray(output).reshape(self.chunk_length, self.size)

    def load(self, output: np.ndarray) -> None:
        """Queue the actions of a fresh policy output."""
        self._pending = deque(self.split(output))

    def action_at(self, tick: int) -> np.ndarray:
        """The action to apply on ``tick``: the next of the chunk on a decision tick, else the held one."""
        if self.is_decision_tick(tick):
            if not self._pending:
                raise RuntimeError(f"tick {tick} needs a new action: call the policy and load() it first")
            self.current = self._pending.popleft()
        return self.current

    def expand(self, output: np.ndarray) -> list[np.ndarray]:
        """The action of every control tick that one policy output covers when no tick is skipped (the sim)."""
        run = ActionSchedule(self.chunk_length, self.action_repeat, self.size)
        run.load(output)
        actions, tick = [run.action_at(0)], 1
        while not run.policy_due(tick):
            actions.append(run.action_at(tick))
            tick += 1
        return actions


# -- the three together, for a control loop -----------------------------------------------------------------
@dataclass(frozen=True)
class PolicyInputs:
    """What one policy call is fed, plus the single new policy image (for frame logging)."""

    rgb: np.ndarray  # (3*frame_stack, size, size) uint8, oldest first
    low_dim: np.ndarray  # (low_dim_size,) float32, contract order
    view: np.ndarray  # (3, size, size) uint8, the newest image alone


class PolicyIO:
    """Everything between a control loop's edges (raw frame, joint reading, joint targets) and the policy graph.

    Per tick the loop asks ``policy_due(tick)``; if so it feeds ``observe(frame, joint_pos)`` to the policy and
    ``load``s the output; then ``action_at(tick)`` is the action for the controller. ``reset()`` at each
    episode start. Refuses (ContractError) a contract whose low-dim input a loop cannot supply.
    """

    def __init__(self, contract: PolicyContract, image_spec: ImageSpec | None = None):
        unknown = [k.name for k in contract.low_dim if k.name not in LOOP_READINGS]
        if unknown:
            raise ContractError(
                f"policy wants low-dim {unknown}, which a control loop cannot measure "
                f"(it supplies {list(LOOP_READINGS)}); retrain without them"
            )
        self.contract = contract
        self.frames = FramePipeline(image_spec or contract.image)
        self.schedule = ActionSchedule.from_spec(contract.action)

    def reset(self) -> None:
        self.frames.reset()
        self.schedule.reset()

    def policy_due(self, tick: int) -> bool:
        return self.schedule.policy_due(tick)

    def observe(self, frame: np.ndarray, joint_pos: np.ndarray) -> PolicyInputs:
        """Policy inputs from the newest frame (HxWx3 RGB uint8; undistorted first where the camera has a
        calibration) and joint reading (radians, contract joint order)."""
        view = self.frames.view(frame)
        readings = {JOINT_POS: joint_pos, PREV_ACTION: self.schedule.previous_action}
        return PolicyInputs(self.frames.push(view), low_dim_vector(self.contract.low_dim, readings), view)

    def load(self, output: np.ndarray) -> None:
        self.schedule.load(output)

    def action_at(self, tick: int) -> np.ndarray:
        return self.schedule.action_at(tick)
