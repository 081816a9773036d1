"""The Squint-style visual SAC: its C51 projection by hand, its updates (fp32 and bf16), and the commands
(train -> eval -> export) run on it without naming it."""

import json

import sim  # noqa: F401  (headless GL before mujoco)

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from policies.drqv2.agent import ObsSpec
from policies.export import torch_actions
from policies.onnx_policy import OnnxPolicy
from policies.squint.agent import SquintAgent, project_distribution
from policies.squint.checkpoint import load_agent
from policies.squint.config import AgentConfig

SPEC = ObsSpec(rgb_shape=(3, 16, 16), low_dim=6, privileged=10, action_dim=4)
TINY_RUN = [
    "num_train_frames=120", "num_seed_frames=40", "update_every_frames=20", "num_train_envs=1",
    "replay_capacity=500", "eval_every_frames=1000000", "num_eval_episodes=1", "eval_video=false",
    "checkpoint_every_frames=1000000", "log_every_frames=40", "tensorboard=false", "progress=false",
    "agent.batch_size=16", "agent.hidden_dim=32", "env.episode_steps=20",
    "demo_episodes=0", "demo_ratio=0",  # 10-step episodes are too short for the expert to lift in
]  # fmt: skip


def test_projection_matches_hand_computed_distributions():
    support = torch.tensor([0.0, 1.0, 2.0])
    probs = torch.tensor([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.0, 0.5], [0.2, 0.3, 0.5]])
    reward = torch.tensor([[0.5], [0.5], [5.0], [1.0]])
    discount = torch.tensor([[1.0], [0.0], [0.5], [1.0]])
    out = project_distribution(probs, reward, discount, support)
    expected = torch.tensor([
        [0.0, 0.5, 0.5],  # atom 1 -> 1.5: half to 1, half to 2
        [0.5, 0.5, 0.0],  # terminal: everything at the reward 0.5
        [0.0, 0.0, 1.0],  # beyond v_max: clamped onto the last atom
        [0.0, 0.2, 0.8],  # shifted by one atom; 2 -> 3 clamps onto 2 (0.3 + 0.5)
    ])  # fmt: skip
    torch.testing.assert_close(out, expected)
    # an atom landing exactly on a support point keeps all its mass there (the lower == upper case)
    exact = project_distribution(
        torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[2.0]]), torch.ones(1, 1), support
    )
    torch.testing.assert_close(exact, torch.tensor([[0.0, 0.0, 1.0]]))
    # the preset's support, where (v_max - v_min) / delta rounds to 100.0000076 in fp32: a return beyond v_max
    # once indexed atom 101 of 101 and crashed a training run
    wide = torch.linspace(-10.0, 200.0, 101)
    beyond = project_distribution(
        torch.full((2, 101), 1 / 101), torch.tensor([[500.0], [-300.0]]), torch.ones(2, 1), wide
    )
    torch.testing.assert_close(beyond[:, [0, -1]], torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    torch.testing.assert_close(beyond.sum(1), torch.ones(2))


def _batch(n: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)

    def obs():
        return {
            "rgb": torch.randint(0, 256, (n, 3, 16, 16), dtype=torch.uint8, generator=g),
            "low_dim_state": torch.randn(n, 6, generator=g),
            "privileged_state": torch.randn(n, 10, generator=g),
        }

    return {
        "obs": obs(), "next_obs": obs(), "action": torch.rand(n, 4, generator=g) * 2 - 1,
        "reward": torch.rand(n, 1, generator=g) * 10, "discount": torch.full((n, 1), 0.9),
    }  # fmt: skip


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_updates_move_every_network_and_the_temperature(precision):
    agent = SquintAgent(SPEC, AgentConfig(batch_size=64, hidden_dim=64, precision=precision), seed=0)
    before = {name: [p.detach().clone() for p in getattr(agent, name).parameters()]
              for name in ("encoder", "actor", "critic", "critic_target")}  # fmt: skip
    alpha = float(agent.alpha)
    for step in range(3):
        metrics = agent.update(_batch(64, seed=step), frame=0)
    assert all(np.isfinite(v) for v in metrics.values()), metrics
    for name, params in before.items():
        now = list(getattr(agent, name).parameters())
        assert any(not torch.equal(a, b) for a, b in zip(params, now, strict=True)), f"{name} did not move"
    assert float(agent.alpha) != alpha
    # the C51 loss is a cross-entropy over 101 atoms for each of 2 heads: near 2 * log(101) at the start
    assert 0.5 * 2 * np.log(101) < metrics["critic_loss"] < 1.5 * 2 * np.log(101)


def test_bf16_critic_loss_is_within_a_few_percent_of_fp32():
    """Same weights, same batch, same random draws: only the precision of the networks' forward differs. The
    critics' output layers are scaled up first: at init the logits are near 0 and any network gives a loss near
    2 log(101), which would hide a wrong bf16 path."""
    batch = _batch(256, seed=1)
    trained = SquintAgent(SPEC, AgentConfig(precision="fp32"), seed=3)
    with torch.no_grad():
        for critic in (trained.critic, trained.critic_target):
            for head in critic.heads:
                head[-1].weight.mul_(30.0)
    losses = {}
    for precision in ("fp32", "bf16"):
        agent = SquintAgent(SPEC, AgentConfig(precision=precision), seed=3)
        agent.load_state_dict(trained.state_dict())
        agent.generator.manual_seed(7)
        with torch.no_grad():
            loss, _, _ = agent.critic_loss(batch)
        losses[precision] = float(loss)
    assert losses["fp32"] > 1.5 * 2 * np.log(101), losses  # away from the uniform distribution's loss
    assert abs(losses["bf16"] - losses["fp32"]) / losses["fp32"] < 0.03, losses


def test_the_averaged_policy_trails_the_online_one_by_tau_and_is_what_evaluation_runs():
    cfg = AgentConfig(batch_size=32, hidden_dim=32, precision="fp32", policy_average_tau=0.25)
    agent = SquintAgent(SPEC, cfg, seed=0)
    start = [p.detach().clone() for p in agent.averaged_policy.parameters()]
    agent.update(_batch(32), frame=0)
    pairs = zip(start, agent.policy.parameters(), agent.averaged_policy.parameters(), strict=True)
    moved = False
    for before, online, averaged in pairs:
        torch.testing.assert_close(averaged, before + 0.25 * (online.detach() - before))
        moved |= not torch.equal(online.detach(), before)
    assert moved and agent.deployed_policy is agent.averaged_policy and not agent.averaged_policy.training

    batch = _batch(4, seed=9)["obs"]
    obs = {k: v.numpy() for k, v in batch.items()}
    with torch.no_grad():
        averaged = agent.averaged_policy(batch["rgb"], batch["low_dim_state"]).numpy()
        online = agent.policy(batch["rgb"], batch["low_dim_state"]).numpy()
    np.testing.assert_allclose(agent.act(obs, 0, eval_mode=True), averaged, atol=1e-6)
    assert not np.allclose(averaged, online, atol=1e-4)

    restored = SquintAgent(SPEC, cfg, seed=5)
    restored.load_state_dict(agent.state_dict())
    for a, b in zip(agent.averaged_policy.parameters(), restored.averaged_policy.parameters(), strict=True):
        assert torch.equal(a, b)
    # a checkpoint saved without averaging starts the average at its online policy
    plain = SquintAgent(SPEC, AgentConfig(batch_size=32, hidden_dim=32, precision="fp32"), seed=0)
    assert plain.averaged_policy is None and plain.deployed_policy is plain.policy
    restored.load_state_dict(plain.state_dict())
    for a, b in zip(plain.policy.parameters(), restored.averaged_policy.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.fixture(scope="module")
def squint_run(tmp_path_factory):
    from so101_deploy.cli import app

    run_dir = tmp_path_factory.mktemp("runs") / "squint"
    args = ["train", "--preset", "cpu", f"run_dir={run_dir}", *TINY_RUN]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return run_dir


def test_train_eval_export_run_on_a_squint_checkpoint(squint_run, tmp_path):
    from so101_deploy.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["eval", str(squint_run), "-n", "1", "--json"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["episodes"] == 1 and summary["mean_length"] == 10  # 20 control steps at action_repeat 2

    out = tmp_path / "policy.onnx"
    result = runner.invoke(app, ["export", str(squint_run), "-o", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    policy = OnnxPolicy(out)
    assert policy.contract.image.size == 16 and policy.contract.image.frame_stack == 1

    agent, _, _ = load_agent(squint_run)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 3, 16, 16), dtype=np.uint8)
    low = rng.normal(size=(5, 6)).astype(np.float32)
    torch_out = torch_actions(agent.deployed_policy, rgb, low)
    np.testing.assert_allclose(policy.run(rgb, low), torch_out, atol=1e-5)
    assert np.all(np.abs(torch_out) <= 1.0)
