"""Loop latency of the real arm: command a gripper step and time the first wrist frame that shows it move.

The wrist camera is screwed to the fixed jaw, so the moving jaw is the one thing in its view that a gripper
command moves, whatever the rest of the arm does. One repeat: hold the gripper at ``base_rad``, take reference
frames, command ``base_rad + step_rad``, and watch the frames until the jaw region differs from the reference;
then command it back and let it settle. The time from the command to that frame is what the policy lives with:
bus write, servo response, exposure, USB transfer and decode (how it splits between action and image delay
depends on the camera's clock, see ``calibration.camera_model.MeasuredLatency``).

The jaw region is not assumed: a first, untimed step shows which pixels the jaw's motion changes (it depends
on the camera mount), and the timed repeats look only there. A frame counts as changed when the mean absolute
difference there passes ``detect_fraction`` of the full step's difference above the still frames' noise. Each
sample is quantised to the frame period; a random wait (up to one frame period) before each command puts it
at a random phase of the camera's frame clock, so the samples spread over that period and their median is
not locked to one rounding. That spread also means the median includes about half a frame period of waiting
for the next exposure, as a control loop reading the newest frame does.

Hardware comes in through two small protocols (the CLI adapts the Feetech bus and the OpenCV camera to them),
so this module imports no hardware code and asks nothing of the user.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from calibration.camera_model import MeasuredLatency


class LatencyError(RuntimeError):
    """The measurement could not be made (no visible jaw motion, no frames); the message says what to do."""


class FrameLike(Protocol):
    @property
    def image(self) -> np.ndarray: ...  # H x W x 3 uint8

    @property
    def timestamp(self) -> float: ...  # seconds on time.monotonic()'s clock

    @property
    def index(self) -> int: ...


class FrameSource(Protocol):
    """A camera: ``so101_deploy.hardware.camera.Camera`` is one."""

    clock: str  # how frame timestamps are taken ("capture" or "delivery")

    def wait_new(self, after_index: int = -1, timeout_s: float = 1.0) -> FrameLike: ...


class GripperDrive(Protocol):
    """The gripper servo alone (torque on the gripper only)."""

    def move_gripper(self, target_rad: float) -> None:
        """Send the goal (sim radians) and return at once."""
        ...


@dataclass
class LatencyProbeConfig:
    base_rad: float = 0.1  # gripper angle held between steps: both jaws in the default mount's view
    step_rad: float = 0.2  # the timed step (the moving jaw stays in view up to ~0.45 rad)
    repeats: int = 7
    still_frames: int = 3  # reference frames before each step
    settle_s: float = 0.6  # after each move, for the jaw to come to rest
    timeout_s: float = 2.0  # no changed frame this long after a command: the jaw is out of view
    detect_fraction: float = 0.15  # of the full step's image difference, above the still frames' noise
    min_contrast: float = (
        4.0  # the full step must change the jaw region by this much (grey levels) above noise
    )
    seed: int = 0

    def validate(self) -> None:
        if self.repeats < 1 or self.still_frames < 1:
            raise ValueError("repeats and still_frames must be >= 1")
        if self.step_rad == 0:
            raise ValueError("step_rad must not be 0")
        if not 0 < self.detect_fraction < 1:
            raise ValueError("detect_fraction must be in (0, 1)")


def _gray(frame: FrameLike) -> np.ndarray:
    return cv2.cvtColor(frame.image, cv2.COLOR_RGB2GRAY).astype(np.float32)


def jaw_mask(before: np.ndarray, after: np.ndarray, threshold: float = 25.0) -> np.ndarray:
    """Pixels the jaw's motion changes between two grey frames (dilated a little: the motion starts there)."""
    changed = (np.abs(after - before) > threshold).astype(np.uint8)
    return cv2.dilate(changed, np.ones((5, 5), np.uint8)) > 0


def region_difference(gray: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> float:
    return float(np.abs(gray - reference)[mask].mean())


class _Probe:
    def __init__(self, gripper: GripperDrive, camera: FrameSource, config: LatencyProbeConfig, clock) -> None:
        self.gripper, self.camera, self.config, self.clock = gripper, camera, config, clock
        self.last = camera.wait_new(timeout_s=config.timeout_s)
        self.intervals: list[float] = []  # seconds between consecutive frames seen, for the frame period

    def next_frame(self) -> FrameLike:
        previous = self.last
        self.last = self.camera.wait_new(previous.index, timeout_s=self.config.timeout_s)
        if self.last.index == previous.index + 1:
            self.intervals = [*self.intervals[-29:], self.last.timestamp - previous.timestamp]
        return self.last

    @property
    def period(self) -> float:
        return float(np.median(self.intervals)) if self.intervals else 0.0

    def settle(self, seconds: float) -> None:
        """Let ``seconds`` pass while keeping up with the frames (the newest one is in ``last`` afterwards)."""
        end = self.clock() + seconds
        while self.clock() < end:
            self.next_frame()

    def still(
        self, mask: np.ndarray | None = None, tolerance: float = 0.0
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Reference frames once the jaw has stopped: ``still_frames`` in a row that differ from the first of
        them by at most ``tolerance`` in ``mask`` (a jaw still on its way would read as an early change)."""
        end = self.clock() + self.config.timeout_s
        frames = [_gray(self.next_frame())]
        while len(frames) < self.config.still_frames:
            gray = _gray(self.next_frame())
            if mask is not None and region_difference(gray, frames[0], mask) > tolerance:
                if self.clock() > end:
                    raise LatencyError(
                        f"the jaw did not come to rest within {self.config.timeout_s:g} s of the last move: "
                        "is something pushing the gripper, or is the image flickering?"
                    )
                frames = [gray]
                continue
            frames.append(gray)
        return np.median(np.stack(frames), axis=0), frames


def measure_latency(
    gripper: GripperDrive,
    camera: FrameSource,
    config: LatencyProbeConfig | None = None,
    on_progress: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> MeasuredLatency:
    """Time gripper command -> first changed wrist frame ``config.repeats`` times; the gripper ends at base."""
    config = config or LatencyProbeConfig()
    config.validate()
    say = on_progress or (lambda _m: None)
    rng = np.random.default_rng(config.seed)
    probe = _Probe(gripper, camera, config, clock)
    base, stepped = config.base_rad, config.base_rad + config.step_rad

    # Untimed first step: where in the image the jaw moves, and how much.
    gripper.move_gripper(base)
    probe.settle(config.settle_s)
    reference, stills = probe.still()
    gripper.move_gripper(stepped)
    probe.settle(config.settle_s)
    moved = _gray(probe.next_frame())
    mask = jaw_mask(reference, moved)
    if mask.mean() < 0.002:
        gripper.move_gripper(base)
        raise LatencyError(
            f"a {config.step_rad:+.2f} rad gripper step changed no part of the wrist image: point the camera at "
            "the jaws (both in view at the base opening), or change --base/--step"
        )
    full = region_difference(moved, reference, mask)
    noise = max(region_difference(s, reference, mask) for s in stills)
    if full - noise < config.min_contrast:
        gripper.move_gripper(base)
        raise LatencyError(
            f"the jaw's motion changes the image by only {full - noise:.1f} grey levels above the noise: "
            "more light, or a larger --step"
        )
    threshold = noise + config.detect_fraction * (full - noise)
    say(f"jaw region {mask.mean() * 100:.1f}% of the image; change {full:.1f}, noise {noise:.1f} grey levels")

    to_delivery, to_capture, ages = [], [], []
    gripper.move_gripper(base)
    for i in range(config.repeats):
        probe.settle(config.settle_s)
        reference, _ = probe.still(mask, noise + 0.5 * (threshold - noise))
        # still() returns just after a frame came in: without this wait every command would sit at the same
        # phase of the camera's frame clock and the samples would share one rounding instead of averaging it
        sleep(float(rng.uniform(0.0, probe.period)))
        commanded = clock()
        gripper.move_gripper(stepped)
        while True:
            frame = probe.next_frame()
            delivered = clock()
            if delivered - commanded > config.timeout_s:
                gripper.move_gripper(base)
                raise LatencyError(
                    f"no changed frame within {config.timeout_s:g} s of the gripper command (repeat {i + 1}): "
                    "is the gripper torqued and the jaw in view?"
                )
            if frame.timestamp > commanded and region_difference(_gray(frame), reference, mask) > threshold:
                break
        to_delivery.append((delivered - commanded) * 1000)
        to_capture.append((frame.timestamp - commanded) * 1000)
        ages.append((delivered - frame.timestamp) * 1000)
        say(f"repeat {i + 1}/{config.repeats}: {to_delivery[-1]:.0f} ms")
        gripper.move_gripper(base)

    samples = np.asarray(to_delivery)
    q25, q75 = np.percentile(samples, [25, 75])
    return MeasuredLatency(
        median_ms=round(float(np.median(samples)), 2),
        command_to_capture_ms=round(float(np.median(to_capture)), 2),
        frame_age_ms=round(float(np.median(ages)), 2),
        min_ms=round(float(samples.min()), 2),
        max_ms=round(float(samples.max()), 2),
        iqr_ms=round(float(q75 - q25), 2),
        samples_ms=tuple(round(float(v), 2) for v in samples),
        frame_period_ms=round(probe.period * 1000, 2),
        clock=str(getattr(camera, "clock", "delivery")),
        step_rad=float(config.step_rad),
    )
