"""A run directory: where it is, whether it already holds a run, and a lock so only one training writes to it.

Two trainings sharing a run directory would interleave their metrics rows and overwrite each other's
checkpoints. The lock is an ``fcntl`` lock on ``<run_dir>/.lock``, held for the life of the process (the
kernel drops it however the process ends, SIGKILL included, so a stale lock file never blocks anyone); the file
records the holder's PID so the refusal can name it.
"""

from __future__ import annotations

import datetime
import fcntl
import os
from pathlib import Path

from policies.training.checkpoint import CHECKPOINT

LOCK_FILE = ".lock"


class RunDirBusy(RuntimeError):
    """Another process trains in this run directory."""


def resolve_run_dir(cfg) -> Path:
    """``cfg.run_dir`` if given, else ``<cfg.runs_root>/<cfg.name>-<YYYYmmdd-HHMMSS>``."""
    if cfg.run_dir:
        return Path(cfg.run_dir)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(cfg.runs_root) / f"{cfg.name}-{stamp}"


def refuse_existing_run(run_dir: Path) -> None:
    """A new run may not start where a checkpoint already is (that is what --resume is for)."""
    if (run_dir / CHECKPOINT).exists():
        raise ValueError(f"{run_dir} already holds a run; use --resume {run_dir} or another run_dir")


class RunDirLock:
    """Exclusive lock on a run directory; raises :class:`RunDirBusy` naming the holder's PID."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self._fd: int | None = None

    def acquire(self) -> RunDirLock:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunDirBusy(
                f"{self.run_dir} is in use by another training (PID {holder}); wait for it to end, "
                "or choose another run_dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> RunDirLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
