"""The contract: what its image crop means, its JSON form, and the values a runtime accepts. (Applying it to
frames: tests/test_policy_io.py.)"""

import dataclasses

from sim.config import EnvConfig

import pytest

from policies.contract import ContractError, ImageSpec, PolicyContract, contract_for_env, crop_box


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
    with pytest.raises(ContractError, match="version 3 is not supported"):
        PolicyContract.from_json(contract.to_json().replace('"version": 2', '"version": 3'))
    with pytest.raises(ContractError, match="not valid JSON"):
        PolicyContract.from_json("{nope")


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"action_type": "joint_delta"},
        {"include_prev_action": True, "action_sequence": 3, "action_repeat": 1},
    ],
)
def test_contracts_the_sim_writes_pass_the_runtime_checks(changes):
    contract_for_env(dataclasses.replace(EnvConfig(), **changes)).validate()


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("crop_fov_ratio", float("nan"), "image.crop_fov_ratio is nan"),
        ("frame_stack", True, "image.frame_stack is True"),
        ("size", "84", "image.size is '84'"),
    ],
)
def test_validate_refuses_values_that_are_not_finite_numbers_in_range(field, value, says):
    contract = PolicyContract(image=dataclasses.replace(ImageSpec(), **{field: value}))
    with pytest.raises(ContractError, match=says.replace("(", r"\(")):
        contract.validate()
