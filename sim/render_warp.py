"""Wrist renders by MuJoCo Warp's ray tracer, on the CPU: the training images' cost scales with pixels.

Why: MuJoCo's GL renderer on a CPU (llvmpipe) pays for every one of the scene's ~400k mesh triangles on every
frame, so a 32x32 wrist image costs about what a 64x64 one does (4-5 ms). A ray tracer walks a bounding volume
hierarchy per ray instead, so its cost follows the number of rays: 0.7-1.0 ms at 32x32, 1.4-1.7 ms at 48x48 of
one core (docs/simulation.md, "The Warp ray tracer"; what that does for training: docs/training.md). Physics
stays in MuJoCo on the CPU; only the picture is drawn by Warp, from the very poses MuJoCo computed.

What is drawn is the same scene as the GL path (``sim.scene.build_spec`` of the same config, so the same
geoms in the same order), with two differences a test measures (tests/test_render_warp.py):
- shading: Warp's lighting is per pixel and its specular term differs from GL's, so a flat table is about
  2 levels of 255 darker on average; the geometry (edges, where the cube is) agrees to the pixel;
- sampling: one ray per pixel at ``render_size``, no MSAA. Rendered at 48x48 and area-downsampled to the
  contract's 16x16, that is 3x3 samples per policy pixel (at 32x32, 2x2, edges already differ too much from the
  twin's camera: tests/test_training_image_matches_twin.py).

MuJoCo Warp compiles the headlight's colour into its render kernel, but the lighting randomiser changes it
every episode. So the render model carries one more light than the physics model: a directional light that
follows the camera's view axis with the headlight's colours, refreshed every frame, and Warp's own headlight
is off. Everything else the randomisers change is copied over before each render (``SYNCED_MODEL_FIELDS``).

Imported only when ``env.wrist_renderer`` is ``warp``: the deploy path and the GL path never need Warp.
"""

from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path

from sim.arm_model import WRIST_CAMERA
from sim.config import EnvConfig
from sim.scene import GROUP_ARM_VISUAL, GROUP_OBJECT, GROUP_SCENE, build_spec

import mujoco
import numpy as np

HEADLIGHT_STAND_IN = "warp_headlight"  # the extra light of the render model

# Model fields the randomisers may change between renders (sim/randomize/): copied from the physics model
# before each render. Light fields cover the physics model's lights; the stand-in light is set separately.
SYNCED_MODEL_FIELDS = ("geom_rgba", "geom_matid", "geom_size", "mat_rgba", "mat_texrepeat", "cam_fovy")
SYNCED_LIGHT_FIELDS = ("light_diffuse", "light_specular", "light_ambient", "light_active")
# Data fields a render reads: the poses of what is drawn, of the camera and of the lights.
SYNCED_DATA_FIELDS = ("geom_xpos", "geom_xmat", "cam_xpos", "cam_xmat")
SYNCED_LIGHT_DATA_FIELDS = ("light_xpos", "light_xdir")


def build_render_model(cfg: EnvConfig) -> mujoco.MjModel:
    """The scene of ``cfg`` plus the headlight's stand-in: a directional light, no shadow, no specular."""
    spec = build_spec(cfg)
    spec.worldbody.add_light(
        name=HEADLIGHT_STAND_IN,
        type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL,
        dir=[0.0, 0.0, -1.0],  # replaced every frame by the camera's view axis
        diffuse=list(spec.visual.headlight.diffuse),
        ambient=list(spec.visual.headlight.ambient),
        specular=[0.0, 0.0, 0.0],
        castshadow=False,
    )
    spec.visual.headlight.active = 0
    return spec.compile()


def _view(array, shape: tuple[int, ...]) -> np.ndarray:
    """A numpy view of a Warp CPU array in ``shape`` (one world): writing it writes the array."""
    view = array.numpy().reshape(shape)
    assert np.shares_memory(view, array.numpy()), "a Warp array that numpy cannot view without a copy"
    return view


@contextlib.contextmanager
def _one_compiler_at_a_time():
    """Env workers start together; on a fresh kernel cache each would compile the same kernels (30-40 s of CPU
    each, measured here). A file lock lets the first compile and the others load its result."""
    import warp as wp

    # the cache Warp itself uses, resolved (and created) by wp.init(): WARP_CACHE_PATH or ~/.cache/warp/VERSION
    cache = Path(wp.config.kernel_cache_dir)
    with open(cache / "so101-deploy.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class WarpWristRenderer:
    """Renders the wrist camera at ``size`` x ``size`` into HxWx3 uint8 RGB, like ``sim.render.WristRenderer``.

    ``model`` is the physics model whose randomised fields are copied before each render; ``cfg`` the config
    it was built from.
    """

    def __init__(self, model: mujoco.MjModel, cfg: EnvConfig, size: int, camera: str = WRIST_CAMERA):
        import warp as wp

        wp.config.log_level = wp.LOG_WARNING  # not its greeting nor a line per kernel module loaded
        wp.init()
        import mujoco_warp as mjw

        self._mjw = mjw
        self.model, self.size = model, size
        self.render_model = build_render_model(cfg)
        rm = self.render_model
        if (rm.ngeom, rm.nmat, rm.ncam, rm.nlight) != (model.ngeom, model.nmat, model.ncam, model.nlight + 1):
            raise ValueError(
                "the render model does not match the physics model (geoms, materials, cameras, lights): "
                f"{(rm.ngeom, rm.nmat, rm.ncam, rm.nlight)} vs {(model.ngeom, model.nmat, model.ncam, model.nlight)}+1"
            )
        self.camera_id = model.camera(camera).id
        self._headlight = rm.light(HEADLIGHT_STAND_IN).id
        self._nlight = n = model.nlight
        with wp.ScopedDevice("cpu"), _one_compiler_at_a_time():
            render_data = mujoco.MjData(rm)
            mujoco.mj_forward(rm, render_data)
            self._wm = mjw.put_model(rm)
            self._wd = mjw.put_data(rm, render_data)
            self._rc = mjw.create_render_context(
                rm,
                nworld=1,
                cam_res=(size, size),
                render_rgb=True,
                render_depth=False,
                cam_active=[self.camera_id],
                use_shadows=bool(np.any(model.light_castshadow)),
                enabled_geom_groups=[GROUP_SCENE, GROUP_OBJECT, GROUP_ARM_VISUAL],
                use_precomputed_rays=False,  # the camera randomiser changes fovy every frame
            )
            self._rgb = wp.zeros((1, size, size), dtype=wp.vec3)
            self._draw()  # compiles the kernels (or loads them from the cache) under the lock
        # numpy views of the device arrays (the device is the CPU: no copy), shaped as MuJoCo's own fields and
        # written before each render; the render model's extra light is the last one
        self._model_views = {
            f: _view(getattr(self._wm, f), getattr(model, f).shape) for f in SYNCED_MODEL_FIELDS
        }
        self._light_views = {
            f: _view(getattr(self._wm, f), (n + 1, *getattr(model, f).shape[1:])) for f in SYNCED_LIGHT_FIELDS
        }
        self._data_views = {
            f: _view(getattr(self._wd, f), getattr(render_data, f).shape) for f in SYNCED_DATA_FIELDS
        }
        self._light_data_views = {
            f: _view(getattr(self._wd, f), (n + 1, 3)) for f in SYNCED_LIGHT_DATA_FIELDS
        }
        self.frames = 0

    def _sync(self, data: mujoco.MjData) -> None:
        m, n = self.model, self._nlight
        for name, view in self._model_views.items():
            view[...] = getattr(m, name)
        for name, view in self._light_views.items():
            view[:n] = getattr(m, name)
        for name, view in self._data_views.items():
            view[...] = getattr(data, name)
        for name, view in self._light_data_views.items():
            view[:n] = getattr(data, name)
        # the headlight's stand-in: at the camera, along its view axis (-z), with this episode's colours
        h, cam = self._headlight, self.camera_id
        self._light_data_views["light_xpos"][h] = data.cam_xpos[cam]
        self._light_data_views["light_xdir"][h] = -data.cam_xmat[cam].reshape(3, 3)[:, 2]
        self._light_views["light_diffuse"][h] = m.vis.headlight.diffuse
        self._light_views["light_ambient"][h] = m.vis.headlight.ambient
        self._light_views["light_active"][h] = bool(m.vis.headlight.active)

    def _draw(self) -> np.ndarray:
        mjw = self._mjw
        mjw.refit_bvh(self._wm, self._wd, self._rc)
        mjw.render(self._wm, self._wd, self._rc)
        mjw.get_rgb(self._rc, 0, self._rgb)
        return self._rgb.numpy()[0]

    def render(self, data: mujoco.MjData) -> np.ndarray:
        self._sync(data)
        rgb = self._draw()
        self.frames += 1
        return (rgb * 255.0 + 0.5).astype(np.uint8)

    def close(self) -> None:
        self._rc = self._wm = self._wd = None

    def __enter__(self) -> WarpWristRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
