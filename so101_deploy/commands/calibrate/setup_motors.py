"""`so101 calibrate setup-motors`: each motor its ID and the bus baud rate, one motor on the cable at a time."""

from __future__ import annotations

from typing import Annotated

import typer

from so101_deploy.commands.calibrate.shared import PORT_OPTION, console, fail
from so101_deploy.hardware.tables import BAUD_RATE_CODES
from so101_deploy.numeric_options import numeric_option, packet_timeout_option


def setup_motors(
    port: Annotated[str, PORT_OPTION],
    motor: Annotated[
        str, typer.Option("--motor", help="Set up this joint only (default: all six, one after the other).")
    ] = "",
    baud: Annotated[
        int,
        numeric_option(
            "--baud",
            kind=int,
            low=min(BAUD_RATE_CODES),
            high=max(BAUD_RATE_CODES),
            help="Baud rate every motor is set to.",
        ),
    ] = 1_000_000,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not wait for Enter before each motor.")
    ] = False,
    packet_timeout_ms: Annotated[float, packet_timeout_option()] = 20.0,
) -> None:
    """Give each motor its ID (1-6) and the bus baud rate, one motor on the cable at a time."""
    from calibration.servos import MotorSetupConfig, MotorSetupError, setup_motor
    from robot.so101 import SERVO_IDS
    from so101_deploy.hardware.bus import BusConfig, FeetechBus
    from so101_deploy.hardware.errors import HardwareError, PortError
    from so101_deploy.hardware.tables import BAUD_RATE_CODES, STS3215_MODEL_NUMBER

    if baud not in BAUD_RATE_CODES:
        raise fail(f"--baud {baud} is not an STS3215 rate ({', '.join(map(str, BAUD_RATE_CODES))})", 2)
    if motor and motor not in SERVO_IDS:
        raise fail(f"--motor {motor!r} is not an SO-101 joint ({', '.join(SERVO_IDS)})", 2)
    names = [motor] if motor else list(reversed(SERVO_IDS))  # gripper first, as LeRobot does

    def open_bus(rate, motors):
        return FeetechBus(
            BusConfig(
                port=port, baudrate=rate, motors=dict(motors), packet_timeout_ms=packet_timeout_ms, retries=0
            )
        )

    config = MotorSetupConfig(
        baud_codes=dict(BAUD_RATE_CODES), target_baud=baud, expected_model=STS3215_MODEL_NUMBER
    )
    try:  # a wrong --port or packet timeout is bad input: say so before asking for any motor
        probe = open_bus(baud, {"probe": 1})
        probe.open()
    except (PortError, ValueError) as exc:
        raise fail(str(exc), 2) from None
    probe.close(torque_off=False)
    for name in names:
        if not yes:
            typer.prompt(
                f"Connect the controller board to the '{name}' motor ONLY (it becomes ID {SERVO_IDS[name]}), "
                "then press Enter",
                default="",
                show_default=False,
            )
        try:
            result = setup_motor(open_bus, name, SERVO_IDS[name], config, lambda m: console.print(f"  {m}"))
        except PortError as exc:
            raise fail(str(exc), 2) from None
        except (MotorSetupError, HardwareError) as exc:
            raise fail(str(exc)) from None
        if result.changed:
            console.print(
                f"[green]'{name}'[/]: ID {result.old_id} at {result.old_baud} baud -> ID {result.new_id} at "
                f"{result.new_baud} baud"
            )
        else:
            console.print(f"[green]'{name}'[/]: already ID {result.new_id} at {result.new_baud} baud")
    if not motor:
        console.print("all motors set up: chain them together, then run `so101 calibrate servos`")
