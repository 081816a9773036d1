"""`so101 twin`: a digital twin that stands in for the arm until Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from so101_deploy.numeric_options import numeric_option, seed_option
from so101_deploy.output_paths import output_dir_problem, output_file_problem
from so101_deploy.twin.perturbation_request import PERTURBATION_RANGES, validate_perturbation

# sim/scene.py sizes MuJoCo's offscreen buffer; a larger camera image cannot be rendered
# (tests/test_numeric_options.py checks the two agree).
MAX_RENDER_WIDTH, MAX_RENDER_HEIGHT = 1280, 960


def perturbation_option(key: str, help: str = ""):  # noqa: A002
    """A twin perturbation as an option, in the range the control endpoint's /perturb accepts too."""
    low, high = PERTURBATION_RANGES[key]
    return numeric_option("--" + key.replace("_", "-"), low=low, high=high, help=help)


def twin(
    stage: Annotated[
        int,
        numeric_option(
            "--stage",
            kind=int,
            low=0,
            high=4,
            help="Curriculum stage the scene resets to (0: the deployable start, arm left at rest).",
        ),
    ] = 0,
    fps: Annotated[
        float, numeric_option("--fps", low=0, high=120, low_open=True, help="Camera frame rate.")
    ] = 15.0,
    width: Annotated[int, numeric_option("--width", kind=int, low=16, high=MAX_RENDER_WIDTH)] = 320,
    height: Annotated[int, numeric_option("--height", kind=int, low=16, high=MAX_RENDER_HEIGHT)] = 240,
    fovy: Annotated[
        float,
        numeric_option("--fovy", low=10, high=150, help="Vertical FOV of the virtual USB camera (deg)."),
    ] = 70.0,
    seed: Annotated[int, seed_option()] = 0,
    out_dir: Annotated[
        Path | None, typer.Option("--out-dir", help="Where to write the calibration files (default: temp).")
    ] = None,
    pace_bus: Annotated[bool, typer.Option("--pace-bus", help="Real-time byte pacing at 1 Mbaud.")] = False,
    latency_ms: Annotated[
        float, perturbation_option("latency_ms", help="Added actuation latency (the sim's latency queue).")
    ] = 0.0,
    backlash_deg: Annotated[
        float, perturbation_option("backlash_deg", help="Gear play of the arm joints (the sim's backlash).")
    ] = 0.0,
    joint_noise_deg: Annotated[
        float,
        perturbation_option("joint_noise_deg", help="Joint reading noise, std (the sim's reading model)."),
    ] = 0.0,
    light_scale: Annotated[float, perturbation_option("light_scale")] = 1.0,
    camera_offset: Annotated[
        str, typer.Option("--camera-offset", help="dx,dy,dz,droll,dpitch,dyaw (m, rad) of the camera mount.")
    ] = "0,0,0,0,0,0",
    video: Annotated[
        Path | None,
        typer.Option(
            "--video",
            help="Record the first episode started by a reset (`so101 run --twin` resets at each episode start) "
            "to the next reset as mp4, overview and wrist camera; written when the twin stops.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON line with the endpoints.")] = False,
) -> None:
    """Emulated servo bus on a pty + MJPEG wrist camera + MuJoCo physics, on 127.0.0.1 only."""
    from sim.config import EnvConfig

    from so101_deploy.twin.app import Twin, TwinConfig
    from so101_deploy.twin.recorder import RecorderConfig
    from so101_deploy.twin.world import Perturbations, TwinCameraConfig, WorldConfig

    console = Console(stderr=True)
    try:
        offset = validate_perturbation({"camera_offset": [float(v) for v in camera_offset.split(",")]})
    except ValueError as exc:
        console.print(
            f"[red]error:[/] --camera-offset needs 6 comma-separated numbers ({exc})",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2) from None
    if out_dir is not None and (problem := output_dir_problem(out_dir)):
        console.print(f"[red]error:[/] --out-dir {out_dir}: {problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    if video is not None and (problem := output_file_problem(video, "twin_episode.mp4")):
        console.print(f"[red]error:[/] --video {video} {problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    try:
        config = TwinConfig(
            world=WorldConfig(
                env=EnvConfig(stage=stage),
                camera=TwinCameraConfig(width=width, height=height, fovy_deg=fovy, fps=fps),
                seed=seed,
                perturbations=Perturbations(
                    camera_offset=offset["camera_offset"],
                    light_scale=light_scale,
                    latency_ms=latency_ms,
                    backlash_deg=backlash_deg,
                    joint_noise_deg=joint_noise_deg,
                ),
            ),
            out_dir=str(out_dir or ""),
            pace_bus=pace_bus,
            video=RecorderConfig(str(video)) if video is not None else None,
        )
        instance = Twin(config)
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None

    done = threading.Event()
    # Both end the twin cleanly; SIGINT explicitly, since a shell's background job starts with it ignored.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    with instance:
        info = instance.describe()
        if as_json:
            print(json.dumps(info), flush=True)
        else:
            console.print("[bold]SO-101 digital twin[/] (Ctrl-C to stop)")
            for key, value in info.items():
                console.print(f"  {key:>18}: {value}", highlight=False)
            console.print(
                f"  so101 run --policy policy.onnx --port {info['port']} --camera {info['camera_url']} "
                f"--calibration {info['calibration']} --twin {info['control_url']} --start-pose hold --yes",
                highlight=False,
                soft_wrap=True,
            )
        with contextlib.suppress(KeyboardInterrupt):
            done.wait()
        if video is not None:
            console.print("twin stopping: rendering the recorded episode", highlight=False)
    console.print("twin stopped")
    if video is not None:
        if instance.video is None:
            console.print(
                f"--video {video}: no episode was started by a reset, nothing written", highlight=False
            )
        else:
            console.print(f"video: {instance.video}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("twin")(twin)
