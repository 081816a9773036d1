"""`so101 calibrate camera`: the checkerboard console (calibration.camera): a live preview where there is a
display, otherwise thumbnails of each captured view and a progress line."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from so101_deploy.commands.calibrate.shared import (
    CALIBRATION_HELP,
    CAMERA_SOURCE_HELP,
    calibration_file,
    camera_calibration_file,
    console,
    fail,
)
from so101_deploy.numeric_options import numeric_option


def _display_available() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class CameraFeedback:
    """Preview window where there is a display; otherwise PNG thumbnails of each view and a line per capture."""

    def __init__(self, preview: bool, thumbnails: Path, board):
        self.preview = preview
        self.thumbnails = thumbnails
        self.board = board
        self.saved: list[Path] = []
        self._last_report = time.monotonic()

    def __call__(self, progress) -> None:
        import cv2

        image = progress.frame
        if progress.corners is not None:
            image = cv2.cvtColor(progress.frame, cv2.COLOR_RGB2BGR)
            cv2.drawChessboardCorners(
                image, (self.board.cols, self.board.rows), progress.corners.reshape(-1, 1, 2), True
            )
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        if self.preview:
            self._show(image, progress)
        if progress.accepted_now:
            self.thumbnails.mkdir(parents=True, exist_ok=True)
            path = self.thumbnails / f"view_{progress.views:02d}.png"
            scale = 200 / image.shape[1]
            thumb = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(path), cv2.cvtColor(thumb, cv2.COLOR_RGB2BGR))
            self.saved.append(path)
            console.print(
                f"view {progress.views}/{progress.needed} captured (frame {progress.frames_seen}) -> {path}"
            )
        elif time.monotonic() - self._last_report > 5.0:
            self._last_report = time.monotonic()
            hint = (
                "board seen: hold it still, then move it to a new pose"
                if progress.corners is not None
                else "no board found: show the whole board, well lit"
            )
            console.print(
                f"  {progress.views}/{progress.needed} views, {progress.frames_seen} frames: {hint}"
            )

    def _show(self, image, progress) -> None:
        import cv2

        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        cv2.putText(bgr, f"{progress.views}/{progress.needed} views  (q: stop)", (10, 24),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 255, 0), 2)  # fmt: skip
        try:
            cv2.imshow("so101 calibrate camera", bgr)
            if cv2.waitKey(1) & 0xFF == ord("q"):
                raise KeyboardInterrupt
        except cv2.error:  # an OpenCV without GUI (opencv-python-headless): fall back to thumbnails
            self.preview = False
            console.print("no preview window available (headless OpenCV): saving thumbnails instead")

    def close(self) -> None:
        if self.preview:
            import cv2

            with contextlib.suppress(cv2.error):
                cv2.destroyAllWindows()


def _frames(cam, timeout_s: float):
    """New frames from the camera until the timeout (or the end of a video file)."""
    from so101_deploy.hardware.errors import CameraStaleError

    deadline = time.monotonic() + timeout_s
    index = -1
    while time.monotonic() < deadline:
        try:
            frame = cam.wait_new(index, timeout_s=2.0)
        except CameraStaleError:
            if cam.ended:
                return
            raise
        index = frame.index
        yield frame.image


def camera(
    camera_source: Annotated[str, typer.Option("--camera", help=CAMERA_SOURCE_HELP)],
    board: Annotated[str, typer.Option("--board", help="Inner corners COLSxROWS, e.g. 9x6.")],
    square: Annotated[
        float,
        numeric_option("--square", low=0, high=1, low_open=True, help="Square size in metres, e.g. 0.025."),
    ],
    sim_fovy: Annotated[
        float,
        numeric_option(
            "--sim-fovy", low=10, high=150, help="Vertical FOV (deg) of the sim camera the crop matches."
        ),
    ] = 60.0,
    out: Annotated[Path | None, typer.Option("--out", help="Camera calibration JSON to write.")] = None,
    calibration: Annotated[
        str,
        typer.Option(
            "--calibration", help=CALIBRATION_HELP + " Default --out: <file>_camera.json beside it."
        ),
    ] = "",
    width: Annotated[
        int,
        numeric_option("--width", kind=int, low=0, high=8192, help="Capture width (0: the camera's own)."),
    ] = 640,
    height: Annotated[
        int,
        numeric_option("--height", kind=int, low=0, high=8192, help="Capture height (0: the camera's own)."),
    ] = 480,
    min_views: Annotated[
        int, numeric_option("--min-views", kind=int, low=4, high=200, help="Board views to capture.")
    ] = 12,
    max_rms: Annotated[
        float,
        numeric_option(
            "--max-rms",
            low=0,
            high=100,
            low_open=True,
            help="Refuse a calibration with a larger reprojection error (px).",
        ),
    ] = 1.0,
    timeout: Annotated[
        float,
        numeric_option(
            "--timeout", low=0, high=86400, low_open=True, help="Give up after this many seconds."
        ),
    ] = 180.0,
    thumbnails: Annotated[
        Path | None, typer.Option("--thumbnails", help="Folder for view thumbnails (default: beside --out).")
    ] = None,
    preview: Annotated[
        bool | None,
        typer.Option("--preview/--no-preview", help="Live window (default: when a display exists)."),
    ] = None,
) -> None:
    """Checkerboard calibration: intrinsics, distortion, FOV, and the crop that matches the sim camera."""
    from calibration.camera import BoardSpec, CaptureConfig, calibrate_from_frames
    from calibration.camera_model import CameraCalibrationError
    from so101_deploy.hardware.camera import Camera, CameraConfig
    from so101_deploy.hardware.errors import CameraError

    try:
        spec = BoardSpec.parse(board, square)
    except CameraCalibrationError as exc:
        raise fail(str(exc), 2) from None
    if not 10.0 <= sim_fovy <= 150.0:
        raise fail(f"--sim-fovy {sim_fovy:g} is not a plausible camera FOV (10-150 deg)", 2)
    if out is None:
        if not calibration:
            raise fail("say where to save: --out PATH, or --calibration ID_OR_PATH (saves beside it)", 2)
        out = camera_calibration_file(calibration_file(calibration, must_exist=False))
    thumbs = thumbnails or out.with_name(out.stem + "_views")
    feedback = CameraFeedback(_display_available() if preview is None else preview, thumbs, spec)
    try:
        cam = Camera(CameraConfig(source=camera_source, width=width, height=height, fps=0)).start()
    except (CameraError, ValueError) as exc:
        raise fail(str(exc), 2) from None
    console.print(
        f"show the {spec.cols}x{spec.rows} board ({spec.square_m * 1000:g} mm squares) at {cam.width}x{cam.height}: "
        f"{min_views} still views in different poses are captured automatically"
    )
    capture = CaptureConfig(min_views=min_views, max_rms_px=max_rms)  # novelty is measured scale-free
    try:
        result = calibrate_from_frames(_frames(cam, timeout), spec, sim_fovy, capture, on_progress=feedback)
    except CameraCalibrationError as exc:
        raise fail(str(exc)) from None
    except CameraError as exc:
        raise fail(f"{exc} (views captured so far are in {thumbs})") from None
    except KeyboardInterrupt:
        raise fail("stopped: nothing saved", 130) from None
    finally:
        cam.stop()
        feedback.close()
    saved = result.save(out)
    table = Table(title=f"camera calibration ({result.views} views)", show_header=False)
    fx, fy, cx, cy = result.K[0, 0], result.K[1, 1], result.K[0, 2], result.K[1, 2]
    table.add_row("image", f"{result.image_width} x {result.image_height}")
    table.add_row("focal (px)", f"fx {fx:.1f}  fy {fy:.1f}")
    table.add_row("principal point (px)", f"{cx:.1f}, {cy:.1f}")
    table.add_row("distortion k1 k2 p1 p2 k3", " ".join(f"{d:+.4f}" for d in result.dist_coeffs))
    table.add_row("RMS reprojection error", f"{result.rms_px:.3f} px (limit {max_rms:g})")
    table.add_row(
        "undistorted FOV", f"{result.fov_h_deg:.1f} deg horizontal, {result.fov_v_deg:.1f} deg vertical"
    )
    table.add_row("sim fovy", f"{sim_fovy:g} deg")
    table.add_row("crop", f"{result.crop_fov_ratio:.3f} of the shorter side around {result.crop_center[0]:.3f}, "
                  f"{result.crop_center[1]:.3f}")  # fmt: skip
    console.print(table)
    for note in result.notes:
        console.print(f"[yellow]{note}[/]")
    console.print(f"saved [bold]{saved}[/]: `so101 run` undistorts and crops with it (--camera-calibration), and "
                  f"training reads its sim fovy with env.wrist_camera.calibration_file={saved}")  # fmt: skip
