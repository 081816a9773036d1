"""A camera read by OpenCV in a background thread: always the newest frame, RGB, with its capture time.

Sources: a device index ("0"), a device path ("/dev/video2"), a video file (played at its own frame rate,
optionally looping: the tests' camera), or a stream URL (the twin's MJPEG wrist camera). USB cameras are
opened with the MJPG fourcc: raw YUYV at 640x480 and 30 fps already crowds a USB 2 port shared with the
servo adapter. The size and frame rate asked for are checked against what the source delivers, so a
wrong mode fails at start instead of silently feeding the policy another field of view.

The capture object lives and dies in the capture thread; other threads only see finished ``Frame``s.

Frame times. A frame's age should count exposure, USB transfer and decode, not just the time since the
capture thread got it. For a V4L2 device OpenCV's ``CAP_PROP_POS_MSEC`` is the kernel's buffer timestamp
(``v4l2_buffer.timestamp``; CLOCK_MONOTONIC for uvcvideo, the clock ``time.monotonic()`` reads on Linux), taken
when the frame's data arrived from the camera: that is used when it is plausible (not in the future, under
``CAPTURE_CLOCK_MAX_AGE_S`` old). For the twin's MJPEG stream FFmpeg returns a synthetic 25 fps presentation
time (0, 40, 80... ms) and for a file its position in the file: neither is a clock, so those frames carry
their delivery time. ``Frame.clock`` / ``Camera.clock`` say which one a timestamp is (telemetry records it).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from so101_deploy.hardware.errors import CameraError, CameraModeError, CameraOpenError, CameraStaleError


@dataclass
class CameraConfig:
    source: str = "0"  # device index, /dev/videoN, video file path, or stream URL (http://, rtsp://)
    width: int = 640  # 0 accepts whatever the source delivers
    height: int = 480
    fps: float = 30.0  # 0 accepts whatever the source delivers
    fourcc: str = "MJPG"  # USB devices only; "" keeps the driver's default
    loop: bool = False  # video files: start over at the end instead of ending
    stale_after_s: float = 0.5  # latest() refuses a frame older than this
    open_timeout_s: float = 10.0  # for the first frame
    fps_tolerance: float = 0.1  # relative difference accepted between asked and delivered frame rate

    def validate(self) -> None:
        if self.width < 0 or self.height < 0 or self.fps < 0:
            raise ValueError(
                "camera.width, camera.height and camera.fps must be >= 0 (0 accepts the source's own)"
            )
        if self.fourcc and len(self.fourcc) != 4:
            raise ValueError(f"camera.fourcc must be 4 characters (e.g. MJPG, YUYV), got {self.fourcc!r}")
        if self.stale_after_s <= 0 or self.open_timeout_s <= 0:
            raise ValueError("camera.stale_after_s and camera.open_timeout_s must be > 0")


CAPTURE_CLOCK = "capture"  # the driver's capture timestamp (V4L2 buffer time), on time.monotonic()'s clock
DELIVERY_CLOCK = "delivery"  # time.monotonic() when the capture thread got the decoded frame
CAPTURE_CLOCK_MAX_AGE_S = 1.0  # a driver timestamp older than this at delivery is not the monotonic clock


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # H x W x 3 uint8, RGB
    timestamp: float  # time.monotonic() seconds when the frame was captured (``clock`` says how it was taken)
    index: int  # frames delivered since start, from 0
    clock: str = DELIVERY_CLOCK  # CAPTURE_CLOCK or DELIVERY_CLOCK

    @property
    def age(self) -> float:
        return time.monotonic() - self.timestamp


def capture_time(kind: str, pos_msec: float, delivered: float) -> float | None:
    """The driver's capture time of a frame on the ``time.monotonic()`` clock, or None when it gave none.

    ``pos_msec`` is ``CAP_PROP_POS_MSEC`` after the read: a capture clock only for V4L2 devices, and only when
    it lies in the ``CAPTURE_CLOCK_MAX_AGE_S`` before delivery (a driver on CLOCK_REALTIME fails that).
    """
    if kind != "device" or not pos_msec or pos_msec <= 0:
        return None
    t = pos_msec / 1000.0
    return t if 0.0 <= delivered - t <= CAPTURE_CLOCK_MAX_AGE_S else None


def source_kind(source: str) -> str:
    if "://" in source:
        return "stream"
    if source.isdigit() or source.startswith("/dev/"):  # /dev/video2, /dev/v4l/by-id/...-video-index0
        return "device"
    return "file"


class Camera:
    """Background capture. ``start()`` returns once the first frame is in and the mode checked."""

    def __init__(self, config: CameraConfig | None = None) -> None:
        self.config = config or CameraConfig()
        self.config.validate()
        self.kind = source_kind(self.config.source)
        self.width = self.height = 0
        self.reported_fps = 0.0  # what the driver / file header says
        self.loops = 0  # how many times a looping file started over
        self.ended = False  # a non-looping file reached its end
        self.failures = 0  # failed reads since start
        self.clock = (
            DELIVERY_CLOCK  # how the newest frame's timestamp was taken (CAPTURE_CLOCK or DELIVERY_CLOCK)
        )
        self._frame: Frame | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: CameraError | None = None
        self._thread: threading.Thread | None = None
        self._intervals: list[float] = []

    # -- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> Camera:
        if self._thread is not None:
            raise RuntimeError("camera already started")
        self._stop.clear()
        self._ready.clear()
        self._frame, self._error, self._intervals = None, None, []
        self.ended, self.loops, self.failures = False, 0, 0
        self._thread = threading.Thread(target=self._run, name=f"camera {self.config.source}", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.config.open_timeout_s):
            self.stop()
            raise CameraOpenError(
                f"camera {self.config.source} delivered no frame within {self.config.open_timeout_s:g} s"
                + (": is the stream's server (the twin) running?" if self.kind == "stream" else "")
            )
        if self._error is not None:
            error = self._error
            self.stop()
            raise error
        try:
            self._check_mode()
        except CameraModeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=10.0)
        if self._thread.is_alive():  # pragma: no cover - a driver stuck in read(); nothing more we can do
            raise CameraError(f"camera {self.config.source} capture thread did not stop")
        self._thread = None

    def __enter__(self) -> Camera:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- frames -------------------------------------------------------------------------------------------
    def latest(self, max_age_s: float | None = None) -> Frame:
        """The newest frame; CameraStaleError if it is older than ``max_age_s`` (default stale_after_s)."""
        limit = self.config.stale_after_s if max_age_s is None else max_age_s
        with self._cond:
            frame = self._frame
        if frame is None:
            raise CameraStaleError(f"camera {self.config.source} has no frame yet: call start() first")
        if frame.age > limit:
            why = "the file ended" if self.ended else "it stalled, was unplugged, or the stream stopped"
            raise CameraStaleError(
                f"camera {self.config.source}: newest frame is {frame.age * 1000:.0f} ms old (limit "
                f"{limit * 1000:.0f} ms): {why}"
            )
        return frame

    def wait_new(self, after_index: int = -1, timeout_s: float = 1.0) -> Frame:
        """Block until a frame newer than ``after_index`` arrives (CameraStaleError after ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._frame is None or self._frame.index <= after_index:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.running:
                    raise CameraStaleError(
                        f"camera {self.config.source}: no new frame within {timeout_s * 1000:.0f} ms"
                        + (" (the file ended)" if self.ended else "")
                    )
                self._cond.wait(remaining)
            return self._frame

    @property
    def measured_fps(self) -> float:
        """Frame rate over the recent frames, as delivered (0 until two frames are in)."""
        with self._cond:
            intervals = list(self._intervals)
        return 1.0 / (sum(intervals) / len(intervals)) if intervals and sum(intervals) > 0 else 0.0

    # -- the capture thread -------------------------------------------------------------------------------
    def _open(self) -> cv2.VideoCapture:
        cfg, src = self.config, self.config.source
        timeout_ms = int(cfg.open_timeout_s * 1000)
        if self.kind == "device":
            cap = cv2.VideoCapture(int(src) if src.isdigit() else src, cv2.CAP_V4L2)
            if not cap.isOpened():
                found = ", ".join(video_devices()) or "none"
                raise CameraOpenError(
                    f"cannot open camera {src} (video devices: {found}): is it plugged in, used by another "
                    "program, or is your user outside the 'video' group?"
                )
            if cfg.fourcc:
                cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*cfg.fourcc))
            if cfg.width and cfg.height:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, cfg.width)
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, cfg.height)
            if cfg.fps:
                cap.set(cv2.CAP_PROP_FPS, cfg.fps)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # newest frame, not a queue of old ones
        elif self.kind == "stream":
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
            cap = cv2.VideoCapture(src, cv2.CAP_FFMPEG, params)
            if not cap.isOpened():
                raise CameraOpenError(f"cannot open stream {src}: is the server (e.g. `so101 twin`) running?")
        else:
            if not Path(src).is_file():
                raise CameraOpenError(f"video file {src} does not exist")
            cap = cv2.VideoCapture(src, cv2.CAP_FFMPEG)
            if not cap.isOpened():
                raise CameraOpenError(f"OpenCV cannot decode video file {src}")
        self.reported_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        return cap

    def _run(self) -> None:
        try:
            cap = self._open()
        except CameraError as exc:
            self._error = exc
            self._ready.set()
            return
        period = 1.0 / self.reported_fps if self.kind == "file" and self.reported_fps > 0 else 0.0
        next_at = time.monotonic()
        index, last_t = 0, None
        try:
            while not self._stop.is_set():
                ok, bgr = cap.read()
                if not ok or bgr is None:
                    self.failures += 1
                    if self.kind == "file":
                        if not self.config.loop:
                            self.ended = True
                            break
                        cap.release()
                        cap = self._open()
                        self.loops += 1
                        continue
                    if not self._ready.is_set() and self.failures >= 3:
                        self._error = CameraOpenError(
                            f"camera {self.config.source} opened but returns no frames"
                        )
                        break
                    self._stop.wait(0.01)
                    continue
                if period:  # play a file at its own frame rate, as a camera would deliver it
                    if self._stop.wait(max(0.0, next_at - time.monotonic())):
                        break
                    next_at = max(next_at + period, time.monotonic())
                now = time.monotonic()
                captured = capture_time(self.kind, cap.get(cv2.CAP_PROP_POS_MSEC), now)
                stamp, self.clock = (now, DELIVERY_CLOCK) if captured is None else (captured, CAPTURE_CLOCK)
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                with self._cond:
                    self._frame = Frame(rgb, stamp, index, self.clock)
                    if last_t is not None:
                        self._intervals = [*self._intervals[-29:], now - last_t]
                    self._cond.notify_all()
                index, last_t = index + 1, now
                self._ready.set()
        except CameraError as exc:
            self._error = exc
        finally:
            cap.release()
            self._ready.set()
            with self._cond:
                self._cond.notify_all()

    def _check_mode(self) -> None:
        cfg = self.config
        frame = self._frame
        assert frame is not None
        self.height, self.width = frame.image.shape[:2]
        problems = []
        if cfg.width and cfg.height and (self.width, self.height) != (cfg.width, cfg.height):
            problems.append(f"delivers {self.width}x{self.height}, asked for {cfg.width}x{cfg.height}")
        # A stream has no trustworthy header rate (FFmpeg reports 25 for MJPEG); check devices and files.
        known_rate = cfg.fps and self.kind != "stream" and self.reported_fps > 0
        if known_rate and abs(self.reported_fps - cfg.fps) > cfg.fps_tolerance * cfg.fps:
            problems.append(f"runs at {self.reported_fps:g} fps, asked for {cfg.fps:g}")
        if problems:
            modes = ""
            if self.kind == "device":
                listed = [str(m) for m in camera_modes(_device_path(cfg.source))]
                modes = (
                    f" Modes it offers: {', '.join(listed)}."
                    if listed
                    else " Run `so101 doctor` to list its modes."
                )
            raise CameraModeError(
                f"camera {cfg.source} {' and '.join(problems)}: set camera.width/height/fps to a mode it "
                f"supports (0 accepts its own).{modes}"
            )


# -- discovery (for `so101 doctor`) ------------------------------------------------------------------------
@dataclass(frozen=True)
class CameraMode:
    fourcc: str
    width: int
    height: int
    fps: float

    def __str__(self) -> str:
        return f"{self.fourcc} {self.width}x{self.height}@{self.fps:g}"


@dataclass
class CameraInfo:
    path: str
    name: str
    modes: list[CameraMode] = field(default_factory=list)
    note: str = ""


def video_devices() -> list[str]:
    return sorted(glob.glob("/dev/video*"), key=lambda p: (len(p), p))


def _device_path(source: str) -> str:
    return f"/dev/video{source}" if source.isdigit() else source


def parse_v4l2_formats(text: str) -> list[CameraMode]:
    """Modes from ``v4l2-ctl --list-formats-ext`` output: fourcc, discrete size, each frame interval."""
    modes: list[CameraMode] = []
    fourcc, size = "", (0, 0)
    for line in text.splitlines():
        if m := re.search(r"\[\d+\]:\s*'(\w{3,4})'", line):
            fourcc = m.group(1)
        elif m := re.search(r"Size:\s*\w+\s+(\d+)x(\d+)", line):
            size = (int(m.group(1)), int(m.group(2)))
        elif (m := re.search(r"\(([\d.]+)\s*fps\)", line)) and fourcc and size[0]:
            modes.append(CameraMode(fourcc, size[0], size[1], float(m.group(1))))
    return modes


_PROBE_SIZES = ((640, 480), (1280, 720), (1920, 1080), (320, 240))


def _probe_opencv(path: str) -> list[CameraMode]:
    """Without v4l2-ctl: ask for a few common MJPG sizes and keep what the driver settles on."""
    cap = cv2.VideoCapture(path, cv2.CAP_V4L2)
    if not cap.isOpened():
        return []
    try:
        modes = []
        for width, height in _PROBE_SIZES:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
            code = int(cap.get(cv2.CAP_PROP_FOURCC))
            fourcc = "".join(chr(code >> (8 * i) & 0xFF) for i in range(4)).strip("\x00") or "?"
            mode = CameraMode(
                fourcc,
                int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                float(cap.get(cv2.CAP_PROP_FPS) or 0.0),
            )
            if mode not in modes:
                modes.append(mode)
        return modes
    finally:
        cap.release()


def camera_modes(path: str) -> list[CameraMode]:
    tool = shutil.which("v4l2-ctl")
    if tool:
        try:
            out = subprocess.run(
                [tool, "-d", path, "--list-formats-ext"], capture_output=True, text=True, timeout=5
            )
            if out.returncode == 0:
                return parse_v4l2_formats(out.stdout)
        except subprocess.TimeoutExpired:
            pass
    return _probe_opencv(path)


def list_cameras() -> list[CameraInfo]:
    """Every /dev/video* node with its name and modes; metadata nodes (no modes) are marked, not hidden."""
    cameras = []
    for path in video_devices():
        name_file = Path("/sys/class/video4linux") / os.path.basename(path) / "name"
        name = name_file.read_text().strip() if name_file.exists() else ""
        modes = camera_modes(path)
        note = "" if modes else "no capture modes (a metadata node, or busy)"
        cameras.append(CameraInfo(path, name, modes, note))
    return cameras
