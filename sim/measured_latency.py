"""The arm's measured loop latency, read from the camera calibration, as the centre of the delay randomisation.

`so101 calibrate latency` writes a ``latency`` block into the camera calibration JSON (the file
``env.wrist_camera.calibration_file`` names; ``sim.scene`` reads its mount from the same file). It splits the
time from a gripper command to the first wrist frame that shows the motion into command -> capture (the
action's share: bus, servo response, exposure) and capture -> delivery (the image's share: USB transfer,
decode); on a camera without a capture clock the second is 0 and the first holds both.

A delay group with ``around_measured_ms = (low, high)`` then draws uniformly from [share + low, share + high]
(clipped at 0): the action latency around command -> capture, the frame age around capture -> delivery. Without
a file, or a file without a measurement, the group keeps its own ``ms`` / ``max_steps``. Like ``sim.scene`` we
read the JSON ourselves, so the sim does not depend on the calibration package.
"""

from __future__ import annotations

from dataclasses import replace

from sim.camera_calibration_json import read_camera_calibration_json
from sim.randomize.config import RandomizationConfig

import numpy as np

SAMPLES = 21  # evenly spaced points of the uniform range (DelaySampler interpolates between them)


def measured_latency_ms(calibration_file: str) -> tuple[float, float] | None:
    """(command -> capture, capture -> delivery) medians in ms from a camera calibration file, or None."""
    if not calibration_file:
        return None
    data = read_camera_calibration_json(calibration_file)
    latency = data.get("latency")
    if not latency:
        return None
    return float(latency["command_to_capture_ms"]), float(latency["frame_age_ms"])


def _around(centre_ms: float, low_high: tuple[float, ...]) -> tuple[float, ...]:
    if len(low_high) != 2 or low_high[0] > low_high[1]:
        raise ValueError(f"around_measured_ms must be [low, high] ms with low <= high, got {list(low_high)}")
    low, high = low_high
    return tuple(
        float(v) for v in np.linspace(max(centre_ms + low, 0.0), max(centre_ms + high, 0.0), SAMPLES)
    )


def centre_on_measured(randomization: RandomizationConfig, calibration_file: str) -> RandomizationConfig:
    """``randomization`` with its delay groups that ask for it (``around_measured_ms``) drawing around the
    latency measured in ``calibration_file``; unchanged when there is no measurement or no group asks."""
    lat, od = randomization.latency, randomization.obs_delay
    wanted = (lat.enabled and lat.around_measured_ms) or (od.enabled and od.around_measured_ms)
    measured = measured_latency_ms(calibration_file) if wanted else None
    if measured is None:
        return randomization
    action_ms, frame_ms = measured
    if lat.enabled and lat.around_measured_ms:
        lat = replace(lat, ms=_around(action_ms, lat.around_measured_ms), from_telemetry="")
    if od.enabled and od.around_measured_ms:
        od = replace(od, ms=_around(frame_ms, od.around_measured_ms), from_telemetry="")
    return replace(randomization, latency=lat, obs_delay=od)
