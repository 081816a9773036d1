"""Camera calibration against a checkerboard rendered in MuJoCo at a known fovy and lens distortion."""

import numpy as np
import pytest

from calibration.camera import (
    BoardSpec,
    BoardView,
    CaptureConfig,
    ViewSelector,
    calibrate_from_frames,
    find_corners,
    solve_calibration,
)
from calibration.camera_model import CameraCalibration, CameraCalibrationError, FrameRectifier, crop_for_fovy
from calibration.synthetic_board import BoardRenderer, SyntheticCamera
from policies.contract import ImageSpec, crop_box
from policies.io import preprocess_frame

BOARD = BoardSpec(7, 5, 0.03)
WIDE = SyntheticCamera(fovy_deg=75.0, dist_coeffs=(-0.25, 0.08, 0.0, 0.0, 0.0))


@pytest.fixture(scope="module")
def wide_calibration():
    renderer = BoardRenderer(BOARD, WIDE)
    progress = []
    calib = calibrate_from_frames(
        renderer.random_views(30, seed=3, hold=4),
        BOARD,
        target_fovy_deg=60.0,
        config=CaptureConfig(min_views=12),
        on_progress=progress.append,
    )
    renderer.close()
    return calib, progress


def test_known_fovy_and_distortion_are_recovered(wide_calibration):
    calib, progress = wide_calibration
    assert abs(calib.fov_v_deg - 75.0) < 1.0
    assert calib.rms_px < 0.5
    assert calib.dist_coeffs[0] == pytest.approx(-0.25, abs=0.03)
    assert calib.views == 12 and sum(p.accepted_now for p in progress) == 12


def test_crop_matches_sim_fovy(wide_calibration):
    calib, _ = wide_calibration
    expected = np.tan(np.radians(30)) / np.tan(np.radians(37.5))
    assert calib.crop_fov_ratio == pytest.approx(expected, rel=0.02)
    assert calib.suggested_sim_fovy_deg is None
    spec = calib.image_spec_for(ImageSpec(fovy_deg=60.0))
    top, left, side, _ = crop_box(480, 640, spec)
    fy = calib.K[1, 1]
    assert np.degrees(2 * np.arctan(side / 2 / fy)) == pytest.approx(60.0, abs=0.5)


def test_rectified_wide_frame_matches_an_ideal_60_degree_camera(wide_calibration):
    """Undistort + crop of the wide distorted camera ~ what a 60 deg pinhole camera sees (the sim view)."""
    calib, _ = wide_calibration
    pose = dict(azimuth=90, elevation=-80, distance=0.35)
    wide = BoardRenderer(BOARD, WIDE)
    real = wide.render(**pose)
    wide.close()
    ideal = BoardRenderer(BOARD, SyntheticCamera(width=480, height=480, fovy_deg=60.0))
    sim_view = ideal.render(**pose)
    ideal.close()
    spec = calib.image_spec_for(ImageSpec(fovy_deg=60.0, size=84))
    ours = preprocess_frame(FrameRectifier(calib)(real), spec).astype(float)
    ref = preprocess_frame(sim_view, ImageSpec(fovy_deg=60.0, size=84)).astype(float)
    naive = preprocess_frame(real, ImageSpec(fovy_deg=60.0, size=84)).astype(float)
    assert np.abs(ours - ref).mean() < 12.0
    assert np.abs(ours - ref).mean() < 0.5 * np.abs(naive - ref).mean()


def test_narrow_lens_suggests_sim_fovy():
    cam = SyntheticCamera(fovy_deg=50.0)
    ratio, centre, suggested = crop_for_fovy(cam.K, cam.width, cam.height, 60.0)
    assert ratio == 1.0 and centre == (0.5, 0.5) and suggested == pytest.approx(50.0, abs=1e-6)


def test_noisy_views_are_refused_with_advice():
    renderer = BoardRenderer(BOARD, SyntheticCamera())
    from calibration.camera import find_corners

    views = [find_corners(f, BOARD) for f in renderer.random_views(6, seed=5)]
    renderer.close()
    rng = np.random.default_rng(0)
    noisy = [v + rng.normal(0, 4.0, v.shape).astype(np.float32) for v in views]
    with pytest.raises(CameraCalibrationError, match="reprojection error .* hold each pose still"):
        solve_calibration(noisy, BOARD, (640, 480), 60.0)


def test_selector_needs_stillness_and_a_new_pose():
    sel = ViewSelector(BOARD, CaptureConfig(still_frames=2))
    corners = (BOARD.object_points()[:, :2] * 2000 + 40).astype(np.float32)  # a flat-on board, 360 x 240 px
    assert [sel.offer(corners, (640, 480)) for _ in range(3)] == [False, False, True]
    assert [sel.offer(corners + 1.0, (640, 480)) for _ in range(3)] == [
        False,
        False,
        False,
    ]  # still, same pose
    assert [sel.offer(corners + 120.0, (640, 480)) for _ in range(3)] == [False, False, True]
    assert not sel.offer(None, (640, 480))


# Issue 17, item 11: seven distinct hand-held views, five differing mostly by tilt, gave 2 accepted views.
TILT_BOARD = BoardSpec(9, 5, 0.025)
# (azimuth, elevation) of a camera 0.4 m from the board centre: straight on, tilted 15-40 deg about one board
# axis towards and away, and about the other axis.
TILTS = [(90, -90), (90, -75), (90, -62), (90, -50), (90, -105), (90, -120), (60, -65), (120, -65)]


def _views(renderer, poses, hold=4, distance=0.4):
    for azimuth, elevation in poses:
        frame = renderer.render(azimuth=azimuth, elevation=elevation, distance=distance)
        yield from [frame] * hold


@pytest.fixture(scope="module")
def tilt_renderer():
    renderer = BoardRenderer(TILT_BOARD, SyntheticCamera(fovy_deg=60.0))
    yield renderer
    renderer.close()


def test_views_that_differ_only_by_tilt_are_all_accepted(tilt_renderer):
    frames = list(_views(tilt_renderer, TILTS))
    corners = [find_corners(f, TILT_BOARD) for f in frames[::4]]
    # They are tilts about the board centre: corners hardly move (main's 40 px mean-displacement test took one).
    flat = corners[0]
    assert all(np.linalg.norm(c - flat, axis=1).mean() < 40 for c in corners[:6])
    sel = ViewSelector(TILT_BOARD, CaptureConfig(still_frames=2))
    accepted = [sel.offer(find_corners(f, TILT_BOARD), (640, 480)) for f in frames]
    assert sum(accepted) == len(TILTS)


def test_near_duplicate_views_are_not_accepted(tilt_renderer):
    """One degree of tilt or turn, or 1% closer, is the same view."""
    near = [(90, -90), (90, -91), (91, -89), (90, -89)]
    frames = list(_views(tilt_renderer, near)) + list(_views(tilt_renderer, [(90, -90)], distance=0.396))
    sel = ViewSelector(TILT_BOARD, CaptureConfig(still_frames=2))
    assert sum(sel.offer(find_corners(f, TILT_BOARD), (640, 480)) for f in frames) == 1


def test_board_view_parameters_are_scale_free():
    """The same board pose seen by a camera at twice the resolution is the same view (main scaled pixels by hand)."""
    corners = (BOARD.object_points()[:, :2] * 2000 + 40).astype(np.float32)
    small = BoardView.measure(corners, BOARD, (640, 480))
    assert small.distance(BoardView.measure(corners * 2, BOARD, (1280, 960))) < 1e-6
    assert (
        small.distance(BoardView.measure(corners[::-1], BOARD, (640, 480))) < 1e-6
    )  # numbered from the other end
    assert small.skew_first == pytest.approx(0.0, abs=1e-6) and small.size == pytest.approx(
        np.sqrt(360 * 240 / 640 / 480)
    )


def test_calibration_file_round_trip_and_fov_mismatch(tmp_path, wide_calibration):
    calib, _ = wide_calibration
    path = calib.save(tmp_path / "camera.json")
    again = CameraCalibration.load(path)
    assert again == calib
    with pytest.raises(CameraCalibrationError, match="trained with a 70 deg camera"):
        again.image_spec_for(ImageSpec(fovy_deg=70.0))
    with pytest.raises(CameraCalibrationError, match="run `so101 calibrate camera`"):
        CameraCalibration.load(tmp_path / "missing.json")


def test_board_spec_parse_errors():
    assert BoardSpec.parse("9x6", 0.025) == BoardSpec(9, 6, 0.025)
    with pytest.raises(CameraCalibrationError, match="COLSxROWS"):
        BoardSpec.parse("nine", 0.025)
