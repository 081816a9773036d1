"""Config values every training refuses before anything is created (run directory, checkpoint, workers).

A value that only fails later does damage on the way: ``checkpoint_every_frames=0`` crashed after the run
directory existed and left a checkpoint that then blocked the corrected command. Each message names the key,
the value and what would be accepted.
"""

from __future__ import annotations

import math
from pathlib import Path

from sim.config import OBS_MODES, WRIST_RENDERERS, EnvConfig


def require_at_least(minimum: float, values: dict[str, float]) -> None:
    for key, value in values.items():
        if not math.isfinite(value) or value < minimum:
            raise ValueError(f"{key} must be >= {minimum:g}, got {value}")


def check_env(env: EnvConfig) -> None:
    """The env fields a training run depends on, checked without building an env."""
    from sim.tasks import task_class

    if env.obs not in OBS_MODES:
        raise ValueError(f"env.obs must be one of {', '.join(OBS_MODES)}, got '{env.obs}'")
    if env.wrist_renderer not in WRIST_RENDERERS:
        raise ValueError(
            f"env.wrist_renderer must be one of {', '.join(WRIST_RENDERERS)}, got '{env.wrist_renderer}'"
        )
    try:
        task = task_class(env.task)
    except ValueError as exc:
        raise ValueError(f"env.task: {exc}") from None
    try:
        task.check_stage(env.stage)
    except ValueError as exc:
        raise ValueError(f"env.stage: {exc}") from None
    try:
        task.check_stage_mix(env.stage_mix)
    except ValueError as exc:
        raise ValueError(f"env.stage_mix: {exc}") from None
    require_at_least(1, {
        "env.episode_steps": env.episode_steps,
        "env.image_size": env.image_size,
        "env.render_size": env.render_size,
        "env.frame_stack": env.frame_stack,
        "env.action_repeat": env.action_repeat,
        "env.action_sequence": env.action_sequence,
    })  # fmt: skip
    if not math.isfinite(env.control_hz) or env.control_hz <= 0:
        raise ValueError(f"env.control_hz must be a positive number, got {env.control_hz}")


def check_schedule(cfg) -> None:
    """Budgets and periods shared by every trainer (all in env frames)."""
    require_at_least(1, {
        "num_train_frames": cfg.num_train_frames,
        "num_train_envs": cfg.num_train_envs,
        "num_eval_envs": cfg.num_eval_envs,
        "num_eval_episodes": cfg.num_eval_episodes,
        "eval_every_frames": cfg.eval_every_frames,
        "checkpoint_every_frames": cfg.checkpoint_every_frames,
    })  # fmt: skip
    require_at_least(0, {"num_seed_frames": cfg.num_seed_frames, "torch_threads": cfg.torch_threads})


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (what can be allocated without swapping), None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_fits_in_memory(nbytes: int, what: str, knob: str) -> None:
    """Refuse a buffer that cannot fit in the RAM available now (``nbytes`` should be a lower bound)."""
    available = available_memory_bytes()
    if available is not None and nbytes > available:
        raise ValueError(
            f"{what} needs at least {_size(nbytes)} but {_size(available)} of memory is available; lower {knob}"
        )


def _size(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if nbytes < 1024 or unit == "TiB":
            return f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    raise AssertionError("unreachable")
