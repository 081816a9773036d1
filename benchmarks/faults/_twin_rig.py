"""A twin and an untrained policy shared by the fault cases that drive `so101 run` (one per harness run).

The policy is the default DrQ-v2 network exported untrained (as benchmarks/control_loop.py does): the faults
do not depend on its weights. `so101 run` is started as a real process, the way a user starts it, and the
servos' torque is read back from the twin's emulator.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SO101 = Path(sys.executable).parent / "so101"
_RIG: TwinRig | None = None


class TwinRig:
    def __init__(self) -> None:
        from so101_deploy.twin.app import Twin, TwinConfig

        self.tmp = tempfile.TemporaryDirectory(prefix="so101-faults-")
        self.dir = Path(self.tmp.name)
        self.policy = self._policy(self.dir / "policy.onnx")
        self.twin = Twin(TwinConfig()).start()

    @staticmethod
    def _policy(path: Path) -> Path:
        from sim.config import EnvConfig

        from policies.contract import contract_for_env
        from policies.drqv2.agent import ObsSpec
        from policies.drqv2.config import AgentConfig
        from policies.drqv2.fast import build_agent
        from policies.export import export_policy

        contract = contract_for_env(EnvConfig(stage=0))  # the deployable start `run` accepts
        spec = ObsSpec(contract.image.stacked_shape, contract.low_dim_size, 1, contract.action.size)
        agent = build_agent(spec, AgentConfig(), device="cpu", seed=0)
        agent.train(False)
        return export_policy(agent.policy, contract, path).path

    def close(self) -> None:
        self.twin.stop()
        self.tmp.cleanup()

    # -- the command ---------------------------------------------------------------------------------------
    def out(self, name: str) -> Path:
        return self.dir / "runs" / name

    def args(self, out: Path, *extra: str, policy: Path | None = None) -> list[str]:
        t = self.twin
        return [
            str(SO101), "run", "--policy", str(policy or self.policy), "--port", t.port, "--camera", t.camera_url,
            "--calibration", str(t.calibration_path), "--twin", t.control_url, "--start-pose", "hold", "--yes",
            "--out", str(out), *extra,
        ]  # fmt: skip

    def invoke(self, args: list[str], timeout_s: float = 120, stdin: int | None = subprocess.DEVNULL):
        """Run to the end: (exit code, combined output)."""
        proc = subprocess.run(
            args, stdin=stdin, capture_output=True, text=True, timeout=timeout_s, env=_env()
        )
        return proc.returncode, proc.stdout + proc.stderr

    def start(self, out: Path, *extra: str) -> subprocess.Popen:
        """A `so101 run` process, returned once it drives the arm (torque on everywhere, goals flowing)."""
        from so101_deploy.hardware.tables import Instruction

        proc = subprocess.Popen(
            self.args(out, "--max-steps", "5000", *extra),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(),
        )  # fmt: skip
        emulator = self.twin.emulator
        writes = emulator.count(Instruction.SYNC_WRITE)
        deadline = time.monotonic() + 120
        while emulator.count(Instruction.SYNC_WRITE) < writes + 20 or not all(self.torque().values()):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"`so101 run` never drove the twin: {proc.communicate()[0][-500:]}")
            time.sleep(0.05)
        return proc

    @staticmethod
    def signal_until_exit(
        proc: subprocess.Popen, signals: list[int], every_s: float, limit_s: float = 60
    ) -> float:
        t0 = time.monotonic()
        for i in range(int(limit_s / every_s)):
            if proc.poll() is not None:
                break
            proc.send_signal(signals[i % len(signals)])
            time.sleep(every_s)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        return time.monotonic() - t0

    # -- ground truth --------------------------------------------------------------------------------------
    def torque(self) -> dict[str, bool]:
        return self.twin.torque_enabled()

    def torque_off(self, except_: tuple[str, ...] = ()) -> bool:
        return not any(on for name, on in self.torque().items() if name not in except_)

    def reset(self) -> None:
        """Every servo answering, torque off, no fault: the next case starts from a quiet arm."""
        self.twin.emulator.faults.missing.clear()
        self.twin.emulator.faults.error_bits.clear()
        for servo in self.twin.emulator.servos:
            servo.poke("Torque_Enable", 0)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "400", "OMP_NUM_THREADS": "1"}


def rig() -> TwinRig:
    global _RIG
    if _RIG is None:
        _RIG = TwinRig()
        atexit.register(_RIG.close)
    _RIG.reset()
    return _RIG


def one_clear_line(output: str, *needles: str) -> bool:
    """The user got a named, traceback-free message containing every needle."""
    flat = " ".join(output.split())
    return "Traceback" not in output and all(n in flat for n in needles)
