"""The MuJoCo simulation of the SO-101: scene, tasks, gymnasium env, kinematics and the shared controller.

Importing this package chooses a headless GL backend first, because MuJoCo fixes it at its own import.
"""

from sim.rendering_backend import choose_backend as _choose_backend

_choose_backend()
