"""The robot description: facts about the SO-101 and its wrist camera that every layer needs, written once.

Bottom layer: imports the standard library and numpy only (never sim, policies, calibration or so101_deploy,
and not mujoco, whose import must wait until ``sim`` has chosen the GL backend). ``so101`` is the arm (joints,
servo IDs, limits, gripper, home), ``encoder`` the STS3215's ticks, ``camera_geometry`` the pinhole maths.
"""
