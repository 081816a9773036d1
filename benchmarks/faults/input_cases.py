"""Bad-input fault cases of issue 17 (items 4, 9, 10): numeric options, output paths, the twin's control endpoint.

Each case runs for real: a `so101` command as a subprocess, or raw HTTP to the control endpoint of a real
`so101 twin` process (started once, on first use). ``clear`` means what a user or script can act on: for a
command, exit code 2 and one line naming the option, no traceback, before anything started; for the endpoint,
the expected status with a JSON reason, nothing applied, and the endpoint still answering afterwards. None of
these reaches a servo, so ``torque_off`` is None.

    python benchmarks/faults/input_cases.py      # runs them alone; benchmarks/fault_matrix.py imports cases()
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "so101_deploy.cli"]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "300"}
Result = dict


# -- commands -----------------------------------------------------------------------------------------------------
def _refused_in_one_line(args: list[str], must_name: str, timeout_s: float = 30.0) -> Result:
    """Exit 2, one line that names ``must_name``, no traceback, within ``timeout_s`` (nothing started)."""
    with tempfile.TemporaryDirectory(prefix="so101-input-case-") as tmp:
        args = [a.replace("{tmp}", tmp) for a in args]
        start = time.monotonic()
        try:
            proc = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, cwd=tmp, env=ENV)
        except subprocess.TimeoutExpired:  # it accepted the value and started (main: `twin --fps nan`)
            return {"clear": False, "torque_off": None, "note": "accepted: still running after 60 s, killed"}
        elapsed = time.monotonic() - start
        lines = (proc.stdout + proc.stderr).strip().splitlines()
        created = sorted(p.name for p in Path(tmp).iterdir() if p.name != "exists")
    clear = (
        proc.returncode == 2
        and len(lines) == 1
        and must_name in lines[0]
        and "Traceback" not in proc.stderr
        and elapsed < timeout_s
        and not created
    )
    note = f"rc={proc.returncode} {elapsed:.1f}s " + (lines[-1][:70] if lines else "(no output)")
    return {"clear": clear, "torque_off": None, "note": note}


RUN = ["run", "--policy", "p.onnx", "--port", "/dev/null", "--camera", "0", "--calibration", "x", "--yes",
       "--out", "{tmp}/run"]  # fmt: skip

COMMAND_CASES: list[tuple[str, list[str], str]] = [
    ("run --packet-timeout-ms nan", [*RUN, "--packet-timeout-ms", "nan"], "--packet-timeout-ms"),
    ("run --packet-timeout-ms inf", [*RUN, "--packet-timeout-ms", "inf"], "--packet-timeout-ms"),
    ("run --packet-timeout-ms -5", [*RUN, "--packet-timeout-ms", "-5"], "--packet-timeout-ms"),
    ("run --episodes 0", [*RUN, "--episodes", "0"], "--episodes"),
    ("run --max-steps -1", [*RUN, "--max-steps", "-1"], "--max-steps"),
    ("run --seed -1", [*RUN, "--seed", "-1"], "--seed"),
    ("twin --fps 0", ["twin", "--fps", "0"], "--fps"),
    ("twin --fps nan", ["twin", "--fps", "nan"], "--fps"),
    ("twin --fovy 0", ["twin", "--fovy", "0"], "--fovy"),
    ("twin --width -5", ["twin", "--width", "-5"], "--width"),
    ("twin --height 100000", ["twin", "--height", "100000"], "--height"),
    ("twin --latency-ms inf", ["twin", "--latency-ms", "inf"], "--latency-ms"),
    ("twin --camera-offset with nan", ["twin", "--camera-offset", "0,0,0,0,0,nan"], "--camera-offset"),
    ("twin --out-dir unwritable", ["twin", "--out-dir", "/proc/so101-twin"], "--out-dir"),
    ("calibrate servos --packet-timeout-ms nan",
     ["calibrate", "servos", "--port", "/dev/null", "--id", "x", "--packet-timeout-ms", "nan"], "--packet-timeout-ms"),
    ("calibrate servos --sweep-seconds inf",
     ["calibrate", "servos", "--port", "/dev/null", "--id", "x", "--sweep-seconds", "inf"], "--sweep-seconds"),
    ("calibrate camera --square -0.02",
     ["calibrate", "camera", "--camera", "0", "--board", "9x6", "--square", "-0.02", "--out", "c.json"], "--square"),
    ("calibrate setup-motors --baud 0", ["calibrate", "setup-motors", "--port", "/dev/null", "--baud", "0"], "--baud"),
    ("calibrate align --time-budget nan",
     ["calibrate", "align", "--port", "/dev/null", "--camera", "0", "--calibration", "x", "--time-budget", "nan"],
     "--time-budget"),
    ("eval --episodes 0", ["eval", "x.pt", "--episodes", "0"], "--episodes"),
    ("eval --num-envs 100000", ["eval", "x.pt", "--num-envs", "100000"], "--num-envs"),
    ("export -o EXISTING_DIR", ["export", "x.pt", "-o", "{tmp}"], "policy.onnx instead"),
]  # fmt: skip


# -- the twin's control endpoint ------------------------------------------------------------------------------------
class _TwinProcess:
    """`so101 twin --json` as a user starts it; its control URL and PID."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [*CLI, "twin", "--json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=ENV
        )
        line = self.proc.stdout.readline()  # the twin prints its endpoints once its camera renders
        if not line:
            raise RuntimeError(f"so101 twin exited with {self.proc.wait()} before announcing its endpoints")
        self.url = json.loads(line)["control_url"]
        atexit.register(self.close)

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/task"))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


_TWIN: _TwinProcess | None = None


def _twin() -> _TwinProcess:
    global _TWIN
    if _TWIN is None or _TWIN.proc.poll() is not None:
        _TWIN = _TwinProcess()
    return _TWIN


def _exchange(raw: bytes, timeout_s: float = 10.0) -> tuple[int, dict]:
    """Send raw bytes to the twin's endpoint: (status, JSON reply); (0, {}) when the connection gave nothing."""
    parts = urlsplit(_twin().url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout_s) as sock:
        sock.sendall(raw)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except OSError:
            pass
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        return int(head.split()[1]), json.loads(body)
    except (IndexError, ValueError):
        return 0, {}


def _post(
    path: str, body: bytes, *, host="127.0.0.1", ctype="application/json", length=None, extra=""
) -> bytes:
    length = len(body) if length is None else length
    ctype_line = f"Content-Type: {ctype}\r\n" if ctype else ""
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{ctype_line}Content-Length: {length}\r\n{extra}\r\n"
    return head.encode() + body


def _state() -> dict:
    status, state = _exchange(b"GET /state HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return state if status == 200 else {}


def _refused(raw: bytes, status: int) -> Callable[[], Result]:
    def case() -> Result:
        before = _state().get("perturbations")
        got, reply = _exchange(raw)
        after = _state().get("perturbations")
        clear = got == status and bool(reply.get("error")) and before == after and after is not None
        return {"clear": clear, "torque_off": None, "note": f"{got} {str(reply.get('error', ''))[:70]}"}

    return case


def _not_wedged() -> Result:
    """A rejected visual value must not stay behind and fail every later request."""
    bad, _ = _exchange(_post("/perturb", b'{"table_texture": "marble"}'))
    good, reply = _exchange(_post("/perturb", b'{"latency_ms": 12}'))
    reset, _ = _exchange(_post("/perturb", b'{"latency_ms": 0}'))
    clear = bad == 400 and good == 200 and reply["perturbations"]["latency_ms"] == 12 and reset == 200
    return {"clear": clear, "torque_off": None, "note": f"bad {bad}, then good {good}"}


def _stalled_clients() -> Result:
    """101 clients that connect and send nothing: threads stay bounded, and are freed by the handler timeout."""
    twin = _twin()
    parts = urlsplit(twin.url)
    before = twin.threads()
    stalled = [socket.create_connection((parts.hostname, parts.port), timeout=5) for _ in range(101)]
    try:
        time.sleep(0.5)
        peak = twin.threads()
        deadline = time.monotonic() + 15
        while twin.threads() > before + 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        settled = twin.threads()
    finally:
        for sock in stalled:
            sock.close()
    serves = bool(_state())
    clear = peak <= before + 20 and settled <= before + 1 and serves
    return {
        "clear": clear,
        "torque_off": None,
        "note": f"threads {before} -> {peak} with 101 stalled -> {settled}",
    }


ENDPOINT_CASES: list[tuple[str, Callable[[], Result]]] = [
    ("twin endpoint: JSON list body", _refused(_post("/perturb", b"[1, 2]"), 400)),
    ("twin endpoint: JSON number body to /reset", _refused(_post("/reset", b"3"), 400)),
    ("twin endpoint: Content-Length abc", _refused(_post("/reset", b"{}", length="abc"), 400)),
    ("twin endpoint: Content-Length 300 MB", _refused(_post("/perturb", b"{}", length=300_000_000), 413)),
    ("twin endpoint: NaN", _refused(_post("/perturb", b'{"latency_ms": NaN}'), 400)),
    ("twin endpoint: Infinity", _refused(_post("/perturb", b'{"light_scale": Infinity}'), 400)),
    ("twin endpoint: 1e999", _refused(_post("/perturb", b'{"backlash_deg": 1e999}'), 400)),
    ("twin endpoint: partly bad /perturb", _refused(_post("/perturb", b'{"latency_ms": 40, "backlash_deg": -3}'), 400)),
    ("twin endpoint: bad camera_offset", _refused(_post("/perturb", b'{"light_scale": 0.5, "camera_offset": [1]}'), 400)),
    ("twin endpoint: one bad value wedges it", _not_wedged),
    ("twin endpoint: text/plain", _refused(_post("/perturb", b'{"latency_ms": 5}', ctype="text/plain"), 415)),
    ("twin endpoint: foreign Host", _refused(_post("/perturb", b'{"latency_ms": 5}', host="evil.example"), 403)),
    ("twin endpoint: web page Origin",
     _refused(_post("/perturb", b'{"latency_ms": 5}', extra="Origin: http://evil.example\r\n"), 403)),
    ("twin endpoint: /reset seed -1", _refused(_post("/reset", b'{"seed": -1}'), 400)),
    ("twin endpoint: 101 stalled clients", _stalled_clients),
]  # fmt: skip


def cases() -> list[tuple[str, Callable[[], Result]]]:
    commands = [
        (name, lambda args=args, must=must: _refused_in_one_line(args, must))
        for name, args, must in COMMAND_CASES
    ]
    return [*commands, *ENDPOINT_CASES]


if __name__ == "__main__":
    results = []
    for name, case in cases():
        result = case()
        results.append(result)
        print(f"{name:<48} clear={'yes' if result['clear'] else 'NO '}  {result.get('note', '')}", flush=True)
    if _TWIN is not None:
        _TWIN.close()
    print(json.dumps({"cases_tried": len(results), "clear": sum(r["clear"] for r in results)}))
