"""DrQ-v2's speed paths (policies/drqv2/fast.py) compute the plain agent's maths: each is checked against
``DrQV2Agent`` (the paper as written) from the same seed and batch.

Tolerances: fp32 paths differ only by float rounding (summation order, folded normalisation, bilinear weights at
pixel centres), so gradients agree to a relative error of 1e-5 and parameters after an Adam step to 1e-5
(a tenth of the learning rate). bf16 rounds every matmul input to 8 significant bits: its gradients point the
same way (cosine >= 0.98) and its losses agree to 2%.
"""

import dataclasses

import numpy as np
import pytest
import torch

from policies.drqv2.agent import DrQV2Agent, ObsSpec
from policies.drqv2.checkpoint import load_agent, save_checkpoint
from policies.drqv2.config import AgentConfig, TrainConfig
from policies.drqv2.fast import FastDrQV2Agent, build_agent, shift_by_gather
from policies.drqv2.networks import draw_shifts, grid_sample_shift, random_shift

SIZE = 20
SPEC = ObsSpec(rgb_shape=(9, SIZE, SIZE), low_dim=6, privileged=5, action_dim=4)
STATE_SPEC = ObsSpec(rgb_shape=None, low_dim=6, privileged=5, action_dim=4)
SMALL = AgentConfig(feature_dim=8, hidden_dim=32, batch_size=8, stddev_schedule="0.5")
NO_DRAWS = {"aug_pad": 0, "stddev_clip": 0.0}  # shifts of 0 and noise clipped to 0: draws that cannot matter


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def batch(spec: ObsSpec, n: int = 8, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)

    def obs() -> dict:
        out = {
            "low_dim_state": torch.as_tensor(rng.standard_normal((n, spec.low_dim)), dtype=torch.float32),
            "privileged_state": torch.as_tensor(
                rng.standard_normal((n, spec.privileged)), dtype=torch.float32
            ),
        }
        if spec.rgb_shape is not None:
            out["rgb"] = torch.as_tensor(rng.integers(0, 256, (n, *spec.rgb_shape), dtype=np.uint8))
        return out

    return {
        "obs": obs(),
        "next_obs": obs(),
        "action": torch.as_tensor(rng.uniform(-1, 1, (n, spec.action_dim)), dtype=torch.float32),
        "reward": torch.as_tensor(rng.uniform(0, 1, (n, 1)), dtype=torch.float32),
        "discount": torch.full((n, 1), 0.97),
    }


def step_by_step(agent: DrQV2Agent, b: dict) -> dict:
    """``update`` one step at a time, keeping what each step computed: gradients before the next step drops them."""
    features, metrics = agent.update_critic(b, std=0.5)
    modules = {"critic": agent.critic} | ({"encoder": agent.encoder} if agent.encoder is not None else {})
    grads = {
        f"{m}.{n}": p.grad.clone() for m, module in modules.items() for n, p in module.named_parameters()
    }
    metrics |= agent.update_actor(features, b["obs"], std=0.5)
    grads |= {f"actor.{n}": p.grad.clone() for n, p in agent.actor.named_parameters()}
    agent.update_target_critic()
    params = {
        f"{m}.{n}": p.detach().clone()
        for m in ("encoder", "actor", "critic", "critic_target")
        if getattr(agent, m) is not None
        for n, p in getattr(agent, m).named_parameters()
    }
    return {"metrics": metrics, "grads": grads, "params": params}


def plain_and_fast(spec: ObsSpec, cfg: AgentConfig) -> tuple[dict, dict]:
    b = batch(spec, cfg.batch_size)
    plain = DrQV2Agent(spec, dataclasses.replace(cfg, fast=False, update_chunk=-1, precision="fp32"), seed=0)
    fast = build_agent(spec, cfg, seed=0)
    assert type(fast) is FastDrQV2Agent
    return step_by_step(plain, b), step_by_step(fast, b)


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


@pytest.mark.parametrize(
    ("spec", "changes"),
    [
        (
            SPEC,
            {"update_chunk": 0},
        ),  # one pass: every random draw in the paper's order, so augmentation and noise on
        (
            SPEC,
            {"update_chunk": 3, **NO_DRAWS},
        ),  # chunks of 3, 3 and 2: draws come per chunk, so none that matter
        (SPEC, {"update_chunk": 0, "channels_last": False, "asymmetric_critic": True}),
        (SPEC, {"update_chunk": 0, "use_low_dim": False}),
        (STATE_SPEC, {"batch_size": 16}),
    ],
    ids=["whole-batch", "chunked", "nchw-asymmetric", "pixels-only", "state-only"],
)
def test_fast_update_computes_the_plain_update(spec, changes):
    plain, fast = plain_and_fast(spec, dataclasses.replace(SMALL, **changes))
    for key, value in plain["metrics"].items():
        assert fast["metrics"][key] == pytest.approx(value, rel=1e-5, abs=1e-7), key
    # the plain actor loss also backpropagates into the critic's weights (discarded by the next critic step),
    # the fast one does not: compare critic gradients as update_critic left them, i.e. before the actor's step
    assert plain["grads"].keys() == fast["grads"].keys()
    for key, grad in plain["grads"].items():
        if key.startswith("critic."):
            continue
        assert relative_error(fast["grads"][key], grad) < 1e-5, key
    for key, param in plain["params"].items():
        torch.testing.assert_close(fast["params"][key], param, atol=1e-5, rtol=1e-5, msg=key)


def test_fast_critic_gradients_are_the_plain_critic_loss_gradients():
    cfg = dataclasses.replace(SMALL, update_chunk=3, **NO_DRAWS)
    b = batch(SPEC, cfg.batch_size)
    grads = []
    for agent in (DrQV2Agent(SPEC, dataclasses.replace(cfg, fast=False, update_chunk=-1), seed=0),
                  build_agent(SPEC, cfg, seed=0)):  # fmt: skip
        agent.update_critic(b, std=0.5)
        grads.append(
            {
                n: p.grad.clone()
                for n, p in [*agent.critic.named_parameters(), *agent.encoder.named_parameters()]
            }
        )
    plain, fast = grads
    for key, grad in plain.items():
        assert relative_error(fast[key], grad) < 1e-5, key


def test_bf16_autocast_follows_the_plain_update_to_bf16_precision():
    plain, fast = plain_and_fast(SPEC, dataclasses.replace(SMALL, update_chunk=0, precision="bf16"))
    for key in ("critic_loss", "critic_target_q", "actor_loss"):
        assert fast["metrics"][key] == pytest.approx(plain["metrics"][key], rel=0.02), key
    for key, grad in plain["grads"].items():
        if key.startswith("critic."):
            continue
        cosine = torch.nn.functional.cosine_similarity(fast["grads"][key].flatten(), grad.flatten(), dim=0)
        assert cosine >= 0.98, key
    assert all(v.dtype == torch.float32 for v in fast["params"].values())  # autocast, not a bf16 model


def test_bf16_networks_hand_fp32_to_the_maths():
    """Under autocast the targets, exploration noise and losses stay fp32 as in the plain path (and act returns
    what numpy can hold): the networks' outputs are cast back at their boundary."""
    agent = build_agent(SPEC, dataclasses.replace(SMALL, precision="bf16"), seed=0)
    obs = batch(SPEC, 4)["obs"]
    for eval_mode in (True, False):
        assert agent.act({k: v.numpy() for k, v in obs.items()}, 10_000, eval_mode).dtype == np.float32
    with agent.precision():
        features = agent.encode(obs, augment=True)
        mu = agent.actor(agent._actor_inputs(features, obs))
        q1, q2 = agent.critic(agent._critic_inputs(features, obs), mu)
    assert features.dtype == torch.bfloat16  # the convolutions did run in bf16
    assert mu.dtype == q1.dtype == q2.dtype == torch.float32


def test_chunked_update_equals_whole_batch_update():
    cfg = dataclasses.replace(SMALL, **NO_DRAWS)  # no random draws that depend on chunking
    whole = build_agent(SPEC, dataclasses.replace(cfg, update_chunk=0), seed=0)
    chunked = build_agent(SPEC, dataclasses.replace(cfg, update_chunk=3), seed=0)
    b = batch(SPEC)
    m1, m2 = whole.update(b, 1000), chunked.update(b, 1000)
    assert m1["critic_loss"] == pytest.approx(m2["critic_loss"], rel=1e-5)
    for p1, p2 in zip(whole.encoder.parameters(), chunked.encoder.parameters(), strict=True):
        torch.testing.assert_close(p1, p2, atol=1e-6, rtol=1e-5)
    for p1, p2 in zip(whole.actor.parameters(), chunked.actor.parameters(), strict=True):
        torch.testing.assert_close(p1, p2, atol=1e-6, rtol=1e-5)


def test_shift_by_gather_moves_each_sample_by_at_most_pad_pixels_as_the_papers_grid_sample_does():
    x = torch.randint(0, 256, (32, 9, SIZE, SIZE), dtype=torch.uint8)
    out = shift_by_gather(x, 4, torch.Generator().manual_seed(0))
    assert out.dtype == torch.uint8
    padded = torch.nn.functional.pad(x.float(), (4, 4, 4, 4), mode="replicate")
    found = set()
    for i in range(len(x)):
        matches = [
            (dy, dx)
            for dy in range(-4, 5)
            for dx in range(-4, 5)
            if torch.equal(padded[i, :, 4 + dy : 4 + dy + SIZE, 4 + dx : 4 + dx + SIZE], out[i].float())
        ]
        assert matches, f"sample {i} is not a shift of its input within +-4 px"
        found.add(matches[0])
    assert len(found) > 10  # shifts are drawn per sample
    # the paper's bilinear grid_sample at the same integer shifts, and the plain agent's augmentation from the
    # same generator state
    reference = grid_sample_shift(
        x.float(), draw_shifts(32, 4, torch.Generator().manual_seed(0), x.device), 4
    )
    assert (reference - out.float()).abs().max() < 0.01
    plain = random_shift(x, 4, torch.Generator().manual_seed(0))
    assert (plain - out.float()).abs().max() < 0.01


def test_one_switch_picks_the_path_and_checkpoints_cross_it(tmp_path):
    cfg = TrainConfig(agent=SMALL, seed=3)
    fast = build_agent(SPEC, cfg.agent, seed=cfg.seed)
    plain = build_agent(SPEC, dataclasses.replace(cfg.agent, fast=False), seed=cfg.seed)
    assert type(fast) is FastDrQV2Agent and type(plain) is DrQV2Agent
    with pytest.raises(ValueError, match="build_agent"):  # naming a class cannot bypass the switch
        DrQV2Agent(SPEC, cfg.agent)
    fast.update(batch(SPEC), frame=1000)
    path = save_checkpoint(tmp_path / "checkpoint.pt", fast, cfg, {"frame": 1000})
    assert plain.state_dict().keys() == fast.state_dict().keys()
    for name in ("encoder", "actor", "critic", "critic_target"):
        assert plain.state_dict()[name].keys() == fast.state_dict()[name].keys()
    # a fast run's checkpoint read as the plain agent acts the same (eval mode: no noise)
    payload = torch.load(path, weights_only=True)
    payload["config"]["agent"]["fast"] = False
    torch.save(payload, tmp_path / "as_plain.pt")
    restored, restored_cfg = load_agent(tmp_path / "as_plain.pt")
    assert type(restored) is DrQV2Agent and not restored_cfg.agent.fast
    obs = {k: v.numpy() for k, v in batch(SPEC, 4, seed=9)["obs"].items()}
    np.testing.assert_allclose(restored.act(obs, 10_000, True), fast.act(obs, 10_000, True), atol=1e-5)


def test_fast_only_settings_are_refused_on_the_plain_path():
    with pytest.raises(ValueError, match="agent.fast=true"):
        TrainConfig(agent=dataclasses.replace(SMALL, fast=False, precision="bf16")).validate()
    with pytest.raises(ValueError, match="agent.fast=true"):
        TrainConfig(agent=dataclasses.replace(SMALL, fast=False, update_chunk=32)).validate()
    TrainConfig(agent=dataclasses.replace(SMALL, fast=False)).validate()
