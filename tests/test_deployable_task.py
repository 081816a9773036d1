"""Train what the arm runs (issue 15): the deployable start, what the contract records of it, and `so101 run`'s
refusals of what the arm cannot reproduce (start state, camera mount), checked on the twin before torque on."""

import dataclasses
import json
import math

from sim.arm_model import arm_mjcf_path
from sim.config import EnvConfig, WorkspaceConfig
from sim.control import ControllerParams
from sim.env import SO101Env
from sim.kinematics import ArmKinematics
from sim.poses import home_pose
from sim.randomize import RandomizationConfig
from sim.randomize.timing import LatencyConfig
from sim.scene import wrist_camera_pose

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from calibration.camera_model import CameraCalibration, SimCameraPose
from common.config import preset_names
from policies.contract import ContractError, LowDimKey, PolicyContract, contract_for_env
from policies.export import export_policy
from so101_deploy.cli import app
from so101_deploy.hardware.tables import Instruction
from so101_deploy.twin.app import Twin, TwinConfig
from so101_deploy.twin.evaluate import evaluate_on_twin
from so101_deploy.twin.world import REST_POSE_RAD, TwinWorld, WorldConfig

runner = CliRunner()
SMALL = {"image_size": 64, "render_size": 64, "episode_steps": 20}


def _home() -> np.ndarray:
    return home_pose(ArmKinematics(arm_mjcf_path()), ControllerParams())


# -- the deployable task in the sim ------------------------------------------------------------------------
def test_deployable_start_is_home_with_the_cube_anywhere_in_the_workspace():
    env = SO101Env(obs="state", stage=0)
    pan = np.array(ControllerParams().pan_axis_xy)
    cubes = []
    for seed in range(40):
        obs, info = env.reset(seed=seed)
        np.testing.assert_allclose(obs["joint_pos"], _home(), atol=0.02)  # what `so101 run` moves to
        cubes.append(obs["cube_pos"][:2] - pan)
    cubes = np.array(cubes)
    radius, azimuth = np.hypot(*cubes.T), np.degrees(np.arctan2(cubes[:, 1], cubes[:, 0]))
    assert radius.min() >= 0.15 and radius.max() <= 0.23 and radius.max() - radius.min() > 0.05
    assert -25 <= azimuth.min() < -10 and 10 < azimuth.max() <= 25  # both sides of straight ahead
    with pytest.raises(ValueError, match="reach sector"):
        SO101Env(obs="state", stage=0, workspace=WorkspaceConfig(radius_m=(0.10, 0.23)))


def test_stage_mix_mixes_training_resets_but_evaluation_starts_from_the_deployable_stage():
    cfg = EnvConfig(obs="state", stage=0, stage_mix=(0.5, 0.0, 0.0, 0.5))
    train = SO101Env(cfg)
    stages = {train.reset(seed=s)[1]["stage"] for s in range(12)}
    assert stages == {0, 3}
    evaluation = SO101Env(cfg.for_evaluation())
    assert {evaluation.reset(seed=s)[1]["stage"] for s in range(12)} == {0}
    from policies.training.evaluate import Evaluator

    assert Evaluator(cfg).env_cfg.stage_mix == ()  # the trainer's evaluator is on the deployable task
    with pytest.raises(ValueError, match="unknown curriculum stage 5"):
        SO101Env(obs="state", stage=0, stage_mix=(0, 0, 0, 0, 0, 1))


# -- the contract --------------------------------------------------------------------------------------------
def test_contract_v2_records_start_episode_camera_and_latency_and_round_trips():
    latency = RandomizationConfig(latency=LatencyConfig(enabled=True, ms=(20.0, 45.0, 60.0)))
    cfg = EnvConfig(stage=0, episode_steps=150, randomization=latency)
    contract = contract_for_env(cfg)
    assert contract.version == 2
    assert contract.start.deployable and contract.start.task == "lift" and contract.start.stage == 0
    np.testing.assert_allclose(contract.start.joint_pos, _home(), atol=1e-5)
    assert contract.start.workspace_radius_m == (0.15, 0.23)
    assert contract.episode_steps == 150
    mount = wrist_camera_pose(cfg.wrist_camera)
    assert contract.camera.pos == pytest.approx(tuple(mount.pos)) and contract.camera.fovy_deg == 60.0
    assert contract.latency.action_ms == (20.0, 60.0) and contract.latency.observation_ms == (0.0, 0.0)
    assert PolicyContract.from_json(contract.to_json()) == contract
    from policies.onnx_eval import env_config_for

    again = env_config_for(contract, EnvConfig(stage=3))  # `so101 eval POLICY.onnx` judges the trained task
    assert (again.stage, again.episode_steps, again.wrist_camera.pos) == (0, 150, contract.camera.pos)

    placed = contract_for_env(EnvConfig(stage=3, stage_mix=(0.5, 0, 0, 0.5)))
    assert not placed.start.deployable and placed.start.stage == 3 and placed.start.joint_pos == ()
    # evaluated on stage 0, trained with a stage-3 mix: deployable (the mix is a training aid)
    assert contract_for_env(EnvConfig(stage=0, stage_mix=(0.5, 0, 0, 0.5))).start.deployable


def test_version_1_contract_is_refused_with_a_re_export_hint():
    data = json.loads(PolicyContract().to_json())
    data["version"] = 1
    for key in ("start", "camera", "latency", "episode_steps"):
        data.pop(key)
    with pytest.raises(ContractError, match=r"version 1 .* re-export the policy from its checkpoint"):
        PolicyContract.from_dict(data)


# -- `so101 run` on the twin -----------------------------------------------------------------------------------
class TinyActor(nn.Module):
    """A randomly initialised actor with the exported graph's inputs: enough for start-up and a few ticks."""

    def __init__(self, low_dim: int, actions: int):
        super().__init__()
        self.lin = nn.Linear(low_dim, actions)

    def forward(self, rgb, low_dim):
        return torch.tanh(0.1 * self.lin(low_dim) + 0.0 * rgb.float().mean())


def _export(tmp_path, cfg: EnvConfig, name: str):
    torch.manual_seed(0)
    contract = contract_for_env(cfg)
    return export_policy(
        TinyActor(contract.low_dim_size, contract.action.size), contract, tmp_path / name
    ).path


@pytest.fixture
def home_twin():
    with Twin(TwinConfig(world=WorldConfig(env=EnvConfig(stage=0, **SMALL)))) as t:
        yield t


def _run_args(twin, policy, out, *extra):
    return [
        "run", "--policy", str(policy), "--port", twin.port, "--camera", twin.camera_url,
        "--calibration", str(twin.calibration_path), "--twin", twin.control_url, "--yes", "--out", str(out),
        *extra,
    ]  # fmt: skip


def test_run_refuses_a_stage_3_policy_before_torque_on(home_twin, tmp_path):
    policy = _export(tmp_path, EnvConfig(stage=3, **SMALL), "stage3.onnx")
    for start in (
        "home",
        "hold",
    ):  # holding where the arm is does not reproduce "placed above the cube" either
        result = runner.invoke(app, _run_args(home_twin, policy, tmp_path / start, "--start-pose", start))
        assert result.exit_code == 2, result.output
        text = " ".join(result.output.split())
        assert "trained from lift stage 3" in text and "env.stage=0" in text
    assert home_twin.emulator.count(Instruction.SYNC_WRITE) == 0
    assert not any(home_twin.torque_enabled().values())


def test_run_starts_a_deployable_policy_from_rest_by_its_own_move_home(home_twin, tmp_path):
    policy = _export(tmp_path, EnvConfig(stage=0, **SMALL), "home.onnx")
    home_twin.world.reset(seed=1)
    np.testing.assert_allclose(
        home_twin.world.joint_positions(), REST_POSE_RAD, atol=0.01
    )  # not teleported (physics runs)
    result = runner.invoke(
        app, _run_args(home_twin, policy, tmp_path, "--start-pose", "home", "--max-steps", "6", "--json")
    )
    assert result.exit_code == 0, result.output
    ticks = [json.loads(line) for line in (tmp_path / "ticks.jsonl").read_text().splitlines()]
    first = np.array(ticks[0]["joint_pos"])
    assert np.max(np.abs(first - _home())) < 0.05  # run's start-up move took it from rest to home
    assert np.max(np.abs(first - np.array(REST_POSE_RAD))) > 1.0


def test_run_refuses_a_measured_camera_mount_unlike_the_trained_one(home_twin, tmp_path):
    policy = _export(tmp_path, EnvConfig(stage=0, **SMALL), "home.onnx")
    cal = CameraCalibration.load(home_twin.camera_calibration_path)
    mount = cal.sim_camera
    cases = {
        "cm from the one": dataclasses.replace(mount, pos=(mount.pos[0] + 0.02, *mount.pos[1:])),
        "turned 8.6 deg": dataclasses.replace(mount, euler=(mount.euler[0] + 0.15, *mount.euler[1:])),
        "fovy 65.0 deg": SimCameraPose(mount.pos, mount.euler, mount.fovy + 5.0),
    }
    for expected, measured in cases.items():
        path = dataclasses.replace(cal, sim_camera=measured).save(tmp_path / "camera.json")
        result = runner.invoke(
            app, [*_run_args(home_twin, policy, tmp_path / "run"), "--camera-calibration", str(path)]
        )
        assert result.exit_code == 2, result.output
        text = " ".join(result.output.split())
        assert expected in text and "wrist_camera.calibration_file" in text, text
    assert home_twin.emulator.count(Instruction.SYNC_WRITE) == 0
    small = dataclasses.replace(mount, pos=(mount.pos[0] + 0.004, *mount.pos[1:]))  # within 1 cm: accepted
    path = dataclasses.replace(cal, sim_camera=small).save(tmp_path / "camera.json")
    result = runner.invoke(
        app,
        [
            *_run_args(home_twin, policy, tmp_path / "ok", "--max-steps", "2"),
            "--camera-calibration",
            str(path),
        ],
    )
    assert result.exit_code == 0, result.output


def test_twin_reset_leaves_the_arm_at_rest_and_eval_twin_moves_it_home_through_run(tmp_path):
    world = TwinWorld(WorldConfig(env=EnvConfig(stage=0, obs="state")))
    world.reset(seed=3)
    np.testing.assert_allclose(world.joint_positions(), REST_POSE_RAD, atol=1e-6)
    cube = world.state()["cube_pos"]
    assert 0.15 <= math.hypot(cube[0] - 0.0388, cube[1]) <= 0.23  # the cube is placed in the workspace

    cfg = EnvConfig(stage=0, **SMALL)
    policy = _export(tmp_path, cfg, "home.onnx")
    result = evaluate_on_twin(policy, cfg, episodes=1, max_steps=4, out_dir=tmp_path / "eval")
    assert result.exit_code == 0, result.reason
    ticks = [
        json.loads(line)
        for line in (tmp_path / "eval" / "episode_000" / "ticks.jsonl").read_text().splitlines()
    ]
    assert np.max(np.abs(np.array(ticks[0]["joint_pos"]) - _home())) < 0.05


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"start": {"pose": "teleported"}}, "start.pose 'teleported' is unknown"),
        ({"start": {"tolerance_rad": float("nan")}}, "start.tolerance_rad is nan"),
        ({"camera": {"pos": (0.0, 0.0)}}, "camera.pos and camera.euler must have 3 values"),
        ({"latency": {"action_ms": (-5.0, 10.0)}}, "latency.action_ms is -5.0"),
        ({"episode_steps": 0}, "episode_steps is 0"),
        ({"camera": {"fovy_deg": 75.0}}, "camera.fovy_deg 75 and image.fovy_deg 60 disagree"),
        ({"action": {"scale": (0.01, 0.02, 0.01, 1.0)}}, "not one step size for every non-gripper value"),
        ({"low_dim": (LowDimKey("joint_pos", 6, "deg"),)}, "joint_pos is in 'deg'"),
    ],
)
def test_v2_fields_a_runtime_cannot_honour_are_refused(change, expected):
    contract = contract_for_env(EnvConfig(stage=0))
    contract.validate()
    for key, value in change.items():
        part = getattr(contract, key)
        value = dataclasses.replace(part, **value) if isinstance(value, dict) else value
        contract = dataclasses.replace(contract, **{key: value})
    with pytest.raises(ContractError, match=expected):
        contract.validate()


@pytest.mark.parametrize("preset", [name for name in preset_names() if name != "state"])
def test_every_pixel_preset_trains_for_a_start_the_arm_can_reproduce(preset):
    """`state` reads sim-only state and is not deployable anyway; every other preset's policy must pass `run`."""
    from common.config import load_config
    from so101_deploy.commands.train import requested_algorithm

    algorithm, preset = requested_algorithm(preset, [])
    cfg = load_config(algorithm.config_schema(), preset)
    assert cfg.env.stage == 0 and contract_for_env(cfg.env).start.deployable


@pytest.mark.parametrize("preset", ["smoke", "cpu", "drqv2_cpu", "default"])
def test_presets_evaluate_and_export_the_deployable_task(preset):
    from common.config import load_config
    from so101_deploy.commands.train import requested_algorithm

    algorithm, preset = requested_algorithm(preset, [])
    cfg = load_config(algorithm.config_schema(), preset)
    contract = contract_for_env(cfg.env)
    assert cfg.env.stage == 0 and contract.start.deployable
    if preset != "smoke":  # trained with a real arm's joint-zero errors and a USB camera loop's delays
        noise = cfg.env.randomization.joint_noise
        assert noise.enabled and noise.offset_deg == 2.5
        assert contract.latency.action_ms == (0.0, 50.0) and contract.latency.observation_ms == (0.0, 100.0)


def test_a_measured_latency_outside_the_trained_range_is_named_at_start_up():
    from types import SimpleNamespace

    from so101_deploy.runtime.reproduce import latency_note

    contract = contract_for_env(
        EnvConfig(
            stage=0, randomization=RandomizationConfig(latency=LatencyConfig(enabled=True, max_steps=1))
        )
    )  # 0-50 ms
    assert latency_note(contract, SimpleNamespace(median_ms=40.0)) is None
    note = latency_note(contract, SimpleNamespace(median_ms=120.0))
    assert "measured loop latency 120 ms" in note and "0-50 ms" in note
    assert latency_note(contract, None) is None
