"""What randomisation builds into the compiled scene: table texture materials and distractor slots.

The textures are in every scene (unused until assigned), so the digital twin can apply held-out textures to the
model it builds with ``sim.scene.build_model``; distractor geoms exist only when that group is on.
"""

from __future__ import annotations

from sim.randomize.config import RandomizationConfig
from sim.randomize.scene_elements import (
    DISTRACTOR_PREFIX,
    DISTRACTOR_SHAPES,
    HIDDEN_Z,
    TABLE_TEXTURES,
    table_material,
)

import mujoco


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
