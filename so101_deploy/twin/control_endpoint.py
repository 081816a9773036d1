"""The twin's loopback control endpoint: ground truth, episode reset and perturbations over plain HTTP+JSON.

`so101 run` uses it only when driving a twin (success and reset come from here instead of the operator);
nothing about the servo bus or the camera goes through it, so the runtime path stays the real one.

Routes: GET /state -> JSON ground truth; POST /reset {"seed": int?} -> JSON; POST /perturb {...} -> JSON.

It listens on 127.0.0.1 only, and still treats every request as hostile: a web page open on the same machine
can reach loopback, and a stalled or oversized client must not take the twin down. So: the Host header must
name loopback (DNS rebinding) and a browser's Origin must too; a POST must say Content-Type: application/json
(a page cannot send that without a CORS preflight, which is never granted); bodies are capped; each request
has a deadline and at most ``max_connections`` are served at once; JSON must be one object of finite numbers.
Every refusal is a JSON {"error": ...} with its status code, never a dropped connection or a traceback.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class TwinControl(Protocol):
    def state(self) -> dict[str, Any]: ...
    def reset(self, seed: int | None = None) -> dict[str, Any]: ...
    def perturb(self, changes: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ControlLimits:
    """What one client may cost the twin. Requests are a few hundred bytes and answered in milliseconds."""

    max_body_bytes: int = 64 * 1024
    request_timeout_s: float = 5.0  # a client that stalls mid-request is dropped after this long
    max_connections: int = 16  # more at once are answered 503 and closed, without a thread


class RequestError(Exception):
    """A refused request: HTTP status and the message sent back as {"error": ...}."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _host_name(value: str) -> str:
    """'127.0.0.1:8080' -> '127.0.0.1', '[::1]:80' -> '::1' (lower case)."""
    return (urlsplit("//" + value.strip()).hostname or "") if value else ""


def _refuse_constant(name: str) -> Any:
    raise RequestError(400, f"{name} is not allowed: numbers must be finite")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as inf
        raise RequestError(400, f"{text} is not a finite number")
    return value


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object of finite numbers, or RequestError(400)."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise RequestError(400, f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise RequestError(400, f"body must be a JSON object, got {type(body).__name__}")
    return body


def reset_seed(body: dict[str, Any]) -> int | None:
    unknown = sorted(set(body) - {"seed"})
    if unknown:
        raise RequestError(400, f"unknown /reset keys {unknown}; valid: seed")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63):
        raise RequestError(400, f"seed must be a non-negative integer or null, got {seed!r}")
    return seed


def _handler_for(control: TwinControl, limits: ControlLimits):
    class Handler(BaseHTTPRequestHandler):
        timeout = limits.request_timeout_s  # socket timeout for every read and write of this connection

        def log_message(self, *args) -> None:  # keep the twin's console clean
            pass

        def _reply(self, code: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if code >= 400:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)

        def _check_origin(self) -> None:
            host = _host_name(self.headers.get("Host", ""))
            if host not in LOOPBACK_HOSTS:
                raise RequestError(403, f"Host must be loopback ({', '.join(LOOPBACK_HOSTS)}), got {host!r}")
            origin = self.headers.get("Origin")
            if origin is not None and _host_name(urlsplit(origin).netloc) not in LOOPBACK_HOSTS:
                raise RequestError(403, f"requests from web pages are refused (Origin {origin!r})")

        def _body(self) -> dict[str, Any]:
            kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if kind != "application/json":
                raise RequestError(415, f"Content-Type must be application/json, got {kind or 'none'!r}")
            if self.headers.get("Transfer-Encoding"):
                raise RequestError(411, "send a Content-Length (chunked bodies are not accepted)")
            declared = self.headers.get("Content-Length", "0")  # no header: no body
            if not declared.strip().isdigit():
                raise RequestError(400, f"Content-Length must be a non-negative integer, got {declared!r}")
            length = int(declared)
            if length > limits.max_body_bytes:
                raise RequestError(
                    413, f"body of {length} bytes is over the {limits.max_body_bytes} byte limit"
                )
            raw = self.rfile.read(length)
            if len(raw) < length:
                raise RequestError(400, f"body ended after {len(raw)} of {length} bytes")
            return parse_json_object(raw)

        def _serve(self, route: str, post: bool) -> None:
            try:
                self._check_origin()
                if not post:
                    if route != "/state":
                        raise RequestError(404, f"unknown route {self.path}; try /state, /reset, /perturb")
                    self._reply(200, control.state())
                    return
                if route not in ("/reset", "/perturb"):
                    raise RequestError(404, f"unknown route {self.path}; try /state, /reset, /perturb")
                body = self._body()
                if route == "/reset":
                    self._reply(200, control.reset(reset_seed(body)))
                else:
                    self._reply(200, control.perturb(body))
            except RequestError as exc:
                self._reply(exc.status, {"error": str(exc)})
            except (KeyError, ValueError, TypeError) as exc:  # the control refused the values
                self._reply(400, {"error": str(exc.args[0]) if exc.args else type(exc).__name__})
            except (TimeoutError, ConnectionError):
                raise  # the client is gone or stalled: nothing to answer; handle_one_request closes it
            except Exception as exc:  # a bug must cost one request, not the connection and a traceback
                self._reply(500, {"error": f"internal error: {type(exc).__name__}: {exc}"})

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            self._serve(self.path.split("?")[0].rstrip("/"), post=False)

        def do_POST(self) -> None:  # noqa: N802
            self._serve(self.path.split("?")[0].rstrip("/"), post=True)

    return Handler


class _BoundedServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with at most ``limits.max_connections`` handler threads alive at once."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # a burst of connects is accepted (and answered) instead of left to SYN retries

    def __init__(self, address, handler, limits: ControlLimits):
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(limits.max_connections)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            try:
                body = b'{"error": "too many connections; retry"}'
                request.settimeout(0.5)
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                    b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                )
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request, client_address) -> None:
        """One line instead of socketserver's traceback (a client that vanished mid-reply is not news)."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, ConnectionError | TimeoutError):
            print(f"twin control: {type(exc).__name__}: {exc}", file=sys.stderr)


class ControlServer:
    """Serves a TwinControl on 127.0.0.1 in a background thread."""

    def __init__(self, control: TwinControl, port: int = 0, limits: ControlLimits | None = None):
        self.limits = limits or ControlLimits()
        self.httpd = _BoundedServer(("127.0.0.1", port), _handler_for(control, self.limits), self.limits)
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="twin-control", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ControlServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


class TwinClient:
    """What `so101 run` and `so101 eval --twin` use to talk to a twin's control endpoint."""

    def __init__(self, url: str, timeout_s: float = 5.0):
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def _call(self, route: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.url + route, data=data, method="GET" if data is None else "POST")
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            detail = json.loads(exc.read() or b"{}").get("error", exc.reason)
            raise RuntimeError(f"twin control {route}: {detail}") from None
        except urllib.error.URLError as exc:
            raise ConnectionError(f"twin control endpoint {self.url} unreachable: {exc.reason}") from None

    def state(self) -> dict[str, Any]:
        return self._call("/state")

    def reset(self, seed: int | None = None) -> dict[str, Any]:
        return self._call("/reset", {"seed": seed})

    def perturb(self, **changes: Any) -> dict[str, Any]:
        return self._call("/perturb", changes)
