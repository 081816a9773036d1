"""Checkpoint files for every algorithm: written atomically, read back safely, refused in one line.

Written through ``common.atomic_file`` (a temporary file beside the target, fsynced, renamed over it), so a crash,
a Ctrl-C or a full disk in the middle leaves the previous checkpoint intact. A full disk is reported as such
(torch's own message for it is an internal "enforce fail"). Read back with ``weights_only=True``: only tensors
and plain containers are accepted, never arbitrary pickled objects, so loading a checkpoint cannot run code, and
anything that is not one of ours (empty, truncated, a foreign pickle, a bare state dict) is refused with a line
that names the file, instead of torch's traceback (whose advice to retry with weights_only=False must never be
followed for a file of unknown origin).
"""

from __future__ import annotations

import errno
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch

from common.atomic_file import atomic_path
from common.config import to_dict
from policies.provenance import git_commit

CHECKPOINT = "checkpoint.pt"
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class CheckpointError(ValueError):
    """A checkpoint that cannot be read (or is not one of ours); the message is one line naming the file."""


class CheckpointWriteError(RuntimeError):
    """A checkpoint could not be written (disk full, no permission); the previous one is intact."""


def checkpoint_path(path: str | Path) -> Path:
    """``path`` itself, or the ``checkpoint.pt`` inside it when it is a run directory."""
    path = Path(path)
    return path / CHECKPOINT if path.is_dir() else path


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """``write(file)`` through ``common.atomic_file.atomic_path``; a failed write becomes a one-line
    :class:`CheckpointWriteError` (disk full said as such), and nothing half-written stays."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as file:
            write(file)
    except (OSError, RuntimeError) as exc:
        cause = _os_error(exc)
        if cause is not None and cause.errno in DISK_FULL:
            free = shutil.disk_usage(path.parent).free
            raise CheckpointWriteError(
                f"disk full: could not write {path} ({free / 1e6:.0f} MB free on that file system); "
                "the previous file there is intact: free some space, then --resume",
            ) from None
        if cause is None:
            raise
        raise CheckpointWriteError(f"could not write {path}: {cause.strerror or cause}") from None
    return path


def _os_error(exc: BaseException) -> OSError | None:
    """The OSError behind ``exc``: torch reports a failed write as a RuntimeError raised while handling it."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    return atomic_write(path, lambda file: torch.save(obj, file))


def check_algorithm_format(
    payload: dict, path: Path, algo: str, label: str, readable: tuple[int, ...]
) -> None:
    """Refuse in one line a checkpoint another algorithm wrote, or a format of ``algo`` this code cannot read."""
    written_by = payload.get("algo", "drqv2")  # payloads before the registry named no algorithm: DrQ-v2's
    if written_by != algo:
        raise CheckpointError(f"{path} is a {written_by} checkpoint, not a {label} one")
    version = payload.get("format_version")
    if version not in readable:
        raise CheckpointError(
            f"{path} has {label} checkpoint format {version!r}; this so101-deploy reads {list(readable)}"
        )


def save_training_checkpoint(
    path: str | Path, algo: str, format_version: int, cfg: Any, counters: dict, **state: Any
) -> Path:
    """What every algorithm's checkpoint holds (its format, the commit that trained it, which export stamps into
    the contract, the config, counters, torch's RNG) plus the algorithm's own ``state`` (networks, optimisers)."""
    payload = {
        "format_version": format_version,
        "algo": algo,
        "git_commit": git_commit(),
        "config": to_dict(cfg),
        "counters": dict(counters),
        "torch_rng": torch.get_rng_state(),
        **state,
    }
    return atomic_torch_save(payload, path)


def read_checkpoint(path: str | Path) -> dict:
    """The payload of one of our checkpoint files (any algorithm), loaded without running code.

    Checks only what every algorithm's checkpoint has: a dict with a ``format_version``. The algorithm that
    wrote it (``payload["algo"]``, DrQ-v2 when absent) checks its own format.
    """
    path = checkpoint_path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"no checkpoint at {path}; pass a checkpoint.pt or the run directory holding one"
        )
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is not a readable so101 checkpoint (empty file)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" not in str(exc).lower():
            raise CheckpointError(f"{path} is not a readable so101 checkpoint (not a torch file)") from None
        raise CheckpointError(
            f"{path} is not a readable so101 checkpoint (it holds objects other than tensors and plain "
            "containers; refused unread, since loading it could run code)"
        ) from None
    except Exception as exc:  # weights_only runs no code, so any failure means "not ours": random bytes
        # read as a legacy pickle raise IndexError, TypeError, UnicodeDecodeError, ... as often as RuntimeError.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path} is not a readable so101 checkpoint (truncated or not a torch file: {reason[:160]})"
        ) from None
    if not isinstance(payload, dict) or "format_version" not in payload:
        what = type(payload).__name__ if not isinstance(payload, dict) else "a dict without format_version"
        raise CheckpointError(
            f"{path} is not a readable so101 checkpoint ({what}: not written by so101 train)"
        )
    return payload
