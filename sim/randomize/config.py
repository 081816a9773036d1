"""``env.randomization``: one typed config per group, composed; every group off by default."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

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
