"""`so101 run` fault cases (issue 17 items 1-6 and the run-related smalls of 10), each against the twin.

Signals and bus faults hit a `so101 run` process that is driving the twin; bad inputs are refused before it
moves. Torque is read back from the emulated servos after every case.
"""

from __future__ import annotations

import json
import math
import signal
import time
from collections.abc import Callable
from pathlib import Path

from ._twin_rig import one_clear_line, rig

Result = dict


# -- signals -----------------------------------------------------------------------------------------------
def _signal_case(signals: list[int], every_s: float, count: int) -> Callable[[], Result]:
    """``count`` signals ``every_s`` apart to a driving run (count 0: until it exits)."""

    def case() -> Result:
        r = rig()
        out_dir = r.out(f"signal-{signals[0]}-{count}-{time.monotonic_ns()}")
        proc = r.start(out_dir)
        if count:
            for i in range(count):
                proc.send_signal(signals[i % len(signals)])
                time.sleep(every_s)
        else:
            r.signal_until_exit(proc, signals, every_s)
        output = proc.communicate(timeout=60)[0]
        first = signal.Signals(signals[0])
        summary = _summary(out_dir)
        clear = (
            proc.returncode == 128 + first
            and one_clear_line(output, f"interrupted by {first.name}", "1 episode(s) (1 interrupted)")
            and summary.get("reason", "").startswith(f"interrupted by {first.name}")
        )
        return {"clear": clear, "torque_off": r.torque_off(), "note": f"exit {proc.returncode}"}

    return case


def _summary(out_dir: Path) -> dict:
    try:
        return json.loads((out_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return {}


def _sigterm_twice_during_plot() -> Result:
    """SIGTERM, then SIGTERMs while the telemetry plot is drawn (its summary lines come ~0.5-2 s later)."""
    return _signal_case([signal.SIGTERM], every_s=0.15, count=12)()


# -- the port ------------------------------------------------------------------------------------------------
def _second_run_on_the_port() -> Result:
    r = rig()
    proc = r.start(r.out("port-first"))
    try:
        code, output = r.invoke(r.args(r.out("port-second"), "--dry-run"))
        still_driving = all(r.torque().values())
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    clear = code == 2 and one_clear_line(output, "port busy", f"PID {proc.pid}") and still_driving
    return {"clear": clear, "torque_off": r.torque_off(), "note": output.strip().splitlines()[-1][:90]}


def _torque_dropped_under_the_run() -> Result:
    r = rig()
    proc = r.start(r.out("torque-drop"))
    r.twin.emulator.servo(4).poke("Torque_Enable", 0)
    output = proc.communicate(timeout=60)[0]
    clear = proc.returncode == 1 and one_clear_line(output, "torque dropped on wrist_flex")
    return {"clear": clear, "torque_off": r.torque_off(), "note": f"exit {proc.returncode}"}


# -- a servo dying ---------------------------------------------------------------------------------------------
def _servo_dies(timeout_ms: str, ctrl_c: bool) -> Callable[[], Result]:
    def case() -> Result:
        r = rig()
        proc = r.start(r.out(f"servo-dies-{timeout_ms}-{ctrl_c}"), "--packet-timeout-ms", timeout_ms)
        r.twin.emulator.kill(3)  # elbow_flex
        time.sleep(0.5)
        t0 = time.monotonic()
        if ctrl_c:
            r.signal_until_exit(proc, [signal.SIGINT], every_s=0.05)
            output = proc.stdout.read()
        else:
            output = proc.communicate(timeout=120)[0]
        took = time.monotonic() - t0
        want = 130 if ctrl_c else 1
        named = "interrupted by SIGINT" if ctrl_c else "elbow_flex"
        clear = proc.returncode == want and one_clear_line(output, named) and took < 30
        return {
            "clear": clear,
            "torque_off": r.torque_off(except_=("elbow_flex",)),
            "note": f"exit {proc.returncode} after {took:.1f} s",
        }

    return case


# -- refused before torque on ---------------------------------------------------------------------------------
def _refused(
    extra: list[str], *needles: str, policy: Callable[[Path], Path] | None = None, pipe_no_yes=False
):
    def case() -> Result:
        r = rig()
        out_dir = r.out(f"refused-{time.monotonic_ns()}")
        args = r.args(out_dir, *extra, policy=policy(r.dir) if policy else None)
        if pipe_no_yes:
            args.remove("--yes")
        code, output = r.invoke(args)
        lines = output.strip().splitlines()
        clear = code == 2 and len(lines) == 1 and one_clear_line(output, *needles) and not out_dir.exists()
        return {
            "clear": clear,
            "torque_off": r.torque_off(),
            "note": lines[-1][:90] if lines else "(no output)",
        }

    return case


def _contract(change: Callable[[dict], object]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        import onnx

        from policies.contract import METADATA_KEY

        model = onnx.load(str(rig().policy))
        for prop in model.metadata_props:
            if prop.key == METADATA_KEY:
                prop.value = json.dumps(change(json.loads(prop.value)))
        path = folder / f"policy-{time.monotonic_ns()}.onnx"
        onnx.save(model, str(path))
        return path

    return make


def _set(section: str | None, **values) -> Callable[[dict], dict]:
    def change(contract: dict) -> dict:
        (contract[section] if section else contract).update(values)
        return contract

    return change


def _camera(change: Callable[[dict], object]) -> list[str]:
    r = rig()
    data = json.loads(Path(r.twin.camera_calibration_path).read_text())
    path = r.dir / f"camera-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(change(data)))
    return ["--camera-calibration", str(path)]


def _camera_case(change: Callable[[dict], object], *needles: str) -> Callable[[], Result]:
    return lambda: _refused(_camera(change), *needles)()


# -- the judge -------------------------------------------------------------------------------------------------
def _judge_dies_mid_run() -> Result:
    from so101_deploy.twin.control_endpoint import ControlServer

    r = rig()
    out_dir = r.out("judge-dies")
    proc = r.start(out_dir)
    r.twin.control.close()
    try:
        output = proc.communicate(timeout=60)[0]
    finally:
        r.twin.control = ControlServer(r.twin).start()
    summary = _summary(out_dir)
    clear = (
        proc.returncode == 1
        and one_clear_line(output, "twin judge failed", "1 episode(s) (1 interrupted)")
        and summary.get("episodes") == 1
    )
    return {"clear": clear, "torque_off": r.torque_off(), "note": f"exit {proc.returncode}"}


def cases() -> list[tuple[str, Callable[[], Result]]]:
    return [
        ("sighup_terminal_closed", _signal_case([signal.SIGHUP], 0, 1)),
        ("sigquit_ctrl_backslash", _signal_case([signal.SIGQUIT], 0, 1)),
        ("sigterm", _signal_case([signal.SIGTERM], 0, 1)),
        ("sigint", _signal_case([signal.SIGINT], 0, 1)),
        ("sigint_x3_20ms_apart", _signal_case([signal.SIGINT], 0.02, 3)),
        ("ctrl_c_burst_until_exit", _signal_case([signal.SIGINT, signal.SIGTERM], 0.02, 0)),
        ("sigterm_again_during_plot", _sigterm_twice_during_plot),
        ("second_run_same_port", _second_run_on_the_port),
        ("torque_dropped_under_run", _torque_dropped_under_the_run),
        ("servo_dies_timeout_20ms", _servo_dies("20", ctrl_c=False)),
        ("servo_dies_timeout_500ms", _servo_dies("500", ctrl_c=False)),
        ("servo_dies_then_ctrl_c_burst", _servo_dies("200", ctrl_c=True)),
        ("packet_timeout_nan", _refused(["--packet-timeout-ms", "nan"], "packet", "nan")),
        ("packet_timeout_inf", _refused(["--packet-timeout-ms", "inf"], "packet", "inf")),
        ("packet_timeout_negative", _refused(["--packet-timeout-ms", "-5"], "packet", "-5")),
        ("contract_bgr", _refused([], "color_order", policy=_contract(_set("image", color_order="BGR")))),
        (
            "contract_hwc_no_norm",
            _refused([], "layout", policy=_contract(_set("image", layout="HWC", normalisation="none"))),
        ),
        (
            "contract_norm_outside",
            _refused([], "normalisation", policy=_contract(_set("image", normalisation="x"))),
        ),
        (
            "contract_arm_hash",
            _refused([], "arm model", policy=_contract(_set(None, arm_model_sha256="0" * 64))),
        ),
        (
            "contract_action_repeat_0",
            _refused([], "action_repeat", policy=_contract(_set("action", action_repeat=0))),
        ),
        ("contract_control_hz_0", _refused([], "control_hz", policy=_contract(_set(None, control_hz=0)))),
        (
            "contract_interpolation",
            _refused([], "interpolation", policy=_contract(_set("image", interpolation="x"))),
        ),
        (
            "contract_action_size",
            _refused([], "action.size", policy=_contract(_set("action", type="joint_delta"))),
        ),
        ("contract_is_a_list", _refused([], "JSON object", policy=_contract(lambda c: [c]))),
        ("camera_calibration_list", _camera_case(lambda d: [d], "JSON list")),
        ("camera_crop_nan", _camera_case(lambda d: {**d, "crop_fov_ratio": math.nan}, "crop_fov_ratio")),
        ("twin_unreachable", _refused(["--twin", "http://127.0.0.1:9"], "unreachable")),
        ("seed_negative", _refused(["--seed", "-1"], "--seed")),
        ("no_yes_on_a_pipe", _refused([], "stdin is not a terminal: pass --yes", pipe_no_yes=True)),
        ("judge_dies_mid_run", _judge_dies_mid_run),
    ]
