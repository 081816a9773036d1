"""benchmarks/compare_algorithms.py --task-from: every algorithm judged on one task, each learning its own way.

The comparison is only fair if the presets' episode length and randomisation (what evaluation runs) are the
reference preset's, while what an algorithm learns with (image, frame stack, curriculum starts) stays its own."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from common.config import to_dict

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import compare_algorithms as ca  # noqa: E402


@pytest.mark.parametrize("preset", ["default", "distill_cpu", "sac_lift_image"])
def test_task_overrides_give_every_preset_the_reference_task_and_keep_its_recipe(preset):
    overrides = ca.task_overrides(preset, "cpu")
    assert overrides, f"{preset} already had cpu's task: the test no longer shows anything"
    _, own = ca.preset_config(preset)
    _, moved = ca.preset_config(preset, overrides)
    _, reference = ca.preset_config("cpu")
    assert ca.task_leaves(to_dict(moved)) == ca.task_leaves(to_dict(reference))
    assert ca.describe(preset, overrides)["task"] == ca.describe("cpu", [])["task"]
    for key in ("image_size", "frame_stack", "stage_mix", "render_size"):
        assert getattr(moved.env, key) == getattr(own.env, key), key


def test_the_reference_preset_needs_no_override():
    assert ca.task_overrides("cpu", "cpu") == []


def test_task_keys_cover_the_randomisation_and_episode_length_but_not_the_image():
    leaves = ca.task_leaves(to_dict(ca.preset_config("cpu")[1]))
    assert "env.episode_steps" in leaves
    assert any(k.startswith("env.randomization.latency.") for k in leaves)
    assert not any(k.startswith(("env.image_size", "env.frame_stack", "env.stage_mix")) for k in leaves)
