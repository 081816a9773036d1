"""DrQ-v2 agent: schedules, who trains what, asymmetric critic, state-only mode, checkpoints.

Behaviour tests run on both the plain agent (the paper as written) and the fast one the trainer builds; the
fast paths' equality with the plain maths is tested in test_drqv2_fast.py."""

import dataclasses

import numpy as np
import pytest
import torch

from policies.drqv2.agent import ObsSpec
from policies.drqv2.checkpoint import load_agent, save_checkpoint
from policies.drqv2.config import AgentConfig, TrainConfig
from policies.drqv2.fast import FastEncoder, build_agent
from policies.drqv2.networks import Encoder
from policies.drqv2.schedules import schedule
from policies.training.checkpoint import CheckpointError

SIZE = 20


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: a second OpenMP thread only adds barrier waits (and stalls badly on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SPEC = ObsSpec(rgb_shape=(9, SIZE, SIZE), low_dim=6, privileged=5, action_dim=4)
SMALL = AgentConfig(feature_dim=8, hidden_dim=32, batch_size=8, stddev_schedule="0.2")


def observations(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "rgb": rng.integers(0, 256, (n, *SPEC.rgb_shape), dtype=np.uint8),
        "low_dim_state": rng.standard_normal((n, SPEC.low_dim)).astype(np.float32),
        "privileged_state": rng.standard_normal((n, SPEC.privileged)).astype(np.float32),
    }


def batch(n: int = 8, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed + 100)
    to = lambda d: {k: torch.as_tensor(v) for k, v in d.items()}  # noqa: E731
    return {
        "obs": to(observations(n, seed)),
        "next_obs": to(observations(n, seed + 1)),
        "action": torch.as_tensor(rng.uniform(-1, 1, (n, SPEC.action_dim)).astype(np.float32)),
        "reward": torch.as_tensor(rng.uniform(0, 1, (n, 1)).astype(np.float32)),
        "discount": torch.full((n, 1), 0.97),
    }


def test_schedules_count_env_frames():
    spec = "linear(1.0,0.1,500000)"
    assert schedule(spec, 0) == 1.0
    assert schedule(spec, 250_000) == pytest.approx(0.55)
    assert schedule(spec, 500_000) == pytest.approx(0.1)
    assert schedule(spec, 2_000_000) == pytest.approx(0.1)
    assert schedule("0.2", 123) == 0.2
    two = "step_linear(1.0,0.5,100,0.1,100)"
    assert [schedule(two, f) for f in (0, 50, 100, 150, 200, 999)] == pytest.approx(
        [1.0, 0.75, 0.5, 0.3, 0.1, 0.1]
    )
    with pytest.raises(ValueError, match="linear"):
        schedule("cosine(1,0,10)", 0)


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "plain"])
def test_act_explores_with_scheduled_noise_and_evaluates_without_noise_or_augmentation(fast):
    cfg = dataclasses.replace(SMALL, stddev_schedule="linear(0.5,0.5,1)", fast=fast)
    agent = build_agent(SPEC, cfg, seed=0)
    obs = observations(512, 0)
    obs_one = {k: np.repeat(v[:1], 512, axis=0) for k, v in obs.items()}
    mean = agent.act(obs_one, frame=10_000, eval_mode=True)
    assert np.array_equal(mean, agent.act(obs_one, frame=10_000, eval_mode=True))  # no aug, no noise
    with torch.no_grad():
        direct = agent.policy(torch.as_tensor(obs["rgb"][:1]), torch.as_tensor(obs["low_dim_state"][:1]))
    np.testing.assert_allclose(mean[0], direct[0].numpy(), atol=1e-6)
    noisy = agent.act(obs_one, frame=10_000, eval_mode=False)
    assert np.abs(noisy).max() < 1.0
    inside = np.abs(mean[0]) < 0.5  # away from the clamp, the noise std is the schedule's 0.5
    assert inside.any()
    np.testing.assert_allclose((noisy - mean)[:, inside].std(axis=0), 0.5, rtol=0.15)


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "plain"])
def test_encoder_learns_through_the_critic_only_and_target_critic_moves_by_tau(fast):
    agent = build_agent(SPEC, dataclasses.replace(SMALL, fast=fast), seed=0)
    b = batch()
    target_before = [p.clone() for p in agent.critic_target.parameters()]
    encoder_before = [p.clone() for p in agent.encoder.parameters()]
    agent.update(b, frame=1000)
    assert any(not torch.equal(a, p) for a, p in zip(encoder_before, agent.encoder.parameters(), strict=True))
    tau = SMALL.critic_target_tau
    for old, new, online in zip(
        target_before, agent.critic_target.parameters(), agent.critic.parameters(), strict=True
    ):
        torch.testing.assert_close(new, (1 - tau) * old + tau * online)
    # the actor's step leaves encoder and critic alone; the fast path does not even compute critic gradients
    for module in (agent.encoder, agent.critic):
        module.zero_grad(set_to_none=True)
    critic_before = [p.clone() for p in agent.critic.parameters()]
    features = agent.encoder(b["obs"]["rgb"]).detach()
    agent.update_actor(features, b["obs"], std=0.2)
    assert all(p.grad is None for p in agent.encoder.parameters())
    assert all(torch.equal(a, p) for a, p in zip(critic_before, agent.critic.parameters(), strict=True))
    if fast:
        assert all(p.grad is None for p in agent.critic.parameters())


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "plain"])
def test_asymmetric_critic_reads_privileged_state_and_the_actor_never_does(fast):
    agent = build_agent(SPEC, dataclasses.replace(SMALL, asymmetric_critic=True, fast=fast), seed=0)
    b = batch()
    other = dict(b["obs"], privileged_state=b["obs"]["privileged_state"] + 5.0)
    with torch.no_grad():
        feats = agent.encoder(b["obs"]["rgb"])
        a1 = agent.actor(agent._actor_inputs(feats, b["obs"]))
        a2 = agent.actor(agent._actor_inputs(feats, other))
        q1 = agent.critic(agent._critic_inputs(feats, b["obs"]), b["action"])[0]
        q2 = agent.critic(agent._critic_inputs(feats, other), b["action"])[0]
    assert torch.equal(a1, a2)
    assert not torch.allclose(q1, q2)
    assert len(agent.critic.trunk.bottlenecks) == 3 and len(agent.actor.trunk.bottlenecks) == 2
    agent.update(b, frame=1000)


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "plain"])
def test_state_only_mode_has_no_encoder_and_learns_a_simple_target(fast):
    spec = ObsSpec(rgb_shape=None, low_dim=6, privileged=5, action_dim=4)
    agent = build_agent(spec, dataclasses.replace(SMALL, lr=1e-3, batch_size=32, fast=fast), seed=0)
    assert agent.encoder is None
    b = batch(32)
    b["obs"].pop("rgb"), b["next_obs"].pop("rgb")
    b["discount"] = torch.zeros(32, 1)  # one-step regression target: Q(s, a) -> r
    losses = [agent.update(b, frame=1000)["critic_loss"] for _ in range(150)]
    assert losses[-1] < 0.1 * losses[0]


def test_encoder_feature_order_is_saved_and_old_encoders_load_with_the_papers_order():
    """Features are flattened (H, W, C) (a free view of channels-last maps); an encoder saved before the order
    was recorded is (C, H, W) and must still compute what it computed then, in the paper's encoder and in the
    fast one in either memory layout."""
    torch.manual_seed(0)
    rgb = torch.randint(0, 256, (3, 9, 84, 84), dtype=torch.uint8)
    new = FastEncoder(9, 84, channels_last=True)
    features = new(rgb)
    state = new.state_dict()
    assert bool(state["hwc_features"])
    for make in (lambda: Encoder(9, 84), lambda: FastEncoder(9, 84, True), lambda: FastEncoder(9, 84, False)):
        same = make()
        same.load_state_dict(state)
        torch.testing.assert_close(same(rgb), features, rtol=1e-4, atol=1e-4)
        legacy = make()
        legacy.load_state_dict({k: v for k, v in state.items() if k != "hwc_features"})
        assert legacy.feature_order == "chw"
        chw = features.view(3, 35, 35, 32).permute(0, 3, 1, 2).reshape(3, -1)
        torch.testing.assert_close(legacy(rgb), chw, rtol=1e-4, atol=1e-4)


def test_checkpoint_round_trip_gives_identical_next_actions(tmp_path):
    cfg = TrainConfig(agent=SMALL, seed=3)
    agent = build_agent(SPEC, cfg.agent, seed=cfg.seed)
    agent.update(batch(), frame=1000)
    obs = observations(4, 7)
    path = save_checkpoint(tmp_path / "checkpoint.pt", agent, cfg, {"frame": 1000})
    assert not list(tmp_path.glob("*.tmp"))  # written atomically: no temp file left behind
    expected_explore = agent.act(obs, frame=1000, eval_mode=False)
    expected_update = agent.update(batch(seed=5), frame=1000)
    restored, restored_cfg = load_agent(path)
    assert restored_cfg == cfg
    np.testing.assert_array_equal(restored.act(obs, frame=1000, eval_mode=False), expected_explore)
    assert restored.update(batch(seed=5), frame=1000) == expected_update
    np.testing.assert_array_equal(restored.act(obs, 10_000, True), agent.act(obs, 10_000, True))


def test_checkpoint_loading_rejects_pickled_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must not run",))

    path = tmp_path / "checkpoint.pt"
    torch.save({"format_version": 1, "config": Evil()}, path)
    with pytest.raises(CheckpointError, match="is not a readable so101 checkpoint .*could run code"):
        load_agent(path)


def test_format_1_checkpoints_load_with_the_papers_feature_order_and_unknown_formats_are_refused(tmp_path):
    cfg = TrainConfig(agent=SMALL, seed=3)
    agent = build_agent(SPEC, cfg.agent, seed=cfg.seed)
    payload = torch.load(save_checkpoint(tmp_path / "new.pt", agent, cfg, {"frame": 0}), weights_only=True)
    assert payload["format_version"] == 2 and bool(payload["agent"]["encoder"]["hwc_features"])
    payload["format_version"] = 1  # as written before the encoder recorded its order
    del payload["agent"]["encoder"]["hwc_features"]
    torch.save(payload, tmp_path / "old.pt")
    old, _ = load_agent(tmp_path / "old.pt")
    assert old.encoder.feature_order == "chw"
    payload["format_version"] = 99
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(ValueError, match=r"format 99; this so101-deploy reads \[1, 2\]"):
        load_agent(tmp_path / "future.pt")
