"""`so101 eval --policy` (the runtime's calls in the sim) and `--twin` (twin + so101 run), plus held-out
perturbations applied to the twin's world."""

import json

from sim.heldout import heldout_perturbations

import numpy as np
from typer.testing import CliRunner

from so101_deploy.cli import app
from so101_deploy.twin.world import TwinWorld

runner = CliRunner()


def test_eval_onnx_policy_in_sim_and_on_the_twin_with_heldout_perturbations(smoke_policy):
    args = ["eval", "--policy", str(smoke_policy), "-n", "2", "env.episode_steps=20"]
    result = runner.invoke(app, [*args, "--twin", "--perturb", "heldout", "--max-steps", "20", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["sim"]["episodes"] == 2 and summary["sim"]["lengths"] == [10, 10]  # 20 ticks, repeat 2
    assert summary["twin"]["episodes"] == 2 and summary["twin"]["exit_code"] == 0
    assert summary["twin"]["perturb"] == "heldout"
    assert summary["gap"] == summary["sim"]["success_rate"] - summary["twin"]["success_rate"]


def test_eval_bad_input_exit_code_2(smoke_policy, tmp_path):
    both = runner.invoke(app, ["eval", str(tmp_path), "--policy", str(smoke_policy)])
    assert both.exit_code == 2 and "one of them" in both.output
    bogus = runner.invoke(app, ["eval", "--policy", str(smoke_policy), "--perturb", "fog"])
    assert bogus.exit_code == 2 and "'none' or 'heldout'" in bogus.output
    missing = runner.invoke(app, ["eval", "--policy", str(tmp_path / "nope.onnx")])
    assert missing.exit_code == 2 and "no such policy file" in missing.output


def test_heldout_perturbation_changes_the_twin_camera_not_the_arm_and_can_be_undone():
    world = TwinWorld()
    try:
        q = world.joint_positions()
        nominal = world.render_camera().astype(int)
        world.perturb(heldout_perturbations()[5])
        changed = world.render_camera().astype(int)
        assert np.abs(changed - nominal).mean() > 10  # other lighting, table and camera mount
        assert world.perturbations.latency_ms > 100 and world.perturbations.backlash_deg > 0
        np.testing.assert_array_equal(world.joint_positions(), q)
        world.perturb({"lighting": {}, "camera_offset": [0.0] * 6})
        assert np.abs(world.render_camera().astype(int) - nominal).mean() < 0.05
    finally:
        world.close_renderer()


def test_checkpoint_eval_judges_the_task_it_trained_on_without_its_randomisation(smoke_run, tmp_path):
    """The ONNX contract does not carry the task: a stage-2 checkpoint must not be judged on stage 3."""
    import torch

    from so101_deploy.commands.eval import _trained_task

    run_dir, _ = smoke_run
    payload = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    payload["config"]["env"]["stage"] = 2
    payload["config"]["env"]["episode_steps"] = 20
    payload["config"]["env"]["randomization"]["lighting"]["enabled"] = True
    torch.save(payload, tmp_path / "checkpoint.pt")
    task = _trained_task(tmp_path / "checkpoint.pt")
    assert (task.stage, task.episode_steps) == (2, 20)
    assert not task.randomization.lighting.enabled
    args = ["eval", str(tmp_path / "checkpoint.pt"), "-n", "1", "--twin", "--max-steps", "4", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["stage"] == 2 and summary["sim"]["lengths"] == [10]  # 20 ticks at action repeat 2
