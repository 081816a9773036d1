"""`so101 calibrate servos | camera | align | latency | setup-motors`: where the operator's hands and eyes come in.

The procedures live in ``calibration/`` and take callbacks or small protocols; this package is their console,
one module per command: prompts, the live servo table, the camera preview or thumbnails, and turning errors
into one line that says what to do (exit code 2 for bad input, 1 for a procedure that failed). ``shared`` holds
what the commands share (console, options, bus connection, calibration file paths); ``drives`` adapts the
Feetech bus to the protocols the procedures move the arm through.
"""

from __future__ import annotations

import typer

from so101_deploy.commands.calibrate import align, camera, latency, servos, setup_motors

app = typer.Typer(
    name="calibrate",
    help="Calibrate the arm: servos (LeRobot-compatible), camera (intrinsics, FOV crop), sim/real alignment, loop latency.",
    no_args_is_help=True,
)
app.command("servos")(servos.servos)
app.command("setup-motors")(setup_motors.setup_motors)
app.command("camera")(camera.camera)
app.command("align")(align.align)
app.command("latency")(latency.latency)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="calibrate")
