"""Export a deterministic actor to one ONNX file that carries its contract.

What goes into the graph is exactly what the policy needs at deployment and nothing else: uint8 pixels in (the
/255 - 0.5 normalisation is inside the graph, so nobody upstream can do it twice), the mean action out (tanh
applied, no exploration noise, no augmentation).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from common.atomic_file import atomic_path
from policies.contract import METADATA_KEY, PolicyContract
from policies.onnx_policy import INPUT_LOW_DIM, INPUT_RGB, OUTPUT_ACTION

OPSET = 17


@dataclass(frozen=True)
class ExportResult:
    path: Path
    size_bytes: int
    contract: PolicyContract


def export_policy(
    module: nn.Module, contract: PolicyContract, path: str | Path, opset: int = OPSET
) -> ExportResult:
    """Trace ``module(rgb_uint8, low_dim) -> action`` to ONNX, check it, embed the contract, write atomically.

    ``module`` must take the raw uint8 stack (B, 3k, S, S) and float32 low-dim (B, D) and return the
    deterministic action (B, A * chunk) in [-1, 1].
    """
    path = Path(path)
    module = module.eval().to("cpu")
    rgb = torch.zeros((1, *contract.image.stacked_shape), dtype=torch.uint8)
    low_dim = torch.zeros((1, contract.low_dim_size), dtype=torch.float32)
    with torch.no_grad():
        out = module(rgb, low_dim)
    want = contract.action.size * contract.action.chunk_length
    if tuple(out.shape) != (1, want):
        raise ValueError(f"actor returns shape {tuple(out.shape)}, contract expects (batch, {want})")

    with atomic_path(path) as tmp:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (rgb, low_dim),
                str(tmp),
                input_names=[INPUT_RGB, INPUT_LOW_DIM],
                output_names=[OUTPUT_ACTION],
                dynamic_axes={
                    INPUT_RGB: {0: "batch"},
                    INPUT_LOW_DIM: {0: "batch"},
                    OUTPUT_ACTION: {0: "batch"},
                },
                opset_version=opset,
                dynamo=False,
            )
        model = onnx.load(str(tmp))
        onnx.checker.check_model(model)
        entry = model.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, contract.to_json()
        model.producer_name = "so101-deploy"
        onnx.save(model, str(tmp))
    return ExportResult(path=path, size_bytes=path.stat().st_size, contract=contract)


def torch_actions(module: nn.Module, rgb: np.ndarray, low_dim: np.ndarray) -> np.ndarray:
    """Reference torch output for parity checks: same inputs as the ONNX graph."""
    with torch.no_grad():
        return module(
            torch.as_tensor(rgb, dtype=torch.uint8), torch.as_tensor(low_dim, dtype=torch.float32)
        ).numpy()


class CheckpointExportError(ValueError):
    """The checkpoint cannot be exported (e.g. a state-only policy); the message says why."""


def export_checkpoint(checkpoint: str | Path, path: str | Path) -> ExportResult:
    """A DrQ-v2 training checkpoint -> ``policy.onnx`` carrying its full contract (the `so101 export` command)."""
    import dataclasses
    import hashlib
    import json

    from policies.contract import contract_for_env
    from policies.drqv2.checkpoint import load_agent, load_checkpoint
    from policies.provenance import git_commit

    payload = load_checkpoint(checkpoint)
    if payload.get("algo") == "sac":  # the SB3 SAC baseline (policies/sb3_baseline.py)
        from policies.sb3_baseline import export_sac_checkpoint

        return export_sac_checkpoint(checkpoint, path)
    agent, cfg = load_agent(checkpoint)
    if agent.policy.encoder is None:
        raise CheckpointExportError(
            f"{checkpoint} is a state-based policy (env.obs=state): it reads privileged simulator state that the "
            "real arm does not have, so it cannot be deployed; train with env.obs=pixels"
        )
    contract = dataclasses.replace(
        contract_for_env(cfg.env),
        train_config_hash=hashlib.sha256(json.dumps(payload["config"], sort_keys=True).encode()).hexdigest()[
            :12
        ],
        git_commit=str(payload.get("git_commit") or git_commit()),
    )
    return export_policy(agent.policy, contract, path)
