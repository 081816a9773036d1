"""Domain randomisation: what differs between the training sim and a real SO-101 cell, drawn per episode or step.

Direct transfer of a wrist-camera lift policy has failed before on lighting, camera pose, lens, servo backlash and
~100 ms of latency (docs/robustness.md). Each of those is a small randomiser here, configured by its own dataclass
(ranges, not values) and switched on per group; all are off by default, and with every group off the env takes
exactly its original code path (no per-step work).

Every randomiser draws from its own random stream, spawned from the episode's seed, so switching one on never
shifts the draws of another (or of the task's cube placement): tests can show that each one changes only what it
claims. Visual randomisers mutate only visual model fields and never physics; physical ones never pixels.

The held-out evaluation (``sim.heldout``) uses values outside what these ranges can sample;
``apply_visual_perturbation`` is how the digital twin puts the visual ones onto its own MjModel.

One module per concern, each config beside the code it configures:
  visual         lighting, surfaces, distractors, wrist-camera jitter; the fixed visual perturbation
  image          what the camera's sensor and MJPG path do to a frame (a wrapper applies it)
  physics        cube, actuators, gear backlash
  sensing        joint readings (noise, calibration offset, encoder quantisation)
  timing         action latency queue, camera frame age, the delay sampler
  config         ``RandomizationConfig``: the groups composed; ``perturbation_config``: a fixed point of it
  domain         ``DomainRandomizer``: the env's one handle on all of it
  support        could training sample a value (held-out checks); which model fields changed
  scene_assets   what randomisation builds into the compiled scene
  scene_elements the scene names randomisers touch; the table textures as data
  sampling       the one range-checked uniform draw
  rotations      small rotations as MuJoCo quaternions
"""

from sim.randomize.config import PHYSICAL_KEYS, RandomizationConfig, perturbation_config
from sim.randomize.domain import DomainRandomizer
from sim.randomize.image import ImageCorruptor, ImageNoiseConfig
from sim.randomize.physics import (
    N_ARM_JOINTS,
    ActuatorConfig,
    ActuatorRandomizer,
    Backlash,
    BacklashConfig,
    CubeConfig,
    CubeRandomizer,
)
from sim.randomize.rotations import offset_quat, rotvec_quat
from sim.randomize.sampling import RGB, Range
from sim.randomize.scene_assets import add_scene_assets, scene_key
from sim.randomize.scene_elements import (
    CUBE_BODY,
    CUBE_GEOM,
    DISTRACTOR_PREFIX,
    DISTRACTOR_SHAPES,
    HELDOUT_TABLE_TEXTURES,
    HIDDEN_Z,
    KEY_LIGHT,
    PLAIN_TABLE,
    TABLE_GEOM,
    TABLE_TEXTURES,
    TRAIN_TABLE_TEXTURES,
    table_material,
)
from sim.randomize.sensing import TICK_RAD, JointNoiseConfig, JointReadings
from sim.randomize.support import changed_fields, training_support
from sim.randomize.timing import (
    ActuationQueue,
    DelaySampler,
    FrameDelay,
    LatencyConfig,
    ObservationDelayConfig,
)
from sim.randomize.visual import (
    VISUAL_KEYS,
    CameraJitter,
    CameraJitterConfig,
    DistractorConfig,
    DistractorRandomizer,
    LightingConfig,
    LightingRandomizer,
    SurfaceConfig,
    SurfaceRandomizer,
    VisualSnapshot,
    apply_visual_perturbation,
)

__all__ = [
    "CUBE_BODY",
    "CUBE_GEOM",
    "DISTRACTOR_PREFIX",
    "DISTRACTOR_SHAPES",
    "HELDOUT_TABLE_TEXTURES",
    "HIDDEN_Z",
    "KEY_LIGHT",
    "N_ARM_JOINTS",
    "PHYSICAL_KEYS",
    "PLAIN_TABLE",
    "RGB",
    "TABLE_GEOM",
    "TABLE_TEXTURES",
    "TICK_RAD",
    "TRAIN_TABLE_TEXTURES",
    "VISUAL_KEYS",
    "ActuationQueue",
    "ActuatorConfig",
    "ActuatorRandomizer",
    "Backlash",
    "BacklashConfig",
    "CameraJitter",
    "CameraJitterConfig",
    "CubeConfig",
    "CubeRandomizer",
    "DelaySampler",
    "DistractorConfig",
    "DistractorRandomizer",
    "DomainRandomizer",
    "FrameDelay",
    "ImageCorruptor",
    "ImageNoiseConfig",
    "JointNoiseConfig",
    "JointReadings",
    "LatencyConfig",
    "LightingConfig",
    "LightingRandomizer",
    "ObservationDelayConfig",
    "RandomizationConfig",
    "Range",
    "SurfaceConfig",
    "SurfaceRandomizer",
    "VisualSnapshot",
    "add_scene_assets",
    "apply_visual_perturbation",
    "changed_fields",
    "offset_quat",
    "perturbation_config",
    "rotvec_quat",
    "scene_key",
    "table_material",
    "training_support",
]
