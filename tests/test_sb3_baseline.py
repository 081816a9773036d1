"""SB3 SAC baseline: `so101 train algo=sac` trains, checkpoints, resumes, exports through the contract and
evaluates, on the same env and wrappers as DrQ-v2; the exported graph matches SB3's own deterministic actions."""

import json

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from common.config import load_config
from policies.contract import METADATA_KEY, PolicyContract, contract_for_env
from policies.onnx_policy import OnnxPolicy
from policies.sb3_baseline import (
    SB3_NORMALISATION,
    SacDeterministicActor,
    SacTrainConfig,
    build_model,
    deterministic_act,
    load_sac,
    load_sac_payload,
    make_sac_vec_env,
    replay_nbytes,
)
from policies.wrappers import make_env
from so101_deploy.cli import app

# Seconds on 2 CPU cores: 64x64 images, 25-step episodes, 100 agent steps of which 50 are updates at batch 16.
SMOKE = [
    "algo=sac",
    "torch_threads=1",
    "env.image_size=64",
    "env.render_size=64",
    "env.episode_steps=50",
    "num_train_frames=200",
    "num_seed_frames=100",
    "sac.buffer_size=1000",
    "sac.batch_size=16",
    "sac.features_dim=32",
    "sac.net_arch=[64,64]",
    "eval_every_frames=1000000",
    "num_eval_episodes=1",
    "checkpoint_every_frames=100",
    "log_interval_episodes=1",
    "eval_video=false",
    "progress=false",
]
ENV = {"COLUMNS": "200"}


def _cli(*args: str):
    return CliRunner().invoke(app, list(args), env=ENV)


@pytest.fixture(scope="module")
def sac_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("sac") / "run"
    result = _cli("train", *SMOKE, f"run_dir={run_dir}")
    assert result.exit_code == 0, result.output
    return run_dir, result.output


@pytest.fixture(scope="module")
def sac_onnx(sac_run, tmp_path_factory):
    run_dir, _ = sac_run
    out = tmp_path_factory.mktemp("sac_policy") / "policy.onnx"
    result = _cli("export", str(run_dir), "-o", str(out))
    assert result.exit_code == 0, result.output
    return out


def test_train_writes_checkpoint_sb3_logs_and_eval(sac_run):
    run_dir, output = sac_run
    payload = load_sac_payload(run_dir)
    assert payload["counters"]["frame"] == 200  # 100 agent steps x action_repeat 2
    assert payload["counters"]["update"] == 50  # one update per agent step after 50 seed steps
    assert "| rollout/" in output and "ep_rew_mean" in output and "| eval/" in output  # SB3's table logger
    progress = (run_dir / "sb3" / "progress.csv").read_text().splitlines()[0].split(",")
    assert "rollout/success_rate" in progress and "train/critic_loss" in progress
    evals = [line for line in (run_dir / "metrics.csv").read_text().splitlines() if line.startswith("eval,")]
    assert len(evals) == 2  # frame 0 and the end, DrQ-v2's metrics.csv columns
    assert (run_dir / "sb3_model.zip").stat().st_size > 0
    assert "last eval at frame 200" in output


def test_policy_reads_only_the_contract_inputs(sac_run):
    run_dir, _ = sac_run
    model, _ = load_sac(run_dir)
    assert sorted(model.observation_space.spaces) == ["low_dim_state", "rgb"]  # never privileged_state


def test_onnx_matches_sb3_deterministic_actions_over_an_episode(sac_run, sac_onnx):
    """SB3 divides by 255 in preprocess_obs; the graph takes uint8 and must reproduce predict() exactly."""
    run_dir, _ = sac_run
    model, cfg = load_sac(run_dir)
    act = deterministic_act(model)
    actor = SacDeterministicActor(model.policy.actor).eval()
    policy = OnnxPolicy(sac_onnx)
    env = make_env(cfg.env, seed=5)
    obs, _ = env.reset(seed=5)
    worst_onnx = worst_torch = 0.0
    for _ in range(15):
        batch = {k: v[None] for k, v in obs.items()}
        sb3 = act(batch)[0]
        with torch.no_grad():
            ours = actor(torch.as_tensor(batch["rgb"]), torch.as_tensor(batch["low_dim_state"])).numpy()[0]
        onnx_action = policy.run(batch["rgb"], batch["low_dim_state"])[0]
        worst_torch = max(worst_torch, float(np.abs(ours - sb3).max()))
        worst_onnx = max(worst_onnx, float(np.abs(onnx_action - sb3).max()))
        obs, _, terminated, truncated, _ = env.step(sb3)
        if terminated or truncated:
            break
    env.close()
    assert worst_torch <= 1e-6 and worst_onnx <= 1e-5, (worst_torch, worst_onnx)


def test_exported_contract_is_the_training_envs_with_sb3_normalisation(sac_run, sac_onnx):
    run_dir, _ = sac_run
    _, cfg = load_sac(run_dir)
    meta = {p.key: p.value for p in onnx.load(str(sac_onnx)).metadata_props}
    contract = PolicyContract.from_json(meta[METADATA_KEY])
    expected = contract_for_env(cfg.env)
    assert contract.image.normalisation == SB3_NORMALISATION
    assert contract.image.stacked_shape == (9, 64, 64) == expected.image.stacked_shape
    assert contract.action == expected.action and contract.low_dim == expected.low_dim
    assert len(contract.train_config_hash) == 12


def test_eval_command_runs_a_sac_checkpoint(sac_run):
    run_dir, _ = sac_run
    result = _cli("eval", str(run_dir), "-n", "2", "--seed", "3", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["episodes"] == 2 and summary["seeds"] == [3, 4]
    assert all(length <= 25 for length in summary["lengths"])  # 50 control steps at action_repeat 2


def test_resume_continues_counters_and_waits_for_fresh_seed_steps(sac_run):
    run_dir, _ = sac_run
    before = load_sac_payload(run_dir)["counters"]
    result = _cli("train", "--resume", str(run_dir), "num_train_frames=300", "num_seed_frames=60")
    assert result.exit_code == 0, result.output
    after = load_sac_payload(run_dir)["counters"]
    assert after["frame"] == 300 and after["timesteps"] == 150
    # the replay is not saved, so the first 30 resumed steps only collect: 50 - 30 = 20 new updates
    assert after["update"] == before["update"] + 20


def test_train_seconds_stops_the_run_and_leaves_snapshots_that_evaluate(tmp_path):
    """The wall-clock keys every trainer honours (benchmarks/time_to_success.py and compare_algorithms.py use
    them): the run stops on time, not on frames, with a snapshot at the budget, and each snapshot is a checkpoint
    the registry opens and evaluates."""
    from policies.algos import open_checkpoint
    from policies.training.evaluate import Evaluator

    run_dir = tmp_path / "run"
    budget = [o for o in SMOKE if not o.startswith("num_train_frames=")]
    result = _cli(
        "train", *budget, "num_train_frames=100000000", "train_seconds=3", "snapshot_every_seconds=1",
        f"run_dir={run_dir}",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    final = load_sac_payload(run_dir)["counters"]
    assert final["time_s"] >= 3 and final["frame"] < 100_000_000
    snapshots = sorted((run_dir / "snapshots").glob("snapshot_*.pt"))
    counters = [load_sac_payload(p)["counters"] for p in snapshots]
    for path, c in zip(snapshots, counters, strict=True):
        assert c["time_s"] >= int(path.stem.split("_")[1])  # named after the period it passed
    assert counters[-1]["time_s"] >= 3  # the last one is at the budget, not a period before it
    assert [c["frame"] for c in counters] == sorted(c["frame"] for c in counters)
    # how many frames and updates the 3 s hold depends on the machine's load: not asserted
    assert counters[-1]["frame"] <= final["frame"]

    algorithm, payload = open_checkpoint(snapshots[-1])
    act, cfg = algorithm.policy(snapshots[-1], "cpu")
    evaluator = Evaluator(cfg.env, 1, seed=0)
    try:
        outcome = evaluator.run(act, 1)
    finally:
        evaluator.close()
    assert algorithm.name == "sac" and payload["counters"] == counters[-1]
    assert len(outcome.successes) == 1 and outcome.mean_length <= 25


def test_cnn_policy_export_keeps_the_low_dim_input(tmp_path):
    """CnnPolicy reads rgb only; the exported graph must still take the contract's two inputs."""
    cfg = load_config(
        SacTrainConfig, "sac_lift_image", [*SMOKE[1:5], "sac.policy=CnnPolicy", "sac.buffer_size=10"]
    )
    env = make_sac_vec_env(cfg, 1, 0)
    model = build_model(cfg, env, buffer_size=10)
    env.close()
    from policies.export import export_policy

    result = export_policy(
        SacDeterministicActor(model.policy.actor), contract_for_env(cfg.env), tmp_path / "p.onnx"
    )
    policy = OnnxPolicy(result.path)
    rgb = np.random.default_rng(0).integers(0, 256, (1, 9, 64, 64), dtype=np.uint8)
    low = np.zeros((1, 6), np.float32)
    expected, _ = model.predict(rgb, deterministic=True)
    assert np.abs(policy.run(rgb, low) - expected).max() <= 1e-5


def test_replay_memory_is_two_stacks_per_transition():
    cfg = load_config(SacTrainConfig, "sac_lift_image", [*SMOKE[1:5], "sac.buffer_size=100"])
    env = make_sac_vec_env(cfg, 1, 0)
    model = build_model(cfg, env)
    env.close()
    per_step = 2 * 9 * 64 * 64  # obs and next_obs stacks, uint8
    assert 100 * per_step <= replay_nbytes(model) <= 100 * (per_step + 256)
    assert cfg.replay_nbytes_lower_bound() == 100 * per_step  # what `so101 train` checks against free RAM


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["algo=sac", "sac.lerning_rate=1"], "sac.learning_rate"),
        (["--preset", "smoke", "algo=sac"], "sac_lift_image"),
        (["algo=ppo"], "valid: drqv2, sac"),
        (["algo=sac", "env.obs=state"], "pixels"),
    ],
)
def test_bad_sac_config_is_one_line_exit_2(args, message, tmp_path):
    result = _cli("train", *args, f"run_dir={tmp_path / 'r'}")
    assert result.exit_code == 2, result.output
    assert message in result.output
