"""DAgger distillation (algo=distill): the loop end to end through `so101 train`, `so101 eval` and `so101 export`
on a tiny config, ONNX parity with the torch student, labels from the expert, and a student that cannot read
privileged state."""

import csv
import json

from sim.tasks import task_class

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from common.config import load_config
from policies.distill.config import DistillConfig
from policies.distill.student import STUDENT_KEYS, StudentSpec, act_fn, build_student, student_inputs
from policies.distill.trainer import DistillTrainer
from policies.export import torch_actions
from policies.onnx_policy import OnnxPolicy
from so101_deploy.cli import app

runner = CliRunner()
TINY = [
    "num_train_frames=100", "episodes_per_iteration=1", "updates_per_iteration=4", "env.episode_steps=20",
    "eval_every_frames=1000000", "num_eval_episodes=1", "log_every_frames=40", "eval_video=false",
    "checkpoint_every_frames=1000000", "dataset_capacity=400", "student.batch_size=8", "student.hidden_dim=32",
    "student.feature_dim=8", "progress=false",
]  # fmt: skip


@pytest.fixture(scope="module")
def distill_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "distill"
    result = runner.invoke(
        app, ["train", "--preset", "distill_cpu", *TINY, f"run_dir={run_dir}"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    return run_dir


def test_dagger_loop_runs_iterations_and_writes_a_checkpoint(distill_run):
    payload = torch.load(distill_run / "checkpoint.pt", weights_only=True)
    assert payload["algo"] == "distill"
    counters = payload["counters"]
    assert counters["frame"] >= 100 and counters["iteration"] >= 2
    assert counters["update"] == 4 * counters["iteration"]
    with open(distill_run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    train = [r for r in rows if r["kind"] == "train"]
    assert train and all(np.isfinite(float(r["actor_loss"])) for r in train)
    assert int(train[-1]["buffer_size"]) > 0
    assert [r for r in rows if r["kind"] == "eval"]


def test_eval_accepts_the_distill_checkpoint(distill_run):
    result = runner.invoke(app, ["eval", str(distill_run), "-n", "1", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["episodes"] == 1 and summary["stage"] == 0 and summary["mean_length"] > 0


def test_export_matches_the_torch_student(distill_run, tmp_path):
    from policies.distill.checkpoint import load_student

    path = tmp_path / "policy.onnx"
    result = runner.invoke(app, ["export", str(distill_run), "-o", str(path)])
    assert result.exit_code == 0, result.output
    policy = OnnxPolicy(path)
    assert policy.contract.image.size == 32 and policy.contract.image.frame_stack == 1
    student, _, _ = load_student(distill_run)
    rng = np.random.default_rng(0)
    for batch in (1, 4):
        rgb = rng.integers(0, 256, (batch, 3, 32, 32), dtype=np.uint8)
        low = rng.normal(size=(batch, policy.contract.low_dim_size)).astype(np.float32)
        expected = torch_actions(student, rgb, low)
        np.testing.assert_allclose(policy.run(rgb, low), expected, atol=1e-5)
        assert np.abs(expected).max() > 0  # a real action, not an all-zero output


def test_student_inputs_hold_no_privileged_state():
    spec = StudentSpec(rgb_shape=(3, 48, 48), low_dim=6, action_dim=4)
    torch.manual_seed(0)
    student = build_student(spec, DistillConfig().student).eval()
    rng = np.random.default_rng(0)
    obs = {
        "rgb": rng.integers(0, 256, (2, 3, 48, 48), dtype=np.uint8),
        "low_dim_state": rng.normal(size=(2, 6)).astype(np.float32),
        "privileged_state": rng.normal(size=(2, 22)).astype(np.float32),
    }
    assert set(STUDENT_KEYS) == {"rgb", "low_dim_state"}
    assert all(not np.shares_memory(x, obs["privileged_state"]) for x in student_inputs(obs))
    act = act_fn(student, torch.device("cpu"))
    reference = act(obs)
    scrambled = obs | {"privileged_state": rng.normal(size=(2, 22)).astype(np.float32) * 100}
    np.testing.assert_array_equal(act(scrambled), reference)
    without = {k: v for k, v in obs.items() if k != "privileged_state"}
    np.testing.assert_array_equal(act(without), reference)  # works with nothing privileged at all
    moved = obs | {"low_dim_state": obs["low_dim_state"] + 1.0}
    assert not np.allclose(act(moved), reference)  # while the inputs it may see do matter


class _RecordingExpert:
    """Wraps the trainer's labeller and keeps every (observation, label) it produced."""

    def __init__(self, inner):
        self.inner, self.seen = inner, []

    def reset(self):
        self.inner.reset()

    def label(self, obs):
        action = self.inner.label(obs)
        self.seen.append(({k: v.copy() for k, v in obs.items()}, action.copy()))
        return action


@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_dagger_labels_every_visited_state_with_the_expert(tmp_path, beta):
    cfg = load_config(DistillConfig, "distill_cpu", [*TINY, f"run_dir={tmp_path}"])
    trainer = DistillTrainer(cfg, tmp_path)
    trainer._setup()
    try:
        trainer.expert = recorder = _RecordingExpert(trainer.expert)
        stats = trainer.rollout(beta, seed=3)
        n = len(recorder.seen)
        assert n == int(stats["episode_length"]) == len(trainer.dataset) > 0
        assert stats["expert_share"] == beta
        reference = task_class(cfg.env.task).expert(
            cfg.env
        )  # a fresh expert on the same states gives the same labels
        for i, (obs, label) in enumerate(recorder.seen):
            np.testing.assert_array_equal(trainer.dataset.label[i], label)
            np.testing.assert_array_equal(trainer.dataset.label[i], reference.act(obs))
            np.testing.assert_array_equal(trainer.dataset.rgb[i], obs["rgb"])
            np.testing.assert_array_equal(trainer.dataset.low_dim[i], obs["low_dim_state"])
    finally:
        trainer.close()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("env.obs=state", "env.obs=pixels"),
        ("env.action_type=joint_delta", "ee_delta"),
        ("beta_decay=1.5", "beta_decay"),
    ],
)
def test_config_refuses_what_the_student_or_expert_cannot_do(override, message):
    with pytest.raises(ValueError, match=message):  # ConfigError, from validate(), is a ValueError
        load_config(DistillConfig, "distill_cpu", [override])


def test_resume_continues_the_counters(distill_run):
    before = torch.load(distill_run / "checkpoint.pt", weights_only=True)["counters"]
    result = runner.invoke(
        app, ["train", "--resume", str(distill_run), f"num_train_frames={before['frame'] + 40}"]
    )
    assert result.exit_code == 0, result.output
    after = torch.load(distill_run / "checkpoint.pt", weights_only=True)["counters"]
    assert after["frame"] >= before["frame"] + 40 and after["iteration"] > before["iteration"]
    assert after["update"] == before["update"] + 4 * (after["iteration"] - before["iteration"])
