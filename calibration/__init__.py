"""Making the real arm agree with the sim: servo calibration (LeRobot-compatible), camera intrinsics and FOV
crop, sim/real alignment of the wrist view, and the loop latency (gripper command -> changed wrist frame).
Procedures take their bus/camera as arguments; no prompts here."""
