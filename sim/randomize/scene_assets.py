"""What randomisation builds into the compiled scene: table texture materials and distractor slots.

The textures are in every scene (unused until assigned), so the digital twin can apply held-out textures to the
model it builds with ``sim.scene.build_model``; distractor geoms exist only when that group is on. The names of
the scene elements randomisers touch (given in sim/scene.py) are here too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mujoco

if TYPE_CHECKING:
    from sim.randomize.config import RandomizationConfig

# Names given to scene elements in sim/scene.py.
KEY_LIGHT = "key"
TABLE_GEOM = "table"
CUBE_GEOM = "cube"
CUBE_BODY = "cube"
DISTRACTOR_PREFIX = "distractor"
HIDDEN_Z = -10.0  # where unused distractors wait, far below the floor

# Table textures as data: name -> (builtin, mark, rgb1, rgb2, markrgb, random, repeats per metre).
# Texture colours multiply the table's (randomised) rgba, so each pattern comes in every table colour.
TABLE_TEXTURES: dict[str, tuple] = {
    "checker": ("checker", "none", (1.0, 1.0, 1.0), (0.72, 0.72, 0.72), (0.0, 0.0, 0.0), 0.0, 10.0),
    "speckle": ("flat", "random", (1.0, 1.0, 1.0), (1.0, 1.0, 1.0), (0.45, 0.45, 0.45), 0.04, 4.0),
    "grain": ("gradient", "none", (1.0, 1.0, 1.0), (0.78, 0.78, 0.78), (0.0, 0.0, 0.0), 0.0, 6.0),
    # held out: never sampled in training (SurfaceConfig refuses them), used by sim.heldout only
    "grid": ("flat", "edge", (1.0, 1.0, 1.0), (1.0, 1.0, 1.0), (0.25, 0.25, 0.25), 0.0, 14.0),
    "blotch": ("gradient", "random", (1.0, 1.0, 1.0), (0.55, 0.55, 0.55), (0.3, 0.3, 0.3), 0.02, 2.5),
}
PLAIN_TABLE = "plain"  # no material: the scene's untextured table
TRAIN_TABLE_TEXTURES = (PLAIN_TABLE, "checker", "speckle", "grain")
HELDOUT_TABLE_TEXTURES = ("grid", "blotch")
DISTRACTOR_SHAPES = ("box", "cylinder", "sphere", "capsule")


def table_material(texture: str) -> str:
    return f"table_{texture}"


def add_scene_assets(spec: mujoco.MjSpec, cfg: RandomizationConfig, group: int) -> None:
    """Table texture materials (unused until assigned) and, when enabled, the distractor geoms (hidden)."""
    for name, (builtin, mark, rgb1, rgb2, markrgb, random, _repeat) in TABLE_TEXTURES.items():
        spec.add_texture(
            name=f"table_tex_{name}",
            type=mujoco.mjtTexture.mjTEXTURE_2D,
            builtin=getattr(mujoco.mjtBuiltin, f"mjBUILTIN_{builtin.upper()}"),
            mark=getattr(mujoco.mjtMark, f"mjMARK_{mark.upper()}"),
            rgb1=list(rgb1),
            rgb2=list(rgb2),
            markrgb=list(markrgb),
            random=random,
            width=128,
            height=128,
        )
        material = spec.add_material(name=table_material(name), texrepeat=[1.0, 1.0], texuniform=True)
        material.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = f"table_tex_{name}"
    if cfg.distractors.enabled:
        for i in range(cfg.distractors.count):
            shape = DISTRACTOR_SHAPES[i % len(DISTRACTOR_SHAPES)]
            spec.worldbody.add_geom(
                name=f"{DISTRACTOR_PREFIX}{i}",
                type=getattr(mujoco.mjtGeom, f"mjGEOM_{shape.upper()}"),
                size=[0.01, 0.01, 0.01],
                pos=[0.0, 0.0, HIDDEN_Z],
                rgba=[0.5, 0.5, 0.5, 1.0],
                group=group,
                contype=0,
                conaffinity=0,
            )


def scene_key(cfg: RandomizationConfig) -> tuple:
    """What of the randomisation changes the compiled scene (for sim.scene's model cache)."""
    return (cfg.distractors.count if cfg.distractors.enabled else 0,)
