"""The wrist render: frustum culling changes no pixel, shadows switch it off, the camera pose is configurable."""

import json

from sim.config import EnvConfig, WristCameraConfig
from sim.env import SO101LiftEnv
from sim.render import WristRenderer

import mujoco
import numpy as np
import pytest

from policies.contract import contract_for_env
from policies.wrappers import make_env


def test_culled_wrist_render_is_pixel_identical_to_drawing_everything():
    rng = np.random.default_rng(0)
    compared = culled = 0
    for stage in range(5):
        env = SO101LiftEnv(stage=stage)
        env.reset(seed=stage)
        fast = WristRenderer(env.model, 84, cull=True)
        naive = WristRenderer(env.model, 84, cull=False)
        for step in range(6):
            if step:
                env.step(rng.uniform(-1, 1, 4).astype(np.float32))
            image = fast.render(env.data)
            np.testing.assert_array_equal(image, naive.render(env.data))
            compared += 1
            culled += fast.culled_last
        fast.close(), naive.close(), env.close()
    assert compared == 30
    assert culled / compared >= 10  # most of the arm's ~17 meshes are skipped in a typical frame


def test_shadows_turn_culling_off():
    env = SO101LiftEnv(shadows=True)
    env.reset(seed=0)
    env.render_wrist()
    assert env.model.light_castshadow.any() and not env._wrist.cull
    env.close()


def test_native_render_size_goes_through_the_contract_preprocessing():
    env = make_env(EnvConfig(render_size=128, image_size=84), seed=0)
    obs, _ = env.reset(seed=0)
    assert obs["rgb"].shape == (9, 84, 84)
    assert env.unwrapped.render_wrist().shape == (128, 128, 3)
    env.close()


def test_wrist_camera_pose_and_fovy_come_from_config_or_calibration(tmp_path):
    cam = WristCameraConfig(pos=(0.01, 0.05, -0.03), euler=(-0.4, 0.0, 0.0), fovy=55.0)
    env = SO101LiftEnv(wrist_camera=cam, obs="state")
    cam_id = env.model.camera("wrist_cam").id
    np.testing.assert_allclose(env.model.cam_pos[cam_id], cam.pos)
    assert env.model.cam_fovy[cam_id] == pytest.approx(55.0)
    calib = tmp_path / "camera.json"
    calib.write_text(
        json.dumps({"sim_camera": {"pos": [0.0, 0.045, -0.035], "euler": [-0.6, 0, 0], "fovy": 70.0}})
    )
    cfg = EnvConfig(obs="state", wrist_camera=WristCameraConfig(calibration_file=str(calib)))
    env = SO101LiftEnv(cfg)
    assert env.model.cam_fovy[cam_id] == pytest.approx(70.0)
    np.testing.assert_allclose(env.model.cam_pos[cam_id], [0.0, 0.045, -0.035])
    assert contract_for_env(cfg).image.fovy_deg == pytest.approx(70.0)
    with pytest.raises(FileNotFoundError, match="calibrate camera"):
        SO101LiftEnv(wrist_camera=WristCameraConfig(calibration_file=str(tmp_path / "missing.json")))


def test_overview_and_native_wrist_views_for_videos():
    env = make_env(EnvConfig(), seed=0, render_overview=True)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (480, 640, 3) and frame.dtype == np.uint8 and frame.std() > 10
    assert env.unwrapped.render_wrist(size=240).shape == (240, 240, 3)
    env.close()


def test_default_wrist_camera_sees_the_fixed_fingertip_and_the_cube_and_the_moving_one_when_grasping():
    """The default mount is Menagerie's published one (docs/simulation.md). On a stage-3 approach (gripper open,
    0.8 rad) it sees the fixed fingertip and the cube; the moving fingertip swings out of the 60 deg view when
    open and is back in it from the grasp opening down (0.3 rad; the cube is touched at 0.13)."""
    assert WristCameraConfig().pos == (0.0, 0.055, -0.045) and WristCameraConfig().euler == (-0.57, 0.0, 0.0)
    env = SO101LiftEnv(stage=3, obs="state")
    m, d = env.model, env.data
    cam = m.camera("wrist_cam").id
    tan = np.tan(np.radians(m.cam_fovy[cam]) / 2)

    def in_view(point) -> bool:
        x, y, z = (point - d.cam_xpos[cam]) @ d.cam_xmat[cam].reshape(3, 3)
        return bool(z < 0 and max(abs(x), abs(y)) / (-z * tan) < 0.9)  # inside the image, off its border

    gripper = m.jnt_qposadr[m.joint("gripper").id]
    for seed in range(10):
        env.reset(seed=seed)
        cube = d.qpos[env.task.cube_qadr : env.task.cube_qadr + 3].copy()
        assert d.qpos[gripper] == pytest.approx(0.8, abs=0.05)
        assert in_view(d.geom("static_finger_pad").xpos) and in_view(cube)
        assert not in_view(d.geom("moving_finger_pad").xpos)
        d.qpos[gripper] = 0.3
        mujoco.mj_forward(m, d)
        assert in_view(d.geom("moving_finger_pad").xpos) and in_view(d.geom("static_finger_pad").xpos)
    env.close()
