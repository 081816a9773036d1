"""so101-deploy: train a wrist-camera policy for the SO-101 in simulation and run it on the real arm."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("so101-deploy")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0+unknown"
