"""`so101 train --preset smoke` end to end, `so101 eval` on what it leaves, `--resume`, and bad input."""

import csv
import json

import pytest
import torch
from typer.testing import CliRunner

from so101_deploy.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "smoke"
    result = runner.invoke(app, ["train", "--preset", "smoke", f"run_dir={run_dir}"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return run_dir, result.output


def test_smoke_training_leaves_a_complete_run_directory(smoke_run):
    run_dir, output = smoke_run
    assert "| train | Iter: " in output and "| Update FPS: " in output
    assert "| eval | Iter: " in output and "| success: " in output
    for name in ("checkpoint.pt", "config.yaml", "metrics.csv"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))
    videos = list((run_dir / "videos").glob("*.mp4"))
    assert videos and videos[0].read_bytes()[4:8] == b"ftyp"  # an mp4 container
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["kind"] for r in rows} == {"train", "eval"}
    trained = [r for r in rows if r["kind"] == "train" and r["critic_loss"]]
    assert trained, "no gradient update was logged"
    payload = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert payload["counters"]["frame"] >= 400 and payload["counters"]["update"] > 0


def test_eval_reads_the_smoke_checkpoint(smoke_run, tmp_path):
    run_dir, _ = smoke_run
    video = tmp_path / "eval.mp4"
    result = runner.invoke(app, ["eval", str(run_dir), "-n", "2", "--json", "--video", str(video)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["episodes"] == 2 and summary["seeds"] == [0, 1]
    assert 0.0 <= summary["success_low"] <= summary["success_rate"] <= summary["success_high"] <= 1.0
    assert len(summary["returns"]) == 2 and summary["mean_length"] > 0
    assert video.stat().st_size > 1000


def test_resume_continues_counters_and_metrics(smoke_run):
    run_dir, _ = smoke_run
    before = torch.load(run_dir / "checkpoint.pt", weights_only=True)["counters"]
    result = runner.invoke(
        app, ["train", "--resume", str(run_dir), f"num_train_frames={before['frame'] + 200}"]
    )
    assert result.exit_code == 0, result.output
    after = torch.load(run_dir / "checkpoint.pt", weights_only=True)["counters"]
    assert after["frame"] >= before["frame"] + 200 and after["iteration"] > before["iteration"]
    assert after["episode"] > before["episode"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--preset", "smoke", "agent.bach_size=4"], "nearest valid key: 'agent.batch_size'"),
        (["train", "--preset", "smok"], "unknown preset 'smok'"),
        (["train", "--preset", "smoke", "env.obs=depth"], "env.obs must be one of pixels, state"),
        (
            ["train", "--preset", "smoke", "env.wrist_renderer=vulkan"],
            "env.wrist_renderer must be one of gl, warp",
        ),
        (["train", "--resume", "/nonexistent/run"], "no checkpoint.pt there"),
        (["eval", "/nonexistent/checkpoint.pt"], "no checkpoint at"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(args, message):
    result = runner.invoke(app, args, env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_training_into_an_existing_run_is_refused(smoke_run):
    run_dir, _ = smoke_run
    result = runner.invoke(app, ["train", "--preset", "smoke", f"run_dir={run_dir}"], env={"COLUMNS": "300"})
    assert result.exit_code == 2 and "--resume" in result.output


def test_state_mode_with_action_chunks_and_demos_trains_and_evaluates(tmp_path):
    run_dir = tmp_path / "state"
    # 80 control steps: at the arm's motion limit (0.05 rad per tick) the expert's pick, lift and 10-step hold take
    # ~57 with 4-tick action chunks, more than the smoke preset's 50.
    args = ["train", "--preset", "smoke", f"run_dir={run_dir}", "env.obs=state", "env.action_sequence=2",
            "env.episode_steps=80", "demo_episodes=2", "demo_ratio=0.5", "eval_video=false"]  # fmt: skip
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "demos: kept" in result.output
    payload = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert payload["obs_spec"]["rgb_shape"] is None
    assert payload["obs_spec"]["action_dim"] == 8  # 2 chunked actions x (dx dy dz gripper)
    assert payload["counters"]["update"] > 0
    result = runner.invoke(app, ["eval", str(run_dir), "-n", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["episodes"] == 1
