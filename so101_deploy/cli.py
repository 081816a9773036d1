"""The `so101` command. Each command lives in so101_deploy/commands/ and registers itself here.

This module must stay cheap to import (no torch, no mujoco): `so101 --help` should answer instantly.
"""

from __future__ import annotations

import typer
from typer._click.exceptions import NoArgsIsHelpError, UsageError  # typer vendors click
from typer.core import TyperGroup

from so101_deploy import __version__
from so101_deploy.commands import calibrate, doctor, export, run, torque_off, train, twin
from so101_deploy.commands import eval as eval_command


class OneLineErrors(TyperGroup):
    """Usage errors (a bad option value, a missing option, an unknown command) as one line on stderr, exit 2.

    Typer's default is a usage line plus a boxed panel: a script or a log then sees five lines for one mistake,
    unlike every other refusal of this CLI ("error: ..." and exit 2).
    """

    def make_context(self, info_name, args, parent=None, **extra):  # noqa: ANN001, ANN201
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except UsageError as exc:
            raise _one_line(exc) from None

    def invoke(self, ctx):  # noqa: ANN001, ANN201
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            raise _one_line(exc) from None


def _one_line(exc: UsageError) -> Exception:
    if isinstance(exc, NoArgsIsHelpError):  # `so101` alone: the help text, as before
        return exc
    where = f"{exc.ctx.command_path}: " if exc.ctx is not None else ""
    message = " ".join(exc.format_message().split())
    typer.echo(f"error: {where}{message} (see --help)", err=True)
    return typer.Exit(2)


app = typer.Typer(
    cls=OneLineErrors,
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


for _module in (doctor, train, eval_command, export, run, torque_off, twin, calibrate):
    _module.register(app)

if __name__ == "__main__":
    app()
