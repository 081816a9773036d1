"""ONNX export and the onnxruntime policy on a small stand-in actor (the DrQ-v2 actor is tested end to end
in test_export_parity.py): contract in metadata, normalisation inside the graph, and every bad-input path."""

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from policies.contract import METADATA_KEY, ImageSpec, PolicyContract
from policies.export import export_policy, torch_actions
from policies.onnx_policy import OnnxPolicy, PolicyLoadError

CONTRACT = PolicyContract(image=ImageSpec(size=84, frame_stack=3))


class _TinyActor(nn.Module):
    """Same input/output convention as the real actor: uint8 stack in, tanh action out."""

    def __init__(self, low_dim: int = 6, action_dim: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(9, 8, 3, stride=4)
        self.head = nn.Linear(8 * 21 * 21 + low_dim, action_dim)

    def forward(self, rgb, low_dim):
        x = rgb.float() / 255.0 - 0.5
        return torch.tanh(self.head(torch.cat([torch.relu(self.conv(x)).flatten(1), low_dim], 1)))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    actor = _TinyActor()
    path = tmp_path_factory.mktemp("onnx") / "policy.onnx"
    result = export_policy(actor, CONTRACT, path)
    return actor, result


def test_export_writes_checked_model_with_contract(exported):
    _, result = exported
    model = onnx.load(str(result.path))
    onnx.checker.check_model(model)
    meta = {p.key: p.value for p in model.metadata_props}
    assert PolicyContract.from_json(meta[METADATA_KEY]) == CONTRACT
    assert model.opset_import[0].version >= 17
    assert result.size_bytes == result.path.stat().st_size > 0


def test_onnx_matches_torch_with_dynamic_batch(exported):
    actor, result = exported
    policy = OnnxPolicy(result.path)
    rng = np.random.default_rng(0)
    for batch in (1, 5):
        rgb = rng.integers(0, 256, (batch, 9, 84, 84), dtype=np.uint8)
        low = rng.normal(size=(batch, 6)).astype(np.float32)
        np.testing.assert_allclose(policy.run(rgb, low), torch_actions(actor, rgb, low), atol=1e-5)


def test_policy_act_preprocesses_and_stacks_raw_frames(exported):
    actor, result = exported
    policy = OnnxPolicy(result.path)
    frame = np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    low = np.zeros(6, np.float32)
    action = policy.act(frame, low)
    assert action.shape == (1, 4) and np.all(np.abs(action) <= 1)
    image = policy.preprocess(frame)
    stacked = np.concatenate([image] * 3)[None]
    np.testing.assert_allclose(action, torch_actions(actor, stacked, low[None]), atol=1e-5)


def test_missing_contract_is_refused(tmp_path, exported):
    _, result = exported
    model = onnx.load(str(result.path))
    del model.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(model, str(bare))
    with pytest.raises(PolicyLoadError, match="carries no 'so101_contract'"):
        OnnxPolicy(bare)


def test_unknown_contract_version_is_refused(tmp_path, exported):
    _, result = exported
    model = onnx.load(str(result.path))
    model.metadata_props[0].value = model.metadata_props[0].value.replace('"version": 2', '"version": 99')
    path = tmp_path / "v99.onnx"
    onnx.save(model, str(path))
    with pytest.raises(PolicyLoadError, match="version 99 is not supported"):
        OnnxPolicy(path)


def test_shape_mismatch_is_refused(tmp_path, exported):
    _, result = exported
    model = onnx.load(str(result.path))
    wrong = PolicyContract(image=ImageSpec(size=64, frame_stack=3))
    model.metadata_props[0].value = wrong.to_json()
    path = tmp_path / "wrong.onnx"
    onnx.save(model, str(path))
    with pytest.raises(PolicyLoadError, match="input 'rgb' has shape"):
        OnnxPolicy(path)


def test_not_onnx_and_truncated_files_are_refused(tmp_path, exported):
    _, result = exported
    text = tmp_path / "notes.onnx"
    text.write_text("hello, I am not a model")
    with pytest.raises(PolicyLoadError, match="not a loadable ONNX model"):
        OnnxPolicy(text)
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(result.path.read_bytes()[: result.size_bytes // 2])
    with pytest.raises(PolicyLoadError, match="not a loadable ONNX model"):
        OnnxPolicy(cut)
    with pytest.raises(PolicyLoadError, match="no such policy file"):
        OnnxPolicy(tmp_path / "absent.onnx")
