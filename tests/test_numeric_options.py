"""Every numeric option of every `so101` command is finite and in range, refused in one line before anything starts."""

import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
import typer.main
from typer.testing import CliRunner

from so101_deploy.cli import app
from so101_deploy.commands import twin as twin_command
from so101_deploy.numeric_options import Bounds

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]
RUN = ["run", "--policy", "p.onnx", "--port", "/dev/null", "--camera", "0", "--calibration", "x"]


def _numeric_parameters():
    """(command path, parameter) for every int or float parameter of every command, found by introspection."""
    found = []

    def walk(command, path):
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
            return
        for param in command.params:
            annotation = param.type_descriptor.annotation
            if annotation in (int, float):
                found.append((" ".join(path), param))

    walk(typer.main.get_command(app), [])
    return found


NUMERIC = _numeric_parameters()


def test_the_walk_finds_the_options_the_issue_names():
    names = {(path, opt) for path, p in NUMERIC for opt in p.opts}
    for expected in [("run", "--packet-timeout-ms"), ("twin", "--fps"), ("twin", "--fovy"), ("twin", "--width"),
                     ("calibrate servos", "--packet-timeout-ms"), ("eval", "--seed")]:  # fmt: skip
        assert expected in names
    assert len(NUMERIC) >= 30


@pytest.mark.parametrize(("path", "param"), NUMERIC, ids=[f"{p} {q.name}" for p, q in NUMERIC])
def test_every_numeric_option_is_declared_with_bounds(path, param):
    bounds = param.type_descriptor.parameter_info.parser
    assert isinstance(bounds, Bounds), f"so101 {path} {param.opts[0]}: declare it with numeric_option()"
    assert bounds.kind is param.type_descriptor.annotation and bounds.name in param.opts
    assert math.isfinite(bounds.low) and math.isfinite(bounds.high) and bounds.low < bounds.high
    for bad in ("nan", "inf", "-inf", "", "abc", repr(bounds.low - 1), repr(bounds.high + 1)):
        with pytest.raises(typer.BadParameter) as refused:
            bounds(bad)
        assert bounds.name in refused.value.format_message()
    default = param.default
    if default is not None:
        assert bounds(str(default)) == default, "the default must be inside the range"


@pytest.mark.parametrize(
    "args",
    [
        [*RUN, "--packet-timeout-ms", "nan"],
        [*RUN, "--packet-timeout-ms", "inf"],
        [*RUN, "--packet-timeout-ms", "-5"],
        [*RUN, "--packet-timeout-ms", "0"],
        [*RUN, "--episodes", "0"],
        [*RUN, "--seed", "-1"],
        ["twin", "--fps", "0"],
        ["twin", "--fovy", "0"],
        ["twin", "--width", "-5"],
        ["twin", "--height", "100000"],
        ["twin", "--latency-ms", "nan"],
        ["calibrate", "servos", "--port", "/dev/null", "--packet-timeout-ms", "nan"],
        ["calibrate", "camera", "--camera", "0", "--board", "9x6", "--square", "inf"],
        ["calibrate", "setup-motors", "--port", "/dev/null", "--baud", "-9600"],
        ["eval", "--episodes", "0"],
        ["eval", "--seed", "-3"],
    ],
)  # fmt: skip
def test_bad_number_is_one_line_exit_2(args, tmp_path):
    out = tmp_path / "telemetry"
    extra = ["--out", str(out)] if args[0] == "run" else []
    result = runner.invoke(app, [*args, *extra], env={"COLUMNS": "80"})
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert args[-2] in lines[0] and "must be" in lines[0]
    assert not out.exists()  # nothing started


def test_twin_refuses_a_bad_width_at_once_not_after_its_camera_times_out():
    """On main `so101 twin --width -5` built the world, then waited 20 s for a first frame and gave a traceback."""
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "so101_deploy.cli", "twin", "--width", "-5"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert (
        proc.stderr.strip().count("\n") == 0 and "--width" in proc.stderr and "Traceback" not in proc.stderr
    )
    assert time.monotonic() - start < 15


def test_usage_errors_are_one_line_too():
    for args in (["run"], ["no-such-command"], ["twin", "--no-such-option"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2
        assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("error: "), (
            result.output
        )


def test_camera_offset_must_be_finite_and_plausible():
    for offset in ("0,0,0,0,0,nan", "0,0,0,0,0,inf", "0,0,5,0,0,0", "0,0,0"):
        result = runner.invoke(app, ["twin", "--camera-offset", offset], env={"COLUMNS": "80"})
        assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
        assert "--camera-offset" in result.output


def test_twin_out_dir_that_cannot_be_written_is_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = runner.invoke(app, ["twin", "--out-dir", str(blocker / "calib")], env={"COLUMNS": "80"})
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert "--out-dir" in result.output and "pass a folder you can write to" in result.output


def test_export_to_an_existing_folder_says_which_file_to_write(tmp_path):
    result = runner.invoke(
        app, ["export", str(tmp_path / "ckpt.pt"), "-o", str(tmp_path)], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert f"write to {tmp_path / 'policy.onnx'} instead" in result.output


def test_twin_bounds_agree_with_the_sim():
    """--width/--height are capped by the offscreen buffer sim/scene.py allocates; --stage by sim/tasks/lift/config.py."""
    from sim.config import EnvConfig
    from sim.scene import build_model
    from sim.tasks.lift import STAGES

    model = build_model(EnvConfig(obs="state"))
    assert (
        model.vis.global_.offwidth,
        model.vis.global_.offheight,
    ) == (twin_command.MAX_RENDER_WIDTH, twin_command.MAX_RENDER_HEIGHT)
    stage = next(p for path, p in NUMERIC if path == "twin" and p.name == "stage")
    bounds = stage.type_descriptor.parameter_info.parser
    assert (bounds.low, bounds.high) == (min(STAGES), max(STAGES))
