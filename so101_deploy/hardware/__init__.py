"""The real arm's I/O: Feetech bus driver, SO-101 joint conversions, LeRobot calibration files, USB camera.

Import the submodule you need (``so101_deploy.hardware.bus`` ...): this package imports nothing heavy itself.
"""
