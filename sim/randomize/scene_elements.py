"""The scene elements randomisers touch, by the names sim/scene.py gives them, and the table textures as data."""

from __future__ import annotations

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
