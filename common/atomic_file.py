"""Atomic file writes: the last good file stays in place whatever interrupts the write.

Everything the project must not lose (checkpoints, calibrations, configs, policies, run summaries) is written
into a temporary file in the target's own folder, flushed to disk (fsync), then renamed over the target with
``os.replace``. A rename within one file system is atomic, so a reader sees the old file or the new one, never
half of one; without the fsync a power cut after the rename can leave an empty file under the new name.

A write that fails removes its temporary file. One that is killed outright (SIGKILL, power loss) cannot, so
each write first removes what earlier writes to the same target left behind, judged by the writer's process
ID in the name: a temporary file is stale only once the process that made it is gone, so two live writers
never delete each other's work.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

FILE_MODE = 0o644  # mkstemp makes files private (0600); what we write are ordinary user files


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.{os.getpid()}."


def _temp_pattern(target: Path) -> re.Pattern[str]:
    """Names ``_temp_prefix`` + mkstemp's random part + ``.tmp`` (+ an optional extension) give for ``target``."""
    return re.compile(rf"\.{re.escape(target.name)}\.(\d+)\.[A-Za-z0-9_]+\.tmp(\.[A-Za-z0-9]+)?")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def stale_temp_files(target: str | Path) -> list[Path]:
    """Temporary files of earlier writes to ``target`` whose writing process no longer exists."""
    target = Path(target)
    if not target.parent.is_dir():
        return []
    pattern = _temp_pattern(target)
    stale = []
    for entry in target.parent.iterdir():
        match = pattern.fullmatch(entry.name)
        if match and int(match.group(1)) != os.getpid() and not _process_alive(int(match.group(1))):
            stale.append(entry)
    return sorted(stale)


def remove_stale_temp_files(target: str | Path) -> list[Path]:
    removed = []
    for path in stale_temp_files(target):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable; not every platform lets a folder be opened, which is then fine."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """A temporary path beside ``target`` to write to; on a clean exit it replaces ``target`` atomically.

    For writers that need a path (``torch.save``, ``onnx.save``, a video encoder): ``suffix`` keeps an
    extension that a library picks its format by (``".mp4"``). If the block raises, ``target`` is untouched
    and the temporary file is removed.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(target)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=_temp_prefix(target), suffix=".tmp" + suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, FILE_MODE)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def write_bytes(target: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically; returns ``target`` as a Path."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``target`` atomically; returns ``target`` as a Path."""
    return write_bytes(target, text.encode(encoding))
