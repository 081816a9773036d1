"""The `so101` command. Each command lives in so101_deploy/commands/ and registers itself here.

This module must stay cheap to import (no torch, no mujoco): `so101 --help` should answer instantly.
"""

from __future__ import annotations

import typer

from so101_deploy import __version__
from so101_deploy.commands import calibrate, doctor, export, run, train, twin
from so101_deploy.commands import eval as eval_command

app = typer.Typer(
    name="so101",
    help="Sim-to-real toolkit for the SO-101 arm: train in MuJoCo, export ONNX, calibrate, run on the arm or its twin.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"so101-deploy {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """so101: one CLI from simulation to the real arm."""


for _module in (doctor, train, eval_command, export, run, twin, calibrate):
    _module.register(app)

if __name__ == "__main__":
    app()
