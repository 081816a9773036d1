"""What an algorithm provides to the commands: a config schema, a trainer, a policy to evaluate, an actor to
export. Everything else a training run needs (run directory, signals, checkpoint files, evaluator, metrics)
is shared, in policies/training/."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from rich.console import Console

if TYPE_CHECKING:
    from torch import nn

    from policies.contract import PolicyContract

ActFn = Callable[[dict[str, np.ndarray]], np.ndarray]


class CheckpointExportError(ValueError):
    """The checkpoint cannot be exported (e.g. a state-only policy); the message says why."""


class Trainer(Protocol):
    def run(self) -> dict:
        """Train, save the final checkpoint, return the last evaluation (frame, success_rate, ...)."""


class Algorithm(Protocol):
    name: str
    default_preset: str  # the preset `so101 train algo=NAME` uses when no --preset is given

    def config_schema(self) -> type:
        """The typed config dataclass (with ``validate()``) behind ``--preset`` and ``key=value``."""

    def config_from_payload(self, payload: dict) -> Any:
        """The config a checkpoint was trained with."""

    def check_payload(self, payload: dict, path: Path) -> None:
        """Refuse (CheckpointError, one line) a payload of another format version."""

    def check_resources(self, cfg: Any) -> None:
        """Refuse (ValueError) what this machine cannot give the config: the device, the replay's memory.
        Called before the run directory is created."""

    def trainer(self, cfg: Any, run_dir: Path, resume: bool, console: Console) -> Trainer: ...

    def policy(self, checkpoint: Path, device: str) -> tuple[ActFn, Any]:
        """(deterministic act function over a batch of env observations, training config)."""

    def exportable_actor(self, checkpoint: Path) -> tuple[nn.Module, PolicyContract]:
        """The deterministic actor ``(rgb uint8, low_dim) -> action`` and its contract, provenance stamped."""


class PackageAlgorithm:
    """The registry entry of an algorithm laid out as a package ``<package>.config``, ``.checkpoint`` (with
    ``config_from_dict`` and ``check_payload``) and ``.trainer``: the parts every such algorithm wires the
    same way. The package is imported only when a method needs it, so listing the registry stays torch-free.
    Subclasses add what differs: ``policy``, ``exportable_actor`` and, where the memory to check is not a
    replay, ``check_resources``."""

    config_class = "TrainConfig"
    trainer_class = "Trainer"

    def __init__(self, name: str, package: str, default_preset: str):
        self.name = name
        self.package = package
        self.default_preset = default_preset

    def module(self, part: str) -> Any:
        return importlib.import_module(f"{self.package}.{part}")

    def config_schema(self) -> type:
        return getattr(self.module("config"), self.config_class)

    def config_from_payload(self, payload: dict) -> Any:
        return self.module("checkpoint").config_from_dict(payload["config"])

    def check_payload(self, payload: dict, path: Path) -> None:
        self.module("checkpoint").check_payload(payload, path)

    def check_resources(self, cfg: Any) -> None:
        from policies.training.checks import check_fits_in_memory
        from policies.training.device import resolve_device

        resolve_device(cfg.device)
        check_fits_in_memory(cfg.replay_nbytes_lower_bound(), "the replay", "replay_capacity")

    def trainer(self, cfg: Any, run_dir: Path, resume: bool, console: Console) -> Trainer:
        trainer_class = getattr(self.module("trainer"), self.trainer_class)
        return trainer_class(cfg, run_dir, resume=resume, console=console)
