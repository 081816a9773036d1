"""The servo calibration's picture in docs/: the homing pose, and what the wrist_roll check compares.

    python -m calibration.pictures [--out docs]

(Here rather than in ``sim.pictures``: it draws what ``calibration.wrist_roll`` sees, and sim is below
calibration.)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sim.config import EnvConfig
from sim.poses import home_pose
from sim.scene import GROUP_COLLISION

import imageio.v3 as iio
import mujoco
import numpy as np

from calibration.align import SimWristView
from calibration.wrist_roll import WRIST_ROLL, check_pose


def calibration_pose(out: Path, size: int = 200) -> Path:
    """The servo calibration's homing pose: every arm joint at the model's zero (LeRobot's zero), seen from
    the front-left and from its right, the gripper close up; then the wrist view in the check pose with
    wrist_roll right and a quarter turn off (what ``so101 calibrate servos --verify --camera`` compares)."""
    # sim.env and sim.pictures need gymnasium, a training extra: calibration/ must import without it.
    from sim.env import SO101LiftEnv
    from sim.pictures import label

    env = SO101LiftEnv(EnvConfig(stage=0, obs="state"))
    env.reset(seed=0)
    home = home_pose(env.kinematics, env.params)
    model, data = env.model, env.data
    data.qpos[env.task.qadr] = 0.0
    data.qpos[env.task.qadr[-1]] = 0.8  # gripper half open (its middle): the moving jaw shows on top
    data.qpos[env.task.cube_qadr : env.task.cube_qadr + 3] = (0.35, 0.25, 0.0125)  # out of the way
    mujoco.mj_forward(model, data)
    option = mujoco.MjvOption()
    option.geomgroup[GROUP_COLLISION] = 0
    wrist = data.xpos[model.body("gripper").id].copy()
    tiles = []
    with mujoco.Renderer(model, size, size) as renderer:
        views = (("front-left", (0.17, 0.0, 0.15), 0.75, 225, -15),
                 ("from its right", (0.17, 0.0, 0.15), 0.75, 90, -5),
                 ("gripper: moving jaw on top", wrist + (0.05, 0.0, 0.0), 0.3, 90, -5))  # fmt: skip
        for text, lookat, distance, azimuth, elevation in views:
            cam = mujoco.MjvCamera()
            cam.lookat[:] = lookat
            cam.distance, cam.azimuth, cam.elevation = distance, azimuth, elevation
            renderer.update_scene(data, camera=cam, scene_option=option)
            tiles.append(label(renderer.render(), f"arm joints 0: {text}"))
    env.close()
    with SimWristView(EnvConfig(), size) as view:
        look = check_pose(home)
        for text, turn in (("check view: wrist_roll right", 0.0), ("wrist_roll +90 deg off", 90.0)):
            q = look.copy()
            q[WRIST_ROLL] += np.radians(turn)
            tiles.append(label(view.full(q), text))
    grid = np.concatenate(
        [np.concatenate(tiles[:3], 1), np.concatenate([*tiles[3:], np.full_like(tiles[0], 255)], 1)]
    )
    path = out / "calibration_pose.png"
    iio.imwrite(path, grid)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs")
    out = Path(parser.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    print(calibration_pose(out))


if __name__ == "__main__":
    main()
