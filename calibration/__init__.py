"""Making the real arm agree with the sim: servo calibration (LeRobot-compatible), camera intrinsics and FOV
crop, and sim/real alignment of the wrist view. Procedures take their bus/camera as arguments; no prompts here."""
