"""The camera thread on real OpenCV sources: a looping video file and the twin's MJPEG-over-HTTP stream."""

from __future__ import annotations

import time
import urllib.request

import cv2
import numpy as np
import pytest

from so101_deploy.hardware.camera import (
    CAPTURE_CLOCK,
    DELIVERY_CLOCK,
    Camera,
    CameraConfig,
    CameraMode,
    capture_time,
    parse_v4l2_formats,
    source_kind,
)
from so101_deploy.hardware.errors import CameraModeError, CameraOpenError, CameraStaleError
from so101_deploy.twin.mjpeg import MjpegServer

W, H, FPS, N_FRAMES = 160, 120, 30, 12
RGB = (220, 40, 10)  # a red scene: the camera must hand it over as RGB, not OpenCV's BGR


def scene(index: int, width: int = W, height: int = H) -> np.ndarray:
    img = np.empty((height, width, 3), np.uint8)
    img[:] = RGB
    img[: height // 2, : width // 2] = min(
        255, index * 20
    )  # a block whose brightness encodes the frame index
    return img


def block_index(rgb: np.ndarray) -> int:
    return int(round(rgb[: rgb.shape[0] // 4, : rgb.shape[1] // 4].mean() / 20))


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("camera") / "wrist.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (W, H))
    assert writer.isOpened()
    for i in range(N_FRAMES):
        writer.write(cv2.cvtColor(scene(i), cv2.COLOR_RGB2BGR))
    writer.release()
    return str(path)


pytestmark = pytest.mark.usefixtures("no_thread_leaks")


def test_looping_file_delivers_rgb_frames_at_its_frame_rate(video):
    with Camera(CameraConfig(source=video, width=W, height=H, fps=FPS, loop=True)) as cam:
        first = cam.wait_new()
        assert first.image.shape == (H, W, 3) and first.image.dtype == np.uint8
        r, g, b = first.image[-10:, -10:].reshape(-1, 3).mean(axis=0)
        assert r > 180 and b < 60  # RGB order
        seen, last = [], first
        while cam.loops < 1 or len(seen) < N_FRAMES + 3:
            last = cam.wait_new(last.index, timeout_s=1.0)
            seen.append(last)
        indices = [block_index(f.image) for f in seen]
        assert any(b < a for a, b in zip(indices, indices[1:], strict=False))  # played on, then started over
        assert cam.loops >= 1
        stamps = [f.timestamp for f in seen]
        assert all(b > a for a, b in zip(stamps, stamps[1:], strict=False))
        assert 20 < cam.measured_fps < 40
        assert cam.latest().age < 0.2
        # a file's CAP_PROP_POS_MSEC is its position in the file, not a clock: frames carry delivery time
        assert {f.clock for f in seen} == {DELIVERY_CLOCK} and cam.clock == DELIVERY_CLOCK
        assert (cam.width, cam.height, cam.reported_fps) == (W, H, FPS)


def test_file_end_makes_frames_stale(video):
    with Camera(CameraConfig(source=video, width=0, height=0, fps=0, stale_after_s=0.1)) as cam:
        deadline = time.monotonic() + 3.0
        while not cam.ended and time.monotonic() < deadline:
            time.sleep(0.02)
        assert cam.ended
        time.sleep(0.15)
        with pytest.raises(
            CameraStaleError, match=r"newest frame is \d+ ms old \(limit 100 ms\): the file ended"
        ):
            cam.latest()
        assert cam.latest(max_age_s=10.0).index == N_FRAMES - 1
        with pytest.raises(CameraStaleError, match="no new frame"):
            cam.wait_new(cam.latest(max_age_s=10.0).index, timeout_s=0.05)


def test_mode_mismatch_is_a_clear_error(video):
    with pytest.raises(
        CameraModeError, match=r"delivers 160x120, asked for 640x480: set camera.width/height/fps"
    ):
        Camera(CameraConfig(source=video, width=640, height=480, fps=FPS)).start()
    with pytest.raises(CameraModeError, match=r"runs at 30 fps, asked for 15"):
        Camera(CameraConfig(source=video, width=W, height=H, fps=15)).start()


def test_sources_that_cannot_open_say_why(tmp_path):
    with pytest.raises(CameraOpenError, match="video file .*missing.avi does not exist"):
        Camera(CameraConfig(source=str(tmp_path / "missing.avi"))).start()
    with pytest.raises(CameraOpenError, match=r"cannot open camera /dev/video99 \(video devices: "):
        Camera(CameraConfig(source="/dev/video99")).start()
    with pytest.raises(CameraOpenError, match="is the server .* running"):
        Camera(CameraConfig(source="http://127.0.0.1:9/stream.mjpg", open_timeout_s=2.0)).start()
    with pytest.raises(ValueError, match="fourcc must be 4 characters"):
        Camera(CameraConfig(fourcc="MJPEG"))
    sources = ("0", "/dev/video2", "/dev/v4l/by-id/usb-cam-video-index0", "a.mp4", "rtsp://h/x")
    assert [source_kind(s) for s in sources] == ["device", "device", "device", "file", "stream"]


def test_frame_time_comes_from_the_v4l2_capture_clock_when_it_is_one():
    now = time.monotonic()
    captured = capture_time("device", (now - 0.045) * 1000, now)  # the kernel stamped it 45 ms ago
    assert captured == pytest.approx(now - 0.045) and CAPTURE_CLOCK != DELIVERY_CLOCK
    assert capture_time("device", time.time() * 1000, now) is None  # a wall clock, not the monotonic one
    assert capture_time("device", (now + 0.5) * 1000, now) is None  # in the future
    assert capture_time("device", 0.0, now) is None  # OpenCV's answer before the first buffer
    assert capture_time("stream", (now - 0.01) * 1000, now) is None  # stream/file position, whatever it reads
    assert capture_time("file", 40.0, now) is None


def test_mjpeg_stream_from_a_callable_reads_through_opencv():
    counter = {"n": 0}

    def render() -> np.ndarray:
        counter["n"] += 1
        return scene(counter["n"] % 12, 128, 96)

    server = MjpegServer(render, fps=40)
    config = CameraConfig(source=server.url, width=128, height=96, fps=30, stale_after_s=0.3)
    with server, Camera(config) as cam:
        first = cam.wait_new()
        r, g, b = first.image[-10:, -10:].reshape(-1, 3).mean(axis=0)
        assert abs(r - RGB[0]) < 12 and abs(b - RGB[2]) < 12  # JPEG-close, and RGB
        later = cam.wait_new(first.index + 5, timeout_s=2.0)
        assert later.timestamp > first.timestamp and block_index(later.image) != block_index(first.image)
        # FFmpeg's MJPEG-over-HTTP "position" is a synthetic 25 fps pts (0, 40, 80 ms): delivery time instead
        assert later.clock == DELIVERY_CLOCK and 0 <= later.age < 1.0
        assert cam.measured_fps > 10
        with urllib.request.urlopen(server.snapshot_url, timeout=5) as resp:
            jpeg = np.frombuffer(resp.read(), np.uint8)
        assert cv2.imdecode(jpeg, cv2.IMREAD_COLOR).shape == (96, 128, 3)
        server.stop()  # the twin goes away mid-run: frames go stale, the camera reports it
        time.sleep(0.5)
        with pytest.raises(CameraStaleError, match="stalled, was unplugged, or the stream stopped"):
            cam.latest()


def test_stream_survives_a_failing_frame_source():
    calls = {"n": 0}

    def flaky() -> np.ndarray | None:
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            raise RuntimeError("renderer hiccup")
        return None if calls["n"] % 3 == 1 else scene(1, 64, 48)

    with MjpegServer(flaky, fps=60) as server:
        with Camera(CameraConfig(source=server.url, width=64, height=48, fps=0)) as cam:
            cam.wait_new(2, timeout_s=3.0)
        assert server.source_errors > 0 and "renderer hiccup" in server.last_error


def test_v4l2_mode_listing_is_parsed():
    text = """ioctl: VIDIOC_ENUM_FMT
\tType: Video Capture

\t[0]: 'MJPG' (Motion-JPEG, compressed)
\t\tSize: Discrete 1280x720
\t\t\tInterval: Discrete 0.033s (30.000 fps)
\t\t\tInterval: Discrete 0.067s (15.000 fps)
\t\tSize: Discrete 640x480
\t\t\tInterval: Discrete 0.033s (30.000 fps)
\t[1]: 'YUYV' (YUYV 4:2:2)
\t\tSize: Discrete 640x480
\t\t\tInterval: Discrete 0.100s (10.000 fps)
"""
    assert parse_v4l2_formats(text) == [
        CameraMode("MJPG", 1280, 720, 30.0),
        CameraMode("MJPG", 1280, 720, 15.0),
        CameraMode("MJPG", 640, 480, 30.0),
        CameraMode("YUYV", 640, 480, 10.0),
    ]
    assert str(CameraMode("MJPG", 640, 480, 30.0)) == "MJPG 640x480@30"


def test_a_camera_can_be_restarted(video):
    cam = Camera(CameraConfig(source=video, width=W, height=H, fps=FPS))
    for _ in range(2):
        with cam:
            frame = cam.wait_new()  # a fresh run's frame, not one left from the last run
            assert frame.index < 10 and frame.age < 0.5 and cam.running
        assert not cam.running
