"""Training algorithms behind one registry: ``so101 train``, ``so101 eval`` and ``so101 export`` look the
algorithm up here, by the ``algo`` key of a preset, an override or a checkpoint, and never name one themselves.

Adding an algorithm: a module that defines an object satisfying :class:`~policies.algos.base.Algorithm` as
``ALGORITHM``, and one line in ``_MODULES``. Modules are imported only when their algorithm is asked for, so a
DrQ-v2 run never imports Stable-Baselines3.
"""

from __future__ import annotations

import difflib
import importlib
from pathlib import Path

from policies.algos.base import Algorithm, CheckpointExportError
from policies.training.checkpoint import CheckpointError, checkpoint_path, read_checkpoint

_MODULES = {
    "drqv2": "policies.algos.drqv2",
    "sac": "policies.algos.sac",
    "squint": "policies.algos.squint",
    "distill": "policies.algos.distill",
}
DEFAULT = "drqv2"  # also the algorithm of checkpoints written before payloads named theirs


def names() -> tuple[str, ...]:
    return tuple(_MODULES)


def get(name: str) -> Algorithm:
    if name not in _MODULES:
        near = difflib.get_close_matches(name, _MODULES, n=1)
        hint = f"; nearest: '{near[0]}'" if near else ""
        raise ValueError(f"unknown algo '{name}'; valid: {', '.join(_MODULES)}{hint}")
    return importlib.import_module(_MODULES[name]).ALGORITHM


def of_checkpoint(payload: dict, path: str | Path) -> Algorithm:
    """The algorithm that wrote ``payload`` (read from ``path``), after it checked the payload's format."""
    name = payload.get("algo", DEFAULT)
    if name not in _MODULES:
        raise CheckpointError(
            f"{path} is not a readable so101 checkpoint (algo {name!r}; this so101-deploy knows "
            f"{', '.join(_MODULES)})"
        )
    algorithm = get(name)
    algorithm.check_payload(payload, Path(path))
    return algorithm


def open_checkpoint(path: str | Path) -> tuple[Algorithm, dict]:
    """(algorithm, payload) of a checkpoint file or of the run directory holding one."""
    payload = read_checkpoint(path)
    return of_checkpoint(payload, checkpoint_path(path)), payload


__all__ = [
    "DEFAULT",
    "Algorithm",
    "CheckpointExportError",
    "get",
    "names",
    "of_checkpoint",
    "open_checkpoint",
]
