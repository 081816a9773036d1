"""Pick a headless MuJoCo GL backend before ``mujoco`` is imported.

MuJoCo reads ``MUJOCO_GL`` once, at import time, so the choice has to happen first. We respect a value the user
set; otherwise we prefer EGL (fast, works with Mesa on CPU-only machines and with NVIDIA drivers) and fall back to
OSMesa. The choice is written back to ``os.environ`` so that spawned worker processes inherit it without probing.
"""

from __future__ import annotations

import ctypes.util
import os

# Debian/Ubuntu packages that make each backend work on a headless machine.
APT_PACKAGES = {
    "egl": ["libegl1", "libgl1-mesa-dri", "libopengl0"],
    "osmesa": ["libosmesa6"],
}
# Shared libraries whose presence tells us a backend can at least be loaded.
REQUIRED_LIBS = {"egl": ["EGL", "OpenGL"], "osmesa": ["OSMesa"]}
PREFERENCE = ("egl", "osmesa")


def libraries_present(backend: str) -> bool:
    return all(ctypes.util.find_library(lib) for lib in REQUIRED_LIBS[backend])


def apt_fix_command() -> str:
    pkgs = [p for b in PREFERENCE for p in APT_PACKAGES[b]]
    return "sudo apt-get update && sudo apt-get install -y " + " ".join(pkgs)


def choose_backend() -> str | None:
    """Set ``MUJOCO_GL`` if unset; return the backend in force (None when nothing usable is installed)."""
    chosen = os.environ.get("MUJOCO_GL")
    if chosen:
        return chosen
    for backend in PREFERENCE:
        if libraries_present(backend):
            os.environ["MUJOCO_GL"] = backend
            if backend == "osmesa":
                os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
            return backend
    return None
