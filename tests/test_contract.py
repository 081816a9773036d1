"""The contract and the one preprocessing function that sim and runtime share."""

import numpy as np
import pytest

from policies.contract import (
    ContractError,
    FrameStacker,
    ImageSpec,
    PolicyContract,
    crop_box,
    preprocess_frame,
)

SPEC = ImageSpec(size=84)


def _frame(h=84, w=84, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_native_sim_frame_passes_through_unchanged_as_chw():
    frame = _frame()
    out = preprocess_frame(frame, SPEC)
    assert out.shape == (3, 84, 84) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, frame.transpose(2, 0, 1))


def test_larger_4x3_camera_frame_gives_the_same_policy_input():
    """A 448x336 frame whose centred square is the sim frame upscaled 4x -> exactly the sim frame."""
    sim = _frame()
    big = np.zeros((336, 448, 3), np.uint8)
    big[:, 56 : 56 + 336] = np.repeat(np.repeat(sim, 4, axis=0), 4, axis=1)
    np.testing.assert_array_equal(preprocess_frame(big, SPEC), preprocess_frame(sim, SPEC))


def test_fov_ratio_crops_centre():
    spec = ImageSpec(size=42, crop_fov_ratio=0.5, interpolation="nearest")
    frame = _frame()
    top, left, h, w = crop_box(84, 84, spec)
    assert (top, left, h, w) == (21, 21, 42, 42)
    np.testing.assert_array_equal(preprocess_frame(frame, spec), frame[21:63, 21:63].transpose(2, 0, 1))


def test_crop_that_leaves_the_frame_is_an_error():
    with pytest.raises(ContractError, match="does not fit"):
        crop_box(84, 84, ImageSpec(crop_fov_ratio=0.5, crop_center=(0.1, 0.5)))


def test_prenormalised_or_single_channel_frames_are_refused():
    with pytest.raises(ContractError, match="uint8"):
        preprocess_frame(_frame().astype(np.float32) / 255.0, SPEC)
    with pytest.raises(ContractError, match="HxWx3"):
        preprocess_frame(np.zeros((84, 84), np.uint8), SPEC)


def test_frame_stacker_channel_axis_newest_last_reset_fills_first():
    stacker = FrameStacker(3)
    a, b, c = (np.full((3, 2, 2), v, np.uint8) for v in (1, 2, 3))
    first = stacker.reset(a)
    assert first.shape == (9, 2, 2) and set(np.unique(first)) == {1}
    stacker.push(b)
    out = stacker.push(c)
    assert [int(out[i * 3, 0, 0]) for i in range(3)] == [1, 2, 3]
    out = stacker.push(a)
    assert [int(out[i * 3, 0, 0]) for i in range(3)] == [2, 3, 1]


def test_contract_json_round_trip_and_version_check():
    contract = PolicyContract(reward_version="dense_v1", git_commit="abc")
    again = PolicyContract.from_json(contract.to_json())
    assert again == contract
    assert "fovy 60" in again.summary()
    with pytest.raises(ContractError, match="version 2"):
        PolicyContract.from_json(contract.to_json().replace('"version": 1', '"version": 2'))
    with pytest.raises(ContractError, match="not valid JSON"):
        PolicyContract.from_json("{nope")
