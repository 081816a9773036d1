"""Test-wide setup: headless rendering is chosen by importing ``sim`` before anything imports mujoco."""

import sim  # noqa: F401  (side effect: MUJOCO_GL)
