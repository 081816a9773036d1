"""Trainer pieces that break silently: gymnasium's next-step autoreset, update accounting, eval statistics."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from policies.drqv2.replay import ReplayBuffer, StepSpec
from policies.drqv2.trainer import VectorRecorder
from policies.training.evaluate import wilson_interval


class Counter(gym.Env):
    """Observation = (episode id, time step); episodes end after ``length`` steps, terminated or truncated."""

    def __init__(self, length: int, terminate: bool, env_id: int):
        self.length, self.terminate, self.env_id = length, terminate, env_id
        self.observation_space = spaces.Dict(
            {
                "low_dim_state": spaces.Box(-1e9, 1e9, (2,), np.float32),
                "privileged_state": spaces.Box(-1e9, 1e9, (1,), np.float32),
            }
        )
        self.action_space = spaces.Box(-1, 1, (1,), np.float32)
        self.episode = -1

    def _obs(self):
        return {
            "low_dim_state": np.array([self.env_id * 100 + self.episode, self.t], np.float32),
            "privileged_state": np.zeros(1, np.float32),
        }

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode += 1
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        done = self.t >= self.length
        return (
            self._obs(),
            float(self.t),
            done and self.terminate,
            done and not self.terminate,
            {"success": done},
        )


def test_autoreset_step_starts_an_episode_and_is_not_a_transition():
    lengths = (3, 5)
    envs = gym.vector.SyncVectorEnv(
        [lambda i=i: Counter(lengths[i], terminate=i == 0, env_id=i) for i in range(2)]
    )
    replay = ReplayBuffer(200, 2, StepSpec(None, 2, 1, 1), frame_stack=1, nstep=1, discount=0.9)
    recorder = VectorRecorder(replay, 2)
    obs, _ = envs.reset(seed=0)
    recorder.start(obs)
    transitions = episodes = 0
    for _ in range(31):
        out = envs.step(np.zeros((2, 1), np.float32))
        steps, ended = recorder.step(
            np.zeros((2, 1), np.float32),
            out[0],
            out[1],
            out[2],
            out[3],
            out[4].get("success", np.zeros(2, bool)),
        )
        transitions += steps
        episodes += ended
    # 31 vector steps: env 0 runs 3-step episodes + 1 reset step each (4 steps), env 1 5 + 1 (6 steps)
    assert transitions == (31 // 4 * 3 + min(31 % 4, 3)) + (31 // 6 * 5 + min(31 % 6, 5))
    assert episodes == (31 + 1) // 4 + (31 + 1) // 6  # an episode ends on steps 3, 7, ... and 5, 11, ...
    assert recorder.finished["episode_length"][:2] == [3.0, 5.0]
    assert recorder.finished["episode_return"][0] == 1 + 2 + 3
    assert all(s == 1.0 for s in recorder.finished["success_rate"])
    # every sampled transition stays inside one episode and advances time by exactly one step
    batch = replay.sample(256)
    now, nxt = batch["obs"]["low_dim_state"], batch["next_obs"]["low_dim_state"]
    assert np.array_equal(now[:, 0], nxt[:, 0])
    assert np.array_equal(nxt[:, 1], now[:, 1] + 1)
    np.testing.assert_array_equal(batch["reward"][:, 0], nxt[:, 1])  # the reward of the step into next_obs
    # env 0 terminates (no bootstrap from its last step), env 1 is truncated (bootstraps)
    last = nxt[:, 1] == np.where(now[:, 0] < 100, 3, 5)
    terminal = last & (now[:, 0] < 100)
    assert terminal.any() and (last & ~terminal).any()
    assert np.all(batch["discount"][terminal] == 0.0)
    assert np.all(batch["discount"][~terminal] == pytest.approx(0.9))
    envs.close()


def test_wilson_interval_values():
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson_interval(9, 10) == pytest.approx((0.5958, 0.9821), abs=1e-4)


def test_a_config_saved_with_the_retired_exploration_knob_still_loads():
    """Checkpoints written before num_seed_frames became the one uniform phase carry agent.num_expl_frames."""
    from common.config import to_dict
    from policies.drqv2.checkpoint import config_from_dict
    from policies.drqv2.config import TrainConfig

    saved = to_dict(TrainConfig(num_seed_frames=1234))
    saved["agent"]["num_expl_frames"] = 1234
    assert config_from_dict(saved) == TrainConfig(num_seed_frames=1234)
