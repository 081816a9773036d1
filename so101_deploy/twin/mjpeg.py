"""A small MJPEG-over-HTTP server on 127.0.0.1: frames from a callable, readable by cv2.VideoCapture.

The twin serves its rendered wrist camera with it, so the runtime reads the twin exactly as it reads a
network camera: through OpenCV, JPEG artefacts and all. One producer thread calls the frame source at the
set rate (a renderer is usually tied to one thread) and encodes once; every client gets the newest JPEG.

Routes: ``/stream.mjpg`` (multipart/x-mixed-replace) and ``/snapshot.jpg`` (one JPEG).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

BOUNDARY = "so101frame"


class MjpegServer:
    """``frame_source()`` returns an H x W x 3 uint8 RGB image (or None to skip a tick)."""

    def __init__(
        self,
        frame_source: Callable[[], np.ndarray | None],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        fps: float = 30.0,
        quality: int = 90,
        on_producer_exit: Callable[[], None] | None = None,
    ) -> None:
        if fps <= 0:
            raise ValueError("fps must be > 0")
        self.frame_source = frame_source
        # Runs in the producer thread as it ends: a GL renderer must be released by the thread that used it.
        self.on_producer_exit = on_producer_exit
        self.fps = fps
        self.quality = quality
        self.frames_encoded = 0
        self.source_errors = 0
        self.last_error: str = ""
        self._jpeg: bytes | None = None
        self._seq = 0
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = False  # server_close() joins the client threads: nothing left running
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._httpd.server_address[0]}:{self.port}/stream.mjpg"

    @property
    def snapshot_url(self) -> str:
        return f"http://{self._httpd.server_address[0]}:{self.port}/snapshot.jpg"

    def start(self) -> MjpegServer:
        if self._threads:
            raise RuntimeError("server already started")
        self._threads = [
            threading.Thread(target=self._produce, name="mjpeg producer", daemon=True),
            threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="mjpeg http",
                daemon=True,
            ),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        if not self._threads:  # never started (or stopped already): just release the socket
            self._httpd.server_close()
            return
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        self._httpd.shutdown()
        self._httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=5.0)
        self._threads = []

    def __enter__(self) -> MjpegServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- producer -------------------------------------------------------------------------------------------
    def _produce(self) -> None:
        period = 1.0 / self.fps
        next_at = time.monotonic()
        while not self._stopping.is_set():
            try:
                frame = self.frame_source()
                jpeg = None if frame is None else self.encode(frame)
            except Exception as exc:  # noqa: BLE001 - a failing source must not kill the stream
                self.source_errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                jpeg = None
            if jpeg is not None:
                with self._cond:
                    self._jpeg, self._seq = jpeg, self._seq + 1
                    self.frames_encoded += 1
                    self._cond.notify_all()
            next_at = max(next_at + period, time.monotonic())
            self._stopping.wait(max(0.0, next_at - time.monotonic()))
        if self.on_producer_exit is not None:
            self.on_producer_exit()

    def encode(self, rgb: np.ndarray) -> bytes:
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"frame must be H x W x 3 uint8 RGB, got {rgb.dtype} {rgb.shape}")
        ok, buf = cv2.imencode(
            ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, self.quality]
        )
        if not ok:
            raise ValueError("JPEG encoding failed")
        return buf.tobytes()

    def next_jpeg(self, after: int, timeout_s: float) -> tuple[int, bytes | None]:
        """The newest JPEG newer than sequence number ``after`` (waits up to ``timeout_s``)."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > after or self._stopping.is_set(), timeout=timeout_s)
            return self._seq, self._jpeg if self._seq > after else None

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()


def _handler_for(server: MjpegServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 5.0  # a client that stops reading cannot hold a thread forever

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            path = self.path.split("?", 1)[0]
            if path in ("/", "/stream.mjpg"):
                self._stream()
            elif path == "/snapshot.jpg":
                self._snapshot()
            else:
                self.send_error(404, "try /stream.mjpg or /snapshot.jpg")

        def _snapshot(self) -> None:
            _, jpeg = server.next_jpeg(0, timeout_s=2.0)  # the newest frame, waiting for the first one
            if jpeg is None:
                self.send_error(503, f"no frame yet {server.last_error}".strip())
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(jpeg)))
            self.end_headers()
            self.wfile.write(jpeg)

        def _stream(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-cache, no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            seq = 0
            try:
                while not server.stopping:
                    seq, jpeg = server.next_jpeg(seq, timeout_s=0.5)
                    if jpeg is None:
                        continue
                    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                    self.wfile.write(head.encode() + jpeg + b"\r\n")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                pass  # the client went away
            self.close_connection = True

    return Handler
