"""Control-loop timing of `so101 run` on the twin at 10 Hz and 30 Hz.

    python benchmarks/control_loop.py [--seconds 10]

For each rate: loop-period jitter |period - 1/rate| p99 (goal <= 2 ms), frame-to-command compute time p99
(preprocess + inference + controller + safety; goal <= 5 ms), and the policy inference time alone, all from
the same run's telemetry. The policy is the default DrQ-v2 network (84x84, 3 frames), untrained: timing does
not depend on the weights. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from sim.config import EnvConfig

import numpy as np

from policies.contract import contract_for_env
from policies.drqv2.agent import ObsSpec
from policies.drqv2.config import AgentConfig
from policies.drqv2.fast import build_agent
from policies.export import export_policy
from so101_deploy.runtime.judges import TwinJudge
from so101_deploy.runtime.loop import RunConfig, Runner


def policy_for_rate(hz: float, path: Path) -> Path:
    contract = contract_for_env(dataclasses.replace(EnvConfig(), control_hz=hz))
    spec = ObsSpec(contract.image.stacked_shape, contract.low_dim_size, 1, contract.action.size)
    agent = build_agent(spec, AgentConfig(), device="cpu", seed=0)
    agent.train(False)
    return export_policy(agent.policy, contract, path).path


def measure(hz: float, seconds: float, tmp: Path) -> dict:
    policy = policy_for_rate(hz, tmp / f"policy_{hz:g}hz.onnx")
    # The twin runs in its own process, as the arm and camera are separate from the host's Python.
    twin = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "so101_deploy.cli",
            "twin",
            "--json",
            "--fps",
            "30",
            "--out-dir",
            str(tmp / "twin"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        info = json.loads(twin.stdout.readline())
        out = tmp / f"run_{hz:g}hz"
        config = RunConfig(
            policy=str(policy), port=info["port"], camera=info["camera_url"], calibration=info["calibration"],
            max_steps=int(hz * seconds), start_pose="hold", out_dir=str(out), packet_timeout_ms=50.0,
        )  # fmt: skip
        result = Runner(config, judge=TwinJudge(info["control_url"]), log=lambda _: None).run()
    finally:
        twin.send_signal(signal.SIGINT)
        twin.wait(timeout=30)
    if result.exit_code:
        raise SystemExit(f"run at {hz} Hz failed: {result.reason}")
    ticks = [json.loads(line) for line in (out / "ticks.jsonl").read_text().splitlines()]
    period = np.array([t["period_ms"] for t in ticks[1:]])
    compute = np.array([t["compute_ms"] for t in ticks if t["compute_ms"] == t["compute_ms"]])
    infer = np.array([t["inference_ms"] for t in ticks if t["inference_ms"] == t["inference_ms"]])
    jitter = np.abs(period - 1000.0 / hz)
    return {
        "hz": hz,
        "ticks": len(ticks),
        "jitter_p99_ms": round(float(np.percentile(jitter, 99)), 3),
        "period_p50_ms": round(float(np.percentile(period, 50)), 3),
        "compute_p50_ms": round(float(np.percentile(compute, 50)), 3),
        "compute_p99_ms": round(float(np.percentile(compute, 99)), 3),
        "inference_p50_ms": round(float(np.percentile(infer, 50)), 3),
        "inference_p99_ms": round(float(np.percentile(infer, 99)), 3),
        "bus_read_p99_ms": round(float(np.percentile([t["bus_read_ms"] for t in ticks], 99)), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for hz in (10.0, 30.0):
            row = measure(hz, args.seconds, Path(tmp))
            rows.append(row)
            print(
                f"{hz:>4.0f} Hz: jitter p99 {row['jitter_p99_ms']:.2f} ms (goal 2) | compute p50/p99 "
                f"{row['compute_p50_ms']:.2f}/{row['compute_p99_ms']:.2f} ms (goal p99 5) | inference alone "
                f"p50/p99 {row['inference_p50_ms']:.2f}/{row['inference_p99_ms']:.2f} ms | {row['ticks']} ticks"
            )
    print(json.dumps({"rates": rows, "goal_jitter_p99_ms": 2.0, "goal_compute_p99_ms": 5.0}))


if __name__ == "__main__":
    main()
