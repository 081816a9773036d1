"""`so101 calibrate align`: the sim's wrist view over the real one at the arm's joints, scored; --solve fits the
camera mount (calibration.align). The views are taken by calibration.capture; this module confirms, reports and
writes the overlays."""

from __future__ import annotations

import json
from dataclasses import asdict
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
from so101_deploy.output_paths import output_dir_problem


def align(
    port: Annotated[str, PORT_OPTION],
    camera_source: Annotated[str, typer.Option("--camera", help=CAMERA_SOURCE_HELP)],
    calibration: Annotated[str, typer.Option("--calibration", help=CALIBRATION_HELP)],
    camera_calibration: Annotated[
        Path | None,
        typer.Option(
            "--camera-calibration", help="Camera calibration JSON (default: <calibration>_camera.json)."
        ),
    ] = None,
    solve: Annotated[
        bool, typer.Option("--solve", help="Search the camera mount that fits best and save it (sim_camera).")
    ] = False,
    views: Annotated[
        int | None,
        numeric_option(
            "--views",
            kind=int,
            low=1,
            high=50,
            help="Frames to align on; with more than one the gripper is moved to that many openings "
            "(default: 3 with --solve, else 1). Several openings separate a shifted camera from a turned one.",
        ),
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where the overlay PNGs and report go.")] = Path(
        "align"
    ),
    no_fovy: Annotated[
        bool, typer.Option("--no-fovy", help="Keep the calibrated FOV; solve the pose only.")
    ] = False,
    time_budget: Annotated[
        float,
        numeric_option(
            "--time-budget", low=0, high=86400, low_open=True, help="Seconds the search may take."
        ),
    ] = 120.0,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before moving the gripper.")] = False,
    packet_timeout_ms: Annotated[float, packet_timeout_option()] = 20.0,
) -> None:
    """Overlay the sim's wrist view on the real one at the arm's joints; score it; --solve fits the mount."""
    from sim.config import EnvConfig
    from sim.scene import wrist_camera_pose

    import cv2
    import numpy as np

    from calibration.align import (
        OFFSET_NAMES,
        AlignConfig,
        AlignmentError,
        SimWristView,
        apply_solution,
        score_pose,
    )
    from calibration.align import solve as solve_mount
    from calibration.camera_model import CameraCalibrationError, SimCameraPose
    from calibration.capture import capture_views, gripper_openings
    from so101_deploy.hardware.arm import Arm
    from so101_deploy.hardware.camera import Camera, CameraConfig
    from so101_deploy.hardware.errors import CameraError, HardwareError

    files = load_arm_calibration(calibration, camera_calibration)
    servo_file, cam_file, servo_cal, cam_cal = files.servo_file, files.camera_file, files.servos, files.camera
    n_views = views or (3 if solve else 1)
    env = EnvConfig()
    start = cam_cal.sim_camera
    if start is None:  # not aligned yet: the training default mount, at the fovy the real frame is cropped to
        base = wrist_camera_pose(env.wrist_camera)
        fovy = cam_cal.suggested_sim_fovy_deg or cam_cal.target_fovy_deg
        start = SimCameraPose(tuple(base.pos), tuple(base.euler), float(fovy))
    config = AlignConfig(solve_fovy=not no_fovy, time_budget_s=time_budget)
    if problem := output_dir_problem(out_dir):  # before the arm moves, not after the search
        raise fail(f"--out-dir {out_dir}: {problem}", 2)

    bus = connect(port, packet_timeout_ms)
    try:
        arm = Arm(bus, servo_cal)
        mismatches = arm.calibration_mismatches()
        if mismatches:
            raise fail(
                "the servos' EEPROM does not match "
                + str(servo_file)
                + ": "
                + "; ".join(mismatches[:3])
                + ". Run `so101 calibrate servos --verify` (or --import-lerobot to write the file to the servos)"
            )
        openings = gripper_openings(n_views)
        if openings[0] is not None and not yes:
            typer.confirm(f"The gripper will move to {n_views} openings (torque on the gripper only). Continue?",
                          abort=True)  # fmt: skip
        cam = Camera(
            CameraConfig(source=camera_source, width=cam_cal.image_width, height=cam_cal.image_height, fps=0)
        ).start()
        try:
            gripper = BusGripper(bus, arm) if openings[0] is not None else None
            observations = capture_views(arm, cam, cam_cal, config.overlay_size, openings, gripper)
        finally:
            cam.stop()
            bus.torque_off()
    except (CameraError, CameraCalibrationError) as exc:
        raise fail(str(exc), 2) from None
    except HardwareError as exc:
        raise fail(str(exc)) from None
    finally:
        bus.close()

    out_dir.mkdir(parents=True, exist_ok=True)
    report: dict = {"calibration": str(servo_file), "camera_calibration": str(cam_file), "views": []}
    try:
        with SimWristView(env, config.size) as view:
            before = score_pose(view, observations, start, config)
            _write_overlays(view, observations[0], start, out_dir, "before" if solve else "", config, cv2)
            console.print(
                f"alignment score {before.score:.3f} (1 = perfect), {before.overlap * 100:.0f}% of the sim jaw "
                f"edges within {config.overlap_px:g} px of a real edge ({len(observations)} view(s))"
            )
            report["before"] = asdict(before)
            report["views"] = [o.joints.tolist() for o in observations]
            if solve:
                result = solve_mount(
                    view, observations, start, config, on_progress=lambda m: console.print(f"  {m}")
                )
                _write_overlays(view, observations[0], result.pose, out_dir, "after", config, cv2)
                report.update(
                    after=asdict(result.after),
                    offset=dict(
                        zip(
                            ("dx_m", "dy_m", "dz_m", "droll_rad", "dpitch_rad", "dyaw_rad", "dfovy_deg"),
                            result.offset,
                            strict=True,
                        )
                    ),  # fmt: skip
                    pose=asdict(result.pose),
                    renders=result.renders,
                    method=result.method,
                    seconds=round(result.seconds, 2),
                    at_bounds=list(result.at_bounds),
                )
                updated = apply_solution(cam_cal, result.pose)
                updated.save(cam_file)
                o = result.offset
                console.print(
                    f"solved by {result.method} in {result.seconds:.1f} s ({result.renders} renders): score "
                    f"{result.before.score:.3f} -> {result.after.score:.3f}; mount offset "
                    f"{o[0] * 1000:+.1f} {o[1] * 1000:+.1f} {o[2] * 1000:+.1f} mm, "
                    f"{np.degrees(o[3]):+.1f} {np.degrees(o[4]):+.1f} {np.degrees(o[5]):+.1f} deg, fovy {o[6]:+.1f} deg"
                )
                if result.at_bounds:
                    bounds = dict(zip(OFFSET_NAMES, config.bounds, strict=True))
                    console.print(
                        "[yellow]warning:[/] solved at the search bound for "
                        + ", ".join(f"{n} (+-{bounds[n]:g})" for n in result.at_bounds)
                        + ": the real mount may lie beyond it; check the overlays, measure the camera mount "
                        "and set env.wrist_camera, then align again from there"
                    )
                console.print(
                    f"saved the mount in [bold]{cam_file}[/] (sim_camera): train with "
                    f"env.wrist_camera.calibration_file={cam_file} so the sim camera sits where the real one does"
                )
    except AlignmentError as exc:
        raise fail(str(exc)) from None
    (out_dir / "align_report.json").write_text(json.dumps(report, indent=2))
    console.print(f"overlays and report in {out_dir}/")


def _write_overlays(view, observation, pose, out_dir: Path, tag: str, config, cv2) -> None:
    from calibration.align import overlays

    view.set_pose(pose)
    big = config.overlay_size
    side, blend = overlays(
        observation.image, view.full(observation.joints, big), view.jaws(observation.joints, big), config
    )
    suffix = f"_{tag}" if tag else ""
    cv2.imwrite(str(out_dir / f"side_by_side{suffix}.png"), cv2.cvtColor(side, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(out_dir / f"overlay{suffix}.png"), cv2.cvtColor(blend, cv2.COLOR_RGB2BGR))
