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


def export_checkpoint(checkpoint: str | Path, path: str | Path) -> ExportResult:
    """A training checkpoint of any registered algorithm -> ``policy.onnx`` carrying its full contract."""
    from policies import algos

    algorithm, _ = algos.open_checkpoint(checkpoint)
    module, contract = algorithm.exportable_actor(Path(checkpoint))
    return export_policy(module, contract, path)
