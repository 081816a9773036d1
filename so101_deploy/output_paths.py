"""Output locations checked before a command starts, so a bad path is one line instead of a traceback at the end.

Checking by trying (create the folder, open a temporary file in it) rather than by ``os.access``: permissions
are only part of the answer (read-only mounts, a file where a folder should be, root ignoring mode bits).
"""

from __future__ import annotations

import tempfile
from pathlib import Path


def output_dir_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot take output files, with what to do; None when it can (it then exists)."""
    if folder.exists() and not folder.is_dir():
        return "is a file, not a folder; pass a folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return f"cannot write there ({exc.strerror or exc}); pass a folder you can write to"
    return None


def output_file_problem(path: Path, default_name: str) -> str | None:
    """Why a file cannot be written at ``path`` (None when it can); a folder gets a file name suggested."""
    if path.is_dir():
        return f"is a folder; write to {path / default_name} instead"
    problem = output_dir_problem(path.parent)
    return f"its folder {problem}" if problem else None
