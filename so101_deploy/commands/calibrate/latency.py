"""`so101 calibrate latency`: time a gripper step to the first wrist frame that shows it (calibration.latency)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from so101_deploy.commands.calibrate.drives import BusGripper
from so101_deploy.commands.calibrate.shared import (
    CALIBRATION_HELP,
    CAMERA_SOURCE_HELP,
    PORT_OPTION,
    connect,
    console,
    fail,
    load_arm_calibration,
)
from so101_deploy.numeric_options import numeric_option, packet_timeout_option


def latency(
    port: Annotated[str, PORT_OPTION],
    camera_source: Annotated[str, typer.Option("--camera", help=CAMERA_SOURCE_HELP)],
    calibration: Annotated[str, typer.Option("--calibration", help=CALIBRATION_HELP)],
    camera_calibration: Annotated[
        Path | None,
        typer.Option(
            "--camera-calibration",
            help="Camera calibration JSON the result is written into (default: <calibration>_camera.json).",
        ),
    ] = None,
    repeats: Annotated[
        int, numeric_option("--repeats", "-n", kind=int, low=1, high=100, help="Timed gripper steps.")
    ] = 7,
    base: Annotated[
        float,
        numeric_option(
            "--base", low=-0.17, high=1.7, help="Gripper angle between steps (sim rad; both jaws in view)."
        ),
    ] = 0.1,
    step: Annotated[
        float, numeric_option("--step", low=-0.5, high=0.5, help="The timed gripper step (sim rad, not 0).")
    ] = 0.2,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before moving the gripper.")] = False,
    packet_timeout_ms: Annotated[float, packet_timeout_option()] = 20.0,
) -> None:
    """Time gripper command -> first changed wrist frame; write it into the camera calibration for training."""
    from calibration.latency import LatencyError, LatencyProbeConfig, measure_latency
    from so101_deploy.hardware.arm import Arm
    from so101_deploy.hardware.camera import Camera, CameraConfig
    from so101_deploy.hardware.errors import CameraError, HardwareError

    config = LatencyProbeConfig(base_rad=base, step_rad=step, repeats=repeats)
    try:
        config.validate()
    except ValueError as exc:
        raise fail(f"{exc}: give --step a non-zero value", 2) from None
    files = load_arm_calibration(calibration, camera_calibration)
    cam_file, servo_cal, cam_cal = files.camera_file, files.servos, files.camera
    if not yes:
        typer.confirm(f"The gripper will step {repeats + 1} times between {base:.2f} and {base + step:.2f} rad "
                      "(torque on the gripper only). Continue?", abort=True)  # fmt: skip
    bus = connect(port, packet_timeout_ms)
    try:
        arm = Arm(bus, servo_cal)
        cam = Camera(
            CameraConfig(source=camera_source, width=cam_cal.image_width, height=cam_cal.image_height, fps=0)
        ).start()
        try:
            console.print(
                f"camera frames stamped at {cam.clock}; timing {repeats} gripper steps of {step:+.2f} rad"
            )
            result = measure_latency(
                BusGripper(bus, arm), cam, config, on_progress=lambda m: console.print(f"  {m}")
            )
        finally:
            cam.stop()
            bus.torque_off()
    except LatencyError as exc:
        raise fail(str(exc)) from None
    except CameraError as exc:
        raise fail(str(exc), 2) from None
    except HardwareError as exc:
        raise fail(str(exc)) from None
    finally:
        bus.close()
    dataclasses.replace(cam_cal, latency=result).save(cam_file)
    console.print(
        f"command -> first changed frame: median [bold]{result.median_ms:.0f} ms[/] (min {result.min_ms:.0f}, "
        f"max {result.max_ms:.0f}, IQR {result.iqr_ms:.0f} ms over {len(result.samples_ms)} steps; frame period "
        f"{result.frame_period_ms:.0f} ms, {result.clock} clock: command -> capture "
        f"{result.command_to_capture_ms:.0f} ms, capture -> delivery {result.frame_age_ms:.0f} ms)"
    )
    console.print(
        f"saved in [bold]{cam_file}[/] (latency): training with env.wrist_camera.calibration_file={cam_file} "
        "centres its latency randomisation on it (env.randomization.latency/obs_delay.around_measured_ms)"
    )
