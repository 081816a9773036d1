"""Each domain randomiser changes what it claims and nothing else, on the real lift env (sim/randomize/).

A rollout records physics (qpos, qvel, ctrl), what the policy reads (joint readings, wrist frames) and rewards;
the same seed and actions with one group on are compared with everything off. Model fields are compared too:
each randomiser may touch only its own.
"""

import dataclasses
import math

from sim.config import EnvConfig
from sim.env import SO101LiftEnv
from sim.randomize import (
    ActuatorConfig,
    BacklashConfig,
    CameraJitterConfig,
    CubeConfig,
    DistractorConfig,
    ImageNoiseConfig,
    JointNoiseConfig,
    LatencyConfig,
    LightingConfig,
    ObservationDelayConfig,
    RandomizationConfig,
    SurfaceConfig,
)
from sim.randomize import changed_fields as model_diff
from sim.scene import build_model

import numpy as np
import pytest

from policies.wrappers import CameraImageNoise, make_env
from robot.encoder import TICK_RAD

STEPS = 10


def rollout(rand: RandomizationConfig | None = None, obs="pixels", stage=3, action_type="ee_delta",
            actions=None, seed=5, steps=STEPS):  # fmt: skip
    cfg = EnvConfig(stage=stage, obs=obs, action_type=action_type,
                    randomization=rand or RandomizationConfig())  # fmt: skip
    env = SO101LiftEnv(cfg)
    o, _ = env.reset(seed=seed)
    if actions is None:
        actions = (
            np.random.default_rng(1).uniform(-0.6, 0.6, (steps, env.params.action_dim)).astype(np.float32)
        )
    rec = {k: [] for k in ("qpos", "qvel", "ctrl", "joints", "rgb", "reward", "targets")}

    def add(o, r):
        rec["qpos"].append(env.data.qpos.copy())
        rec["qvel"].append(env.data.qvel.copy())
        rec["ctrl"].append(env.data.ctrl.copy())
        rec["joints"].append(o["joint_pos"].copy())
        rec["rgb"].append(o["rgb"].copy() if "rgb" in o else None)
        rec["reward"].append(r)

    add(o, 0.0)
    for a in actions:
        o, r, terminated, truncated, info = env.step(a)
        add(o, r)
        rec["targets"].append(info["joint_targets"])
    out = {k: np.array(v) if k != "rgb" else v for k, v in rec.items()}
    out["env"], out["nominal_model"] = env, build_model(cfg)
    env.close()
    return out


@pytest.fixture(scope="module")
def nominal():
    return rollout()


def _on(**groups) -> RandomizationConfig:
    return RandomizationConfig(**groups)


def _same_physics(a, b):
    for key in ("qpos", "qvel", "ctrl", "reward"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def _pixel_change(a, b) -> np.ndarray:
    return np.array(
        [np.abs(x.astype(int) - y.astype(int)).mean() for x, y in zip(a["rgb"], b["rgb"], strict=True)]
    )


def test_everything_is_off_by_default_and_costs_nothing():
    cfg = EnvConfig()
    assert cfg.randomization.enabled_groups() == ()
    env = make_env(cfg)
    assert env.unwrapped._dr is None  # the env takes its original code path
    chain, e = [], env
    while e is not e.unwrapped:
        chain.append(type(e))
        e = e.env
    assert CameraImageNoise not in chain
    env.close()


VISUAL = {
    "lighting": (LightingConfig(enabled=True), {"light_dir", "light_diffuse", "vis.headlight.ambient",
                                                 "vis.headlight.diffuse"}),
    "surfaces": (SurfaceConfig(enabled=True), {"geom_rgba", "geom_matid", "mat_texrepeat"}),
    "distractors": (DistractorConfig(enabled=True, probability=1.0, distance_m=(0.03, 0.05)),
                    {"geom_pos", "geom_quat", "geom_size", "geom_rgba"}),
    "camera": (CameraJitterConfig(enabled=True), {"cam_pos", "cam_quat", "cam_fovy"}),
}  # fmt: skip


@pytest.mark.parametrize("group", list(VISUAL))
def test_visual_randomisers_change_pixels_not_physics(group, nominal):
    cfg, allowed = VISUAL[group]
    run = rollout(_on(**{group: cfg}))
    _same_physics(run, nominal)
    np.testing.assert_array_equal(run["joints"], nominal["joints"])
    changed = _pixel_change(run, nominal)
    assert np.all(changed > 0.5), changed  # every frame looks different
    diff = model_diff(run["env"].model, run["nominal_model"])
    assert diff and diff <= allowed, diff


def test_camera_jitter_is_redrawn_every_frame_around_the_configured_pose():
    cfg = CameraJitterConfig(enabled=True, episode_pos_m=0.0, episode_rot_deg=0.0, frame_pos_m=0.002,
                             frame_rot_deg=1.0, fovy_deg=2.0)  # fmt: skip
    env = SO101LiftEnv(EnvConfig(randomization=_on(camera=cfg)))
    cam = env.model.camera("wrist_cam").id
    pos0, fovy0 = build_model(env.cfg).cam_pos[cam].copy(), 60.0
    env.reset(seed=0)
    poses = []
    for _ in range(6):
        env.step(np.zeros(4, np.float32))
        poses.append((env.model.cam_pos[cam].copy(), float(env.model.cam_fovy[cam])))
    assert len({tuple(p) for p, _ in poses}) == 6  # a new draw per frame
    for p, f in poses:
        assert np.all(np.abs(p - pos0) <= 0.002 + 1e-12) and abs(f - fovy0) <= 2.0
    env.close()


def test_cube_randomiser_changes_the_cube_and_nothing_of_the_arm():
    far = dict(stage=4, obs="state")  # gripper far from the cube: the arm never touches it
    base = rollout(**far)
    run = rollout(_on(cube=CubeConfig(enabled=True, size_scale=(1.15, 1.2), mass_scale=(2.0, 2.0))), **far)
    env, qadr = run["env"], run["env"].task.qadr
    np.testing.assert_array_equal(run["qpos"][:, qadr], base["qpos"][:, qadr])  # the arm moves identically
    cube = env.model.geom("cube").id
    half = env.model.geom_size[cube, 0]
    assert 1.15 * 0.0125 <= half <= 1.2 * 0.0125
    assert env.task.cube_size == pytest.approx(2 * half)
    assert env.model.body_mass[env.model.body("cube").id] == pytest.approx(0.030)
    cz = env.task.cube_qadr + 2
    assert run["qpos"][-1, cz] == pytest.approx(half, abs=2e-4)  # rests on the table at its new size
    derived = {
        "body_invweight0",
        "body_subtreemass",
        "dof_M0",
        "dof_invweight0",
        "cam_poscom0",
        "light_poscom0",
        "dof_length",
        "bvh_aabb",
    }  # recomputed by mj_setConst from the new mass and size
    assert model_diff(env.model, run["nominal_model"]) <= {
        "geom_size", "geom_rbound", "geom_aabb", "geom_friction", "body_mass", "body_inertia", *derived
    }  # fmt: skip


def test_actuator_randomiser_changes_servo_dynamics_only():
    base = rollout(obs="state")
    run = rollout(_on(actuators=ActuatorConfig(enabled=True, kp_scale=(0.5, 0.5))), obs="state")
    qadr = run["env"].task.qadr
    assert not np.allclose(run["qpos"][:, qadr], base["qpos"][:, qadr], atol=1e-4)  # softer servos lag more
    np.testing.assert_array_equal(run["targets"], base["targets"])  # same commands
    np.testing.assert_array_equal(run["joints"], run["qpos"][:, qadr].astype(np.float32))  # exact readings
    diff = model_diff(run["env"].model, run["nominal_model"])
    assert diff == {"actuator_gainprm", "actuator_biasprm", "actuator_forcerange", "dof_damping"}
    kp = run["env"].model.actuator_gainprm[:, 0]
    np.testing.assert_allclose(kp, 0.5 * run["nominal_model"].actuator_gainprm[:, 0])


def test_joint_noise_changes_readings_not_physics_or_pixels(nominal):
    cfg = JointNoiseConfig(enabled=True, std_deg=0.2, quantize=True)
    run = rollout(_on(joint_noise=cfg))
    _same_physics(run, nominal)
    assert all(np.array_equal(a, b) for a, b in zip(run["rgb"], nominal["rgb"], strict=True))
    qadr = run["env"].task.qadr
    err = run["joints"].astype(np.float64) - run["qpos"][:, qadr]
    assert np.all(np.abs(err) < math.radians(5 * 0.2) + TICK_RAD) and np.std(err) > math.radians(0.05)
    grid = run["env"]._dr.readings.grid
    ticks = (run["env"]._reading + grid) / TICK_RAD
    np.testing.assert_allclose(ticks, np.round(ticks), atol=1e-6)  # on the 4096-tick grid
    assert model_diff(run["env"].model, run["nominal_model"]) == set()


def test_joint_zero_error_shifts_readings_and_commands_alike():
    """A zero error is in the calibration, which converts readings and commands alike: the arm settles where
    the controller aims minus the error, and reads back its own target (a reading-only offset would leave the
    arm exactly on target and read it ``offset`` away, so the tool would never be anywhere unexpected)."""
    cfg = JointNoiseConfig(enabled=True, std_deg=0.0, offset_deg=3.0, quantize=False)
    hold = np.zeros((40, 6), np.float32)
    hold[:, 5] = -1.0  # gripper open, arm joints held
    run = rollout(_on(joint_noise=cfg), obs="state", action_type="joint_delta", actions=hold)
    env = run["env"]
    offset = env._dr.readings.offset
    assert np.all(np.abs(offset) <= math.radians(3.0)) and np.abs(offset).max() > math.radians(1.0)
    qadr = env.task.qadr
    true_q = run["qpos"][:, qadr]
    np.testing.assert_allclose(run["joints"], true_q + offset, atol=1e-6)  # readings: true + error
    np.testing.assert_allclose(
        run["ctrl"][1:], run["targets"] - offset, atol=1e-12
    )  # commands: target - error
    # settled: the controller reads its own target while the arm is really the error away from it
    np.testing.assert_allclose(run["joints"][-1][:5], run["targets"][-1][:5], atol=math.radians(0.5))
    np.testing.assert_allclose(true_q[-1][:5], run["targets"][-1][:5] - offset[:5], atol=math.radians(0.5))


def test_no_zero_error_leaves_commands_untouched(nominal):
    run = rollout(_on(joint_noise=JointNoiseConfig(enabled=True, std_deg=0.0, quantize=False)))
    _same_physics(run, nominal)
    np.testing.assert_array_equal(run["targets"], nominal["targets"])


def test_backlash_swallows_a_reversal_smaller_than_the_play():
    play = 1.0  # degrees
    step = 0.05  # rad per unit joint_delta action
    fwd = np.array([1, 0, 0, 0, 0, -1], np.float32)  # shoulder_pan +0.05 rad
    back = np.array([-0.15, 0, 0, 0, 0, -1], np.float32)  # -0.0075 rad, twice: less than the 0.0175 play
    actions = np.array([fwd, fwd, back, back, fwd])
    kw = dict(obs="state", stage=4, action_type="joint_delta", actions=actions)
    base = rollout(**kw)
    run = rollout(_on(backlash=BacklashConfig(enabled=True, deg=(play, play))), **kw)
    np.testing.assert_array_equal(run["targets"], base["targets"])  # same commands...
    half = math.radians(play) / 2
    ctrl, cmd = run["ctrl"][1:, 0], run["targets"][:, 0]
    np.testing.assert_allclose(ctrl[:2], cmd[:2] - half)  # ...lagging by half the play while moving up
    np.testing.assert_allclose(ctrl[2:4], ctrl[1])  # the reversal moves nothing
    assert ctrl[4] == pytest.approx(cmd[4] - half)  # taking up the play again
    assert cmd[1] - cmd[3] == pytest.approx(2 * 0.15 * step)
    np.testing.assert_array_equal(run["ctrl"][1:, 5], base["ctrl"][1:, 5])  # gripper has no play
    assert model_diff(run["env"].model, run["nominal_model"]) == set()


@pytest.mark.parametrize("k", [1, 2])
def test_a_latency_of_k_steps_delays_actions_by_exactly_k_steps(k):
    kw = dict(obs="state", action_type="joint_delta", steps=8)
    base = rollout(**kw)
    run = rollout(_on(latency=LatencyConfig(enabled=True, max_steps=k, ms=(1000.0 * k / 20,))), **kw)
    assert run["env"]._dr.queue.delay == 25 * k  # substeps of 2 ms
    np.testing.assert_array_equal(run["targets"], base["targets"])  # the policy's commands are the same
    ctrl, ctrl0 = run["ctrl"], base["ctrl"]
    np.testing.assert_array_equal(ctrl[k + 1 :], ctrl0[1:-k])  # ...and reach the servos k steps later
    np.testing.assert_array_equal(ctrl[1 : k + 1], np.repeat(ctrl0[:1], k, axis=0))  # holding until then
    assert model_diff(run["env"].model, run["nominal_model"]) == set()


def test_latency_has_physics_substep_resolution():
    kw = dict(
        obs="state", action_type="joint_delta", steps=1, actions=np.array([[1, 0, 0, 0, 0, -1]], np.float32)
    )
    moved = {}
    for ms in (0.0, 30.0, 50.0):
        run = rollout(_on(latency=LatencyConfig(enabled=True, ms=(ms,))), **kw)
        assert run["env"]._dr.queue.delay == round(ms / 2)
        moved[ms] = run["qpos"][1, run["env"].task.qadr[0]] - run["qpos"][0, run["env"].task.qadr[0]]
    assert moved[0.0] > moved[30.0] > moved[50.0] + 1e-4  # 30 ms: the new target acts for the last 20 ms
    assert abs(moved[50.0]) < 1e-4  # a whole step late: nothing moved yet


def test_latency_drawn_per_episode_covers_zero_to_k_steps():
    env = SO101LiftEnv(
        EnvConfig(obs="state", randomization=_on(latency=LatencyConfig(enabled=True, max_steps=2)))
    )
    delays = set()
    for seed in range(30):
        env.reset(seed=seed)
        delays.add(env._dr.queue.delay)
    assert delays == {0, 25, 50}
    env.close()


def test_observation_delay_shows_the_frame_of_d_steps_ago(nominal):
    d = 1
    run = rollout(_on(obs_delay=ObservationDelayConfig(enabled=True, max_steps=d, ms=(50.0 * d,))))
    assert run["env"]._dr.frames.delay == d
    _same_physics(run, nominal)
    np.testing.assert_array_equal(run["joints"], nominal["joints"])  # joint readings stay fresh
    for t in range(d + 1, len(run["rgb"])):
        np.testing.assert_array_equal(run["rgb"][t], nominal["rgb"][t - d])
    assert not np.array_equal(run["rgb"][-1], nominal["rgb"][-1])


def test_same_seed_same_draws_and_streams_are_independent():
    rand = RandomizationConfig(lighting=LightingConfig(enabled=True), surfaces=SurfaceConfig(enabled=True),
                               actuators=ActuatorConfig(enabled=True))  # fmt: skip
    envs = [SO101LiftEnv(EnvConfig(obs="state", randomization=rand)) for _ in range(2)]
    envs[0].reset(seed=3)
    envs[1].reset(seed=3)
    assert model_diff(envs[0].model, envs[1].model) == set()
    envs[1].reset(seed=4)
    assert {"light_dir", "actuator_gainprm", "geom_rgba"} <= model_diff(envs[0].model, envs[1].model)
    # switching lighting off leaves the other groups' draws (and the cube placement) exactly as they were
    other = SO101LiftEnv(
        EnvConfig(obs="state", randomization=dataclasses.replace(rand, lighting=LightingConfig()))
    )
    other.reset(seed=3)
    assert model_diff(envs[0].model, other.model) <= {"light_dir", "light_diffuse", "vis.headlight.ambient",
                                                      "vis.headlight.diffuse"}  # fmt: skip
    np.testing.assert_array_equal(envs[0].data.qpos, other.data.qpos)
    plain = SO101LiftEnv(EnvConfig(obs="state"))
    plain.reset(seed=3)
    c = plain.task.cube_qadr
    np.testing.assert_allclose(other.data.qpos[c : c + 2], plain.data.qpos[c : c + 2], atol=1e-6)  # same cube
    for e in (*envs, other, plain):
        e.close()


def test_image_noise_changes_pixels_only():
    only = dict(brightness=0.0, contrast=0.0, saturation=0.0, channel_gain=0.0, blur_probability=0.0)
    rand = _on(image=ImageNoiseConfig(enabled=True, noise_std=(3.0, 3.0), jpeg_quality=(70, 70), **only))
    runs = []
    for r in (RandomizationConfig(), rand):
        env = make_env(EnvConfig(randomization=r), seed=2)
        obs, _ = env.reset(seed=2)
        frames, lows, rewards = [obs["rgb"]], [obs["low_dim_state"]], []
        for a in np.random.default_rng(0).uniform(-0.5, 0.5, (4, 4)).astype(np.float32):
            obs, reward, *_ = env.step(a)
            frames.append(obs["rgb"])
            lows.append(obs["low_dim_state"])
            rewards.append(reward)
        runs.append((np.array(frames), np.array(lows), rewards, env.observation_space.contains(obs)))
        env.close()
    (f0, l0, r0, _), (f1, l1, r1, ok) = runs
    assert ok and f1.dtype == np.uint8 and f1.shape == f0.shape
    np.testing.assert_array_equal(l0, l1)
    assert r0 == r1
    err = np.abs(f0.astype(int) - f1.astype(int)).mean(axis=(1, 2, 3))
    assert np.all((err > 1.0) & (err < 12.0)), err  # visibly noisy, still the same picture
