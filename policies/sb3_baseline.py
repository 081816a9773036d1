"""Stable-Baselines3 SAC as a baseline for DrQ-v2, on the same env, wrappers and contract.

Fairness is the point of this module, so the baseline sees exactly what DrQ-v2 sees: ``policies.wrappers.make_env``
(same crop, frame stack on channels, action repeat, time limit, truncation semantics) with nothing added but a
filter that hides ``privileged_state`` from the policy, and the same seeded ``Evaluator``. Budgets, periods and
seed phases are counted in env frames, as in ``policies.drqv2.config``; SB3 counts agent steps, one agent step
being ``action_repeat * action_sequence`` frames.

Defaults are the original lift project's SB3 settings (SAC, NatureCNN, lr 3e-4, replay 100k, batch 128, 84x84,
frame stack 3). SB3 stores observation *and* next observation stacks in its replay (no single-frame storage for
dict observations): about 127 KB per transition at 9x84x84, 12.7 GB at 100k, against DrQ-v2's ~21 KB.

Deployment goes through the same ONNX contract. SB3 normalises images in ``preprocess_obs`` (``x.float() / 255``,
no ``- 0.5``), so :class:`SacDeterministicActor` calls SB3's own ``extract_features`` on the raw uint8 stack:
the exported graph normalises exactly once, exactly as in training, and the contract records SB3's formula.

Checkpoints are this project's format (one file, ``weights_only``-loadable, written atomically), so loading one
cannot run code; ``sb3_model.zip`` is also written at the end for people who want ``SAC.load``.
"""

from __future__ import annotations

import csv
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.config import EnvConfig

import gymnasium as gym
import numpy as np
import torch
from rich.console import Console
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import configure
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv
from stable_baselines3.sac.policies import Actor
from torch import nn

from common.config import from_dict, to_dict
from policies.contract import PolicyContract, contract_for_env
from policies.provenance import git_commit, stamp_contract
from policies.training.checkpoint import (
    CHECKPOINT,
    CheckpointError,
    atomic_torch_save,
    atomic_write,
    checkpoint_path,
    read_checkpoint,
)
from policies.training.checks import check_env, check_fits_in_memory, check_schedule, require_at_least
from policies.training.device import resolve_device, set_torch_threads
from policies.training.evaluate import Evaluator
from policies.training.metrics import CSV_COLUMNS
from policies.training.signals import StopRequest, workers_ignore_stop_signals
from policies.training.wall_clock import SNAPSHOT_DIR, SnapshotSchedule, WallClockKeys
from policies.wrappers import make_env

ALGO = "sac"
SB3_ZIP = "sb3_model.zip"
FORMAT_VERSION = 1
POLICIES = ("MultiInputPolicy", "CnnPolicy")
RGB, LOW_DIM = "rgb", "low_dim_state"  # the contract's inputs; privileged_state never reaches the policy
SB3_NORMALISATION = "in_model: x/255 (SB3 preprocess_obs)"


@dataclass
class SacConfig:
    """SAC hyperparameters (SB3 argument names where they map one to one)."""

    # MultiInputPolicy: NatureCNN on rgb + low_dim_state (joint angles), like DrQ-v2's use_low_dim default.
    # CnnPolicy: rgb only (the original project's choice); the exported graph then ignores low_dim.
    policy: str = "MultiInputPolicy"
    learning_rate: float = 3e-4
    buffer_size: int = 100_000  # transitions (agent steps)
    batch_size: int = 128
    gamma: float = 0.99
    tau: float = 0.005
    train_freq: int = 1  # agent steps (per env) between training phases
    gradient_steps: int = 1  # gradient updates per training phase
    ent_coef: str = "auto"  # "auto", "auto_0.1" (learned, from 0.1) or a fixed number such as "0.05"
    target_entropy: str = "auto"  # "auto" (-action_dim) or a number
    features_dim: int = 256  # NatureCNN output
    net_arch: tuple[int, ...] = (256, 256)  # actor and critic MLPs
    share_features_extractor: bool = False  # SB3's SAC default: actor and critic have their own CNN


@dataclass
class SacTrainConfig(WallClockKeys):
    algo: str = ALGO
    name: str = "sac"
    seed: int = 1
    device: str = "auto"  # "auto" (cuda if present), "cpu", "cuda"
    torch_threads: int = 0  # 0 = all cores
    env: EnvConfig = field(default_factory=EnvConfig)
    sac: SacConfig = field(default_factory=SacConfig)
    num_train_envs: int = 1  # >1: SB3 SubprocVecEnv workers
    num_train_frames: int = 1_000_000
    num_seed_frames: int = (
        4000  # uniform random actions and no updates before this many frames (learning_starts)
    )
    eval_every_frames: int = 20_000
    num_eval_episodes: int = 10
    num_eval_envs: int = 1
    eval_video: bool = True
    checkpoint_every_frames: int = 50_000
    log_interval_episodes: int = 4  # SB3 prints its table every this many finished episodes
    run_dir: str = ""  # empty = <runs_root>/<name>-<time>
    runs_root: str = "runs"
    tensorboard: bool = True
    progress: bool = True  # SB3's progress bar (tqdm + rich)
    save_sb3_zip: bool = True  # also write sb3_model.zip (SAC.load) at the end

    def validate(self) -> None:
        """Fail before anything starts, with the fix in the message."""
        self.check_wall_clock()
        if self.algo != ALGO:
            raise ValueError(f"algo must be '{ALGO}' for the SB3 baseline config, got '{self.algo}'")
        check_env(self.env)
        check_schedule(self)
        if self.env.obs != "pixels":
            raise ValueError(
                "the SB3 SAC baseline trains from pixels (env.obs=pixels); for a state-based learning check use "
                "DrQ-v2 with env.obs=state"
            )
        if self.sac.policy not in POLICIES:
            raise ValueError(f"sac.policy must be one of {', '.join(POLICIES)}, got '{self.sac.policy}'")
        if self.env.image_size < 36:
            raise ValueError(
                f"env.image_size={self.env.image_size}: SB3's NatureCNN needs at least 36 pixels"
            )
        require_at_least(1, {
            "sac.batch_size": self.sac.batch_size,
            "sac.buffer_size": self.sac.buffer_size,
            "sac.train_freq": self.sac.train_freq,
            "sac.features_dim": self.sac.features_dim,
            "log_interval_episodes": self.log_interval_episodes,
        })  # fmt: skip
        for key in ("ent_coef", "target_entropy"):
            value = getattr(self.sac, key)
            if not value.startswith("auto"):
                try:
                    float(value)
                except ValueError:
                    raise ValueError(f"sac.{key} must be 'auto' or a number, got '{value}'") from None

    @property
    def frames_per_step(self) -> int:
        """Env frames behind one agent step (one action chunk, each action held ``action_repeat`` ticks)."""
        return self.env.action_repeat * self.env.action_sequence

    def frames_to_steps(self, frames: int) -> int:
        """Env frames -> SB3 timesteps (agent steps summed over envs)."""
        return -(-frames // self.frames_per_step)

    def replay_nbytes_lower_bound(self) -> int:
        """SB3 keeps the observation and the next observation stack of every transition (images only here)."""
        return 2 * self.sac.buffer_size * 3 * self.env.frame_stack * self.env.image_size**2


def check_resources(cfg: SacTrainConfig) -> None:
    """What the config asks of this machine: the device exists, the replay fits in memory."""
    resolve_device(cfg.device)
    check_fits_in_memory(
        cfg.replay_nbytes_lower_bound(), "the SAC replay", "sac.buffer_size or env.image_size"
    )


def _policy_keys(policy: str) -> tuple[str, ...]:
    return (RGB, LOW_DIM) if policy == "MultiInputPolicy" else (RGB,)


def _number_or_auto(value: str) -> str | float:
    return value if value.startswith("auto") else float(value)


# -- environment --------------------------------------------------------------------------------------------------
class PolicyObservation(gym.Wrapper):
    """Keeps only what the deployed actor may read, and reports success under SB3's ``is_success`` key.

    ``keys == (rgb,)`` gives the bare image Box that SB3's CnnPolicy expects; otherwise a Dict of those keys.
    """

    def __init__(self, env: gym.Env, keys: tuple[str, ...]):
        super().__init__(env)
        self.keys = keys
        spaces = env.observation_space.spaces
        missing = [k for k in keys if k not in spaces]
        if missing:
            raise KeyError(f"observation has no {missing}; available: {list(spaces)} (is env.obs=pixels?)")
        self.observation_space = (
            spaces[RGB] if keys == (RGB,) else gym.spaces.Dict({k: spaces[k] for k in keys})
        )

    def _filter(self, obs: dict[str, np.ndarray]):
        return obs[RGB] if self.keys == (RGB,) else {k: obs[k] for k in self.keys}

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return self._filter(obs), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return (
            self._filter(obs),
            reward,
            terminated,
            truncated,
            {**info, "is_success": bool(info.get("success"))},
        )


class _EnvFactory:
    """Picklable constructor (SubprocVecEnv workers are spawned; a lambda would not survive)."""

    def __init__(self, env_cfg: EnvConfig, keys: tuple[str, ...], seed: int):
        self.env_cfg, self.keys, self.seed = env_cfg, keys, seed

    def __call__(self) -> gym.Env:
        import sim  # noqa: F401  (a spawned worker picks its headless GL backend before mujoco loads)

        return Monitor(PolicyObservation(make_env(self.env_cfg, seed=self.seed), self.keys))


def make_sac_vec_env(cfg: SacTrainConfig, num_envs: int, seed: int) -> VecEnv:
    """``num_envs`` copies of ``make_env(cfg.env)`` behind the policy filter and SB3's Monitor."""
    keys = _policy_keys(cfg.sac.policy)
    factories = [_EnvFactory(cfg.env, keys, seed + i) for i in range(num_envs)]
    if num_envs == 1:
        return DummyVecEnv(factories)
    return SubprocVecEnv(factories, start_method="spawn")


# -- model ---------------------------------------------------------------------------------------------------------
def build_model(
    cfg: SacTrainConfig,
    env: VecEnv,
    device: str | torch.device = "cpu",
    buffer_size: int | None = None,
    verbose: int = 1,
) -> SAC:
    """An untrained SB3 SAC on ``env`` with ``cfg``'s settings (``buffer_size`` overrides, e.g. 1 for loading)."""
    s = cfg.sac
    extractor = (
        {"cnn_output_dim": s.features_dim}
        if s.policy == "MultiInputPolicy"
        else {"features_dim": s.features_dim}
    )
    return SAC(
        s.policy,
        env,
        learning_rate=s.learning_rate,
        buffer_size=buffer_size or s.buffer_size,
        learning_starts=cfg.frames_to_steps(cfg.num_seed_frames),
        batch_size=s.batch_size,
        tau=s.tau,
        gamma=s.gamma,
        train_freq=(s.train_freq, "step"),
        gradient_steps=s.gradient_steps,
        ent_coef=_number_or_auto(s.ent_coef),
        target_entropy=_number_or_auto(s.target_entropy),
        policy_kwargs={
            "net_arch": list(s.net_arch),
            "features_extractor_kwargs": extractor,
            "share_features_extractor": s.share_features_extractor,
        },
        seed=cfg.seed,
        device=device,
        verbose=verbose,
    )


def deterministic_act(model: SAC) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """The Evaluator's act function: a batch of full env observations -> SAC's mean actions (no noise)."""
    keys = _policy_keys(_policy_name(model))

    def act(obs: dict[str, np.ndarray]) -> np.ndarray:
        x = obs[RGB] if keys == (RGB,) else {k: obs[k] for k in keys}
        action, _ = model.predict(x, deterministic=True)
        return action

    return act


def _policy_name(model: SAC) -> str:
    return "MultiInputPolicy" if isinstance(model.observation_space, gym.spaces.Dict) else "CnnPolicy"


class SacDeterministicActor(nn.Module):
    """What is deployed: ``forward(rgb uint8 (B, 3k, S, S), low_dim float32 (B, D)) -> action (B, A)``.

    SB3's own feature extraction (``preprocess_obs``: uint8 -> float / 255, then NatureCNN) followed by the mean
    of the squashed Gaussian, ``tanh(mu)``: the action ``SAC.predict(deterministic=True)`` returns, since the
    action space is [-1, 1] and needs no unscaling.
    """

    def __init__(self, actor: Actor):
        super().__init__()
        if actor.use_sde:
            raise ValueError("gSDE actors are not exportable here; train with use_sde off (the default)")
        self.actor = actor
        self.uses_low_dim = isinstance(actor.observation_space, gym.spaces.Dict)

    def forward(self, rgb: torch.Tensor, low_dim: torch.Tensor) -> torch.Tensor:
        obs = {RGB: rgb, LOW_DIM: low_dim} if self.uses_low_dim else rgb
        features = self.actor.extract_features(obs, self.actor.features_extractor)
        mean = self.actor.mu(self.actor.latent_pi(features))
        if not self.uses_low_dim:  # keep the contract's second input in the graph (adds exactly zero)
            mean = mean + 0.0 * low_dim.sum(dim=1, keepdim=True)
        return torch.tanh(mean)


# -- checkpoints -----------------------------------------------------------------------------------------------------
def _torch_variables(model: SAC) -> dict[str, torch.Tensor]:
    _, names = model._get_torch_save_params()
    return {name: getattr(model, name).detach().clone() for name in names}


def save_sac_checkpoint(path: str | Path, model: SAC, cfg: SacTrainConfig, counters: dict[str, Any]) -> Path:
    """Networks, optimisers, entropy coefficient, counters and config in one atomically written file."""
    payload = {
        "format_version": FORMAT_VERSION,
        "algo": ALGO,
        "config": to_dict(cfg),
        "params": model.get_parameters(),
        "variables": _torch_variables(model),
        "counters": dict(counters),
        "torch_rng": torch.get_rng_state(),
        "git_commit": git_commit(),
    }
    return atomic_torch_save(payload, path)


def load_sac_payload(path: str | Path) -> dict:
    payload = read_checkpoint(path)
    check_payload(payload, checkpoint_path(path))
    return payload


def check_payload(payload: dict, path: Path) -> None:
    if payload.get("algo") != ALGO:
        raise CheckpointError(f"{path} is not an SB3 SAC checkpoint (algo {payload.get('algo', 'drqv2')!r})")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has SAC checkpoint format {payload.get('format_version')!r}; this reads {FORMAT_VERSION}"
        )


def sac_config_from_dict(data: dict) -> SacTrainConfig:
    return from_dict(SacTrainConfig, data)


def restore(model: SAC, payload: dict) -> None:
    model.set_parameters(payload["params"], exact_match=True, device=model.device)
    for name, value in payload.get("variables", {}).items():
        getattr(model, name).data.copy_(value.to(model.device))


def load_sac(checkpoint: str | Path, device: str = "cpu") -> tuple[SAC, SacTrainConfig]:
    """The trained model (no replay) and its config, ready for ``predict`` or export."""
    payload = load_sac_payload(checkpoint)
    cfg = sac_config_from_dict(payload["config"])
    env = make_sac_vec_env(cfg, 1, cfg.seed)  # spaces only: the env renders nothing until reset
    try:
        model = build_model(cfg, env, device=device, buffer_size=1, verbose=0)
    finally:
        env.close()
    restore(model, payload)
    model.policy.set_training_mode(False)
    return model, cfg


def exportable_actor(checkpoint: str | Path) -> tuple[nn.Module, PolicyContract]:
    """A SAC training checkpoint's deterministic actor and its full contract (SB3's image normalisation)."""
    payload = load_sac_payload(checkpoint)
    model, cfg = load_sac(checkpoint)
    base = contract_for_env(cfg.env)
    contract = dataclasses.replace(
        base, image=dataclasses.replace(base.image, normalisation=SB3_NORMALISATION)
    )
    return SacDeterministicActor(model.policy.actor), stamp_contract(contract, payload)


# -- training --------------------------------------------------------------------------------------------------------
class _Hooks(BaseCallback):
    """Evaluation, checkpoints, Ctrl-C and timing around SB3's loop, at the same frame periods as DrQ-v2's trainer,
    and the same wall-clock keys: snapshots every ``snapshot_every_seconds`` and a stop at ``train_seconds``."""

    def __init__(self, trainer: SacTrainer):
        super().__init__(verbose=0)
        self.trainer = trainer
        self._rollout_end: float | None = None

    def _on_training_start(self) -> None:
        t = self.trainer
        if not t.resume:
            t.evaluate()

    def _on_rollout_start(self) -> None:
        if self._rollout_end is not None:  # SB3 trains between one rollout's end and the next one's start
            self.trainer.update_seconds += time.perf_counter() - self._rollout_end
            self._rollout_end = None

    def _on_rollout_end(self) -> None:
        self._rollout_end = time.perf_counter()

    def _on_training_end(self) -> None:
        self._on_rollout_start()

    def _on_step(self) -> bool:
        t = self.trainer
        frame = t.frame
        if frame >= t.next_eval:
            t.evaluate()
        if frame >= t.next_ckpt:
            t.save()
            t.next_ckpt = _next_multiple(frame, t.cfg.checkpoint_every_frames)
        elapsed = t.elapsed()
        t.snapshot_if_due(elapsed)
        return not (t.stop or t.cfg.out_of_time(elapsed))


def _next_multiple(frame: int, every: int) -> int:
    return (frame // every + 1) * every


class SacTrainer:
    """``so101 train algo=sac``: SB3's ``learn`` with our env, evaluator, checkpoints and Ctrl-C handling."""

    def __init__(
        self, cfg: SacTrainConfig, run_dir: str | Path, resume: bool = False, console: Console | None = None
    ):
        cfg.validate()
        self.cfg, self.run_dir, self.resume = cfg, Path(run_dir), resume
        self.console = console or Console()
        self.device = resolve_device(cfg.device)
        set_torch_threads(cfg.torch_threads, self.device)
        self.stop = StopRequest(self._announce_stop)
        self.update_seconds = 0.0  # inside SB3's train(): gradient updates only
        self.eval_seconds = 0.0
        self.evals: list[dict[str, float]] = []
        self._time_before = 0.0

    @property
    def frame(self) -> int:
        return int(self.model.num_timesteps) * self.cfg.frames_per_step

    def counters(self) -> dict[str, Any]:
        return {
            "frame": self.frame,
            "timesteps": int(self.model.num_timesteps),
            "episode": int(self.model._episode_num),
            "update": int(self.model._n_updates),
            "time_s": self.elapsed(),
            "update_seconds": self.update_seconds,
            "eval_seconds": self.eval_seconds,
        }

    def elapsed(self) -> float:
        return self._time_before + time.perf_counter() - self._t0

    def _setup(self) -> None:
        cfg = self.cfg
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with workers_ignore_stop_signals():
            self.envs = make_sac_vec_env(cfg, cfg.num_train_envs, cfg.seed)
            self.evaluator = Evaluator(cfg.env, cfg.num_eval_envs, seed=cfg.seed + 10_000)
        self.model = build_model(cfg, self.envs, device=self.device)
        formats = ["stdout", "csv"] + (["tensorboard"] if cfg.tensorboard else [])
        self.model.set_logger(configure(str(self.run_dir / "sb3"), formats))
        if self.resume:
            payload = load_sac_payload(self.run_dir / CHECKPOINT)
            restore(self.model, payload)
            c = payload["counters"]
            self.model.num_timesteps, self.model._episode_num = c["timesteps"], c["episode"]
            self.model._n_updates = c["update"]
            self._time_before, self.update_seconds = float(c["time_s"]), float(c["update_seconds"])
            self.eval_seconds = float(c["eval_seconds"])
            torch.set_rng_state(payload["torch_rng"])
            # the replay is not saved (GBs): updates wait for a fresh seed phase, as in the DrQ-v2 trainer
            self.model.learning_starts = c["timesteps"] + cfg.frames_to_steps(cfg.num_seed_frames)
            self.console.print(f"resumed from {self.run_dir / CHECKPOINT} at frame {c['frame']}")
        self._t0 = time.perf_counter()
        self.snapshots = SnapshotSchedule(cfg.snapshot_every_seconds, self._time_before)
        self.next_eval = _next_multiple(self.frame, cfg.eval_every_frames) if self.resume else 0
        self.next_ckpt = _next_multiple(self.frame, cfg.checkpoint_every_frames)
        metrics = self.run_dir / "metrics.csv"
        fresh = not metrics.exists()
        self._csv_file = metrics.open("a", newline="")
        self._csv = csv.DictWriter(self._csv_file, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        if fresh:
            self._csv.writeheader()

    def evaluate(self) -> dict[str, float]:
        """Seeded eval episodes with the deterministic actor; logged to SB3's table and to metrics.csv."""
        cfg, frame = self.cfg, self.frame
        start = time.perf_counter()
        video = self.run_dir / "videos" / f"eval_{frame:09d}.mp4" if cfg.eval_video else None
        self.model.policy.set_training_mode(False)
        result = self.evaluator.run(deterministic_act(self.model), cfg.num_eval_episodes, video_path=video)
        low, high = result.success_interval
        values = {
            "kind": "eval",
            "iteration": int(self.model.num_timesteps),
            "frame": frame,
            "episode": int(self.model._episode_num),
            "time_s": self.elapsed(),
            "episode_return": result.mean_return,
            "episode_length": result.mean_length,
            "success_rate": result.success_rate,
            "success_low": low,
            "success_high": high,
            "update": int(self.model._n_updates),
            "update_seconds": self.update_seconds,
        }
        self.evals.append(values)
        self._csv.writerow({k: values.get(k, "") for k in CSV_COLUMNS})
        self._csv_file.flush()
        logger = self.model.logger
        for key in ("success_rate", "success_low", "success_high", "episode_return", "episode_length"):
            logger.record(f"eval/{key}", values[key])
        logger.record("eval/frame", frame)
        logger.dump(self.model.num_timesteps)
        self.next_eval = _next_multiple(frame, cfg.eval_every_frames)
        self.eval_seconds += time.perf_counter() - start
        return values

    def save(self) -> Path:
        return save_sac_checkpoint(self.run_dir / CHECKPOINT, self.model, self.cfg, self.counters())

    def snapshot_if_due(self, elapsed: float) -> Path | None:
        """The checkpoint as ``snapshots/snapshot_NNNN.pt`` when one is due (policies/training/wall_clock.py)."""
        name = self.snapshots.due(elapsed)
        if name is None:
            return None
        return save_sac_checkpoint(self.run_dir / SNAPSHOT_DIR / name, self.model, self.cfg, self.counters())

    def _announce_stop(self, signal_name: str) -> None:
        self.console.print(
            f"[bold red]{signal_name}: finishing this step, saving a checkpoint, exiting[/]", highlight=False
        )

    def run(self) -> dict[str, float]:
        """Train to ``num_train_frames`` (or ``train_seconds``); returns the last evaluation. Ctrl-C or SIGTERM
        saves a checkpoint and returns."""
        started = False
        try:
            with self.stop:
                self._setup()
                started = True
                remaining = max(
                    0, self.cfg.frames_to_steps(self.cfg.num_train_frames) - self.model.num_timesteps
                )
                self.model.learn(
                    remaining,
                    callback=_Hooks(self),
                    log_interval=self.cfg.log_interval_episodes,
                    reset_num_timesteps=not self.resume,
                    progress_bar=self.cfg.progress,
                )
                if not self.stop and (not self.evals or self.evals[-1]["frame"] != self.frame):
                    self.evaluate()
        finally:
            try:
                if started:
                    path = self.save()
                    if self.cfg.save_sb3_zip:
                        atomic_write(self.run_dir / SB3_ZIP, self.model.save)
                    interrupted = f" (interrupted by {self.stop.signal_name})" if self.stop else ""
                    self.console.print(f"checkpoint: {path}{interrupted}", highlight=False)
            finally:
                self.close()
        return self.evals[-1] if self.evals else {}

    def close(self) -> None:
        for name in ("envs", "evaluator"):
            obj = getattr(self, name, None)
            if obj is not None:
                obj.close()
        if getattr(self, "_csv_file", None) is not None:
            self._csv_file.close()


def replay_nbytes(model: SAC) -> int:
    """Bytes SB3's replay allocates at its full capacity (observations, next observations, actions, ...)."""
    buf = model.replay_buffer
    total = 0
    for value in vars(buf).values():
        if isinstance(value, np.ndarray):
            total += value.nbytes
        elif isinstance(value, dict):
            total += sum(v.nbytes for v in value.values() if isinstance(v, np.ndarray))
    return total


__all__ = [
    "ALGO",
    "CHECKPOINT",
    "PolicyObservation",
    "SacConfig",
    "SacDeterministicActor",
    "SacTrainConfig",
    "SacTrainer",
    "build_model",
    "deterministic_act",
    "check_resources",
    "exportable_actor",
    "load_sac",
    "load_sac_payload",
    "make_sac_vec_env",
    "replay_nbytes",
    "save_sac_checkpoint",
]
