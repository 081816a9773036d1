"""The raw lift env and the policy-facing SO101Lift-v0: spaces, curriculum, rewards, and no privileged leak."""

import warnings

from sim.config import EnvConfig
from sim.env import SO101LiftEnv
from sim.kinematics import DOWN
from sim.scene import PhysicsTiming
from sim.tasks.lift import PRIVILEGED_KEYS, PRIVILEGED_LAYOUT, REWARDS, LiftLayout

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import policies.wrappers  # noqa: F401  (registers SO101Lift-v0)
from policies.contract import contract_for_env
from policies.wrappers import make_env


def test_raw_observation_shapes_and_dtypes():
    env = SO101LiftEnv(EnvConfig(include_prev_action=True))
    obs, info = env.reset(seed=0)
    assert obs["rgb"].shape == (84, 84, 3) and obs["rgb"].dtype == np.uint8
    assert obs["joint_pos"].shape == (6,) and obs["joint_pos"].dtype == np.float32
    assert obs["prev_action"].shape == (4,) and obs["prev_action"].dtype == np.float32
    for key in PRIVILEGED_KEYS:
        assert obs[key].shape == (PRIVILEGED_LAYOUT[key][0],) and obs[key].dtype == np.float32
    assert env.observation_space.contains(obs)
    assert isinstance(info["success"], bool)
    env.close()


@pytest.mark.parametrize(
    ("overrides", "low_dim", "action_dim"),
    [
        ({}, 6, 4),
        ({"include_prev_action": True}, 10, 4),
        ({"action_sequence": 2, "action_type": "joint_delta"}, 6, 12),
    ],
)
def test_wrapped_observation_and_action_spaces(overrides, low_dim, action_dim):
    cfg = EnvConfig(**overrides)
    env = make_env(cfg, seed=3)
    obs, info = env.reset(seed=3)
    assert set(obs) == {"rgb", "low_dim_state", "privileged_state"}
    assert obs["rgb"].shape == (9, 84, 84) and obs["rgb"].dtype == np.uint8
    assert obs["low_dim_state"].shape == (low_dim,) and obs["low_dim_state"].dtype == np.float32
    assert obs["privileged_state"].shape == (22,) and obs["privileged_state"].dtype == np.float32
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (action_dim,), np.float32)
    assert env.observation_space.contains(obs)
    obs, *_ = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs)
    assert contract_for_env(cfg).low_dim_size == low_dim
    env.close()


def test_state_mode_has_no_image():
    env = make_env(EnvConfig(obs="state"))
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"low_dim_state", "privileged_state"}
    env.close()


def test_gym_make_passes_the_gymnasium_checker():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # check_env warns that a wrapped env is not the raw one
        env = gym.make("SO101Lift-v0", stage=2)
        check_env(env.unwrapped, skip_render_check=True)
        check_env(env, skip_render_check=True)
        env.close()
        raw = gym.make("SO101LiftRaw-v0", render_mode="rgb_array")
        check_env(raw.unwrapped)
        raw.close()


def test_low_dim_state_is_the_joint_readings_and_nothing_else():
    env = make_env(EnvConfig(), seed=0)
    obs, _ = env.reset(seed=0)
    raw = env.unwrapped
    np.testing.assert_array_equal(obs["low_dim_state"], raw.data.qpos[raw.task.qadr].astype(np.float32))
    assert [k.name for k in contract_for_env(raw.cfg).low_dim] == ["joint_pos"]
    assert not set(PRIVILEGED_KEYS) & set(raw.low_dim_keys)
    env.close()


def test_no_privileged_quantity_reaches_low_dim_state():
    """Two worlds that differ only in where the cube is: identical low-dim inputs, different privileged state."""
    cfg = EnvConfig(stage=4, obs="state")
    envs = [make_env(cfg), make_env(cfg)]
    obs = [e.reset(seed=7)[0] for e in envs]
    raw = envs[1].unwrapped
    cube = raw.task.cube_qadr
    raw.data.qpos[cube : cube + 2] += [0.03, -0.05]  # same arm, cube elsewhere (still far from the gripper)
    mujoco.mj_forward(raw.model, raw.data)
    actions = np.random.default_rng(0).uniform(-1, 1, (15, 4)).astype(np.float32)
    actions[:, 2] = np.abs(actions[:, 2])  # keep the gripper off the table and away from the cube
    for a in actions:
        obs = [e.step(a)[0] for e in envs]
        np.testing.assert_array_equal(obs[0]["low_dim_state"], obs[1]["low_dim_state"])
        assert not np.allclose(obs[0]["privileged_state"][:3], obs[1]["privileged_state"][:3])
    for e in envs:
        e.close()


def _state(env):
    return env.unwrapped.task.measure(env.unwrapped.data, np.zeros(4))


def test_curriculum_stage_resets():
    lay, cfg = LiftLayout(), EnvConfig(obs="state")
    half = cfg.cube_size / 2
    homes = []
    for stage in range(5):
        env = make_env(EnvConfig(stage=stage, obs="state"))
        raw = env.unwrapped
        for seed in range(4):
            obs, info = env.reset(seed=seed)
            s = _state(env)
            q = obs["low_dim_state"]
            if stage == 0:
                homes.append(q)
                assert s.cube_pos[2] == pytest.approx(half, abs=1e-3)
                assert lay.cube_low[0] - 0.01 < s.cube_pos[0] < lay.cube_high[0] + 0.01
            elif stage == 1:
                assert info["grasped"] and s.cube_pos[2] > cfg.lift_height
            elif stage == 2:
                assert info["grasped"] and s.cube_pos[2] == pytest.approx(half, abs=3e-3)
            elif stage == 3:
                assert not s.fixed_contact and not s.moving_contact
                assert q[5] == pytest.approx(raw.params.gripper_open_rad, abs=0.03)
                assert raw.kinematics.approach_axis(q.astype(float)) @ DOWN > np.cos(np.radians(3))
                assert s.tool_pos[2] - cfg.cube_size == pytest.approx(lay.approach_height, abs=0.005)
                assert np.linalg.norm(s.jaw_centre[:2] - s.cube_pos[:2]) < 0.06
            else:
                assert np.linalg.norm(s.tool_pos[:2] - s.cube_pos[:2]) > lay.far_min_dist - 0.01
                assert not info["grasped"]
        env.close()
    np.testing.assert_allclose(homes[0], homes[-1], atol=1e-3)  # stage 0 always starts at home


def test_unknown_stage_and_reward_version_list_the_valid_ones():
    with pytest.raises(ValueError, match=r"valid stages: 0 .*4 "):
        SO101LiftEnv(stage=7)
    with pytest.raises(ValueError, match="dense_v1, sparse_v1"):
        SO101LiftEnv(reward_version="v11")
    with pytest.raises(ValueError, match="ee_delta, joint_delta"):
        SO101LiftEnv(action_type="cartesian")


def test_model_path_points_at_another_mjcf(tmp_path):
    from sim.arm_model import arm_mjcf_path

    env = SO101LiftEnv(model_path=str(arm_mjcf_path()), obs="state")  # the same file, named explicitly
    assert env.reset(seed=0)[0]["joint_pos"].shape == (6,)
    with pytest.raises(FileNotFoundError, match="model_path"):
        SO101LiftEnv(model_path=str(tmp_path / "nowhere.xml"))


def test_reward_versions_on_a_held_cube():
    """Stage 1 starts grasped above the lift height: holding closed succeeds after hold_steps control steps."""
    assert {"dense_v1", "sparse_v1"} <= set(REWARDS)
    for version in ("sparse_v1", "dense_v1"):
        env = SO101LiftEnv(stage=1, reward_version=version, obs="state", hold_steps=5)
        env.reset(seed=0)
        rewards, terminated = [], False
        while not terminated:
            _, reward, terminated, truncated, info = env.step(np.array([0, 0, 0, 1.0], np.float32))
            rewards.append(reward)
        assert len(rewards) == 5 and info["success"]
        if version == "sparse_v1":
            assert rewards == [0.0, 0.0, 0.0, 0.0, 1.0]
        else:
            assert rewards[-1] > rewards[0] + 4.0  # the success bonus
            assert min(rewards) > 3.0  # grasped, lifted, jaws on the cube
        env.close()


def test_dense_reward_prefers_the_gripper_near_the_cube():
    near, far = SO101LiftEnv(stage=3, obs="state"), SO101LiftEnv(stage=4, obs="state")
    rewards = []
    for env in (near, far):
        env.reset(seed=1)
        rewards.append(env.step(np.zeros(4, np.float32))[1])
        env.close()
    assert rewards[0] > rewards[1] + 0.2


def test_control_rate_sets_the_physics_substeps():
    assert PhysicsTiming.for_rate(20.0) == PhysicsTiming(20.0, 25, 0.002)
    thirty = PhysicsTiming.for_rate(30.0)
    assert thirty.n_substeps == 17 and thirty.timestep * 17 == pytest.approx(1 / 30)
    env = SO101LiftEnv(control_hz=30.0, obs="state")
    env.reset(seed=0)
    t0 = env.data.time
    env.step(np.zeros(4, np.float32))
    assert env.data.time - t0 == pytest.approx(1 / 30)
    env.close()
