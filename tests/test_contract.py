"""The contract: what its image crop means, and its JSON form. (Applying it to frames: tests/test_policy_io.py.)"""

import pytest

from policies.contract import ContractError, ImageSpec, PolicyContract, crop_box


def test_fov_ratio_crop_box_is_centred():
    assert crop_box(84, 84, ImageSpec(size=42, crop_fov_ratio=0.5, interpolation="nearest")) == (
        21,
        21,
        42,
        42,
    )


def test_crop_that_leaves_the_frame_is_an_error():
    with pytest.raises(ContractError, match="does not fit"):
        crop_box(84, 84, ImageSpec(crop_fov_ratio=0.5, crop_center=(0.1, 0.5)))


def test_contract_json_round_trip_and_version_check():
    contract = PolicyContract(reward_version="dense_v1", git_commit="abc")
    again = PolicyContract.from_json(contract.to_json())
    assert again == contract
    assert "fovy 60" in again.summary()
    with pytest.raises(ContractError, match="version 2"):
        PolicyContract.from_json(contract.to_json().replace('"version": 1', '"version": 2'))
    with pytest.raises(ContractError, match="not valid JSON"):
        PolicyContract.from_json("{nope")
