"""The camera calibration JSON that ``env.wrist_camera.calibration_file`` names, read as plain JSON: the sim takes
its mount (``sim.scene``) and its measured latency (``sim.measured_latency``) from it without depending on the
calibration package that writes it."""

from __future__ import annotations

import json
from pathlib import Path


def read_camera_calibration_json(calibration_file: str) -> dict:
    """The file's JSON object; a missing file says how to make one or stop asking for it."""
    path = Path(calibration_file).expanduser()
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"env.wrist_camera.calibration_file {str(path)!r} does not exist; run `so101 calibrate camera` "
            "or clear the key"
        ) from None
