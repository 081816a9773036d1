"""Loading a policy writes nothing under the user's home: onnxruntime's telemetry is switched off."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_loading_a_policy_writes_no_telemetry_under_home(tmp_path):
    """On main `import onnxruntime` (through policies.onnx_policy) created ~/.cache/Microsoft/DeveloperTools/
    .onnxruntime/{deviceid,onnxruntime.db} on every policy load."""
    home = tmp_path / "home"
    home.mkdir()
    code = textwrap.dedent(
        """
        import onnx
        from onnx import TensorProto, helper

        import policies.onnx_policy as onnx_policy

        graph = helper.make_graph(
            [helper.make_node("Identity", ["x"], ["y"])], "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        onnx_policy.ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CACHE_HOME", "ORT_DISABLE_TELEMETRY")}
    env |= {"HOME": str(home), "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.relative_to(home).as_posix() for p in home.rglob("*")) == []
