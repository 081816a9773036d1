"""ONNX policy latency for the default DrQ-v2 network (84x84, 3 stacked frames) on one CPU thread,
against the torch actor in the same run.

    python benchmarks/policy_latency.py [--iters 500]

Goal on the 2-core dev machine: ONNX p99 <= 2 ms. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import sim  # noqa: F401

import numpy as np
import torch

from policies.contract import PolicyContract, contract_for_env
from policies.drqv2.agent import ObsSpec
from policies.drqv2.config import TrainConfig
from policies.drqv2.fast import build_agent
from policies.export import export_policy
from policies.onnx_policy import OnnxPolicy


def _times(fn, iters: int, warmup: int = 30) -> np.ndarray:
    for _ in range(warmup):
        fn()
    out = np.empty(iters)
    for i in range(iters):
        t0 = time.perf_counter()
        fn()
        out[i] = (time.perf_counter() - t0) * 1e3
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=500)
    args = parser.parse_args()

    cfg = TrainConfig()  # the `default` preset's network sizes
    contract: PolicyContract = contract_for_env(cfg.env)
    spec = ObsSpec(
        rgb_shape=contract.image.stacked_shape,
        low_dim=contract.low_dim_size,
        privileged=1,
        action_dim=contract.action.size * contract.action.chunk_length,
    )
    agent = build_agent(spec, cfg.agent, device="cpu", seed=0)
    agent.train(False)
    torch.set_num_threads(1)

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    low = rng.normal(size=contract.low_dim_size).astype(np.float32)
    stacked = np.concatenate([rng.integers(0, 256, (3, 84, 84), dtype=np.uint8)] * 3)[None]

    with tempfile.TemporaryDirectory() as tmp:
        result = export_policy(agent.policy, contract, Path(tmp) / "policy.onnx")
        policy = OnnxPolicy(result.path)  # one intra-op thread by default
        onnx_ms = _times(lambda: policy.run(stacked, low[None]), args.iters)
        act_ms = _times(lambda: policy.act(frame, low), args.iters)

    rgb_t, low_t = torch.as_tensor(stacked), torch.as_tensor(low[None])

    def torch_call():
        with torch.inference_mode():
            agent.policy(rgb_t, low_t)

    torch_ms = _times(torch_call, args.iters)

    def stats(x):
        return {"p50": round(float(np.percentile(x, 50)), 3), "p99": round(float(np.percentile(x, 99)), 3)}

    summary = {
        "onnx_ms": stats(onnx_ms),
        "onnx_act_from_640x480_ms": stats(act_ms),
        "torch_ms": stats(torch_ms),
        "ratio_torch_over_onnx_p50": round(
            float(np.percentile(torch_ms, 50) / np.percentile(onnx_ms, 50)), 2
        ),
        "threads": 1,
        "model_mb": round(result.size_bytes / 1e6, 2),
        "goal_onnx_p99_ms": 2.0,
    }
    print(
        f"ONNX (1 thread)          p50 {summary['onnx_ms']['p50']:.3f} ms   p99 {summary['onnx_ms']['p99']:.3f} ms"
    )
    print(
        f"ONNX act() from 640x480  p50 {summary['onnx_act_from_640x480_ms']['p50']:.3f} ms   "
        f"p99 {summary['onnx_act_from_640x480_ms']['p99']:.3f} ms  (preprocess + stack + inference)"
    )
    print(
        f"torch actor (1 thread)   p50 {summary['torch_ms']['p50']:.3f} ms   p99 {summary['torch_ms']['p99']:.3f} ms"
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
