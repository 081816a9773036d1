"""Run an exported policy with onnxruntime: the deploy-side twin of the torch actor (no torch imported).

The file is self-describing: its metadata holds the contract it was trained under. Loading validates that
contract against the graph's own inputs and outputs, so a file that would be fed the wrong thing is refused
before it can move an arm.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from policies.contract import METADATA_KEY, ContractError, PolicyContract
from policies.io import ActionSchedule, FramePipeline

# Before the first import: onnxruntime otherwise writes a device id and an event database under
# ~/.cache/Microsoft/DeveloperTools on import, on every policy load. A value set by the user is kept.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
import onnxruntime as ort  # noqa: E402

ort.disable_telemetry_events()

INPUT_RGB = "rgb"
INPUT_LOW_DIM = "low_dim"
OUTPUT_ACTION = "action"


class PolicyLoadError(ContractError):
    """The policy file cannot be used; the message names the problem in one line."""


@dataclass(frozen=True)
class OnnxPolicyConfig:
    intra_op_threads: int = 1  # one thread: predictable latency beside the control loop and the camera thread
    providers: tuple[str, ...] = ("CPUExecutionProvider",)


def _dims(shape: list) -> list[int | None]:
    return [d if isinstance(d, int) else None for d in shape]


class OnnxPolicy:
    """Loads ``policy.onnx`` and runs it: on stacked inputs (``run``), or on a raw frame through its own
    ``policies.io.FramePipeline`` (``act``)."""

    def __init__(self, path: str | Path, config: OnnxPolicyConfig | None = None):
        self.path = Path(path)
        self.config = config or OnnxPolicyConfig()
        self.session = self._open_session()
        self.contract = self._read_contract()
        self._validate_graph()
        # act()'s own frame stack; a control loop keeps its inputs in a policies.io.PolicyIO instead.
        self.frames = FramePipeline(self.contract.image)
        self._schedule = ActionSchedule.from_spec(self.contract.action)

    # -- loading ---------------------------------------------------------------------------------------
    def _open_session(self) -> ort.InferenceSession:
        if not self.path.is_file():
            raise PolicyLoadError(f"{self.path}: no such policy file")
        data = self.path.read_bytes()
        if not data:
            raise PolicyLoadError(f"{self.path}: file is empty")
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.config.intra_op_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            return ort.InferenceSession(data, sess_options=options, providers=list(self.config.providers))
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises many private types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise PolicyLoadError(
                f"{self.path}: not a loadable ONNX model (truncated or not ONNX?): {first[:200]}"
            ) from None

    def _read_contract(self) -> PolicyContract:
        meta = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in meta:
            raise PolicyLoadError(
                f"{self.path}: ONNX model carries no '{METADATA_KEY}' contract; export it with `so101 export`"
            )
        try:
            contract = PolicyContract.from_json(meta[METADATA_KEY])
            contract.validate()  # a field no runtime honours is refused at load, before anything can move
            return contract
        except ContractError as exc:
            raise PolicyLoadError(f"{self.path}: {exc}") from None

    def _validate_graph(self) -> None:
        c = self.contract
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = {o.name: o for o in self.session.get_outputs()}
        expected_in = {INPUT_RGB: [None, *c.image.stacked_shape], INPUT_LOW_DIM: [None, c.low_dim_size]}
        for name, want in expected_in.items():
            if name not in inputs:
                raise PolicyLoadError(f"{self.path}: graph has no input '{name}' (inputs: {sorted(inputs)})")
            got = _dims(inputs[name].shape)
            if len(got) != len(want) or any(
                w is not None and g != w for g, w in zip(got, want, strict=False)
            ):
                raise PolicyLoadError(
                    f"{self.path}: input '{name}' has shape {inputs[name].shape} but the contract says {want}"
                )
        if inputs[INPUT_RGB].type != "tensor(uint8)":
            raise PolicyLoadError(
                f"{self.path}: input 'rgb' is {inputs[INPUT_RGB].type}; the contract feeds uint8 "
                "(normalisation belongs inside the model)"
            )
        if OUTPUT_ACTION not in outputs:
            raise PolicyLoadError(f"{self.path}: graph has no output 'action' (outputs: {sorted(outputs)})")
        action_dim = c.action.size * c.action.chunk_length
        got = _dims(outputs[OUTPUT_ACTION].shape)
        if len(got) != 2 or (got[1] is not None and got[1] != action_dim):
            raise PolicyLoadError(
                f"{self.path}: output 'action' has shape {outputs[OUTPUT_ACTION].shape}, contract says "
                f"[batch, {action_dim}]"
            )

    # -- inference -------------------------------------------------------------------------------------
    def run(self, rgb_stack: np.ndarray, low_dim: np.ndarray) -> np.ndarray:
        """Raw graph call on already stacked inputs: (B, 3k, S, S) uint8, (B, D) float32 -> (B, A*chunk)."""
        out = self.session.run(
            [OUTPUT_ACTION],
            {
                INPUT_RGB: np.ascontiguousarray(rgb_stack, dtype=np.uint8),
                INPUT_LOW_DIM: low_dim.astype(np.float32),
            },
        )
        return out[0]

    def preprocess(self, frame: np.ndarray) -> np.ndarray:
        return self.frames.view(frame)

    def reset(self) -> None:
        """Start a new episode: the next frame fills every stack slot, as the sim does at reset."""
        self.frames.reset()

    def act(self, frame: np.ndarray, low_dim: np.ndarray) -> np.ndarray:
        """One policy decision from a raw RGB frame (any size) and a built low-dim vector (the ONNX evaluator's
        call; a control loop keeps its inputs and action schedule in a ``policies.io.PolicyIO`` and calls run).

        Returns the action chunk as (chunk_length, action.size), values in [-1, 1].
        """
        stacked = self.frames(frame)
        action = self.run(stacked[None], np.asarray(low_dim, np.float32)[None])[0]
        return self._schedule.split(action)
