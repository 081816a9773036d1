"""The `so101` entry point: help tree, version, doctor, and the light deploy path (no torch)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from typer.testing import CliRunner

import so101_deploy
from so101_deploy.cli import app
from so101_deploy.doctor import probe_render, run_doctor

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]


def test_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "doctor" in result.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"so101-deploy {so101_deploy.__version__}"


def test_console_script_installed():
    exe = Path(sys.executable).parent / "so101"
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "Usage" in out.stdout


def test_doctor_renders_with_a_real_backend():
    report = run_doctor()
    assert report.ok, report.notes
    ok = [c for c in report.render if c.ok]
    assert ok and ok[0].backend in ("egl", "osmesa")
    assert report.versions["mujoco"].startswith("4.")


def test_doctor_reports_broken_backend_with_apt_fix():
    check = probe_render("no_such_backend_xyz")
    assert not check.ok


def test_doctor_exits_nonzero_with_apt_command_when_rendering_cannot_work(monkeypatch):
    import so101_deploy.doctor as doctor

    monkeypatch.setattr(doctor, "PREFERENCE", ("bogus",))
    monkeypatch.setitem(doctor.APT_PACKAGES, "bogus", ["libbogus1"])
    result = runner.invoke(app, ["doctor"], env={"COLUMNS": "300"})
    assert result.exit_code == 1
    flat = " ".join(result.output.split())
    assert "apt-get install -y libegl1 libgl1-mesa-dri libopengl0 libosmesa6" in flat


DEPLOY_PACKAGES = ("so101_deploy", "calibration")
DEPLOY_MODULES = (
    "policies.contract",
    "policies.io",
    "policies.onnx_policy",
    "sim.scene",
    "sim.kinematics",
    "sim.control",
    "sim.tasks",
    "sim.tasks.lift",
    "sim.poses",
    "sim.randomize",
)
# Packages of the `train` extra: the deploy path (run, calibrate, twin) must import none of them.
TRAIN_EXTRA = {"torch", "gymnasium", "onnx", "tensorboard", "stable_baselines3"}


def test_deploy_path_imports_without_torch():
    """`so101 run`, `calibrate` and `twin` must work with only the core installed: import them with the
    training extra (torch, gymnasium, onnx, ...) hidden."""
    code = textwrap.dedent(
        f"""
        import importlib, importlib.util, pkgutil, sys
        TRAIN_EXTRA = {TRAIN_EXTRA!r}
        class NoTrainingExtra:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in TRAIN_EXTRA:
                    raise ImportError(name + " (training extra) is hidden for this test")
        sys.meta_path.insert(0, NoTrainingExtra())
        names = []
        for pkg in {DEPLOY_PACKAGES!r}:
            mod = importlib.import_module(pkg)
            names += [m.name for m in pkgutil.walk_packages(mod.__path__, pkg + ".")]
        names += [m for m in {DEPLOY_MODULES!r} if importlib.util.find_spec(m) is not None]
        for name in names:
            importlib.import_module(name)
        assert not TRAIN_EXTRA & set(sys.modules)
        print(len(names))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) >= 5


def test_wheel_install_ships_resources(tmp_path):
    """Build a wheel, install it (no deps) into a fresh venv, and load shipped resources from there."""
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(REPO),
        ],
        check=True,
        timeout=300,
    )
    wheel = next(dist.glob("so101_deploy-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    fresh_py = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(fresh_py), "install", "--no-deps", "-q", str(wheel)],
        check=True,
        timeout=300,
    )
    # The fresh venv has only our wheel; borrow the dependencies (not our packages) from this environment.
    deps = [p for p in sys.path if p.endswith("site-packages")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(deps)}
    code = (
        "import resources, so101_deploy, sys;"
        "from resources import resource_path, preset_names;"
        "p = resource_path('configs');"
        "assert str(p).startswith(sys.prefix), (p, sys.prefix);"
        "assert so101_deploy.__file__.startswith(sys.prefix);"
        "print(len(preset_names()), so101_deploy.__version__)"
    )
    out = subprocess.run(
        [str(fresh_py), "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[1] == so101_deploy.__version__
