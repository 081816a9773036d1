"""`so101 torque-off`: release every servo, for when a run could not (SIGKILL, a crash, a frozen machine)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console


def torque_off(
    port: Annotated[str, typer.Option("--port", help="Servo bus serial port, e.g. /dev/ttyACM0.")],
) -> None:
    """Switch torque off on all six servos and read it back, motor by motor. Support the arm first: it goes limp."""
    from so101_deploy.hardware.bus import BusConfig, FeetechBus
    from so101_deploy.hardware.errors import HardwareError

    console = Console()
    bus = FeetechBus(BusConfig(port=port))
    try:
        bus.open()  # no handshake: a dead servo must not keep the others driven
    except HardwareError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    silent, still_on = [], []
    try:
        bus.torque_off(raise_errors=False)
        for name, motor_id in bus.motors.items():
            try:
                on = bus.read("Torque_Enable", name)
            except HardwareError:
                silent.append(f"{name} (ID {motor_id})")
                continue
            console.print(f"{name:>14} (ID {motor_id}): torque {'ON' if on else 'off'}", highlight=False)
            if on:
                still_on.append(f"{name} (ID {motor_id})")
    finally:
        bus.close(torque_off=False)
    if still_on:
        console.print(
            f"[red]torque still on for {', '.join(still_on)}[/]: another program may be driving the bus; "
            "close it and run this again, or cut the servos' power"
        )
    if silent:
        console.print(
            f"[red]no answer from {', '.join(silent)}[/]: check its power and cable; a servo without power "
            "holds no torque"
        )
    if silent or still_on:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("torque-off")(torque_off)
