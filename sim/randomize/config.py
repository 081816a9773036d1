"""``env.randomization``: one typed config per group, composed; every group off by default."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from sim.randomize.image import ImageNoiseConfig
from sim.randomize.physics import ActuatorConfig, BacklashConfig, CubeConfig
from sim.randomize.sensing import JointNoiseConfig
from sim.randomize.timing import LatencyConfig, ObservationDelayConfig
from sim.randomize.visual import CameraJitterConfig, DistractorConfig, LightingConfig, SurfaceConfig


@dataclass
class RandomizationConfig:
    """``env.randomization.*``: every group off by default (the env then behaves exactly as without it)."""

    lighting: LightingConfig = field(default_factory=LightingConfig)
    surfaces: SurfaceConfig = field(default_factory=SurfaceConfig)
    distractors: DistractorConfig = field(default_factory=DistractorConfig)
    camera: CameraJitterConfig = field(default_factory=CameraJitterConfig)
    image: ImageNoiseConfig = field(default_factory=ImageNoiseConfig)
    cube: CubeConfig = field(default_factory=CubeConfig)
    actuators: ActuatorConfig = field(default_factory=ActuatorConfig)
    backlash: BacklashConfig = field(default_factory=BacklashConfig)
    joint_noise: JointNoiseConfig = field(default_factory=JointNoiseConfig)
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    obs_delay: ObservationDelayConfig = field(default_factory=ObservationDelayConfig)

    def enabled_groups(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self) if getattr(self, f.name).enabled)

    def sim_enabled(self) -> bool:
        """Any group the raw env applies (``image`` is applied by a wrapper)."""
        return any(g != "image" for g in self.enabled_groups())


PHYSICAL_KEYS = ("latency_ms", "backlash_deg", "joint_noise_deg")


def perturbation_config(perturbation: dict[str, Any]) -> RandomizationConfig:
    """A perturbation's physical keys as one point of the space training samples from: the latency, backlash
    and joint-noise groups with zero-width ranges (the visual keys go onto a model with
    ``apply_visual_perturbation``). The held-out sim (``sim.heldout.heldout_env_config``) and the digital twin
    both run this config through the training randomisers, so a held-out value means the same in each;
    ``training_support`` says whether a training config's ranges contain it.

    Missing keys are 0 (that group off; readings are still quantised, as on the bus)."""
    latency, backlash, noise = (float(perturbation.get(key, 0.0)) for key in PHYSICAL_KEYS)
    for key, value in zip(PHYSICAL_KEYS, (latency, backlash, noise), strict=True):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{key} must be a finite number >= 0 (0 turns it off), got {value}")
    return RandomizationConfig(
        latency=LatencyConfig(enabled=latency > 0, ms=(latency,)),
        backlash=BacklashConfig(enabled=backlash > 0, deg=(backlash, backlash)),
        joint_noise=JointNoiseConfig(enabled=True, std_deg=noise, quantize=True),
    )
