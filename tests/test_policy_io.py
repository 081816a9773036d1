"""policies.io, the one place policy inputs are built and actions scheduled: images, stacking, low-dim order,
the repeat/chunk schedule; that the sim wrappers play the same schedule and build the same inputs as the
runtime's PolicyIO; and that the runtime loop builds nothing by hand."""

import ast
import dataclasses
from pathlib import Path

from sim.config import EnvConfig
from sim.env import SO101LiftEnv

import gymnasium as gym
import numpy as np
import pytest

from policies.contract import (
    ActionSpec,
    ContractError,
    ImageSpec,
    LowDimKey,
    PolicyContract,
    contract_for_env,
)
from policies.io import (
    ActionSchedule,
    FramePipeline,
    FrameStacker,
    PolicyIO,
    low_dim_vector,
    preprocess_frame,
)
from policies.wrappers import ActionRepeat, ActionSequence, wrap_env

SPEC = ImageSpec(size=84)
LOOP = Path(__file__).resolve().parents[1] / "so101_deploy" / "runtime" / "loop.py"


def _frame(h=84, w=84, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _flat(value, h=8, w=8):
    return np.full((h, w, 3), value, np.uint8)


# -- images -----------------------------------------------------------------------------------------------------
def test_native_sim_frame_passes_through_unchanged_as_chw():
    frame = _frame()
    out = preprocess_frame(frame, SPEC)
    assert out.shape == (3, 84, 84) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, frame.transpose(2, 0, 1))


def test_larger_4x3_camera_frame_gives_the_same_policy_input():
    """A 448x336 frame whose centred square is the sim frame upscaled 4x -> exactly the sim frame."""
    sim = _frame()
    big = np.zeros((336, 448, 3), np.uint8)
    big[:, 56 : 56 + 336] = np.repeat(np.repeat(sim, 4, axis=0), 4, axis=1)
    np.testing.assert_array_equal(preprocess_frame(big, SPEC), preprocess_frame(sim, SPEC))


def test_fov_ratio_crops_centre():
    spec = ImageSpec(size=42, crop_fov_ratio=0.5, interpolation="nearest")
    frame = _frame()
    np.testing.assert_array_equal(preprocess_frame(frame, spec), frame[21:63, 21:63].transpose(2, 0, 1))


def test_prenormalised_or_single_channel_frames_are_refused():
    with pytest.raises(ContractError, match="uint8"):
        preprocess_frame(_frame().astype(np.float32) / 255.0, SPEC)
    with pytest.raises(ContractError, match="HxWx3"):
        preprocess_frame(np.zeros((84, 84), np.uint8), SPEC)


def test_frame_stacker_channel_axis_newest_last_reset_fills_first():
    stacker = FrameStacker(3)
    a, b, c = (np.full((3, 2, 2), v, np.uint8) for v in (1, 2, 3))
    first = stacker.reset(a)
    assert first.shape == (9, 2, 2) and set(np.unique(first)) == {1}
    stacker.push(b)
    out = stacker.push(c)
    assert [int(out[i * 3, 0, 0]) for i in range(3)] == [1, 2, 3]
    out = stacker.push(a)
    assert [int(out[i * 3, 0, 0]) for i in range(3)] == [2, 3, 1]


def test_frame_pipeline_stacks_oldest_first_on_channels_and_refills_after_reset():
    """Frames 10, 20, 30, 40 -> channels [20 20 20 | 30 30 30 | 40 40 40]; after reset, 50 fills all nine."""
    frames = FramePipeline(ImageSpec(size=8, frame_stack=3))
    stacks = [frames(_flat(v)) for v in (10, 20, 30, 40)]
    assert stacks[0].shape == (9, 8, 8) and stacks[0].dtype == np.uint8
    assert [int(stacks[0][c, 0, 0]) for c in range(9)] == [10] * 9  # first frame fills every slot
    assert [int(stacks[1][c, 0, 0]) for c in range(9)] == [10, 10, 10, 10, 10, 10, 20, 20, 20]
    assert [int(stacks[3][c, 0, 0]) for c in range(9)] == [20, 20, 20, 30, 30, 30, 40, 40, 40]
    frames.reset()
    assert [int(frames(_flat(50))[c, 0, 0]) for c in range(9)] == [50] * 9


def test_frame_pipeline_keeps_rgb_channel_order():
    frame = np.zeros((8, 8, 3), np.uint8)
    frame[..., 0], frame[..., 1], frame[..., 2] = 1, 2, 3
    stack = FramePipeline(ImageSpec(size=8, frame_stack=2))(frame)
    assert [int(stack[c, 0, 0]) for c in range(6)] == [1, 2, 3, 1, 2, 3]


# -- low-dim ----------------------------------------------------------------------------------------------------
JOINTS = np.array([0.1, -0.2, 0.3, -0.4, 0.5, -0.6])
PREV = np.array([0.25, -0.5, 0.75, -1.0], np.float32)


def test_low_dim_follows_the_contract_order_not_the_readings_order():
    keys = (LowDimKey("prev_action", 4, "normalised [-1, 1]"), LowDimKey("joint_pos", 6, "rad"))
    out = low_dim_vector(keys, {"joint_pos": JOINTS, "prev_action": PREV})
    assert out.dtype == np.float32 and out.shape == (10,)
    np.testing.assert_array_equal(out, np.concatenate([PREV, JOINTS.astype(np.float32)]))


def test_low_dim_refuses_a_missing_key_or_a_wrong_size():
    keys = (LowDimKey("joint_pos", 6, "rad"), LowDimKey("prev_action", 4, "normalised [-1, 1]"))
    with pytest.raises(ContractError, match=r"needs low-dim \['prev_action'\]"):
        low_dim_vector(keys, {"joint_pos": JOINTS})
    with pytest.raises(ContractError, match="'joint_pos' has 5 values; the contract says 6"):
        low_dim_vector(keys, {"joint_pos": JOINTS[:5], "prev_action": PREV})


def _contract(
    prev_action: bool, chunk: int = 1, repeat: int = 1, size: int = 8, stack: int = 2
) -> PolicyContract:
    low_dim = [LowDimKey("joint_pos", 6, "rad")]
    if prev_action:
        low_dim.append(LowDimKey("prev_action", 4, "normalised [-1, 1]"))
    return PolicyContract(
        image=ImageSpec(size=size, frame_stack=stack),
        low_dim=tuple(low_dim),
        action=ActionSpec(chunk_length=chunk, action_repeat=repeat),
    )


def test_prev_action_is_the_last_applied_action_after_the_joints_and_zero_after_reset():
    io = PolicyIO(_contract(prev_action=True, chunk=2))
    assert io.policy_due(0)
    first = io.observe(_flat(1), JOINTS)
    np.testing.assert_array_equal(first.low_dim, np.concatenate([JOINTS, np.zeros(4)]).astype(np.float32))
    chunk = np.array([[0.1, 0.2, 0.3, 0.4], [-0.1, -0.2, -0.3, -0.4]], np.float32)
    io.load(chunk.reshape(-1))
    io.action_at(0)
    io.action_at(1)
    assert io.policy_due(2)
    again = io.observe(_flat(2), JOINTS + 1)
    np.testing.assert_array_equal(again.low_dim[:6], (JOINTS + 1).astype(np.float32))
    np.testing.assert_array_equal(again.low_dim[6:], chunk[1])  # the chunk's last action, not its first
    io.reset()
    np.testing.assert_array_equal(io.observe(_flat(3), JOINTS).low_dim[6:], np.zeros(4, np.float32))


def test_without_prev_action_in_the_contract_the_vector_is_the_joints_alone():
    io = PolicyIO(_contract(prev_action=False))
    inputs = io.observe(_flat(7), JOINTS)
    np.testing.assert_array_equal(inputs.low_dim, JOINTS.astype(np.float32))
    assert inputs.rgb.shape == (6, 8, 8) and inputs.view.shape == (3, 8, 8) and int(inputs.view[0, 0, 0]) == 7


def test_policy_io_refuses_low_dim_a_loop_cannot_measure():
    contract = dataclasses.replace(_contract(False), low_dim=(LowDimKey("cube_pos", 3, "m"),))
    with pytest.raises(ContractError, match=r"low-dim \['cube_pos'\]"):
        PolicyIO(contract)


# -- the action schedule ----------------------------------------------------------------------------------------
def _drive(schedule: ActionSchedule, ticks, skipped=()):
    """Run a loop over ``ticks``: a policy output's actions are [10k, 10k+1, ...] for the k-th call (k from 1)."""
    calls, applied = [], {}
    for tick in ticks:
        if tick in skipped:
            continue
        if schedule.policy_due(tick):
            calls.append(tick)
            k = len(calls)
            schedule.load(np.arange(10 * k, 10 * k + schedule.chunk_length, dtype=np.float32)[:, None])
        applied[tick] = float(schedule.action_at(tick)[0])
    return calls, applied


def test_schedule_repeat_and_chunk_over_ticks():
    """chunk 2, repeat 3: a policy call every 6 ticks, each action held for 3."""
    calls, applied = _drive(ActionSchedule(chunk_length=2, action_repeat=3, size=1), range(14))
    assert calls == [0, 6, 12]
    assert list(applied.values()) == [10, 10, 10, 11, 11, 11, 20, 20, 20, 21, 21, 21, 30, 30]


def test_schedule_repeat_only_and_chunk_only():
    calls, applied = _drive(ActionSchedule(1, 2, 1), range(6))
    assert calls == [0, 2, 4] and list(applied.values()) == [10, 10, 20, 20, 30, 30]
    calls, applied = _drive(ActionSchedule(3, 1, 1), range(7))
    assert calls == [0, 3, 6] and list(applied.values()) == [10, 11, 12, 20, 21, 22, 30]


def test_skipped_ticks_keep_the_tick_clock_and_consume_no_action():
    """A skipped decision tick (stale frame, failed read) leaves the held action on and the chunk unconsumed:
    tick 3 is skipped, so action 11 starts at tick 6, the next call waits for tick 9 and the one after for 15."""
    calls, applied = _drive(ActionSchedule(2, 3, 1), range(16), skipped={3})
    assert calls == [0, 9, 15]
    assert applied == {
        **{0: 10, 1: 10, 2: 10, 4: 10, 5: 10, 6: 11, 7: 11, 8: 11},
        **{9: 20, 10: 20, 11: 20, 12: 21, 13: 21, 14: 21, 15: 30},
    }


def test_reset_drops_the_pending_chunk_and_zeroes_the_held_action():
    schedule = ActionSchedule(3, 1, 2)
    schedule.load(np.arange(6, dtype=np.float32))
    np.testing.assert_array_equal(schedule.action_at(0), [0, 1])
    assert not schedule.policy_due(1)
    schedule.reset()
    assert schedule.policy_due(0)
    np.testing.assert_array_equal(schedule.previous_action, [0, 0])
    with pytest.raises(RuntimeError, match="call the policy"):
        schedule.action_at(0)


def test_schedule_rejects_nonsense_lengths():
    for chunk, repeat in ((0, 1), (1, 0)):
        with pytest.raises(ValueError, match=">= 1"):
            ActionSchedule(chunk, repeat, 4)


class _Recorder(gym.Wrapper):
    """Records every action the raw env is stepped with."""

    def __init__(self, env):
        super().__init__(env)
        self.actions: list[np.ndarray] = []

    def step(self, action):
        self.actions.append(np.array(action, np.float32))
        return self.env.step(action)


def test_sim_wrappers_play_the_runtime_schedule():
    """ActionSequence(ActionRepeat(raw)) steps the raw env with exactly the actions PolicyIO's schedule applies
    on consecutive control ticks."""
    raw = _Recorder(SO101LiftEnv(EnvConfig(obs="state")))
    env = ActionSequence(ActionRepeat(raw, 3), 2)
    env.reset(seed=0)
    schedule = ActionSchedule(chunk_length=2, action_repeat=3, size=4)
    rng = np.random.default_rng(0)
    expected = []
    tick = 0
    for _ in range(3):
        output = rng.uniform(-1, 1, 8).astype(np.float32)
        env.step(output)
        assert schedule.policy_due(tick)
        schedule.load(output)
        expected.append(schedule.action_at(tick))
        tick += 1
        while not schedule.policy_due(tick):
            expected.append(schedule.action_at(tick))
            tick += 1
    assert len(raw.actions) == len(expected) == 18
    np.testing.assert_array_equal(np.array(raw.actions), np.array(expected))
    env.close()


def test_runtime_policy_io_builds_the_sim_wrappers_observation_at_every_policy_step():
    """On a seeded sim episode with prev_action, a 3-frame stack, chunks of 2 and repeat 2: PolicyIO fed the
    native frame and the raw joint reading (what the runtime gets from camera and bus) builds exactly the
    wrapped env's rgb stack and low-dim vector at every policy step, and applies exactly the raw env's actions."""
    cfg = EnvConfig(include_prev_action=True, frame_stack=3, action_sequence=2, action_repeat=2)
    raw = SO101LiftEnv(cfg)
    recorder = _Recorder(raw)
    env = wrap_env(recorder, cfg)
    io = PolicyIO(contract_for_env(cfg))
    obs, _ = env.reset(seed=4)
    io.reset()
    rng = np.random.default_rng(1)
    tick, policy_steps, applied = 0, 0, []
    while policy_steps < 8:
        assert io.policy_due(tick)
        inputs = io.observe(raw.render_wrist(), raw.data.qpos[raw.task.qadr])
        np.testing.assert_array_equal(inputs.rgb, obs["rgb"])
        np.testing.assert_array_equal(inputs.low_dim, obs["low_dim_state"])
        output = rng.uniform(-1, 1, 8).astype(np.float32)
        io.load(output)
        applied.append(io.action_at(tick))
        tick += 1
        while not io.policy_due(tick):
            applied.append(io.action_at(tick))
            tick += 1
        obs, _, terminated, truncated, _ = env.step(output)
        policy_steps += 1
        assert not (terminated or truncated)
    np.testing.assert_array_equal(np.array(recorder.actions), np.array(applied))
    assert len(applied) == 8 * 4
    env.close()


# -- the runtime loop builds no policy inputs by hand -------------------------------------------------------
HAND_BUILT_NAMES = {"FrameStacker", "preprocess_frame", "FramePipeline", "low_dim_vector", "concat_named"}
HAND_BUILT_ATTRS = {
    "stacker": "reaches into a frame stacker",
    "preprocess": "preprocesses frames itself",
    "pop": "pops actions off a chunk",
    "reshape": "reshapes the policy output itself",
    "concatenate": "concatenates inputs itself",
    "action_repeat": "schedules actions from the contract's repeat",
    "chunk_length": "schedules actions from the contract's chunk length",
    "low_dim": "reads the contract's low-dim keys",
}


def hand_built_policy_inputs(source: str) -> list[str]:
    """Lines of ``source`` that build policy inputs or schedule actions themselves instead of calling
    policies.io: modulo on ticks, chunk popping, low-dim key names, stacker/preprocessing use."""
    found = []
    low_dim_names = {"joint_pos", "prev_action"}
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            if any(isinstance(n, ast.Name) and "tick" in n.id for n in ast.walk(node)):
                found.append(f"{line}: modulo on ticks")
        elif isinstance(node, ast.Constant) and node.value in low_dim_names:
            found.append(f"{line}: name match on low-dim key {node.value!r}")
        elif isinstance(node, ast.Name) and node.id in HAND_BUILT_NAMES:
            found.append(f"{line}: uses {node.id} directly")
        elif isinstance(node, ast.Attribute) and node.attr in HAND_BUILT_ATTRS:
            # ``inputs.low_dim`` is PolicyIO's built vector; only the contract's key list is off limits
            if node.attr == "low_dim" and not (
                isinstance(node.value, ast.Name) and node.value.id == "contract"
            ):
                continue
            found.append(f"{line}: {HAND_BUILT_ATTRS[node.attr]} (.{node.attr})")
        elif isinstance(node, ast.ImportFrom) and any(a.name in HAND_BUILT_NAMES for a in node.names):
            found.append(f"{line}: imports {[a.name for a in node.names if a.name in HAND_BUILT_NAMES]}")
    return found


OLD_LOOP_BODY = """
repeat, chunk = contract.action.action_repeat, contract.action.chunk_length
if tick % repeat == 0:
    if not actions:
        low_dim = [q.astype(np.float32)]
        if any(k.name == "prev_action" for k in contract.low_dim):
            low_dim.append(prev_action)
        stacked = self.policy.stacker.push(self.policy.preprocess(image))
        out = self.policy.run(stacked[None], np.concatenate(low_dim)[None])[0]
        actions = list(out.reshape(chunk, contract.action.size))
    action = np.asarray(actions.pop(0), dtype=np.float64)
"""


def test_the_hand_built_input_check_catches_each_pattern_of_the_old_loop():
    found = " | ".join(hand_built_policy_inputs(OLD_LOOP_BODY))
    for what in ("modulo on ticks", "'prev_action'", ".stacker", ".preprocess", ".pop", ".reshape",
                 ".concatenate", ".action_repeat", ".chunk_length", ".low_dim"):  # fmt: skip
        assert what in found, (what, found)


def test_runtime_loop_builds_no_policy_inputs_by_hand():
    assert hand_built_policy_inputs(LOOP.read_text()) == []
