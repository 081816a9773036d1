"""`so101 run`: drive a real SO-101 (or its twin) with an exported policy from the wrist camera."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from so101_deploy.numeric_options import (
    MAX_EPISODES,
    MAX_STEPS,
    numeric_option,
    packet_timeout_option,
    seed_option,
)


def run(
    policy: Annotated[Path, typer.Option("--policy", help="Exported policy (so101 export).")],
    port: Annotated[
        str, typer.Option("--port", help="Servo bus serial port, e.g. /dev/ttyACM0 (or the twin's pty).")
    ],
    camera: Annotated[str, typer.Option("--camera", help="Camera index, /dev/videoN, file or stream URL.")],
    calibration: Annotated[
        str,
        typer.Option(
            "--calibration", help="Robot id (LeRobot's calibration folder) or a calibration JSON path."
        ),
    ],
    camera_calibration: Annotated[
        str,
        typer.Option(
            "--camera-calibration",
            help="Camera calibration JSON (default: <calibration>_camera.json beside the servo file; 'none' = raw frames).",
        ),
    ] = "",
    episodes: Annotated[int, numeric_option("--episodes", kind=int, low=1, high=MAX_EPISODES)] = 1,
    max_steps: Annotated[
        int | None,
        numeric_option(
            "--max-steps",
            kind=int,
            low=1,
            high=MAX_STEPS,
            help="Control ticks per episode (default: the episode length the policy was trained on).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read camera and joints, log actions, torque off.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before torque on and motion.")] = False,
    start_pose: Annotated[
        str, typer.Option("--start-pose", help="'home' (move there slowly) or 'hold'.")
    ] = "home",
    return_to_rest: Annotated[
        bool, typer.Option("--return-to-rest", help="Move home before torque off.")
    ] = False,
    twin: Annotated[
        str, typer.Option("--twin", help="A twin's control URL: episodes are reset and judged by it.")
    ] = "",
    seed: Annotated[int, seed_option(help="Twin episode i is reset with seed + i.")] = 0,
    packet_timeout_ms: Annotated[float, packet_timeout_option()] = 20.0,
    max_joint_step: Annotated[
        float | None,
        numeric_option(
            "--max-joint-step",
            low=0.0,
            high=1.0,
            low_open=True,
            help="Safety bound on every joint's target change per tick, rad (default: the policy's own "
            "trained limits; stricter slows the arm below training, looser is refused).",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Telemetry folder (default runs/run-<time>).")
    ] = None,
    save_frames: Annotated[
        bool,
        typer.Option("--save-frames", help="Also save raw and policy-view frames (frames.npz in --out)."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON summary as the last line.")] = False,
) -> None:
    """Fixed-rate loop: camera -> contract preprocessing -> ONNX policy -> controller -> safety -> servos."""
    from so101_deploy.runtime.judges import OperatorJudge, TwinJudge
    from so101_deploy.runtime.loop import RunConfig, Runner
    from so101_deploy.runtime.safety import SafetyConfig
    from so101_deploy.runtime.stop import StopSignals

    console = Console(stderr=as_json)
    if start_pose not in ("home", "hold"):
        console.print(f"[red]error:[/] --start-pose must be 'home' or 'hold', got {start_pose!r}")
        raise typer.Exit(2)
    if not sys.stdin.isatty():  # a prompt would read end-of-file and end in click's bare "Aborted."
        if not yes and not dry_run:
            console.print("[red]error:[/] stdin is not a terminal: pass --yes")
            raise typer.Exit(2)
        if not twin:
            console.print(
                "[red]error:[/] stdin is not a terminal: without --twin the operator resets and judges each "
                "episode here; pass --twin URL or run from a terminal"
            )
            raise typer.Exit(2)
    out_dir = out or Path("runs") / time.strftime("run-%Y%m%d-%H%M%S")
    config = RunConfig(
        policy=str(policy),
        port=port,
        camera=camera,
        calibration=calibration,
        camera_calibration=camera_calibration,
        episodes=episodes,
        max_steps=max_steps,
        dry_run=dry_run,
        start_pose=start_pose,
        return_to_rest=return_to_rest,
        out_dir=str(out_dir),
        packet_timeout_ms=packet_timeout_ms,
        save_frames=save_frames,
        safety=SafetyConfig(max_joint_step_rad=max_joint_step),
    )
    if twin:
        judge = TwinJudge(twin, seed=seed)
    else:
        judge = OperatorJudge(
            ask_reset=lambda i: typer.prompt(
                f"Episode {i}: reset the scene, then press Enter", default="", show_default=False
            ),
            ask_success=lambda i: typer.confirm(f"Episode {i}: did it succeed?", default=False),
        )

    # SIGINT, SIGTERM, SIGHUP and SIGQUIT: one orderly stop; the shutdown and this summary are not interruptible.
    with StopSignals() as stop:
        result = Runner(config, judge=judge, log=lambda m: _say(console, m), stop=stop).run(
            confirm=lambda question: yes or typer.confirm(question, default=False)
        )
        _report(console, result, out_dir if result.exit_code != 2 else None, as_json)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _say(console: Console, message: str) -> None:
    """Print, unless the terminal is gone (SIGHUP after an SSH drop): the run must still end in order."""
    with contextlib.suppress(OSError):
        console.print(message, highlight=False, soft_wrap=True)


def _report(console: Console, result, out_dir: Path | None, as_json: bool) -> None:  # noqa: ANN001
    timings = result.summary.get("timings_ms", {})
    for name in ("period_ms", "compute_ms", "inference_ms", "bus_read_ms", "bus_write_ms", "frame_age_ms"):
        stats = timings.get(name)
        if stats and stats["n"]:
            _say(
                console,
                f"{name:>14}: p50 {stats['p50']:7.2f}  p99 {stats['p99']:7.2f}  max {stats['max']:7.2f}",
            )
    colour = "green" if result.exit_code == 0 else "red"
    if result.exit_code == 2:  # refused before any motion: one line, nothing written
        _say(console, f"[red]error:[/] {escape(result.reason)}")
    else:
        interrupted = sum(1 for e in result.episodes if e.get("interrupted"))
        _say(
            console,
            f"[{colour}]{escape(result.reason)}[/] - {len(result.episodes)} episode(s)"
            + (f" ({interrupted} interrupted)" if interrupted else "")
            + f", {sum(e['success'] for e in result.episodes)} success(es); telemetry in {out_dir}",
        )
    if as_json:
        payload = {**result.summary, "out_dir": str(out_dir) if out_dir else None}
        with contextlib.suppress(OSError):
            print(json.dumps({**payload, "episodes_detail": result.episodes}), flush=True)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
