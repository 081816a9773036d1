"""The twin's loopback control endpoint: ground truth, episode reset and perturbations over plain HTTP+JSON.

`so101 run` uses it only when driving a twin (success and reset come from here instead of the operator);
nothing about the servo bus or the camera goes through it, so the runtime path stays the real one.

Routes: GET /state -> JSON ground truth; POST /reset {"seed": int?} -> JSON; POST /perturb {...} -> JSON.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol


class TwinControl(Protocol):
    def state(self) -> dict[str, Any]: ...
    def reset(self, seed: int | None = None) -> dict[str, Any]: ...
    def perturb(self, changes: dict[str, Any]) -> dict[str, Any]: ...


def _handler_for(control: TwinControl):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep the twin's console clean
            pass

        def _reply(self, code: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            if not length:
                return {}
            return json.loads(self.rfile.read(length) or b"{}")

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            if self.path.rstrip("/") == "/state":
                self._reply(200, control.state())
            else:
                self._reply(404, {"error": f"unknown route {self.path}; try /state, /reset, /perturb"})

        def do_POST(self) -> None:  # noqa: N802
            try:
                body = self._body()
            except json.JSONDecodeError as exc:
                self._reply(400, {"error": f"body is not JSON: {exc}"})
                return
            route = self.path.rstrip("/")
            try:
                if route == "/reset":
                    self._reply(200, control.reset(body.get("seed")))
                elif route == "/perturb":
                    self._reply(200, control.perturb(body))
                else:
                    self._reply(404, {"error": f"unknown route {self.path}"})
            except (KeyError, ValueError, TypeError) as exc:
                self._reply(400, {"error": str(exc)})

    return Handler


class ControlServer:
    """Serves a TwinControl on 127.0.0.1 in a background thread."""

    def __init__(self, control: TwinControl, port: int = 0):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(control))
        self.httpd.daemon_threads = True
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
