"""Fault cases for `so101 train`, `so101 eval` and `so101 export`, each run for real in a subprocess.

``cases()`` is read by benchmarks/fault_matrix.py. Every case returns ``{"clear": bool, "torque_off": None}``:
clear means the command ended with a one-line error (exit 2, or 1 for a full disk) or with a saved checkpoint,
and printed no traceback; training never holds torque, hence ``None``. A case that cannot run on this machine
(the full-disk case needs ``unshare`` and a private tmpfs) is left out of the list rather than reported clear.

Run alone: ``python benchmarks/faults/train_cases.py`` prints one line per case and a JSON summary.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# the smoke preset, long enough to be stopped by a signal, no videos or TensorBoard
LONG_SMOKE = [
    "--preset",
    "smoke",
    "num_train_frames=1000000",
    "eval_video=false",
    "tensorboard=false",
    "progress=false",
]
BAD_VALUES = {
    "checkpoint_every_frames=0": "checkpoint_every_frames=0",
    "env.stage=99": "env.stage=99",
    "env.image_size=0": "env.image_size=0",
    "device=cuda:7": "device=cuda:7",
    "replay of 11 TiB": "replay_capacity=1000000000",
    "num_train_frames=-100": "num_train_frames=-100",
}
Result = dict[str, bool | None]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "COLUMNS": "300"}


def _so101(*args: str, prefix: tuple[str, ...] = (), **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [*prefix, sys.executable, "-m", "so101_deploy.cli", *args],
        cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs,
    )  # fmt: skip


def _one_line_error(returncode: int, output: str, code: int = 2) -> bool:
    lines = output.strip().splitlines()
    return (
        returncode == code and len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in output
    )


def _saved(run_dir: Path, returncode: int, output: str) -> bool:
    return returncode == 0 and (run_dir / "checkpoint.pt").is_file() and "Traceback" not in output


def _result(clear: bool) -> Result:
    return {"clear": bool(clear), "torque_off": None}


def _wait_for_train_row(run_dir: Path, proc: subprocess.Popen, timeout: float = 600) -> bool:
    deadline = time.monotonic() + timeout
    metrics = run_dir / "metrics.csv"
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.exists() and "\ntrain," in metrics.read_text():
            return True
        time.sleep(0.5)
    return False


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    return proc.communicate()[0]


# -- cases -------------------------------------------------------------------------------------------------------
def signal_during_training(signum: signal.Signals) -> Callable[[], Result]:
    """A training that gets ``signum`` sent to its whole process group (as timeout, systemd and SLURM do)."""

    def case() -> Result:
        with tempfile.TemporaryDirectory(prefix="so101-fault-") as tmp:
            run_dir = Path(tmp) / "run"
            proc = _so101("train", *LONG_SMOKE, f"run_dir={run_dir}", start_new_session=True)
            if not _wait_for_train_row(run_dir, proc):
                _stop(proc)
                return _result(False)
            os.killpg(proc.pid, signum)
            try:
                output = proc.communicate(timeout=300)[0]
            except subprocess.TimeoutExpired:
                _stop(proc)
                return _result(False)
            return _result(_saved(run_dir, proc.returncode, output))

    return case


def bad_value(override: str) -> Callable[[], Result]:
    """An out-of-range value: one line, exit 2, and no run directory left behind to block the corrected command."""

    def case() -> Result:
        with tempfile.TemporaryDirectory(prefix="so101-fault-") as tmp:
            run_dir = Path(tmp) / "run"
            done = subprocess.run(
                [sys.executable, "-m", "so101_deploy.cli", "train", "--preset", "smoke", f"run_dir={run_dir}", override],
                cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            output = done.stdout + done.stderr
            return _result(_one_line_error(done.returncode, output) and not run_dir.exists())

    return case


def shared_run_dir() -> Result:
    """A second training into the run directory of a running one: refused naming the first one's PID."""
    with tempfile.TemporaryDirectory(prefix="so101-fault-") as tmp:
        run_dir = Path(tmp) / "run"
        first = _so101("train", *LONG_SMOKE, f"run_dir={run_dir}", start_new_session=True)
        try:
            if not _wait_for_train_row(run_dir, first):
                return _result(False)
            second = subprocess.run(
                [sys.executable, "-m", "so101_deploy.cli", "train", *LONG_SMOKE, f"run_dir={run_dir}"],
                cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            output = second.stdout + second.stderr
            return _result(_one_line_error(second.returncode, output) and f"PID {first.pid}" in output)
        finally:
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGTERM)
                try:
                    first.communicate(timeout=300)
                except subprocess.TimeoutExpired:
                    _stop(first)


def unreadable_checkpoint(kind: str) -> Callable[[], Result]:
    """`so101 eval` and `so101 export` of an empty, random, truncated or foreign file: one line each."""

    def write(path: Path) -> None:
        import numpy as np
        import torch

        if kind == "empty":
            path.write_bytes(b"")
        elif kind == "garbage":
            path.write_bytes(os.urandom(5000))  # any size will do (4096 would read as encoder ticks)
        elif kind == "truncated":
            torch.save({"format_version": 2, "agent": {"w": torch.zeros(100_000)}}, path)
            path.write_bytes(path.read_bytes()[:50_000])
        elif kind == "pickled objects":
            torch.save({"format_version": 2, "x": np.zeros(3)}, path)
        elif kind == "bare state dict":
            torch.save({"weight": torch.zeros(3)}, path)
        else:
            raise ValueError(kind)

    def case() -> Result:
        with tempfile.TemporaryDirectory(prefix="so101-fault-") as tmp:
            path = Path(tmp) / "checkpoint.pt"
            write(path)
            clear = True
            for args in (["eval", str(path)], ["export", str(path), "-o", str(Path(tmp) / "p.onnx")]):
                done = subprocess.run(
                    [sys.executable, "-m", "so101_deploy.cli", *args],
                    cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300,
                )  # fmt: skip
                output = done.stdout + done.stderr
                clear &= (
                    _one_line_error(done.returncode, output) and "not a readable so101 checkpoint" in output
                )
            return _result(clear)

    return case


def can_mount_private_tmpfs() -> bool:
    try:
        probe = subprocess.run(
            ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0


def full_disk() -> Result:
    """The run directory on a private 1 MB tmpfs: the checkpoint save finds the disk full."""
    with tempfile.TemporaryDirectory(prefix="so101-fault-") as tmp:
        mount = Path(tmp)
        run_dir = mount / "run"
        proc = _so101(
            "train", *LONG_SMOKE, "num_train_frames=200", f"run_dir={run_dir}",
            prefix=("unshare", "-rm", "sh", "-c", 'mount -t tmpfs -o size=1m tmpfs "$0" && exec "$@"', str(mount)),
        )  # fmt: skip
        output = proc.communicate(timeout=600)[0]
        lines = output.strip().splitlines()  # the run's log lines, then the error
        last = lines[-1] if lines else ""
        return _result(
            proc.returncode == 1 and last.startswith("error: disk full") and "Traceback" not in output
        )


def cases() -> list[tuple[str, Callable[[], Result]]]:
    found: list[tuple[str, Callable[[], Result]]] = [
        ("train: SIGTERM to the process group saves a checkpoint", signal_during_training(signal.SIGTERM)),
        ("train: SIGINT to the process group saves a checkpoint", signal_during_training(signal.SIGINT)),
        *(
            (f"train: {name} refused before anything is created", bad_value(o))
            for name, o in BAD_VALUES.items()
        ),
        ("train: a second training in a running one's run_dir", shared_run_dir),
        *(
            (f"eval/export: {kind} checkpoint", unreadable_checkpoint(kind))
            for kind in ("empty", "garbage", "truncated", "pickled objects", "bare state dict")
        ),
    ]
    if can_mount_private_tmpfs():
        found.append(("train: full disk during checkpoint save", full_disk))
    return found


if __name__ == "__main__":
    results = []
    for name, run in cases():
        started = time.perf_counter()
        result = run()
        results.append(result)
        print(
            f"{'clear' if result['clear'] else 'NOT CLEAR':9s} {time.perf_counter() - started:6.1f} s  {name}",
            flush=True,
        )
    print(json.dumps({"tried": len(results), "clear": sum(r["clear"] for r in results)}))
