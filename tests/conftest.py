"""Test-wide setup and shared, expensive fixtures.

Importing ``sim`` first chooses the headless GL backend before anything imports mujoco. The smoke training run
and its exported policy are made once per session and shared by the export, eval, run and twin tests.
"""

import threading

import sim  # noqa: F401  (side effect: MUJOCO_GL)

import pytest
from typer.testing import CliRunner


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """A `so101 train --preset smoke` run directory and the command's output."""
    from so101_deploy.cli import app

    run_dir = tmp_path_factory.mktemp("runs") / "smoke"
    result = CliRunner().invoke(
        app, ["train", "--preset", "smoke", f"run_dir={run_dir}"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    return run_dir, result.output


@pytest.fixture(scope="session")
def smoke_policy(smoke_run, tmp_path_factory):
    """The smoke checkpoint exported with `so101 export` (path to policy.onnx)."""
    from so101_deploy.cli import app

    run_dir, _ = smoke_run
    out = tmp_path_factory.mktemp("policy") / "policy.onnx"
    result = CliRunner().invoke(app, ["export", str(run_dir), "-o", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def no_thread_leaks():
    """Fails a test that leaves a thread running (serial readers, camera grabbers, emulators)."""
    threads = set(threading.enumerate())
    yield
    assert set(threading.enumerate()) <= threads, "a test left a thread running"
