"""The real-time loop that drives the arm from the camera: rate keeping, safety, telemetry, and the loop."""
