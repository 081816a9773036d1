"""One motion limit: the per-tick joint step bound lives in the shared controller, so the sim trains with exactly
the joint targets `so101 run` sends, and the runtime's safety step bound is a guard that never binds.

The runtime side here is the real one: ``Runner.prepare`` on a policy file whose contract is the sim's, then the
controller and safety filter called as ``runtime/loop.py`` calls them, fed the sim's own joint readings.
"""

import json
from dataclasses import replace

import sim.env
from sim.config import EnvConfig
from sim.control import ControllerParams, action_to_joint_targets
from sim.env import SO101LiftEnv
from sim.tasks.lift import ScriptedLiftExpert

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from typer.testing import CliRunner

from policies.contract import METADATA_KEY, ActionSpec, ContractError, PolicyContract, contract_for_env
from policies.wrappers import make_env
from robot.so101 import GRIPPER_CLOSED_RAD, GRIPPER_OPEN_RAD, JOINT_NAMES, MAX_JOINT_STEP_RAD
from so101_deploy.cli import app
from so101_deploy.hardware.calibration_file import save_calibration
from so101_deploy.runtime.loop import RunConfig, Runner, StartupError
from so101_deploy.runtime.safety import SafetyConfig, SafetyFilter, step_guard
from so101_deploy.twin.factory import twin_calibration

GRIPPER = JOINT_NAMES.index("gripper")
# A 25 mm cube is touched at ~0.13 rad (robot.so101); the jaws cannot get there faster than the ramp allows.
CUBE_CONTACT_RAD = 0.13


def constant_policy(path, contract: PolicyContract, action) -> str:
    """An ONNX policy that always outputs ``action``, carrying ``contract`` as `so101 export` writes it."""
    image = contract.image
    rgb = helper.make_tensor_value_info("rgb", TensorProto.UINT8, ["batch", *image.stacked_shape])
    low = helper.make_tensor_value_info("low_dim", TensorProto.FLOAT, ["batch", contract.low_dim_size])
    out = helper.make_tensor_value_info("action", TensorProto.FLOAT, ["batch", len(action)])
    weights = helper.make_tensor("w", TensorProto.FLOAT, [contract.low_dim_size, len(action)],
                                 np.zeros(contract.low_dim_size * len(action)).tolist())  # fmt: skip
    bias = helper.make_tensor("b", TensorProto.FLOAT, [len(action)], list(map(float, action)))
    nodes = [
        helper.make_node("MatMul", ["low_dim", "w"], ["zero"]),
        helper.make_node("Add", ["zero", "b"], ["action"]),
    ]
    graph = helper.make_graph(nodes, "constant", [rgb, low], [out], initializer=[weights, bias])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, contract.to_json()
    onnx.save(model, str(path))
    return str(path)


@pytest.fixture
def arm_calibration(tmp_path):
    return save_calibration(twin_calibration(), tmp_path / "arm.json")


def runtime(tmp_path, calibration, cfg: EnvConfig, safety: SafetyConfig | None = None, log=None) -> Runner:
    """`so101 run`'s start-up on a policy trained on ``cfg``: controller, kinematics and safety filter."""
    policy = constant_policy(tmp_path / "policy.onnx", contract_for_env(cfg), [0.0, 0.0, 0.0, -1.0])
    config = RunConfig(policy=policy, calibration=str(calibration), camera_calibration="none")
    if safety is not None:
        config.safety = safety
    runner = Runner(config, log=log or (lambda _: None))
    runner.prepare()
    return runner


def record_sim_controller(monkeypatch) -> list[dict]:
    """Every call the sim env makes to the shared controller: the reading, the action, the targets it got."""
    calls = []

    def recording(q, action, params, kinematics, previous_targets=None):
        targets = action_to_joint_targets(q, action, params, kinematics, previous_targets=previous_targets)
        calls.append({"q": np.array(q, float), "action": np.array(action, float), "targets": targets.copy()})
        return targets

    monkeypatch.setattr(sim.env, "action_to_joint_targets", recording)
    return calls


def drive_runtime(runner: Runner, calls: list[dict], start_command: np.ndarray) -> list:
    """The loop's controller -> safety calls (runtime/loop.py, one tick each) on the sim's readings and actions,
    from ``start_command``: the start pose target the servos hold when the episode begins."""
    last_command = np.array(start_command, float)
    results = []
    for call in calls:
        wish = action_to_joint_targets(
            call["q"], call["action"], runner.params, runner.kinematics, previous_targets=last_command
        )
        safe = runner.safety.apply(call["q"], last_command, wish)
        results.append(safe)
        last_command = safe.target
    return results


def test_sim_and_runtime_send_the_same_targets_on_an_expert_episode(monkeypatch, tmp_path, arm_calibration):
    """Fails on main: the sim's targets jumped (no step bound), the arm's safety filter clipped them (elbow_flex
    and wrist_flex dozens of times per stage-3 episode), so the policy trained on a faster arm than it ran."""
    cfg = EnvConfig(stage=3, obs="state")
    calls = record_sim_controller(monkeypatch)
    env, expert = make_env(cfg), ScriptedLiftExpert(cfg)
    obs, _ = env.reset(seed=7)
    start = env.unwrapped._targets.copy()  # the stage's start pose, held by the actuators
    done, info = False, {}
    while not done:
        obs, _, terminated, truncated, info = env.step(expert.act(obs))
        done = terminated or truncated
    env.close()
    assert info["success"]

    # The runtime's controller comes from the contract's action spec, the same for every stage; a stage-3
    # contract itself is refused at start-up (run cannot reproduce its start), so build run from stage 0's.
    runner = runtime(tmp_path, arm_calibration, replace(cfg, stage=0))
    results = drive_runtime(runner, calls, start)
    for tick, (call, safe) in enumerate(zip(calls, results, strict=True)):
        assert "step_limited" not in safe.events and not safe.held, (tick, safe.events)
        np.testing.assert_array_equal(safe.target, call["targets"], err_msg=f"tick {tick}")

    # The episode exercises the limit: unbounded, the controller would have asked for more on many ticks.
    unbounded = replace(ControllerParams.from_env_config(cfg), max_joint_step_rad=(np.pi,) * len(JOINT_NAMES))
    previous, limited = start, np.zeros(len(JOINT_NAMES), int)
    for call in calls:
        free = action_to_joint_targets(call["q"], call["action"], unbounded, runner.kinematics, previous)
        limited += np.abs(free - previous) > np.array(MAX_JOINT_STEP_RAD) + 1e-9
        previous = call["targets"]
    counts = dict(zip(JOINT_NAMES, limited.tolist(), strict=True))
    assert counts["elbow_flex"] >= 5 and counts["gripper"] >= 10, counts
    steps = np.abs(np.diff([start, *(c["targets"] for c in calls)], axis=0))
    assert np.all(steps <= np.array(MAX_JOINT_STEP_RAD) + 1e-9)


def test_gripper_closes_in_the_same_ticks_in_sim_and_on_the_arm(monkeypatch, tmp_path, arm_calibration):
    """Fails on main: the sim's gripper target jumped to closed in one tick and the jaws touched a cube's width
    in 5-6 ticks, while the arm's safety filter walked the target over 18 ticks (15 to the cube)."""
    cfg = EnvConfig(stage=0, obs="state")  # starts at the home pose, gripper open: where `so101 run` starts
    calls = record_sim_controller(monkeypatch)
    env = SO101LiftEnv(cfg)
    obs, _ = env.reset(seed=0)
    sim_start = env._targets.copy()
    jaw = [float(obs["joint_pos"][GRIPPER])]
    for _ in range(30):
        obs, *_ = env.step(np.array([0.0, 0.0, 0.0, 1.0], np.float32))
        jaw.append(float(obs["joint_pos"][GRIPPER]))
    env.close()
    assert jaw[0] == pytest.approx(GRIPPER_OPEN_RAD, abs=0.02)

    runner = runtime(tmp_path, arm_calibration, cfg)
    arm_start = np.clip(runner._home_pose(), runner.safety.lower, runner.safety.upper)  # as Runner._move_to
    np.testing.assert_array_equal(arm_start, sim_start)  # the arm holds what the sim's actuators hold

    def ticks_to_close(targets) -> int:
        return 1 + next(i for i, t in enumerate(targets) if abs(t[GRIPPER] - GRIPPER_CLOSED_RAD) < 1e-9)

    expected = int(np.ceil((GRIPPER_OPEN_RAD - GRIPPER_CLOSED_RAD) / MAX_JOINT_STEP_RAD[GRIPPER] - 1e-9))
    on_arm = [safe.target for safe in drive_runtime(runner, calls, arm_start)]
    assert ticks_to_close([c["targets"] for c in calls]) == ticks_to_close(on_arm) == expected == 18
    # The simulated jaw follows the ramp: it reaches a cube's width no sooner than the command does.
    reach = next(i for i, angle in enumerate(jaw) if angle < CUBE_CONTACT_RAD)
    assert reach >= int(np.ceil((GRIPPER_OPEN_RAD - CUBE_CONTACT_RAD) / MAX_JOINT_STEP_RAD[GRIPPER]))


def test_first_step_is_bounded_from_the_readings():
    """No previous target (an episode's first step): the bound is taken from the measured joints."""
    params = ControllerParams(action_type="joint_delta")
    kin = SO101LiftEnv(EnvConfig(obs="state")).kinematics
    q = np.array([0.0, 0.0, 0.0, 1.2, 1.5708, GRIPPER_OPEN_RAD])
    target = action_to_joint_targets(q, np.ones(6), params, kin)
    np.testing.assert_allclose(target - q, [0.05] * 5 + [-0.05])
    previous = q + np.array(
        [0.1, 0, 0, 0, 0, 0]
    )  # the arm lags its last target: the bound follows the target
    target = action_to_joint_targets(q, np.array([-1.0, 0, 0, 0, 0, -1.0]), params, kin, previous)
    assert target[0] == pytest.approx(previous[0] - 0.05) and target[GRIPPER] == pytest.approx(
        previous[GRIPPER]
    )


def test_arm_joints_are_scaled_together_so_the_tool_keeps_its_direction():
    params = ControllerParams()
    env = SO101LiftEnv(EnvConfig(obs="state"))
    kin = env.kinematics
    q = kin.solve(np.array([0.22, 0.02, 0.05]), np.array([0.0, 0.0, 0.0, 1.5708, 1.5708, 0.8])).q
    start = kin.fk(q)[0]
    target = action_to_joint_targets(q, np.array([1.0, 0.0, 0.0, -1.0]), params, kin)
    assert np.max(np.abs(target - q)) == pytest.approx(0.05)  # the full 1 cm needs ~0.1 rad of elbow_flex
    moved = kin.fk(target)[0] - start
    assert moved[0] > 0.004 and abs(moved[1]) < 2e-4 and abs(moved[2]) < 2e-4  # straight ahead, not down


def test_contract_records_the_step_limits_and_old_contracts_load():
    cfg = EnvConfig()
    contract = contract_for_env(cfg)
    assert contract.action.max_joint_step_rad == ControllerParams.from_env_config(cfg).max_joint_step_rad
    data = json.loads(contract.to_json())
    assert data["action"]["max_joint_step_rad"] == list(MAX_JOINT_STEP_RAD)
    del data["action"]["max_joint_step_rad"]  # a contract written before the field existed
    old = PolicyContract.from_dict(data)
    assert old.action.max_joint_step_rad == MAX_JOINT_STEP_RAD == ActionSpec().max_joint_step_rad
    tighter = ActionSpec(max_joint_step_rad=(0.03,) * 5 + (0.1,))
    assert ControllerParams.from_action_spec(tighter).max_joint_step_rad == tighter.max_joint_step_rad
    contract.validate()
    for bad in ((0.05,) * 5, (0.05,) * 5 + (0.0,), (0.05,) * 5 + (float("nan"),), (0.05,) * 5 + ("fast",)):
        with pytest.raises(ContractError, match="max_joint_step_rad"):
            replace(contract, action=replace(contract.action, max_joint_step_rad=bad)).validate()


def test_step_guard_refuses_looser_and_notes_stricter():
    trained = (0.05,) * 6
    assert step_guard(None, trained, JOINT_NAMES) == (trained, "")
    assert step_guard(0.05, trained, JOINT_NAMES) == (trained, "")
    bound, note = step_guard(0.03, trained, JOINT_NAMES)
    assert bound == (0.03,) * 6 and "stricter than training (0.03 vs 0.05 rad/tick on every joint)" in note
    with pytest.raises(
        ValueError, match=r"looser .*\(0.08 vs 0.05 rad/tick on every joint\).*--max-joint-step 0.05"
    ):
        step_guard(0.08, trained, JOINT_NAMES)
    _, note = step_guard((0.05,) * 5 + (0.04,), trained, JOINT_NAMES)
    assert "(gripper 0.04 vs 0.05 rad/tick)" in note
    with pytest.raises(ValueError, match="looser .*gripper 0.2 vs 0.1"):
        step_guard((0.05,) * 5 + (0.2,), (0.05,) * 5 + (0.1,), JOINT_NAMES)
    for bad in (0.0, float("nan"), (0.05, 0.05)):
        with pytest.raises(ValueError):
            step_guard(bad, trained, JOINT_NAMES)
    f = SafetyFilter(-np.ones(6), np.ones(6), SafetyConfig(max_joint_step_rad=bound))
    assert "step_limited" in f.apply(np.zeros(6), np.zeros(6), np.full(6, 0.04)).events


def test_run_uses_the_contracts_limits_and_a_stricter_bound_binds(tmp_path, arm_calibration):
    notes = []
    deployable = EnvConfig(stage=0)  # run refuses a start it cannot reproduce (the default stage 3)
    default = runtime(tmp_path, arm_calibration, deployable)
    np.testing.assert_array_equal(default.safety.max_step, MAX_JOINT_STEP_RAD)
    stricter = runtime(
        tmp_path, arm_calibration, deployable, SafetyConfig(max_joint_step_rad=0.02), notes.append
    )
    np.testing.assert_array_equal(stricter.safety.max_step, [0.02] * 6)
    assert any("stricter than training" in n for n in notes)
    with pytest.raises(StartupError, match="looser than the policy was trained with") as refused:
        runtime(tmp_path, arm_calibration, EnvConfig(), SafetyConfig(max_joint_step_rad=0.051))
    assert "\n" not in str(refused.value)


def _cli_run(policy, calibration, tmp_path, *extra):
    return CliRunner().invoke(
        app,
        ["run", "--policy", str(policy), "--port", str(tmp_path / "no-such-port"), "--camera", "0",
         "--calibration", str(calibration), "--camera-calibration", "none", "--yes",
         "--twin", "http://127.0.0.1:9", "--out", str(tmp_path / "out"), *extra],
        env={"COLUMNS": "200"},
    )  # fmt: skip


def test_run_refuses_a_looser_step_limit_in_one_line(tmp_path, arm_calibration):
    policy = constant_policy(tmp_path / "policy.onnx", contract_for_env(EnvConfig()), [0.0, 0.0, 0.0, 1.0])
    result = _cli_run(policy, arm_calibration, tmp_path, "--max-joint-step", "0.08")
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "looser than the policy was trained with" in text and "--max-joint-step 0.05 or less" in text
    assert "no-such-port" not in text  # refused before touching the bus

    result = _cli_run(policy, arm_calibration, tmp_path, "--max-joint-step", "0.02")
    text = " ".join(result.output.split())
    assert (
        "stricter than training" in text and "looser than the policy" not in text
    )  # accepted; stops at the port


def test_run_on_the_twin_sends_the_contracts_limits_and_never_binds_the_guard(tmp_path):
    """End to end: a policy that asks to close the gripper and move at full speed; the twin's servos get targets
    that move 0.05 rad per tick at most, and the safety filter never had to step in (no step_limited events)."""
    from so101_deploy.twin.app import Twin, TwinConfig

    contract = contract_for_env(EnvConfig(stage=0))  # a start `run` reproduces (it refuses stage 3)
    policy = constant_policy(tmp_path / "policy.onnx", contract, [1.0, 0.0, -1.0, 1.0])
    with Twin(TwinConfig()) as twin:
        ticks = {}
        for name, extra in (("trained", ()), ("stricter", ("--max-joint-step", "0.02"))):
            out = tmp_path / name
            result = CliRunner().invoke(
                app,
                ["run", "--policy", policy, "--port", twin.port, "--camera", twin.camera_url,
                 "--calibration", str(twin.calibration_path), "--twin", twin.control_url,
                 "--start-pose", "hold", "--yes", "--out", str(out), "--max-steps", "25", *extra],
                env={"COLUMNS": "200"},
            )  # fmt: skip
            assert result.exit_code == 0, result.output
            ticks[name] = [json.loads(line) for line in (out / "ticks.jsonl").read_text().splitlines()]
    trained = np.array([t["joint_target"] for t in ticks["trained"] if t["joint_target"]])  # what was written
    assert len(trained) >= 10  # ticks held on a late camera frame (a loaded machine) send nothing
    assert not any("step_limited" in t["events"] for t in ticks["trained"])
    assert np.all(np.abs(np.diff(trained, axis=0)) <= 0.05 + 1e-9)
    assert trained[0][GRIPPER] - trained[-1][GRIPPER] >= 0.3  # the gripper closed along the ramp
    assert any("step_limited" in t["events"] for t in ticks["stricter"])  # the operator's tighter bound binds


def test_table_floor_never_holds_a_target_the_controller_sends_near_the_table():
    """Random downward-biased ee actions through the shared controller, then the runtime's safety filter with its
    own forward kinematics: the tool works at the table (the controller's floor) and no tick is held, as in the
    sim, which has no table check. With the floor at the controller's own 5 mm, 186 of 400 ticks were held."""
    from sim.kinematics import ArmKinematics
    from sim.poses import home_pose

    kin, params = ArmKinematics(), ControllerParams()
    lows, highs = np.array(params.joint_low), np.array(params.joint_high)
    safety = SafetyFilter(lows, highs, replace(SafetyConfig(), max_joint_step_rad=params.max_joint_step_rad),
                          ee_height=lambda q: float(kin.fk(q)[0][2]))  # fmt: skip
    rng = np.random.default_rng(0)
    command = home_pose(kin, params)
    heights, held = [], 0
    for _ in range(400):
        action = np.concatenate([rng.uniform(-1, 1, 2), rng.uniform(-1, 0.2, 1), rng.uniform(-1, 1, 1)])
        wish = action_to_joint_targets(command, action, params, kin, previous_targets=command)
        result = safety.apply(command, command, wish)
        held += result.held
        command = result.target
        heights.append(kin.fk(command)[0][2])
    assert min(heights) < params.reach_height_m[0]  # the IK does land under the controller's floor...
    assert held == 0  # ...and the runtime never holds what the sim trained through
