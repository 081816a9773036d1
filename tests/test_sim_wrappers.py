"""Each wrapper of the policy-facing chain, on the real lift env (and Pendulum for a non-unit action Box)."""

from sim.config import EnvConfig
from sim.env import SO101LiftEnv

import gymnasium as gym
import numpy as np
import pytest

from policies.contract import contract_for_env
from policies.io import preprocess_frame
from policies.wrappers import (
    ActionRepeat,
    ActionSequence,
    ConcatDim,
    RescaleFromTanh,
    TimeLimit,
    make_env,
)

# 4 mm forward per control step: inside the controller's motion limit (a full 1 cm step would need ~0.1 rad of
# elbow_flex in one tick, twice the 0.05 rad bound, and be scaled back), so the tool moves by the scaled action.
FORWARD = 0.4
PLUS_X = np.array([FORWARD, 0.0, 0.0, -1.0], np.float32)
STEP_X = FORWARD * EnvConfig().ee_step_m


def test_time_limit_truncates_and_never_terminates():
    env = make_env(EnvConfig(episode_steps=6, action_repeat=2, obs="state"))
    env.reset(seed=0)
    t0 = env.unwrapped.data.time
    flags = [env.step(np.zeros(4, np.float32))[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]
    assert env.unwrapped.data.time - t0 == pytest.approx(6 / 20)


def test_action_repeat_applies_the_action_for_real_and_renders_once():
    moved = {}
    for repeat in (1, 3):
        env = make_env(EnvConfig(action_repeat=repeat), seed=0)
        env.reset(seed=0)
        raw = env.unwrapped
        start_x, t0, frames0 = (
            raw.task.measure(raw.data, PLUS_X).tool_pos[0],
            raw.data.time,
            raw._wrist.frames,
        )
        env.step(PLUS_X)
        env.step(np.zeros(4, np.float32))  # let the servos catch up with the last target
        moved[repeat] = raw.task.measure(raw.data, PLUS_X).tool_pos[0] - start_x
        assert raw.data.time - t0 == pytest.approx(2 * repeat / 20)
        assert raw._wrist.frames - frames0 == 2  # one frame per wrapped step, none for the repeats
        env.close()
    assert moved[1] == pytest.approx(STEP_X, abs=0.3 * STEP_X)
    assert moved[3] == pytest.approx(3 * STEP_X, abs=0.4 * STEP_X)


def test_episode_end_inside_a_repeat_returns_a_fresh_frame():
    """Stage 1 with hold_steps=3 succeeds on control step 3: inside the second wrapped step's repeat."""
    cfg = EnvConfig(stage=1, hold_steps=3, action_repeat=2)
    env = make_env(cfg, seed=0)
    env.reset(seed=0)
    raw = env.unwrapped
    t0 = raw.data.time
    close = np.array([0, 0, 0, 1.0], np.float32)
    env.step(close)
    obs, reward, terminated, truncated, info = env.step(close)
    assert terminated and info["success"]
    assert raw.data.time - t0 == pytest.approx(3 / 20)
    expected = preprocess_frame(raw.render_wrist(), contract_for_env(cfg).image)
    np.testing.assert_array_equal(obs["rgb"][-3:], expected)


def test_action_sequence_executes_the_chunk_in_order():
    cfg = EnvConfig(action_sequence=2, action_repeat=1, obs="state")
    env = make_env(cfg)
    displacement = {}
    for name, chunk in (("there_and_back", [PLUS_X, -PLUS_X * [1, 1, 1, -1]]), ("twice", [PLUS_X, PLUS_X])):
        env.reset(seed=0)
        raw = env.unwrapped
        start, t0 = raw.task.measure(raw.data, PLUS_X).tool_pos[0], raw.data.time
        env.step(np.concatenate(chunk))
        assert raw.data.time - t0 == pytest.approx(2 / 20)
        env.step(np.zeros(8, np.float32))
        displacement[name] = raw.task.measure(raw.data, PLUS_X).tool_pos[0] - start
    assert abs(displacement["there_and_back"]) < 0.3 * STEP_X
    assert displacement["twice"] == pytest.approx(2 * STEP_X, abs=0.4 * STEP_X)


def test_frame_stack_order_newest_last_and_reset_fills():
    cfg = EnvConfig(frame_stack=3)
    env = make_env(cfg, seed=0)
    obs, _ = env.reset(seed=0)
    stack = obs["rgb"]
    assert stack.shape == (9, 84, 84)
    np.testing.assert_array_equal(stack[0:3], stack[3:6])
    np.testing.assert_array_equal(stack[3:6], stack[6:9])
    image = contract_for_env(cfg).image
    history = [stack]
    for _ in range(3):
        obs, *_ = env.step(np.array([0.0, 0.0, -1.0, -1.0], np.float32))
        newest = preprocess_frame(env.unwrapped.render_wrist(), image)
        np.testing.assert_array_equal(obs["rgb"][6:9], newest)
        np.testing.assert_array_equal(obs["rgb"][0:6], history[-1][3:9])  # everything shifted one slot back
        history.append(obs["rgb"])
    assert not np.array_equal(history[-1][6:9], history[0][6:9])  # the camera moved down


def test_rescale_from_tanh_maps_to_the_inner_bounds():
    env = RescaleFromTanh(gym.make("Pendulum-v1"))  # Box(-2, 2): a real env whose actions are not [-1, 1]
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    np.testing.assert_allclose(env.action(np.array([-1.0])), [-2.0])
    np.testing.assert_allclose(env.action(np.array([0.5])), [1.0])
    np.testing.assert_allclose(env.action(np.array([3.0])), [2.0])
    env.close()


def test_concat_dim():
    raw = SO101LiftEnv(EnvConfig(obs="state", include_prev_action=True))
    env = ConcatDim(raw, ("joint_pos", "prev_action"), "low_dim_state")
    obs, info = env.reset(seed=0)
    assert "joint_pos" not in obs and "cube_pos" in obs
    a = np.array([0.1, -0.2, 0.3, 0.4], np.float32)
    obs, _, _, _, info = env.step(a)
    np.testing.assert_array_equal(obs["low_dim_state"][:6], raw.data.qpos[raw.task.qadr].astype(np.float32))
    np.testing.assert_array_equal(obs["low_dim_state"][6:], a)
    assert env.observation_space.contains(obs)


def test_wrappers_reject_nonsense_lengths():
    raw = SO101LiftEnv(EnvConfig(obs="state"))
    for wrapper in (TimeLimit, ActionRepeat, ActionSequence):
        with pytest.raises(ValueError, match=">= 1"):
            wrapper(raw, 0)
