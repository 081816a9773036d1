"""Regenerate the simulation pictures in docs/: the scene, the curriculum starts and the wrist view.

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
    for path in (scene_overview(out), curriculum(out), wrist_view(out)):
        print(path)


if __name__ == "__main__":
    main()
