"""Can this arm reproduce what the policy was trained on? Start state and camera mount, checked before torque on.

The contract (policies.contract) records the start every training and evaluation episode began from and the
wrist-camera mount the images were rendered with. A policy trained from a start the arm cannot take (lift stage 3:
the gripper placed above the cube from its true position) or looking through a camera mounted elsewhere than the
measured one (`so101 calibrate align --solve` writes ``sim_camera``) would run, and fail for reasons no telemetry
shows. Each check returns one line saying what to redo, or None. docs/sim_to_real.md lists every quantity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from policies.contract import PolicyContract


@dataclass(frozen=True)
class MountTolerance:
    """How far the measured camera mount may be from the trained one. 1 cm moves the jaws about 10 px in an 84-px
    wrist view at grasp height and 5 deg tilts the table by as much; 3 deg of fovy scales the image by ~5%.
    Camera randomisation in training covers a few mm / deg, so these are well outside what a policy has seen."""

    pos_m: float = 0.01
    euler_deg: float = 5.0
    fovy_deg: float = 3.0


def start_state_problem(contract: PolicyContract, home_q: np.ndarray) -> str | None:
    """Why `run` cannot start where the policy was trained to start, or None.

    ``home_q`` is the home pose `run` moves to (sim radians, computed from this runtime's arm model)."""
    start = contract.start
    if not start.deployable:
        return (
            f"policy was trained from {start.task} stage {start.stage} ({start.description}), which the arm cannot "
            f"reproduce (`so101 run` starts at the home pose, gripper open): train on the deployable task "
            f"(env.stage=0; curriculum stages only through env.stage_mix) and export again"
        )
    if not start.joint_pos:  # a contract built by hand: the home pose is run's own by definition
        return None
    trained = np.asarray(start.joint_pos, dtype=np.float64)
    if trained.shape != np.shape(home_q):
        return (
            f"policy's start pose has {trained.size} joints, the arm {np.size(home_q)}: re-export the policy"
        )
    off = np.abs(trained - np.asarray(home_q))
    worst = int(np.argmax(off))
    if off[worst] > start.tolerance_rad:
        name = contract.joint_names[worst]
        return (
            f"policy's start pose differs from this runtime's home pose at {name} by {math.degrees(off[worst]):.1f} "
            f"deg (tolerance {math.degrees(start.tolerance_rad):.1f} deg): the arm model or home pose changed since "
            "training; retrain (or re-export with this version) so both start from the same pose"
        )
    return None


def camera_mount_problem(
    contract: PolicyContract, measured, tolerance: MountTolerance = MountTolerance()
) -> str | None:
    """Why the measured wrist-camera mount (a ``SimCameraPose``: pos, euler, fovy) is not the trained one, or None."""
    if measured is None:
        return None
    trained = contract.camera
    dpos = float(np.linalg.norm(np.subtract(measured.pos, trained.pos)))
    deuler = max(
        abs(math.degrees(math.remainder(m - t, 2 * math.pi)))
        for m, t in zip(measured.euler, trained.euler, strict=True)
    )
    dfovy = abs(float(measured.fovy) - trained.fovy_deg)
    redo = (
        "train with the measured mount (env.wrist_camera.calibration_file=<camera calibration JSON>) and export "
        "again, or re-run `so101 calibrate align --solve` if the camera moved"
    )
    if dpos > tolerance.pos_m:
        return (
            f"measured camera mount is {dpos * 100:.1f} cm from the one the policy was trained with (tolerance "
            f"{tolerance.pos_m * 100:g} cm; the policy would see the jaws and cube elsewhere in the image): {redo}"
        )
    if deuler > tolerance.euler_deg:
        return (
            f"measured camera mount is turned {deuler:.1f} deg from the one the policy was trained with (tolerance "
            f"{tolerance.euler_deg:g} deg; the table would tilt in the image): {redo}"
        )
    if dfovy > tolerance.fovy_deg:
        return (
            f"measured camera fovy {float(measured.fovy):.1f} deg differs from the policy's {trained.fovy_deg:g} deg "
            f"by more than {tolerance.fovy_deg:g} deg (everything would look nearer or farther): {redo}"
        )
    return None


def latency_note(contract: PolicyContract, measured) -> str | None:
    """A warning (not a refusal) when the loop latency measured by `so101 calibrate latency` (a
    ``MeasuredLatency``) lies outside the delays the policy was trained with: it may still work, and only the
    episode says; the telemetry's frame ages and tick timings are there to compare."""
    if measured is None:
        return None
    lat = contract.latency
    low = lat.action_ms[0] + lat.observation_ms[0]
    high = lat.action_ms[1] + lat.observation_ms[1]
    if low <= measured.median_ms <= high:
        return None
    return (
        f"warning: measured loop latency {measured.median_ms:.0f} ms (so101 calibrate latency) is outside the "
        f"{low:.0f}-{high:.0f} ms the policy was trained with; train with env.randomization.latency/obs_delay "
        "around_measured_ms and env.wrist_camera.calibration_file set to this camera calibration"
    )
