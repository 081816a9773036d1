"""Where a trained policy came from: the source commit, recorded into checkpoints and exported contracts."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git_commit(short: bool = True) -> str:
    """The commit of the so101-deploy checkout this code runs from, '+dirty' if it has local changes."""
    root = Path(__file__).resolve().parents[1]
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"] if short else ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")
