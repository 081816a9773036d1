"""The digital twin: an emulated STS3215 bus on a pseudo-terminal, an MJPEG wrist camera and MuJoCo physics,
so that `so101 run` is exercised end to end without hardware."""
