"""A second task defined only here runs through the env, the policy wrappers, the trainer's demo recorder and
the twin, none of which names it: the proof that the Task interface and registry are the whole story."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sim.config import EnvConfig
from sim.env import RAW_ENV_ID, SO101Env
from sim.poses import home_pose, top_down_pose
from sim.tasks import RewardRegistry, Task, register_task, task_class, task_names, unregister_task
from sim.tasks.lift import LiftTask

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from rich.console import Console

from policies.drqv2.config import TrainConfig
from policies.drqv2.trainer import collect_demos, obs_spec
from policies.training.checks import check_env
from policies.wrappers import make_env
from so101_deploy.twin.world import TwinWorld, WorldConfig

TARGET_LOW, TARGET_HIGH = (0.18, -0.08, 0.05), (0.26, 0.08, 0.10)
REACHED_M = 0.01


@dataclass
class ReachState:
    tool_pos: np.ndarray
    target_pos: np.ndarray

    @property
    def distance(self) -> float:
        return float(np.linalg.norm(self.target_pos - self.tool_pos))


REACH_REWARDS: RewardRegistry[ReachState] = RewardRegistry("reach")


@REACH_REWARDS.register("negative_distance")
def negative_distance(s: ReachState, success: bool) -> float:
    return -s.distance + float(success)


class ReachTask(Task[ReachState]):
    """Move the tool point to a floating target (a mocap sphere that touches nothing)."""

    stages = {0: "arm at home, target anywhere in the box"}
    privileged_layout = {"tool_pos": (3, 5.0), "target_pos": (3, 5.0)}
    rewards = REACH_REWARDS

    def __init__(self, cfg, model, kinematics, params):
        super().__init__(cfg, model, kinematics, params)
        self.tool_site = model.site("gripperframe").id
        self.mocap = model.body_mocapid[model.body("reach_target").id]

    @classmethod
    def add_to_scene(cls, spec: mujoco.MjSpec, cfg: EnvConfig) -> None:
        target = spec.worldbody.add_body(name="reach_target", mocap=True, pos=[0.22, 0.0, 0.08])
        target.add_geom(
            type=mujoco.mjtGeom.mjGEOM_SPHERE,
            size=[0.008, 0, 0],
            rgba=[0.1, 0.8, 0.2, 1],
            contype=0,
            conaffinity=0,
        )

    @classmethod
    def expert(cls, cfg: EnvConfig):
        return ReachExpert(cfg, cls.privileged_slices())

    def reset(self, data, rng):
        mujoco.mj_resetData(self.model, data)
        q = home_pose(self.kin, self.params)
        data.qpos[self.qadr] = q
        data.mocap_pos[self.mocap] = rng.uniform(TARGET_LOW, TARGET_HIGH)
        data.ctrl[:] = q
        mujoco.mj_forward(self.model, data)
        return q.copy()

    def measure(self, data, action):
        return ReachState(data.site_xpos[self.tool_site].copy(), data.mocap_pos[self.mocap].copy())

    def succeeded(self, state):
        return state.distance < REACHED_M

    def privileged(self, state):
        return {
            "tool_pos": state.tool_pos.astype(np.float32),
            "target_pos": state.target_pos.astype(np.float32),
        }

    def info(self, state):
        return {"distance": state.distance}

    def ground_truth(self, state):
        return {
            "distance": round(state.distance, 5),
            "target_pos": [round(float(v), 5) for v in state.target_pos],
        }

    def object_xy(self, data):
        return data.mocap_pos[self.mocap][:2]


class ReachExpert:
    """Proportional end-effector steps towards the target, read from the privileged state."""

    def __init__(self, cfg: EnvConfig, slices: dict[str, slice]):
        self.cfg, self.slices = cfg, slices

    def reset(self) -> None:
        pass

    def act(self, obs: dict) -> np.ndarray:
        state = np.asarray(obs["privileged_state"], np.float64)
        delta = state[self.slices["target_pos"]] - state[self.slices["tool_pos"]]
        step = self.cfg.ee_step_m * self.cfg.action_repeat * self.cfg.action_sequence
        action = np.concatenate([np.clip(0.8 * delta / step, -1.0, 1.0), [-1.0]]).astype(np.float32)
        return np.tile(action, self.cfg.action_sequence)


class BlindReachTask(ReachTask):
    """The same task without an expert."""

    @classmethod
    def expert(cls, cfg: EnvConfig):
        return None


REACH = EnvConfig(task="reach", stage=0, reward_version="negative_distance", obs="state", episode_steps=60)


@pytest.fixture(autouse=True)
def reach_registered():
    register_task("reach")(ReachTask)
    register_task("reach_blind")(BlindReachTask)
    yield
    unregister_task("reach")
    unregister_task("reach_blind")


def run_expert(env, cfg: EnvConfig, seed: int) -> tuple[list[float], dict]:
    expert = task_class(cfg.task).expert(cfg)
    obs, _ = env.reset(seed=seed)
    expert.reset()
    rewards, done, info = [], False, {}
    while not done:
        obs, reward, terminated, truncated, info = env.step(expert.act(obs))
        rewards.append(reward)
        done = terminated or truncated
    return rewards, info


def test_registry_lists_both_tasks_and_refuses_unknown_and_clashing_names():
    assert {"lift", "reach"} <= set(task_names())
    assert task_class("lift") is LiftTask and task_class("reach").name == "reach"
    with pytest.raises(ValueError, match="unknown task 'nope'; valid tasks: .*lift.*reach"):
        SO101Env(task="nope")
    with pytest.raises(ValueError, match="already registered"):
        register_task("reach")(BlindReachTask)
    with pytest.raises(
        ValueError, match="unknown reward version 'dense_v1' for task 'reach'.*negative_distance"
    ):
        SO101Env(task="reach", stage=0)  # lift's default reward names nothing in reach's registry
    with pytest.raises(ValueError, match="valid stages: 0 "):
        SO101Env(task="reach", stage=3, reward_version="negative_distance")


def test_training_preflight_checks_the_configured_tasks_stages():
    check_env(REACH)
    with pytest.raises(ValueError, match="env.stage: unknown curriculum stage 3 of task 'reach'"):
        check_env(dataclasses.replace(REACH, stage=3))  # a lift stage, not a reach one
    with pytest.raises(ValueError, match="env.task: unknown task 'nope'; valid tasks: "):
        check_env(dataclasses.replace(REACH, task="nope"))


def test_raw_env_builds_the_task_scene_spaces_rewards_and_success():
    env = gym.make(RAW_ENV_ID, task="reach", stage=0, reward_version="negative_distance", obs="state")
    raw = env.unwrapped
    assert raw.model.body("reach_target").mocapid >= 0
    with pytest.raises(KeyError):
        raw.model.body("cube")  # lift's object is lift's, not the scene's
    assert raw.privileged_keys == ("tool_pos", "target_pos")
    obs, info = env.reset(seed=3)
    assert set(obs) == {"joint_pos", "tool_pos", "target_pos"}
    assert TARGET_LOW[0] <= obs["target_pos"][0] <= TARGET_HIGH[0]
    assert info["distance"] == pytest.approx(np.linalg.norm(obs["target_pos"] - obs["tool_pos"]), abs=1e-6)
    _, reward, terminated, _, info = env.step(np.zeros(4, np.float32))
    assert reward == pytest.approx(-info["distance"]) and not terminated and not info["success"]
    env.close()


def test_wrappers_and_the_tasks_expert_reach_the_target():
    env = make_env(REACH)
    assert env.observation_space["privileged_state"].shape == (6,)
    rewards, info = run_expert(env, REACH, seed=0)
    assert info["success"] and info["distance"] < REACHED_M
    assert rewards[-1] > rewards[0] + 0.9  # closer, plus the success bonus
    assert len(rewards) < REACH.episode_steps  # terminated on success, not truncated
    pixels = make_env(EnvConfig(**{**REACH.__dict__, "obs": "pixels"}))
    obs, _ = pixels.reset(seed=0)
    assert obs["rgb"].shape == (9, 84, 84) and obs["privileged_state"].shape == (6,)
    env.close()
    pixels.close()


def test_demo_recorder_asks_the_task_for_its_expert():
    cfg = TrainConfig(env=REACH, demo_episodes=2, seed=5)
    env = make_env(REACH)
    spec = obs_spec(env.observation_space, env.action_space)
    env.close()
    demos = collect_demos(cfg, spec, Console(quiet=True))
    assert 4 < len(demos) < 2 * REACH.episode_steps  # two successful episodes, each ended early
    blind = TrainConfig(env=EnvConfig(**{**REACH.__dict__, "task": "reach_blind"}), demo_episodes=2)
    with pytest.raises(ValueError, match="task 'reach_blind' has no scripted expert.*demo_episodes=0"):
        collect_demos(blind, spec, Console(quiet=True))


def test_twin_world_resets_measures_and_judges_the_task():
    world = TwinWorld(WorldConfig(env=REACH, seed=4))
    target = np.array(world.state()["target_pos"])
    assert world.state()["stage"] == 0 and not world.state()["success"]
    q = top_down_pose(world.kinematics, world.params, target, world.params.gripper_open_rad)
    for i, angle in enumerate(q):
        world.set_goal(i, float(angle))
    world.advance(1.5)
    state = world.state()
    assert state["distance"] < REACHED_M and state["success"]
