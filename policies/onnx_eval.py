"""Evaluate an exported policy in the sim through the runtime's own calls.

Each decision feeds OnnxPolicy.act the native wrist frame (as a camera would deliver it) and the low-dim state,
so preprocessing and frame stacking are policies.io's, the code `so101 run` executes; the env's wrappers
build the low-dim vector and play the action chunk with policies.io too, and apply each action through the
same controller the runtime uses. The sim env and episode bookkeeping are the trainer's.
"""

from __future__ import annotations

import dataclasses

from sim.config import EnvConfig

from policies.contract import PolicyContract
from policies.io import PREV_ACTION, lists_low_dim
from policies.onnx_policy import OnnxPolicy
from policies.training.evaluate import EvalResult


def env_config_for(contract: PolicyContract, base: EnvConfig | None = None) -> EnvConfig:
    """An EnvConfig that honours the contract (image, stacking, action, rate, task and start stage, episode
    length, camera mount); the rest from ``base``."""
    base = base or EnvConfig()
    start, mount = contract.start, contract.camera
    workspace = base.workspace
    if start.workspace_radius_m and start.workspace_azimuth_deg:
        workspace = dataclasses.replace(
            workspace,
            radius_m=tuple(start.workspace_radius_m),
            azimuth_deg=tuple(start.workspace_azimuth_deg),
        )
    return dataclasses.replace(
        base,
        task=start.task,
        stage=start.stage,
        stage_mix=(),
        episode_steps=contract.episode_steps,
        workspace=workspace,
        image_size=contract.image.size,
        frame_stack=contract.image.frame_stack,
        action_repeat=contract.action.action_repeat,
        action_sequence=contract.action.chunk_length,
        action_type=contract.action.type,
        control_hz=contract.control_hz,
        include_prev_action=lists_low_dim(contract, PREV_ACTION),
        wrist_camera=dataclasses.replace(
            base.wrist_camera, pos=tuple(mount.pos), euler=tuple(mount.euler), fovy=contract.image.fovy_deg,
            calibration_file="",
        ),
        **({"ee_step_m": contract.action.scale[0]} if contract.action.type == "ee_delta" else
           {"joint_step_rad": contract.action.scale[0]}),
    )  # fmt: skip


def evaluate_onnx(policy: OnnxPolicy, env_cfg: EnvConfig, episodes: int, seed: int = 0) -> EvalResult:
    from policies.wrappers import make_env

    env = make_env(env_cfg.for_evaluation(), seed=seed)
    raw = env.unwrapped
    result = EvalResult([], [], [], seeds=[seed + i for i in range(episodes)])
    try:
        for i in range(episodes):
            obs, _ = env.reset(seed=seed + i)
            policy.reset()
            ret, length, success, done = 0.0, 0, False, False
            while not done:
                frame = raw.render_wrist()  # the frame a camera would deliver now
                action = policy.act(frame, obs["low_dim_state"]).reshape(-1)
                obs, reward, terminated, truncated, info = env.step(action)
                ret += float(reward)
                length += 1
                success |= bool(info.get("success", False))
                done = bool(terminated or truncated)
            result.returns.append(ret)
            result.lengths.append(length)
            result.successes.append(success)
    finally:
        env.close()
    return result
