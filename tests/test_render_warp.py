"""The Warp wrist renderer draws the GL renderer's scene, follows everything the randomisers change, and is
what ``env.wrist_renderer=warp`` trains on.

Both renderers draw the same state at 64x64, GL without MSAA (one sample per pixel, as Warp), so any difference
is shading, not sampling. Measured on the states below (home start seeds 2 and 5, gripper above the cube seed 0):
mean |difference| 1.9-2.5 levels of 255 and no value off by more than 32 (Warp's per-pixel lighting and specular
term differ from GL's). Wrong pictures of the same states: the cube 2 cm off 7.3-13.7 with 3.6-8.6% of the values
far off; a lens 5 deg wider that only one renderer sees 6.0-6.5 with 2.5-3.1%; a headlight changed for one of them
7.0-10.5. The bounds sit between the two.
"""

from __future__ import annotations

import dataclasses

from sim.config import EnvConfig
from sim.env import SO101Env
from sim.randomize import RandomizationConfig
from sim.randomize.physics import CubeConfig
from sim.randomize.timing import ObservationDelayConfig
from sim.randomize.visual import CameraJitterConfig, DistractorConfig, LightingConfig, SurfaceConfig
from sim.render import WristRenderer
from sim.render_warp import WarpWristRenderer

import mujoco
import numpy as np
import pytest

SIZE = 64
RIGHT_MEAN, RIGHT_FAR = 4.0, 0.002  # same state
WRONG_MEAN, WRONG_FAR = 5.0, 0.01  # a wrong picture is further than both
FAR_LEVELS = 32
STATES = ((0, 2), (3, 0), (0, 5))  # (lift stage, reset seed)


def difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(mean |a - b|, share of values off by more than FAR_LEVELS) of two uint8 images of one shape."""
    assert a.shape == b.shape == (SIZE, SIZE, 3) and a.dtype == b.dtype == np.uint8
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return float(d.mean()), float((d > FAR_LEVELS).mean())


def assert_same(a, b, what):
    mean, far = difference(a, b)
    assert mean <= RIGHT_MEAN and far <= RIGHT_FAR, (what, mean, far)


def assert_different(a, b, what):
    mean, far = difference(a, b)
    assert mean >= WRONG_MEAN and far >= WRONG_FAR, (what, mean, far)


@pytest.fixture(scope="module")
def scene():
    """One env (the cube placed, arm at the start of each state) with both renderers on its model."""
    cfg = EnvConfig(render_size=SIZE, antialias=False, obs="state")
    env = SO101Env(cfg)
    gl = WristRenderer(env.model, SIZE, cull=False)
    warp = WarpWristRenderer(env.model, cfg, SIZE)
    yield env, gl, warp
    gl.close(), warp.close(), env.close()


def states(env):
    for stage, seed in STATES:
        env.task.stage = stage
        env.reset(seed=seed)
        yield (stage, seed)


def test_it_draws_what_gl_draws_and_not_a_wrong_state(scene):
    env, gl, warp = scene
    m, d = env.model, env.data
    for state in states(env):
        shown = gl.render(d)
        assert_same(shown, warp.render(d), state)
        cube = env.task.cube_qadr
        d.qpos[cube] += 0.02
        mujoco.mj_forward(m, d)
        assert_different(shown, warp.render(d), (state, "cube 2 cm off"))
        assert_same(gl.render(d), warp.render(d), (state, "both see the moved cube"))
        d.qpos[cube] -= 0.02
        mujoco.mj_forward(m, d)


def test_a_changed_lens_and_headlight_reach_its_picture(scene):
    """The camera randomiser changes fovy every frame and the lighting one the headlight every episode: Warp
    bakes both into its kernels unless told not to (rays computed per render, the headlight's stand-in light)."""
    env, gl, warp = scene
    m, d = env.model, env.data
    cam = warp.camera_id
    fovy, ambient, diffuse = (
        float(m.cam_fovy[cam]),
        m.vis.headlight.ambient.copy(),
        m.vis.headlight.diffuse.copy(),
    )
    try:
        for state in states(env):
            before = gl.render(d)
            m.cam_fovy[cam] = fovy + 5.0
            assert_different(before, warp.render(d), (state, "lens 5 deg wider"))
            assert_same(gl.render(d), warp.render(d), (state, "both with the wider lens"))
            m.cam_fovy[cam] = fovy
            m.vis.headlight.ambient[:], m.vis.headlight.diffuse[:] = 0.6, 0.0
            assert_different(before, warp.render(d), (state, "headlight changed"))
            assert_same(gl.render(d), warp.render(d), (state, "both with the changed headlight"))
            m.vis.headlight.ambient[:], m.vis.headlight.diffuse[:] = ambient, diffuse
    finally:
        m.cam_fovy[cam] = fovy
        m.vis.headlight.ambient[:], m.vis.headlight.diffuse[:] = ambient, diffuse


CPU_PRESET_GROUPS = {  # what the `cpu` preset randomises that changes the picture
    "lighting": LightingConfig(enabled=True),
    "camera": CameraJitterConfig(enabled=True),
    "obs_delay": ObservationDelayConfig(enabled=True),
}
EVERY_VISUAL_GROUP = {
    **CPU_PRESET_GROUPS,
    "surfaces": SurfaceConfig(enabled=True),
    "distractors": DistractorConfig(enabled=True),
    "cube": CubeConfig(enabled=True),
}
# Warp samples a texture once per ray where GL filters it: on the speckled and grained tables of the surfaces
# randomiser the two differ by up to 5.4 levels on average, 1.2% of the values far off (seeds 0-5). A table
# texture of the wrong scale (mat_texrepeat not copied) gives 8.8-9.9 with 2.6-10%, the wrong texture or colour
# 26-33.
TEXTURED_MEAN, TEXTURED_FAR = 6.5, 0.02


@pytest.mark.parametrize(
    "groups, bound",
    [(CPU_PRESET_GROUPS, (RIGHT_MEAN, RIGHT_FAR)), (EVERY_VISUAL_GROUP, (TEXTURED_MEAN, TEXTURED_FAR))],
    ids=["cpu_preset", "every_visual"],
)
def test_the_env_trains_on_it_with_the_randomisers_on(groups, bound):
    """``env.wrist_renderer=warp`` against GL, the same seeds, the randomisers on: every observation agrees,
    through the randomised path (an older state's picture under observation delay, the jittered camera)."""
    randomization = dataclasses.replace(RandomizationConfig(), **groups)
    base = EnvConfig(stage=0, render_size=SIZE, antialias=False, randomization=randomization)
    envs = [SO101Env(dataclasses.replace(base, wrist_renderer=r)) for r in ("gl", "warp")]
    rng = np.random.default_rng(0)
    try:
        assert type(envs[1]._wrist_renderer()) is WarpWristRenderer
        brightness = []
        for seed in range(4):
            obs = [env.reset(seed=seed)[0]["rgb"] for env in envs]
            for step in range(3):
                mean, far = difference(*obs)
                assert mean <= bound[0] and far <= bound[1], (seed, step, mean, far)
                brightness.append(obs[0].mean())
                action = rng.uniform(-1, 1, envs[0].action_space.shape).astype(np.float32)
                obs = [env.step(action)[0]["rgb"] for env in envs]
        assert np.ptp(brightness) > 2 * RIGHT_MEAN  # the lighting did change between episodes
    finally:
        for env in envs:
            env.close()


def test_an_unknown_renderer_is_refused():
    with pytest.raises(ValueError, match="env.wrist_renderer"):
        SO101Env(EnvConfig(wrist_renderer="vulkan"))
