"""Sim/real alignment against the digital twin: a camera mount offset put into the twin is found again.

Tolerance (stated in docs/calibration.md): with two views at different gripper openings, each position offset
within 1 mm, each angle within 0.5 deg, the fovy within 0.5 deg, and the jaws' edges within 0.5 px (at 160 px)
of where the true mount puts them.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from calibration.align import AlignConfig, apply_solution, pose_with_offset, score_edges
from calibration.camera_model import CameraCalibration, SimCameraPose
from policies.contract import ImageSpec, crop_box
from so101_deploy.cli import app
from so101_deploy.twin.app import Twin, TwinConfig, twin_camera_calibration
from so101_deploy.twin.control_endpoint import TwinClient
from so101_deploy.twin.world import WorldConfig

OFFSET = (0.003, -0.002, 0.002, 0.04, -0.03, 0.03)  # dx dy dz (m), droll dpitch dyaw (rad)


pytestmark = pytest.mark.usefixtures("no_thread_leaks")


def invoke(*args: str):
    return CliRunner().invoke(app, ["calibrate", "align", *args], env={"COLUMNS": "200"})


def test_edge_score_is_one_on_a_match_and_falls_with_a_shift():
    real = np.zeros((100, 100), bool)
    real[30:70, 40] = real[30, 40:60] = True
    assert score_edges(real, real, 6.0).score == pytest.approx(1.0)
    shifted = np.roll(real, 3, axis=1)
    s = score_edges(real, shifted, 6.0)
    assert 0.3 < s.score < 0.8 and s.overlap < 0.4  # only the segment shifted along itself still overlaps
    assert score_edges(real, np.zeros_like(real), 6.0).score == 0.0


def test_a_solved_fovy_resizes_the_crop_and_keeps_the_sim_fovy(tmp_path):
    cal = twin_camera_calibration(WorldConfig())  # 70 deg lens cropped to a 60 deg sim camera
    wider = apply_solution(cal, SimCameraPose((0.02, 0.05, -0.02), (-0.5, -0.1, 0.0), 62.0))
    expected = cal.crop_fov_ratio * math.tan(math.radians(30)) / math.tan(math.radians(31))
    assert wider.crop_fov_ratio == pytest.approx(expected) and wider.sim_camera.fovy == 60.0
    spec = wider.image_spec_for(ImageSpec(fovy_deg=60.0))  # the runtime still accepts a 60 deg policy
    assert (
        crop_box(cal.image_height, cal.image_width, spec)[2]
        < crop_box(240, 320, cal.image_spec_for(ImageSpec()))[2]
    )
    assert CameraCalibration.load(wider.save(tmp_path / "cam.json")) == wider  # sim_camera survives the file
    # a crop that would need more than the whole frame: the sim has to narrow instead
    narrow = apply_solution(cal, SimCameraPose((0.02, 0.05, -0.02), (-0.5, -0.1, 0.0), 45.0))
    assert narrow.crop_fov_ratio == 1.0 and narrow.suggested_sim_fovy_deg == narrow.sim_camera.fovy
    assert narrow.suggested_sim_fovy_deg == pytest.approx(
        math.degrees(2 * math.atan(math.tan(math.radians(22.5)) / cal.crop_fov_ratio))
    )


@pytest.fixture(scope="module")
def twin():
    with Twin(TwinConfig()) as t:
        yield t


def fresh_camera_calibration(tmp_path):
    """The twin's camera calibration as it was before any solve (each test aligns from the same start)."""
    return twin_camera_calibration(WorldConfig()).save(tmp_path / "camera.json")


def align_args(twin, out_dir, camera_file, *extra):
    return (
        "--port", twin.port, "--camera", twin.camera_url, "--calibration", str(twin.calibration_path),
        "--camera-calibration", str(camera_file), "--out-dir", str(out_dir), "--packet-timeout-ms", "100", *extra,
    )  # fmt: skip


def test_overlay_and_score_tell_a_matching_mount_from_a_shifted_one(twin, tmp_path):
    client = TwinClient(twin.control_url)
    client.perturb(camera_offset=[0.0] * 6)
    camera_file = fresh_camera_calibration(tmp_path)
    matched = invoke(*align_args(twin, tmp_path / "a", camera_file))
    assert matched.exit_code == 0, matched.output
    client.perturb(camera_offset=list(OFFSET))
    shifted = invoke(*align_args(twin, tmp_path / "b", camera_file))
    assert shifted.exit_code == 0, shifted.output
    good = json.loads((tmp_path / "a" / "align_report.json").read_text())["before"]
    bad = json.loads((tmp_path / "b" / "align_report.json").read_text())["before"]
    assert good["score"] > 0.85 and good["overlap"] > 0.8
    assert bad["score"] < good["score"] - 0.3
    assert (tmp_path / "a" / "overlay.png").stat().st_size > 10_000
    assert (tmp_path / "a" / "side_by_side.png").is_file()
    assert "alignment score" in matched.output


def test_solve_recovers_a_mount_offset_put_into_the_twin(twin, tmp_path):
    TwinClient(twin.control_url).perturb(camera_offset=list(OFFSET))
    camera_file = fresh_camera_calibration(tmp_path)
    before = CameraCalibration.load(camera_file)
    result = invoke(*align_args(twin, tmp_path, camera_file, "--solve", "--views", "2", "--yes"))
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "align_report.json").read_text())
    found = [report["offset"][k] for k in ("dx_m", "dy_m", "dz_m", "droll_rad", "dpitch_rad", "dyaw_rad")]
    err = np.array(found) - np.array(OFFSET)
    assert np.abs(err[:3]).max() < 0.001, err  # 1 mm
    assert np.degrees(np.abs(err[3:])).max() < 0.5, np.degrees(err)
    assert abs(report["offset"]["dfovy_deg"]) < 0.5
    assert report["after"]["score"] > 0.9 and report["after"]["score"] > report["before"]["score"] + 0.3
    # the camera calibration now carries the measured mount for training (fovy folded into the crop)
    after = CameraCalibration.load(camera_file)
    expected = pose_with_offset(before.sim_camera, (*OFFSET, 0.0))
    assert np.allclose(after.sim_camera.pos, expected.pos, atol=0.001)
    assert np.allclose(after.sim_camera.euler, expected.euler, atol=math.radians(0.5))
    assert after.sim_camera.fovy == before.target_fovy_deg
    assert (tmp_path / "overlay_before.png").is_file() and (tmp_path / "overlay_after.png").is_file()
    assert "saved the mount" in result.output
    assert AlignConfig().size == 160  # the pixel scale the tolerance above refers to


def test_the_cli_warns_and_reports_when_the_mount_lies_beyond_the_search(twin, tmp_path):
    """The twin's camera turned 0.4 rad in yaw, beyond the +-0.3 rad search: the CLI prints a warning naming the
    offset at its bound and records it in align_report.json (a value there is a limit, not a measurement)."""
    TwinClient(twin.control_url).perturb(camera_offset=[0.0, 0.0, 0.0, 0.0, 0.0, 0.4])
    camera_file = fresh_camera_calibration(tmp_path)
    result = invoke(*align_args(twin, tmp_path, camera_file, "--solve", "--views", "2", "--yes"))
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "align_report.json").read_text())
    assert report["at_bounds"] == ["dyaw_rad"] and report["offset"]["dyaw_rad"] == pytest.approx(
        0.3, abs=0.01
    )
    assert "warning: solved at the search bound for dyaw_rad (+-0.3)" in " ".join(result.output.split())


def test_the_cma_fallback_alone_finds_the_basin(twin):
    """With the edge ICP switched off, the CMA-ES search that rescues a lost ICP must get close on its own."""
    from calibration.align import SimWristView, solve
    from calibration.capture import capture_view
    from so101_deploy.commands.calibrate.drives import BusGripper
    from so101_deploy.hardware.arm import Arm
    from so101_deploy.hardware.bus import BusConfig, FeetechBus
    from so101_deploy.hardware.calibration_file import load_calibration
    from so101_deploy.hardware.camera import Camera, CameraConfig

    TwinClient(twin.control_url).perturb(camera_offset=list(OFFSET))
    cam_cal = twin_camera_calibration(WorldConfig())
    with (
        FeetechBus(BusConfig(port=twin.port, packet_timeout_ms=100)) as bus,
        Camera(CameraConfig(source=twin.camera_url, width=320, height=240, fps=0)) as cam,
    ):
        # both jaws in view (the moving one leaves the default mount's view when open), as the CLI's views are
        arm = Arm(bus, load_calibration(twin.calibration_path))
        obs = capture_view(arm, cam, cam_cal, 160, gripper=BusGripper(bus, arm), opening_rad=0.3)
        bus.torque_off()
    config = AlignConfig(icp_taus=(), fallback_evals=300)
    start = pose_with_offset(cam_cal.sim_camera, (0.0,) * 6)
    with SimWristView() as view:
        result = solve(view, [obs], start, config)
    assert result.method == "CMA-ES + edge ICP"
    assert result.after.score > result.before.score + 0.3
    err = np.array(result.offset[:6]) - np.array(OFFSET)
    assert np.abs(err[:3]).max() < 0.004 and np.degrees(np.abs(err[3:])).max() < 3.0, err


def test_a_solution_at_a_search_bound_is_reported():
    """The real view is the sim's own at a mount 2 cm further along x; with a +-1 cm bound on dx the solve
    ends at that bound and says so (a value there is a limit, not a measurement); with the default bounds
    it does not."""
    from calibration.align import Observation, SimWristView, solve

    start = SimCameraPose()
    views = [np.array([0.0, 0.0, 0.0, 1.2, 1.57, g]) for g in (0.0, 0.3)]
    with SimWristView() as view:
        view.set_pose(pose_with_offset(start, (0.02, 0, 0, 0, 0, 0)))
        obs = [Observation(joints, view.full(joints)) for joints in views]
        tight = AlignConfig(solve_fovy=False, bounds=(0.01, 0.03, 0.03, 0.3, 0.3, 0.3, 6.0), time_budget_s=30)
        result = solve(view, obs, start, tight)
        assert "dx_m" in result.at_bounds and result.offset[0] == pytest.approx(0.01)
        wide = solve(view, obs, start, AlignConfig(solve_fovy=False, time_budget_s=30))
        assert wide.at_bounds == () and wide.offset[0] == pytest.approx(0.02, abs=0.001), wide.offset
