"""The held-out perturbation set (sim/heldout.py), the visual perturbation the twin applies, and the dr_* presets."""

import json
import math

from sim.config import EnvConfig
from sim.env import SO101LiftEnv
from sim.heldout import (
    HELDOUT_SEED,
    HELDOUT_SHA256,
    KEYS,
    apply_heldout_visuals,
    digest,
    heldout_env_config,
    heldout_perturbations,
)
from sim.heldout import main as heldout_main
from sim.randomize import (
    HELDOUT_TABLE_TEXTURES,
    RandomizationConfig,
    apply_visual_perturbation,
    training_support,
)
from sim.randomize import changed_fields as model_diff
from sim.scene import build_model

import mujoco
import numpy as np
import pytest
import yaml

from common.config import load_config, to_dict
from policies.drqv2.config import TrainConfig
from policies.wrappers import make_env

VISUAL_FIELDS = {"light_dir", "light_diffuse", "vis.headlight.ambient", "vis.headlight.diffuse", "geom_rgba",
                 "geom_matid", "mat_texrepeat", "cam_pos", "cam_quat"}  # fmt: skip


def test_the_set_is_reproducible_from_its_seed():
    first, again = heldout_perturbations(), heldout_perturbations(HELDOUT_SEED)
    assert first == again
    assert digest(first) == HELDOUT_SHA256  # the published set, pinned
    assert heldout_perturbations(HELDOUT_SEED + 1) != first
    assert json.loads(json.dumps(first)) == first  # plain data: dicts, lists, floats, strings
    assert len({p["name"] for p in first}) == len(first)
    for p in first:
        assert tuple(p) == KEYS
        assert set(p["lighting"]) == {"dir", "diffuse", "ambient", "headlight"}
        assert len(p["table_rgba"]) == 4 and len(p["camera_offset"]) == 6
        assert p["table_texture"] in HELDOUT_TABLE_TEXTURES


def test_the_cli_writes_the_same_set(tmp_path):
    out = tmp_path / "heldout.yaml"
    assert heldout_main(["-o", str(out)]) == 0
    assert yaml.safe_load(out.read_text()) == heldout_perturbations()
    assert HELDOUT_SHA256 in out.read_text().splitlines()[0]


@pytest.mark.parametrize("preset", ["dr_off", "dr_default", "dr_strong"])
def test_training_never_samples_a_held_out_perturbation(preset):
    cfg = load_config(TrainConfig, preset)
    model = build_model(cfg.env)
    for p in heldout_perturbations():
        inside = training_support(p, cfg.env.randomization, model, cfg.env.control_hz)
        assert set(inside) == set(KEYS) - {"name"}
        assert not any(inside.values()), (p["name"], inside)


def test_training_support_recognises_what_training_does_sample():
    """The support check can say yes: a value drawn by dr_default is inside it."""
    cfg = load_config(TrainConfig, "dr_default").env
    env = SO101LiftEnv(EnvConfig(obs="state", randomization=cfg.randomization))
    nominal = build_model(env.cfg)
    env.reset(seed=0)
    m, light, table = env.model, env.model.light("key").id, env.model.geom("table").id
    sampled = {
        "lighting": {"dir": m.light_dir[light].tolist(), "diffuse": m.light_diffuse[light].tolist(),
                     "ambient": m.vis.headlight.ambient.tolist(), "headlight": m.vis.headlight.diffuse.tolist()},
        "table_rgba": m.geom_rgba[table].tolist(),
        "table_texture": "checker",
        "camera_offset": [0.003, -0.002, 0.001, 0.01, -0.02, 0.0],
        "latency_ms": 50.0,
        "backlash_deg": 0.5,
        "joint_noise_deg": 0.05,
    }  # fmt: skip
    inside = training_support(sampled, cfg.randomization, nominal, cfg.control_hz)
    assert all(inside.values()), inside
    env.close()


def test_visual_perturbation_changes_visual_fields_only_and_restores():
    p = heldout_perturbations()[0]
    model = build_model(EnvConfig())
    nominal = build_model(EnvConfig())
    cam = model.camera("wrist_cam").id
    snapshot = apply_visual_perturbation(model, p)
    assert model_diff(model, nominal) <= VISUAL_FIELDS
    assert {"light_dir", "cam_pos", "cam_quat", "geom_matid", "geom_rgba"} <= model_diff(model, nominal)
    np.testing.assert_allclose(model.cam_pos[cam] - nominal.cam_pos[cam], p["camera_offset"][:3])
    # the camera turned by the offset's rotation (roll, pitch, yaw about the gripper body axes)
    turn = np.zeros(3)
    rel = np.zeros(4)
    mujoco.mju_negQuat(rel, nominal.cam_quat[cam])
    mujoco.mju_mulQuat(rel, model.cam_quat[cam], rel)
    mujoco.mju_quat2Vel(turn, rel, 1.0)
    assert np.linalg.norm(turn) == pytest.approx(np.linalg.norm(p["camera_offset"][3:]), rel=0.02)
    assert model.geom_matid[model.geom("table").id] == model.material(f"table_{p['table_texture']}").id
    snapshot.restore(model)
    assert model_diff(model, nominal) <= {"mat_texrepeat"}  # an unused material's pattern size


def test_held_out_env_changes_pixels_latency_and_readings():
    p = heldout_perturbations()[1]
    envs = {}
    for name, cfg in (("nominal", EnvConfig()), ("heldout", heldout_env_config(EnvConfig(), p))):
        env = make_env(cfg, seed=0)
        if name == "heldout":
            apply_heldout_visuals(env.unwrapped, p)
        envs[name] = (env, env.reset(seed=0)[0])
    o_nom, (held, o_held) = envs["nominal"][1], envs["heldout"]
    dr = held.unwrapped._dr
    assert dr.queue.delay == round(p["latency_ms"] / 2)  # 2 ms substeps
    assert dr.backlash.half == pytest.approx(np.full(5, math.radians(p["backlash_deg"]) / 2))
    assert dr.readings.cfg.std_deg == p["joint_noise_deg"]
    assert (
        np.abs(o_held["rgb"].astype(int) - o_nom["rgb"].astype(int)).mean() > 10
    )  # another world to look at
    raw = held.unwrapped
    assert not np.array_equal(o_held["low_dim_state"], raw.data.qpos[raw.task.qadr].astype(np.float32))
    np.testing.assert_array_equal(o_held["privileged_state"][:3], o_nom["privileged_state"][:3])  # same cube
    for env, _ in envs.values():
        env.close()


def test_presets_switch_groups_and_strong_is_wider():
    off, default, strong = (load_config(TrainConfig, p) for p in ("dr_off", "dr_default", "dr_strong"))
    assert off.env.randomization == RandomizationConfig()
    base = to_dict(load_config(TrainConfig, "default"))
    for cfg in (off, default, strong):  # `default` plus randomisation: nothing else may drift apart
        mine = to_dict(cfg)
        mine["env"].pop("randomization"), base["env"].pop("randomization", None)
        assert {**mine, "name": "default"} == base, cfg.name
    groups = set(RandomizationConfig().__dataclass_fields__)
    assert set(default.env.randomization.enabled_groups()) == groups
    assert set(strong.env.randomization.enabled_groups()) == groups
    d, s = default.env.randomization, strong.env.randomization
    assert s.lighting.dir_cone_deg > d.lighting.dir_cone_deg
    assert s.camera.episode_pos_m > d.camera.episode_pos_m and s.latency.max_steps > d.latency.max_steps
    assert s.backlash.deg[1] > d.backlash.deg[1] and s.cube.mass_scale[1] > d.cube.mass_scale[1]


def test_dr_strong_runs_end_to_end_on_pixels():
    cfg = load_config(TrainConfig, "dr_strong", ["env.episode_steps=4"]).env
    env = make_env(cfg, seed=1)
    obs, _ = env.reset(seed=1)
    done = False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs) and np.isfinite(reward)
        done = terminated or truncated
    env.close()
