"""Sim/real alignment of the wrist camera: overlay the sim's view on the real one, score it, solve the mount.

The wrist camera is screwed to the fixed jaw, so the jaws sit at the same place in every real frame whatever
the arm does; in the sim they sit where ``env.wrist_camera`` (pos, euler, fovy) puts them. A policy trained
with the jaws a few pixels off sees a different world. Here the real frame goes through exactly what the
runtime does to it (undistort, crop to the sim fovy: ``FrameRectifier`` + ``preprocess_frame``), the sim wrist
view is rendered at the joint angles read from the arm, and the two are compared on edges of the jaws:

- score: 1 - (symmetric chamfer distance between the sim jaws' edges and the real edges near them) / tau,
  so 1 is a perfect overlap and 0 means no sim edge has a real one within ``tau`` pixels;
- overlap: the fraction of the sim jaws' edge pixels that have a real edge within 2 pixels (easy to read).

``solve`` finds the mount offset (dx, dy, dz in metres; droll, dpitch, dyaw in radians added to the euler
angles; all in the gripper body frame, as the twin's ``camera_offset``; optionally the fovy) that brings the
sim jaws' edges onto the real ones. It renders the jaws with depth, lifts their edge pixels to 3D points on
the gripper, and moves the camera by Levenberg-Marquardt so that those points project onto the real edges
(distance transform lookups, coarse to fine in the truncation distance, re-rendering in between): an edge
ICP. One view of the jaws barely tells a camera shifted sideways from one turned, so views at several gripper
openings are used together; the fovy, which the checkerboard already measured, only moves on clear evidence.
If the ICP from the start ends worse than it began, a CMA-ES search on small blurred images finds the basin
first. The result goes into the camera calibration's ``sim_camera`` field, which the sim reads
(``env.wrist_camera.calibration_file``) to train with the measured mount.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from sim.arm_model import FIXED_JAW_BODY, MOVING_JAW_BODY, WRIST_CAMERA
from sim.config import EnvConfig
from sim.scene import GROUP_ARM_VISUAL, GROUP_SCENE, build_model, euler_to_quat

import cv2
import mujoco
import numpy as np

from calibration.camera_model import CameraCalibration, FrameRectifier, SimCameraPose
from policies.contract import ImageSpec
from policies.io import preprocess_frame
from robot.camera_geometry import focal_px, fov_deg, half_fov_tan
from robot.so101 import JOINT_NAMES

GROUP_JAWS = 4  # jaw meshes moved here so that one pass can draw them alone (drawn in the full pass too)
OFFSET_NAMES = ("dx_m", "dy_m", "dz_m", "droll_rad", "dpitch_rad", "dyaw_rad", "dfovy_deg")
FAR_M = 1.0  # depth beyond this is background (nothing of the jaws is further than ~15 cm from the lens)


class AlignmentError(ValueError):
    """The views cannot be compared (nothing to compare, wrong sizes); the message says what to do."""


@dataclass
class AlignConfig:
    size: int = 160  # square score/solve images (pixels); overlays are drawn larger
    overlay_size: int = 320
    tau_px: float = 6.0  # score: chamfer truncation at ``size``; an edge further than this counts as missing
    overlap_px: float = 2.0  # "overlap": sim edge pixels with a real edge this close
    canny: tuple[int, int] = (40, 120)
    border_px: int = 2  # sim edges this close to the image border are where the jaws leave the view: ignored
    # -- solve
    solve_fovy: bool = True
    # The checkerboard calibration measured the lens already: a fovy change must lower the mean squared edge
    # distance by this many px^2 per deg^2 to be taken (a wider lens and a camera moved back look much alike).
    fovy_prior: float = 0.5
    # +- per OFFSET_NAMES entry: wide enough for a published mount model that is 2-3 cm / ~15 deg off the real
    # one (issue #15: Menagerie's and so101-nexus's SO-101 wrist cameras sit 2.0 and 2.5 cm from our old default)
    bounds: tuple[float, ...] = (0.03, 0.03, 0.03, 0.30, 0.30, 0.30, 6.0)
    units: tuple[float, ...] = (0.003, 0.003, 0.003, 0.035, 0.035, 0.035, 2.0)  # one search unit per entry
    icp_taus: tuple[float, ...] = (12.0, 6.0, 3.0)  # edge ICP truncation stages, pixels at ``size``
    icp_renders: int = 4  # fresh edge points per stage (the silhouette slides over the surface as it moves)
    lm_iterations: int = 15
    max_step: float = 0.5  # search units per Levenberg-Marquardt step (a trust region)
    fallback_size: int = 96  # CMA-ES fallback: image size, truncation, evaluations
    fallback_tau: float = 12.0
    fallback_evals: int = 400
    time_budget_s: float = 60.0


@dataclass(frozen=True)
class Observation:
    """One moment: the arm's joint angles (sim radians) and the real frame, rectified and cropped (square RGB)."""

    joints: np.ndarray
    image: np.ndarray


@dataclass(frozen=True)
class AlignmentScore:
    score: float  # 1 - symmetric truncated chamfer / tau (1 = perfect)
    overlap: float  # fraction of sim jaw edge pixels within overlap_px of a real edge
    sim_edges: int  # how many sim jaw edge pixels were compared
    real_edges: int  # real edge pixels near the sim jaws


@dataclass
class SolveResult:
    pose: SimCameraPose
    offset: tuple[float, ...]  # per OFFSET_NAMES, relative to the starting pose
    before: AlignmentScore
    after: AlignmentScore
    renders: int
    seconds: float
    method: str  # "edge ICP" or "CMA-ES + edge ICP"
    # OFFSET_NAMES entries that ended at their search bound: the true mount may lie beyond it, so the solved
    # value is a limit, not a measurement (measure the mount by hand, or widen AlignConfig.bounds)
    at_bounds: tuple[str, ...] = ()


def pose_with_offset(base: SimCameraPose, offset: Sequence[float]) -> SimCameraPose:
    """The mount ``offset`` (OFFSET_NAMES order; fovy optional) applied to ``base``: the twin's convention."""
    fovy = base.fovy + (offset[6] if len(offset) > 6 else 0.0)
    return SimCameraPose(
        pos=tuple(float(b + d) for b, d in zip(base.pos, offset[:3], strict=True)),
        euler=tuple(float(b + d) for b, d in zip(base.euler, offset[3:6], strict=True)),
        fovy=float(fovy),
    )


def real_view(frame: np.ndarray, calibration: CameraCalibration, size: int) -> np.ndarray:
    """A camera frame as the runtime prepares it (undistort, crop to the sim fovy), at ``size`` x ``size``."""
    fovy = calibration.suggested_sim_fovy_deg or calibration.target_fovy_deg
    spec = calibration.image_spec_for(ImageSpec(fovy_deg=fovy, size=size, interpolation="area"))
    return np.ascontiguousarray(preprocess_frame(FrameRectifier(calibration)(frame), spec).transpose(1, 2, 0))


class SimWristView:
    """The sim's wrist camera at chosen joint angles and camera mount: the full view, and the jaws alone."""

    def __init__(self, env: EnvConfig | None = None, size: int = 160) -> None:
        self.env = env or EnvConfig()
        self.model = build_model(self.env)  # a private copy: its camera and geom groups are ours to change
        self.data = mujoco.MjData(self.model)
        m = self.model
        self.camera_id = m.camera(WRIST_CAMERA).id
        self._qadr = [m.jnt_qposadr[m.joint(name).id] for name in JOINT_NAMES]
        jaw_bodies = [m.body(FIXED_JAW_BODY).id, m.body(MOVING_JAW_BODY).id]
        jaws = np.isin(m.geom_bodyid, jaw_bodies) & (m.geom_group == GROUP_ARM_VISUAL)
        m.geom_group[jaws] = GROUP_JAWS
        # No cube in either pass: the real one is wherever it is, the sim's is at its reset position.
        self._full = self._option(GROUP_SCENE, GROUP_ARM_VISUAL, GROUP_JAWS)
        self._jaws_only = self._option(GROUP_JAWS)
        self._renderers: dict[tuple[int, bool], mujoco.Renderer] = {}
        self.size = size
        self.renders = 0

    @staticmethod
    def _option(*groups: int) -> mujoco.MjvOption:
        opt = mujoco.MjvOption()
        opt.geomgroup[:] = 0
        for g in groups:
            opt.geomgroup[g] = 1
        return opt

    def set_pose(self, pose: SimCameraPose) -> None:
        self.model.cam_pos[self.camera_id] = pose.pos
        self.model.cam_quat[self.camera_id] = euler_to_quat(tuple(pose.euler))
        self.model.cam_fovy[self.camera_id] = pose.fovy

    def _render(
        self, joints: np.ndarray, option: mujoco.MjvOption, size: int, depth: bool = False
    ) -> np.ndarray:
        joints = np.asarray(joints, dtype=np.float64)
        if joints.shape != (len(JOINT_NAMES),):
            raise AlignmentError(f"expected {len(JOINT_NAMES)} joint angles ({', '.join(JOINT_NAMES)})")
        self.data.qpos[self._qadr] = joints
        mujoco.mj_forward(self.model, self.data)
        renderer = self._renderers.get((size, depth))
        if renderer is None:
            renderer = self._renderers[(size, depth)] = mujoco.Renderer(self.model, size, size)
            if depth:
                renderer.enable_depth_rendering()
        renderer.update_scene(self.data, camera=self.camera_id, scene_option=option)
        self.renders += 1
        return renderer.render().copy()

    def full(self, joints: np.ndarray, size: int | None = None) -> np.ndarray:
        return self._render(joints, self._full, size or self.size)

    def jaws(self, joints: np.ndarray, size: int | None = None) -> np.ndarray:
        """The jaws alone on black: their edges are what the real image is scored against."""
        return self._render(joints, self._jaws_only, size or self.size)

    def jaws_depth(self, joints: np.ndarray, size: int | None = None) -> np.ndarray:
        """Metres along the optical axis to the jaws (background: the far plane)."""
        return self._render(joints, self._jaws_only, size or self.size, depth=True)

    def close(self) -> None:
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()

    def __enter__(self) -> SimWristView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- scoring -----------------------------------------------------------------------------------------------
def edges(image: np.ndarray, config: AlignConfig) -> np.ndarray:
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    gray = cv2.GaussianBlur(gray, (3, 3), 0)
    return cv2.Canny(gray, *config.canny) > 0


def jaw_edges(jaws_rgb: np.ndarray, config: AlignConfig) -> np.ndarray:
    e = edges(jaws_rgb, config)
    b = config.border_px
    if b:
        e[:b], e[-b:], e[:, :b], e[:, -b:] = False, False, False, False
    return e


def _distance_to(edge_map: np.ndarray) -> np.ndarray:
    return cv2.distanceTransform((~edge_map).astype(np.uint8), cv2.DIST_L2, 3)


def score_edges(
    real_edges: np.ndarray, sim_edges: np.ndarray, tau_px: float, overlap_px: float = 2.0
) -> AlignmentScore:
    """Symmetric truncated chamfer between sim jaw edges and the real edges within ``tau_px`` of them."""
    n_sim = int(sim_edges.sum())
    if n_sim == 0:
        return AlignmentScore(0.0, 0.0, 0, 0)
    d_real = _distance_to(real_edges)
    to_real = np.minimum(d_real[sim_edges], tau_px)
    d_sim = _distance_to(sim_edges)
    near = real_edges & (d_sim <= tau_px)
    n_real = int(near.sum())
    to_sim = np.minimum(d_sim[near], tau_px) if n_real else np.array([tau_px])
    chamfer = 0.5 * (float(to_real.mean()) + float(to_sim.mean()))
    return AlignmentScore(
        score=1.0 - chamfer / tau_px,
        overlap=float((d_real[sim_edges] <= overlap_px).mean()),
        sim_edges=n_sim,
        real_edges=n_real,
    )


def _resized(image: np.ndarray, size: int) -> np.ndarray:
    if image.shape[0] == size and image.shape[1] == size:
        return image
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def score_pose(
    view: SimWristView,
    observations: Sequence[Observation],
    pose: SimCameraPose,
    config: AlignConfig,
    size: int | None = None,
    tau_px: float | None = None,
    real_edge_maps: Sequence[np.ndarray] | None = None,
) -> AlignmentScore:
    """Mean score over the observations with the sim camera at ``pose``."""
    size = size or config.size
    tau = tau_px if tau_px is not None else config.tau_px * size / config.size
    view.set_pose(pose)
    scores = []
    for i, obs in enumerate(observations):
        real = real_edge_maps[i] if real_edge_maps is not None else edges(_resized(obs.image, size), config)
        sim = jaw_edges(view.jaws(obs.joints, size), config)
        scores.append(score_edges(real, sim, tau, config.overlap_px * size / config.size))
    return AlignmentScore(
        score=float(np.mean([s.score for s in scores])),
        overlap=float(np.mean([s.overlap for s in scores])),
        sim_edges=sum(s.sim_edges for s in scores),
        real_edges=sum(s.real_edges for s in scores),
    )


# -- camera geometry ---------------------------------------------------------------------------------------
def _rotation(euler: Sequence[float]) -> np.ndarray:
    """Camera frame -> gripper body frame (MuJoCo cameras: x right, y up, looking along -z)."""
    mat = np.zeros(9)
    mujoco.mju_quat2Mat(mat, euler_to_quat(tuple(euler)))
    return mat.reshape(3, 3)


def edge_points(
    view: SimWristView, obs: Observation, pose: SimCameraPose, size: int, config: AlignConfig
) -> np.ndarray:
    """The sim jaws' edge pixels at ``pose`` lifted to 3D points in the gripper body frame (N x 3)."""
    view.set_pose(pose)
    found = jaw_edges(view.jaws(obs.joints, size), config)
    # Canny marks either side of a silhouette; the nearest jaw depth serves a pixel just outside it.
    depth = cv2.erode(view.jaws_depth(obs.joints, size), np.ones((3, 3), np.uint8))
    v, u = np.nonzero(found & (depth < FAR_M))
    d = depth[v, u].astype(np.float64)
    f = focal_px(pose.fovy, size)
    camera = np.stack([(u + 0.5 - size / 2) * d / f, -(v + 0.5 - size / 2) * d / f, -d], axis=1)
    return camera @ _rotation(pose.euler).T + np.asarray(pose.pos)


def project(points: np.ndarray, pose: SimCameraPose, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Gripper-frame points -> pixel coordinates (column, row; pixel centres at integers) at ``pose``."""
    camera = (points - np.asarray(pose.pos)) @ _rotation(pose.euler)
    f = focal_px(pose.fovy, size)
    depth = np.maximum(-camera[:, 2], 1e-6)
    return camera[:, 0] * f / depth + size / 2 - 0.5, -camera[:, 1] * f / depth + size / 2 - 0.5


def _lookup(distance: np.ndarray, u: np.ndarray, v: np.ndarray, tau: float) -> np.ndarray:
    """Bilinear distance-transform values at (u, v), truncated at ``tau``; outside the image counts as ``tau``."""
    out = cv2.remap(
        distance,
        u.astype(np.float32).reshape(1, -1),
        v.astype(np.float32).reshape(1, -1),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=float(tau),
    ).ravel()
    return np.minimum(out, tau)


# -- the search --------------------------------------------------------------------------------------------
class _Search:
    """Offsets in search units (``config.units``), clipped to the bounds; fovy held when it is not solved."""

    def __init__(self, start: SimCameraPose, config: AlignConfig) -> None:
        self.start, self.config = start, config
        self.units = np.array(config.units)
        self.bound = np.array(config.bounds) / self.units
        self.free = np.array([True] * 6 + [config.solve_fovy])

    def clip(self, x: np.ndarray) -> np.ndarray:
        return np.where(self.free, np.clip(x, -self.bound, self.bound), 0.0)

    def offset(self, x: np.ndarray) -> np.ndarray:
        return self.clip(x) * self.units

    def pose(self, x: np.ndarray) -> SimCameraPose:
        return pose_with_offset(self.start, self.offset(x))

    def at_bound(self, x: np.ndarray) -> bool:
        return bool(self.bounded_names(x))

    def bounded_names(self, x: np.ndarray, margin: float = 0.02) -> tuple[str, ...]:
        """Free offsets within ``margin`` (a fraction of the bound) of their bound."""
        hit = self.free & (np.abs(self.clip(x)) >= self.bound * (1 - margin) - 1e-6)
        return tuple(name for name, h in zip(OFFSET_NAMES, hit, strict=True) if h)


def edge_icp(
    view: SimWristView,
    observations: Sequence[Observation],
    search: _Search,
    x0: np.ndarray,
    deadline: float,
) -> np.ndarray:
    """Levenberg-Marquardt on the truncated distances from the projected sim edge points to the real edges."""
    config, size = search.config, search.config.size
    distances = [_distance_to(edges(_resized(o.image, size), config)) for o in observations]
    x = search.clip(np.asarray(x0, float))
    for tau in config.icp_taus:
        for _ in range(config.icp_renders):
            if time.monotonic() > deadline:
                return x
            points = [edge_points(view, o, search.pose(x), size, config) for o in observations]
            n_points = sum(len(p) for p in points)
            if n_points == 0:
                raise AlignmentError("the sim camera sees no jaw edges: check env.wrist_camera (pos, euler)")
            prior = math.sqrt(config.fovy_prior * n_points)

            def residuals(xx: np.ndarray, points=points, tau=tau, prior=prior) -> np.ndarray:
                pose = search.pose(xx)
                rs = [
                    _lookup(d, *project(p, pose, size), tau) for d, p in zip(distances, points, strict=True)
                ]
                return np.concatenate([*rs, [prior * search.offset(xx)[6]]])

            x = _levenberg_marquardt(residuals, x, search, config)
    return x


def _levenberg_marquardt(
    residuals: Callable[[np.ndarray], np.ndarray], x: np.ndarray, search: _Search, config: AlignConfig
) -> np.ndarray:
    free = np.flatnonzero(search.free)
    r = residuals(x)
    cost = float(r @ r)
    damping = 1e-2
    for _ in range(config.lm_iterations):
        h = 0.02
        jac = np.stack([(residuals(x + h * np.eye(len(x))[j]) - r) / h for j in free], axis=1)
        a, g = jac.T @ jac, jac.T @ r
        step_taken = False
        for _ in range(6):
            step = np.linalg.solve(a + damping * np.diag(np.diag(a) + 1e-9), -g)
            step *= min(1.0, config.max_step / max(float(np.abs(step).max()), 1e-12))
            candidate = x.copy()
            candidate[free] += step
            candidate = search.clip(candidate)
            r_new = residuals(candidate)
            if float(r_new @ r_new) < cost:
                x, r, cost = candidate, r_new, float(r_new @ r_new)
                damping = max(damping / 3, 1e-4)
                step_taken = True
                break
            damping *= 4
        if not step_taken or float(np.abs(step).max()) < 1e-3:
            break
    return x


def cma_es(
    f: Callable[[np.ndarray], float],
    x0: np.ndarray,
    sigma: float,
    max_evals: int,
    deadline: float,
    seed: int = 0,
    min_sigma: float = 0.02,
) -> tuple[np.ndarray, float, int]:
    """Minimise ``f`` with CMA-ES (Hansen's standard settings): a global search that learns the coupled
    directions (a camera shifted sideways looks much like one turned) instead of crawling along them."""
    rng = np.random.default_rng(seed)
    n = len(x0)
    lam = 4 + int(3 * math.log(n)) + 2
    mu = lam // 2
    weights = math.log(mu + 0.5) - np.log(np.arange(1, mu + 1))
    weights /= weights.sum()
    mueff = 1.0 / float((weights**2).sum())
    cc = (4 + mueff / n) / (n + 4 + 2 * mueff / n)
    cs = (mueff + 2) / (n + mueff + 5)
    c1 = 2 / ((n + 1.3) ** 2 + mueff)
    cmu = min(1 - c1, 2 * (mueff - 2 + 1 / mueff) / ((n + 2) ** 2 + mueff))
    damps = 1 + 2 * max(0.0, math.sqrt((mueff - 1) / (n + 1)) - 1) + cs
    chi_n = math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n))
    mean = np.asarray(x0, float).copy()
    cov, basis, scale = np.eye(n), np.eye(n), np.ones(n)
    pc, ps = np.zeros(n), np.zeros(n)
    best_x, best_f = mean.copy(), f(mean)
    evals, generation = 1, 0
    while evals + lam <= max_evals and time.monotonic() < deadline and sigma > min_sigma:
        steps = rng.standard_normal((lam, n)) @ (basis * scale).T
        values = np.array([f(mean + sigma * y) for y in steps])
        evals += lam
        order = np.argsort(values)
        if values[order[0]] < best_f:
            best_f, best_x = float(values[order[0]]), mean + sigma * steps[order[0]]
        y_w = weights @ steps[order[:mu]]
        mean = mean + sigma * y_w
        inv_sqrt = basis @ np.diag(1 / scale) @ basis.T
        ps = (1 - cs) * ps + math.sqrt(cs * (2 - cs) * mueff) * inv_sqrt @ y_w
        generation += 1
        norm_ps = float(np.linalg.norm(ps))
        hsig = norm_ps / math.sqrt(1 - (1 - cs) ** (2 * generation)) / chi_n < 1.4 + 2 / (n + 1)
        pc = (1 - cc) * pc + hsig * math.sqrt(cc * (2 - cc) * mueff) * y_w
        elite = steps[order[:mu]]
        cov = (
            (1 - c1 - cmu) * cov
            + c1 * (np.outer(pc, pc) + (not hsig) * cc * (2 - cc) * cov)
            + cmu * (elite.T * weights) @ elite
        )
        sigma *= math.exp((cs / damps) * (norm_ps / chi_n - 1))
        eigen, basis = np.linalg.eigh((cov + cov.T) / 2)
        scale = np.sqrt(np.maximum(eigen, 1e-12))
    return best_x, best_f, evals


def _coarse_search(
    view: SimWristView, observations: Sequence[Observation], search: _Search, deadline: float
) -> np.ndarray:
    """CMA-ES on small images with a wide truncation: slower than the ICP, but it does not need a good start."""
    config, size = search.config, search.config.fallback_size
    maps = [edges(_resized(o.image, size), config) for o in observations]

    def cost(x: np.ndarray) -> float:
        s = score_pose(view, observations, search.pose(x), config, size, config.fallback_tau, maps)
        outside = float(np.sum((x - search.clip(x)) ** 2))  # CMA samples beyond the bounds pay for it
        return -s.score + outside

    x, _, _ = cma_es(cost, np.zeros(len(search.units)), 1.0, config.fallback_evals, deadline)
    return search.clip(x)


def solve(
    view: SimWristView,
    observations: Sequence[Observation],
    start: SimCameraPose,
    config: AlignConfig | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> SolveResult:
    """The mount offset from ``start`` that brings the sim jaws onto the real ones, within the bounds."""
    config = config or AlignConfig()
    if not observations:
        raise AlignmentError("no observations to align: grab at least one frame with the joints read")
    began, renders0 = time.monotonic(), view.renders
    deadline = began + config.time_budget_s
    search = _Search(start, config)
    before = score_pose(view, observations, start, config)
    if before.sim_edges == 0:
        raise AlignmentError(
            "the sim camera sees no jaw edges at the starting mount: check env.wrist_camera (pos, euler)"
        )

    def report(method: str, x: np.ndarray, score: AlignmentScore) -> None:
        if on_progress:
            o = search.offset(x)
            on_progress(
                f"{method}: score {score.score:.3f} (offset {o[0] * 1000:+.1f} {o[1] * 1000:+.1f} "
                f"{o[2] * 1000:+.1f} mm, {math.degrees(o[3]):+.2f} {math.degrees(o[4]):+.2f} "
                f"{math.degrees(o[5]):+.2f} deg, fovy {o[6]:+.2f} deg)"
            )

    x = edge_icp(view, observations, search, np.zeros(len(search.units)), deadline)
    after = score_pose(view, observations, search.pose(x), config)
    method = "edge ICP"
    report(method, x, after)
    if after.score <= before.score or search.at_bound(x):  # lost on the way: find the basin first
        coarse = _coarse_search(view, observations, search, deadline)
        x2 = edge_icp(view, observations, search, coarse, deadline)
        after2 = score_pose(view, observations, search.pose(x2), config)
        report("CMA-ES + edge ICP", x2, after2)
        if after2.score > after.score:
            x, after, method = x2, after2, "CMA-ES + edge ICP"
    offset = tuple(float(v) for v in search.offset(x))
    return SolveResult(
        search.pose(x),
        offset,
        before,
        after,
        view.renders - renders0,
        time.monotonic() - began,
        method,
        search.bounded_names(x),
    )


# -- results -----------------------------------------------------------------------------------------------
def apply_solution(calibration: CameraCalibration, pose: SimCameraPose) -> CameraCalibration:
    """The calibration with the solved mount in ``sim_camera``.

    A fovy different from the one the real frame is cropped to means the crop really spans that fovy. The
    sim keeps the trained fovy, so the crop is resized to span it (policy contract and calibration then agree);
    only when the frame is too narrow for that does the sim fovy change (``suggested_sim_fovy_deg``).
    """
    target = calibration.suggested_sim_fovy_deg or calibration.target_fovy_deg
    if abs(pose.fovy - target) < 1e-6:
        return replace(calibration, sim_camera=pose)
    half = half_fov_tan(target) / half_fov_tan(pose.fovy)
    ratio = calibration.crop_fov_ratio * half
    w, h = calibration.image_width, calibration.image_height
    if ratio <= 1.0:
        side = ratio * min(w, h)
        cx = min(max(calibration.crop_center[0], side / 2 / w), 1 - side / 2 / w)
        cy = min(max(calibration.crop_center[1], side / 2 / h), 1 - side / 2 / h)
        note = f"align: crop resized to span {target:.2f} deg (it spanned {pose.fovy:.2f} deg)"
        return replace(
            calibration,
            crop_fov_ratio=float(ratio),
            crop_center=(float(cx), float(cy)),
            sim_camera=replace(pose, fovy=float(target)),
            notes=(*calibration.notes, note),
        )
    # The whole shorter side spans less than the trained fovy: the sim has to narrow to what the camera sees.
    focal = focal_px(pose.fovy, min(w, h) * calibration.crop_fov_ratio)
    fovy = fov_deg(focal, min(w, h))
    note = f"align: real view narrower than {target:.2f} deg; train the sim with fovy {fovy:.1f}"
    return replace(
        calibration,
        crop_fov_ratio=1.0,
        suggested_sim_fovy_deg=float(fovy),
        sim_camera=replace(pose, fovy=float(fovy)),
        notes=(*calibration.notes, note),
    )


def _label(image: np.ndarray, text: str, xy: tuple[int, int]) -> None:
    cv2.putText(image, text, xy, cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)


def overlays(
    real: np.ndarray, sim_full: np.ndarray, sim_jaws: np.ndarray, config: AlignConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(side by side: real | sim, blend: 50/50 with the sim jaws' edges in green), RGB uint8."""
    size = config.overlay_size
    real, sim_full, sim_jaws = (_resized(x, size) for x in (real, sim_full, sim_jaws))
    gap = np.full((size, 6, 3), 255, np.uint8)
    side = np.concatenate([real, gap, sim_full], axis=1)
    _label(side, "real (rectified, cropped)", (6, 16))
    _label(side, "sim at the same joints", (size + 12, 16))
    blend = cv2.addWeighted(real, 0.5, sim_full, 0.5, 0.0)
    outline = cv2.dilate(jaw_edges(sim_jaws, config).astype(np.uint8), np.ones((2, 2), np.uint8)) > 0
    blend[outline] = (40, 255, 40)
    _label(blend, "real + sim blended; sim jaw edges green", (6, size - 8))
    return side, blend
