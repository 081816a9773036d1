"""Regenerate the simulation pictures in docs/: the scene, the curriculum starts, the deployable workspace
and the wrist view.

    python -m sim.pictures [--out docs]

The wrist view is shown at a large native size next to the 84x84 policy image (nearest-neighbour enlarged),
at three moments of a scripted-expert episode: hovering, about to close, lifted.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sim.config import EnvConfig
from sim.env import SO101LiftEnv
from sim.tasks.lift import STAGES, ScriptedLiftExpert

import cv2
import imageio.v3 as iio
import numpy as np

TEXT = {"fontFace": cv2.FONT_HERSHEY_SIMPLEX, "fontScale": 0.42, "thickness": 1, "lineType": cv2.LINE_AA}


def label(image: np.ndarray, text: str) -> np.ndarray:
    out = np.ascontiguousarray(image.copy())
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (255, 255, 255), -1)
    cv2.putText(out, text, (6, 16), color=(0, 0, 0), **TEXT)
    return out


def scene_overview(out: Path) -> Path:
    env = SO101LiftEnv(EnvConfig(stage=3))
    env.reset(seed=4)
    path = out / "scene_overview.png"
    iio.imwrite(path, env.render_overview(480, 640))
    env.close()
    return path


def curriculum(out: Path) -> Path:
    tiles = []
    for stage, text in STAGES.items():
        env = SO101LiftEnv(EnvConfig(stage=stage, obs="state"))
        env.reset(seed=2)
        tiles.append(label(env.render_overview(240, 320), f"stage {stage}: {text.split(',')[0]}"))
        env.close()
    tiles.append(np.full_like(tiles[0], 255))
    grid = np.concatenate([np.concatenate(tiles[:3], 1), np.concatenate(tiles[3:], 1)], 0)
    path = out / "curriculum_stages.png"
    iio.imwrite(path, grid)
    return path


def workspace(out: Path, px_per_m: float = 2000.0) -> Path:
    """Top view of the table: the arm at the home pose (`so101 run`'s start), the controller's reach sector and
    the deployable workspace the cube is placed in (``env.workspace``), with cube positions of 200 resets."""
    cfg = EnvConfig(stage=0, obs="state")
    env = SO101LiftEnv(cfg)
    params, ws = env.params, cfg.workspace
    size = (620, 760)  # rows, cols: x (forward) points right, y (left) up
    origin = np.array([80.0, size[0] / 2])

    def px(xy) -> tuple[int, int]:
        return int(round(origin[0] + xy[0] * px_per_m)), int(round(origin[1] - xy[1] * px_per_m))

    def sector(radius, azimuth_rad, n: int = 40) -> np.ndarray:
        pan = np.asarray(params.pan_axis_xy)
        arc = np.linspace(*azimuth_rad, n)
        outer = [pan + radius[1] * np.array([np.cos(a), np.sin(a)]) for a in arc]
        inner = [pan + radius[0] * np.array([np.cos(a), np.sin(a)]) for a in arc[::-1]]
        return np.array([px(p) for p in outer + inner], np.int32)

    img = np.full((*size, 3), 255, np.uint8)
    cv2.polylines(img, [sector(params.reach_radius_m, (-params.max_azimuth_rad, params.max_azimuth_rad))], True,
                  (150, 150, 150), 1, cv2.LINE_AA)  # fmt: skip
    cv2.fillPoly(img, [sector(ws.radius_m, np.deg2rad(ws.azimuth_deg))], (205, 235, 205))
    cubes = []
    for seed in range(200):
        obs, _ = env.reset(seed=seed)
        cubes.append(obs["cube_pos"][:2])
    for c in cubes:
        cv2.circle(img, px(c), 2, (200, 40, 40), -1, cv2.LINE_AA)
    # the arm at home: its bodies' positions (FK of the home pose) joined base -> tool
    kin, home = env.kinematics, env.task.home_q
    kin.fk(home)
    chain = ["base", "shoulder", "upper_arm", "lower_arm", "wrist", "gripper"]
    names = [kin.model.body(i).name for i in range(kin.model.nbody)]
    points = [kin.data.xpos[names.index(b)][:2] for b in chain if b in names]
    tool, _ = kin.fk(home)
    points.append(tool[:2])
    for a, b in zip(points, points[1:], strict=False):
        cv2.line(img, px(a), px(b), (60, 60, 60), 6, cv2.LINE_AA)
    cv2.circle(img, px(tool[:2]), 6, (240, 140, 0), -1, cv2.LINE_AA)
    cv2.circle(img, px(params.pan_axis_xy), 5, (0, 0, 0), -1, cv2.LINE_AA)
    for text, row in (
        (f"grey: controller reach sector (radius {params.reach_radius_m[0]:.2f}-{params.reach_radius_m[1]:.2f} m, "
         f"+-{np.rad2deg(params.max_azimuth_rad):.0f} deg)", 20),
        (f"green: deployable workspace env.workspace (radius {ws.radius_m[0]:.2f}-{ws.radius_m[1]:.2f} m, "
         f"azimuth {ws.azimuth_deg[0]:g}..{ws.azimuth_deg[1]:g} deg from the pan axis)", 40),
        ("red: cube centres of 200 stage-0 resets; dark: arm at the home pose; orange: tool point", 60),
        ("top view, x forward (right), y left (up); ticks on the x axis every 10 cm from the base origin", size[0] - 12),
    ):  # fmt: skip
        cv2.putText(img, text, (8, row), color=(0, 0, 0), **TEXT)
    for metres in np.arange(0.0, 0.35, 0.1):
        cv2.line(img, px((metres, -0.01)), px((metres, 0.01)), (0, 0, 0), 1)
    env.close()
    path = out / "workspace.png"
    iio.imwrite(path, img)
    return path


def wrist_view(out: Path, native: int = 252) -> Path:
    """Native render and the 84x84 image at three moments of an expert episode. The default contract crops
    nothing and renders at 84 px, so the 84x84 render is exactly the policy's input frame."""
    cfg = EnvConfig(stage=3, action_repeat=1)  # the raw env steps one control step at a time
    env, expert = SO101LiftEnv(cfg), ScriptedLiftExpert(cfg)
    obs, _ = env.reset(seed=1)
    moments, done = {}, False
    while not done:
        phase = expert.phase.value
        if phase not in moments or phase == "lift":
            moments[phase] = (env.render_wrist(native), env.render_wrist())
        obs, _, done, truncated, _ = env.step(expert.act(obs))
        done = done or truncated or env.task.hold_count > 4
    env.close()
    rows = []
    for phase in ("hover", "close", "lift"):
        big, small = moments[phase]
        policy = np.kron(small, np.ones((3, 3, 1), np.uint8))
        rows.append(
            np.concatenate(
                [label(big, f"{phase}: native {native}px"), label(policy, "policy input 84x84")], 1
            )
        )
    path = out / "wrist_view.png"
    iio.imwrite(path, np.concatenate(rows, 0))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs")
    out = Path(parser.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    for path in (scene_overview(out), curriculum(out), workspace(out), wrist_view(out)):
        print(path)


if __name__ == "__main__":
    main()
