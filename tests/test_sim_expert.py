"""The scripted expert solves the lift from privileged state, through the same wrapped env a policy uses."""

from sim.config import EnvConfig
from sim.tasks.lift import ScriptedLiftExpert

import numpy as np
import pytest

from policies.wrappers import make_env


def run_episodes(cfg: EnvConfig, seeds) -> list[bool]:
    env, expert = make_env(cfg), ScriptedLiftExpert(cfg)
    results = []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        expert.reset()
        done, info = False, {}
        while not done:
            action = expert.act(obs)
            assert env.action_space.contains(action)
            obs, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
        results.append(bool(info["success"]))
    env.close()
    return results


def test_expert_solves_stage_3():
    assert sum(run_episodes(EnvConfig(stage=3, obs="state"), range(500, 510))) >= 9


@pytest.mark.parametrize("stage", [0, 4])
def test_expert_solves_the_harder_starts(stage):
    assert sum(run_episodes(EnvConfig(stage=stage, obs="state"), range(3))) >= 2


def test_expert_with_pixels_and_action_chunks():
    """Demo collection runs on the pixel env; chunked actions are tiled copies of one action."""
    cfg = EnvConfig(stage=3, action_sequence=2)
    assert run_episodes(cfg, [0]) == [True]
    env = make_env(cfg)
    action = ScriptedLiftExpert(cfg).act(env.reset(seed=0)[0])
    env.close()
    np.testing.assert_array_equal(action[:4], action[4:])


def test_expert_refuses_joint_actions():
    with pytest.raises(ValueError, match="ee_delta"):
        ScriptedLiftExpert(EnvConfig(action_type="joint_delta"))
