"""The twin's latency, backlash and joint noise are the training randomisers at one fixed point (sim.randomize).

A held-out perturbation must mean the same thing in the held-out training sim and on the twin: the same goal
sequence through the same fixed values gives the same actuator drive, the same physics and the same readings.
"""

import copy
import dataclasses
import math

from sim.arm_model import WRIST_CAMERA
from sim.config import EnvConfig
from sim.heldout import heldout_env_config, heldout_perturbations
from sim.randomize import DomainRandomizer, apply_visual_perturbation, perturbation_config
from sim.scene import build_model

import numpy as np
import pytest

from so101_deploy.twin.world import Perturbations, TwinWorld, WorldConfig, twin_perturbation

PERTURBATION = {"latency_ms": 124.0, "backlash_deg": 1.4, "joint_noise_deg": 0.3}
SEED = 3


def _goals(start: np.ndarray, steps: int) -> list[np.ndarray]:
    """Goals that move, then reverse by less than the play (0.5 deg) and by more (3 deg)."""
    out, q = [], start.copy()
    for t in range(steps):
        delta = np.zeros(6)
        delta[:5] = math.radians(2.0) if t < 4 else (-math.radians(0.5) if t < 7 else -math.radians(3.0))
        delta[5] = math.radians(1.0) * (-1) ** t
        q = q + delta
        out.append(q.copy())
    return out


def test_twin_and_sim_apply_the_same_latency_backlash_and_noise_for_the_same_fixed_values():
    world = TwinWorld()
    world.perturb(PERTURBATION)
    world.reset(SEED)
    expected = perturbation_config(PERTURBATION)
    expected.joint_noise = dataclasses.replace(
        expected.joint_noise, quantize=False
    )  # the twin's servo rounds
    assert world.randomization == expected

    # The training sim's side: the env's own DomainRandomizer calls (after_task_reset, step_physics, read_joints)
    # on a copy of the twin's state, seeded as the twin seeds it.
    model, n_sub = world.model, world.timing.n_substeps
    sim_data = copy.copy(world.data)
    dr = DomainRandomizer(expected, model, world.task, world.timing, render=False)
    dr.seed(np.random.SeedSequence(SEED))
    start = world.data.ctrl.copy()
    dr.after_task_reset(
        model, sim_data, start, sim_data.qpos[world.task.cube_qadr : world.task.cube_qadr + 2]
    )

    qadr = world.qadr
    ctrl_sim, ctrl_twin, read_sim, read_twin = [], [], [], []
    for goal in _goals(start, 12):
        dr.step_physics(model, sim_data, goal, n_sub)
        read_sim.append(dr.read_joints(sim_data.qpos[qadr]))
        ctrl_sim.append(sim_data.ctrl.copy())
        for i in range(6):  # the bus writes one servo after the other
            world.set_goal(i, float(goal[i]))
        world.advance(n_sub * model.opt.timestep)
        read_twin.append(np.array([world.read_joint(i) for i in range(6)]))
        ctrl_twin.append(world.data.ctrl.copy())
        np.testing.assert_array_equal(world.data.qpos, sim_data.qpos)
    np.testing.assert_array_equal(ctrl_twin, ctrl_sim)
    np.testing.assert_array_equal(read_twin, read_sim)

    # ...and what they both do is the model. A goal lands 124 ms (62 substeps) after it was sent: the goal of
    # control step k drives the joints from step k + 2 on (ctrl[k] is the drive at the end of step k).
    ctrl, goals, half = np.array(ctrl_sim), _goals(start, 12), math.radians(1.4) / 2
    np.testing.assert_array_equal(ctrl[:2], [start] * 2)
    np.testing.assert_array_equal(ctrl[2:, 5], [g[5] for g in goals[:10]])  # the gripper has no play
    # moving up 2 deg per step, the drive trails each goal by half the play
    np.testing.assert_allclose(ctrl[2:6, :5], [g[:5] - half for g in goals[:4]], rtol=0, atol=1e-12)
    # reversing by 0.5 deg per step: nothing moves until the reversal exceeds the play (1.5 > 1.4 deg, goal 6)
    np.testing.assert_array_equal(ctrl[6:8, :5], [ctrl[5, :5]] * 2)
    # from then on the drive is dragged half the play above the goal
    np.testing.assert_allclose(ctrl[8:, :5], [g[:5] + half for g in goals[6:10]], rtol=0, atol=1e-12)
    # readings: the true joint angle plus noise of std 0.3 deg (no dead band: the encoder is on the output)
    noise = np.degrees(read_sim[-1] - sim_data.qpos[qadr])
    assert 0 < np.abs(noise).max() < 5 * 0.3


def test_twin_reading_is_the_true_joint_and_the_play_is_on_the_goal():
    """The old twin put backlash as a dead band on the reading; an STS3215 reads its output shaft."""
    world = TwinWorld()
    world.perturb({"backlash_deg": 1.6})
    world.reset(0)
    half = math.radians(1.6) / 2
    goal = world.data.ctrl.copy()
    goal[1] += math.radians(6.0)
    for i in range(6):
        world.set_goal(i, float(goal[i]))
    world.advance(1.0)
    assert world.data.ctrl[1] == goal[1] - half  # the gears trail the goal by half the play
    assert abs(world.data.qpos[world.qadr[1]] - world.data.ctrl[1]) < math.radians(1.0)
    for i in range(6):  # what the encoder says is where the joint is, exactly
        assert world.read_joint(i) == world.data.qpos[world.qadr[i]]
    back = goal.copy()
    back[1] -= 0.8 * 2 * half  # a reversal inside the play: the drive does not move
    world.set_goal(1, float(back[1]))
    world.advance(0.1)
    assert world.data.ctrl[1] == goal[1] - half
    back[1] -= 2 * half  # beyond it: the drive follows, half the play above the goal
    world.set_goal(1, float(back[1]))
    world.advance(0.1)
    assert world.data.ctrl[1] == back[1] + half


def test_torque_off_drops_the_queued_goals_of_that_servo_only():
    world = TwinWorld()
    world.perturb({"latency_ms": 100.0})
    world.reset(0)
    q0 = world.joint_positions()
    goal = world.data.ctrl.copy() + math.radians(5.0)
    for i in range(6):
        world.set_goal(i, float(goal[i]))
    world.advance(0.05)  # half the latency: nothing has landed
    assert not np.any(world.data.ctrl == goal)
    world.set_goal(2, None)
    hold = world.data.ctrl[2]
    assert abs(hold - q0[2]) < math.radians(0.5)
    world.advance(0.1)
    assert world.data.ctrl[2] == hold  # its queued goal was dropped
    np.testing.assert_array_equal(np.delete(world.data.ctrl, 2), np.delete(goal, 2))  # the others landed


def test_every_heldout_perturbation_is_the_same_config_point_in_the_sim_and_on_the_twin():
    world = TwinWorld()
    for p in heldout_perturbations():
        sim_cfg = heldout_env_config(EnvConfig(), p).randomization
        world.perturb(p)
        assert world.randomization.latency == sim_cfg.latency and sim_cfg.latency.ms == (p["latency_ms"],)
        assert world.randomization.backlash == sim_cfg.backlash
        assert sim_cfg.backlash.deg == (p["backlash_deg"],) * 2 and sim_cfg.backlash.enabled
        assert world.randomization.joint_noise.std_deg == sim_cfg.joint_noise.std_deg == p["joint_noise_deg"]
        assert sim_cfg.joint_noise.quantize and not world.randomization.joint_noise.quantize
        assert world.dr.queue.delay == round(p["latency_ms"] / 2.0)  # 2 ms physics substeps
    for bad in ({"backlash_deg": -1.0}, {"latency_ms": float("nan")}, {"joint_noise_deg": float("inf")}):
        with pytest.raises(ValueError, match=f"{next(iter(bad))} must be a finite number >= 0"):
            perturbation_config(bad)


def test_a_heldout_camera_offset_puts_the_twin_camera_where_it_puts_the_sim_camera():
    """The sim turns the camera in the gripper body frame, the twin adds to the mount's euler angles (the
    calibration's convention): twin_perturbation translates, or the two differ by up to 3 deg."""
    world = TwinWorld()
    cam = world.model.camera(WRIST_CAMERA).id
    for p in heldout_perturbations():
        sim_model = build_model(EnvConfig())
        apply_visual_perturbation(sim_model, p)
        world.perturb(twin_perturbation(p, EnvConfig()))
        np.testing.assert_allclose(world.model.cam_pos[cam], sim_model.cam_pos[cam], rtol=0, atol=1e-12)
        assert abs(float(world.model.cam_quat[cam] @ sim_model.cam_quat[cam])) == pytest.approx(
            1.0, abs=1e-12
        )
    world.perturb({"camera_offset": p["camera_offset"]})  # untranslated: the euler convention, elsewhere
    assert abs(float(world.model.cam_quat[cam] @ sim_model.cam_quat[cam])) < math.cos(math.radians(0.5) / 2)


def test_perturbations_given_at_construction_are_in_force_from_the_start():
    """`so101 twin --light-scale/--backlash-deg ...` configure the world; the light scale used to wait for a
    /perturb call."""
    nominal = TwinWorld()
    world = TwinWorld(WorldConfig(perturbations=Perturbations(light_scale=0.5, backlash_deg=1.2)))
    np.testing.assert_allclose(world.model.light_diffuse, 0.5 * nominal.model.light_diffuse)
    np.testing.assert_allclose(world.model.vis.headlight.diffuse, 0.5 * nominal.model.vis.headlight.diffuse)
    assert world.randomization.backlash.deg == (1.2, 1.2) and world.dr.backlash is not None
    assert nominal.dr.backlash is None and nominal.dr.queue.delay == 0
