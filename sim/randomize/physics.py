"""Physical randomisers: the cube (size, mass, friction), the servos (gains, damping, force limit) and gear
backlash, each with its config. They change physics, never pixels other than the cube's own."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from sim.randomize.sampling import Range, uniform
from sim.randomize.scene_elements import CUBE_BODY, CUBE_GEOM

import mujoco
import numpy as np

from robot.so101 import ARM_JOINT_NAMES

N_ARM_JOINTS = len(
    ARM_JOINT_NAMES
)  # backlash applies to the arm joints; the gripper squeezes against its force limit


@dataclass
class CubeConfig:
    """Cube size, mass and friction; per episode. Physics (and the cube's size on screen)."""

    enabled: bool = False
    size_scale: Range = (0.9, 1.1)
    mass_scale: Range = (0.7, 1.5)
    friction: Range = (0.7, 1.3)  # sliding coefficient (the scene's is env.cube_friction)


@dataclass
class ActuatorConfig:
    """Servo stiffness, damping and force limit; per episode, per joint. Physics only."""

    enabled: bool = False
    kp_scale: Range = (0.8, 1.2)
    kv_scale: Range = (0.7, 1.3)  # the position actuator's derivative gain
    damping_scale: Range = (0.7, 1.3)  # joint damping
    force_scale: Range = (0.8, 1.2)  # force limit


@dataclass
class BacklashConfig:
    """Gear play on the five arm joints: the commanded position moves only once the command has crossed
    the play (a play operator on the target), so direction reversals lose up to the play. Per episode, per joint.
    Why play on the command and not on the reading: ``Backlash``."""

    enabled: bool = False
    deg: Range = (0.3, 0.7)  # full play width


class CubeRandomizer:
    """Size, mass (with the inertia of a solid cube) and friction; the task is told the new size."""

    def __init__(self, cfg: CubeConfig, model: mujoco.MjModel, set_cube_size: Callable[[float], None]):
        self.cfg = cfg
        self.geom = model.geom(CUBE_GEOM).id
        self.body = model.body(CUBE_BODY).id
        self.half0 = float(model.geom_size[self.geom, 0])
        self.mass0 = float(model.body_mass[self.body])
        self.set_cube_size = set_cube_size

    def reset(self, model: mujoco.MjModel, data: mujoco.MjData, rng: np.random.Generator) -> None:
        c = self.cfg
        half = self.half0 * uniform(rng, c.size_scale)
        mass = self.mass0 * uniform(rng, c.mass_scale)
        model.geom_size[self.geom] = half
        model.geom_rbound[self.geom] = half * math.sqrt(3)
        model.geom_aabb[self.geom] = [0, 0, 0, half, half, half]
        model.geom_friction[self.geom, 0] = uniform(rng, c.friction)
        model.body_mass[self.body] = mass
        model.body_inertia[self.body] = mass * (2 * half) ** 2 / 6
        mujoco.mj_setConst(model, data)  # the solver's inverse weights follow the new mass
        self.set_cube_size(2 * half)


class ActuatorRandomizer:
    def __init__(self, cfg: ActuatorConfig, model: mujoco.MjModel, dof_ids: np.ndarray):
        self.cfg = cfg
        self.dofs = np.asarray(dof_ids)
        self.n = model.nu
        self.kp0 = model.actuator_gainprm[:, 0].copy()
        self.kv0 = -model.actuator_biasprm[:, 2].copy()
        self.force0 = model.actuator_forcerange.copy()
        self.damping0 = model.dof_damping[self.dofs].copy()

    def reset(self, model: mujoco.MjModel, rng: np.random.Generator) -> None:
        c = self.cfg
        kp = self.kp0 * uniform(rng, c.kp_scale, self.n)
        model.actuator_gainprm[:, 0] = kp
        model.actuator_biasprm[:, 1] = -kp
        model.actuator_biasprm[:, 2] = -self.kv0 * uniform(rng, c.kv_scale, self.n)
        model.actuator_forcerange[:] = self.force0 * uniform(rng, c.force_scale, (self.n, 1))
        model.dof_damping[self.dofs] = self.damping0 * uniform(rng, c.damping_scale, len(self.dofs))


class Backlash:
    """Gear play on the arm joints, as a play (hysteresis) operator on the commanded position: the position
    the actuator drives to follows the command only once the command is more than half the play away from it.

    Why this model, for an STS3215. Its magnetic encoder sits on the output shaft, and the servo's position
    loop closes on that reading; the play is in the gear train between the motor and the output.
    - The reading is the true output angle. Play never shows as a difference between where a joint is and
      what its encoder says, so a dead band on the *reading* (what the twin used to do) is wrong: it makes the
      policy see a joint that is not where it is. Readings here are the joint's own angle (noise and
      quantisation are ``sim.randomize.sensing``'s business, not the gears').
    - The play acts on what drives the output. While the load on a joint keeps one sign (gravity on the
      shoulder and elbow, most of the time), the output rests on one flank of the teeth and the train is
      rigid. When the motor's torque or the load reverses (a reversal of the goal, the arm passing over a
      joint's vertical, the jaws pushing on the cube or the table), the output is free across the play until
      the other flanks meet; the loop sees that (it reads the output) but can push back only once the motor
      has crossed the gap, and with the servo's dead zone, a low P gain (LeRobot's 16) and gear friction the
      output settles anywhere within about the play of its goal.
    What a policy meets, then: a small reversal of its goal moves the joint less than asked or not at all, the
    joint ends up to about half the play off the goal, and the reading shows exactly where it ended up. The
    play operator on the command, ahead of the MuJoCo position actuator (the servo's loop, closed on the true
    joint), gives exactly that. It overstates the static error under a steady load (the real loop closes it
    while the teeth stay in contact) and leaves out the jump across the play when the load reverses (that
    would need a motor-side joint in the MJCF and substep contact dynamics): the conservative side for
    training, since the policy has to close the loop on what it reads either way.

    One implementation for both worlds: the training sim applies it where a delayed target lands
    (``sim.randomize.timing.ActuationQueue``), and the digital twin composes the same queue and operator with
    its perturbation's fixed play.
    """

    def __init__(self, cfg: BacklashConfig, n: int = N_ARM_JOINTS):
        self.cfg, self.n = cfg, n
        self.half = np.zeros(n)
        self.state: np.ndarray | None = None

    def reset(self, rng: np.random.Generator, targets: np.ndarray) -> None:
        self.half = np.radians(uniform(rng, self.cfg.deg, self.n)) / 2
        self.state = np.asarray(targets[: self.n], dtype=np.float64).copy()

    def apply(self, targets: np.ndarray) -> np.ndarray:
        out = np.asarray(targets, dtype=np.float64).copy()
        self.state = np.clip(self.state, out[: self.n] - self.half, out[: self.n] + self.half)
        out[: self.n] = self.state
        return out

    def seat(self, index: int, position: float) -> None:
        """Put joint ``index``'s play centred on ``position``: a servo whose torque went off and on again
        takes up its gears from wherever the joint was left (no-op for joints without play)."""
        if self.state is not None and index < self.n:
            self.state[index] = float(position)
