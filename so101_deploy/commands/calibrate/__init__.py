"""`so101 calibrate`: a package, one module per command (split in the next commit)."""

from so101_deploy.commands.calibrate.servos import _capture, app, register

__all__ = ["_capture", "app", "register"]
