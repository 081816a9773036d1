"""Parity between the torch actor and the exported ONNX policy on real sim episodes, and between the sim's
observation path and the runtime's (raw frame -> shared preprocessing -> frame stack)."""

import numpy as np
import onnx
import torch
from typer.testing import CliRunner

from policies.contract import METADATA_KEY, PolicyContract, contract_for_env
from policies.drqv2.checkpoint import load_agent
from policies.onnx_policy import OnnxPolicy
from policies.wrappers import make_env
from so101_deploy.cli import app

EPISODE_STEPS = 30


def _torch_action(agent, obs):
    with torch.no_grad():
        rgb = torch.as_tensor(obs["rgb"][None])
        low = torch.as_tensor(obs["low_dim_state"][None])
        return agent.policy(rgb, low).numpy()[0]


def test_contract_in_file_is_the_training_envs(smoke_run, smoke_policy):
    run_dir, _ = smoke_run
    _, cfg = load_agent(run_dir)
    meta = {p.key: p.value for p in onnx.load(str(smoke_policy)).metadata_props}
    contract = PolicyContract.from_json(meta[METADATA_KEY])
    expected = contract_for_env(cfg.env)
    assert contract.image == expected.image and contract.action == expected.action
    assert contract.low_dim == expected.low_dim and contract.arm_model_sha256 == expected.arm_model_sha256
    assert len(contract.train_config_hash) == 12 and contract.git_commit


def test_torch_and_onnx_agree_over_a_whole_episode(smoke_run, smoke_policy):
    run_dir, _ = smoke_run
    agent, cfg = load_agent(run_dir)
    agent.train(False)
    policy = OnnxPolicy(smoke_policy)
    env = make_env(cfg.env, seed=3)
    obs, _ = env.reset(seed=3)
    worst = 0.0
    for _ in range(EPISODE_STEPS):
        ours = _torch_action(agent, obs)
        theirs = policy.run(obs["rgb"][None], obs["low_dim_state"][None])[0]
        worst = max(worst, float(np.abs(ours - theirs).max()))
        obs, _, terminated, truncated, _ = env.step(ours)
        if terminated or truncated:
            break
    env.close()
    assert worst <= 1e-4, worst


def test_runtime_path_from_raw_frames_reproduces_the_sim_episode(smoke_run, smoke_policy):
    """Over one seeded episode, at every step: the torch actor on the sim's observation, and OnnxPolicy.act on
    the native frame a camera would deliver (the runtime's call: its own preprocessing and frame stack) give
    the same action. The episode is driven by the torch actions, so both always see the same world (driving
    two episodes apart would compare physics chaos, not the observation path)."""
    run_dir, _ = smoke_run
    agent, cfg = load_agent(run_dir)
    agent.train(False)
    policy = OnnxPolicy(smoke_policy)
    policy.reset()
    env = make_env(cfg.env, seed=5)
    obs, _ = env.reset(seed=5)
    raw = env.unwrapped
    sim_actions, runtime_actions = [], []
    for _ in range(EPISODE_STEPS):
        sim_actions.append(_torch_action(agent, obs))
        frame = raw.render_wrist()  # the native frame, as a camera would deliver it
        runtime_actions.append(policy.act(frame, obs["low_dim_state"]).reshape(-1))
        obs, _, terminated, truncated, _ = env.step(sim_actions[-1])
        if terminated or truncated:
            break
    env.close()
    assert len(sim_actions) > 5
    np.testing.assert_allclose(np.array(runtime_actions), np.array(sim_actions), atol=1e-4)


def test_export_cli_bad_input_exit_code_2(tmp_path):
    result = CliRunner().invoke(app, ["export", str(tmp_path / "missing"), "-o", str(tmp_path / "p.onnx")])
    assert result.exit_code == 2 and "no checkpoint" in result.output
