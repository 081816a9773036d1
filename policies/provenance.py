"""Where a trained policy came from: the source commit, recorded into checkpoints and exported contracts."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
from pathlib import Path

from policies.contract import PolicyContract


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


def config_hash(config: dict) -> str:
    """Short hash of a training config as saved in its checkpoint (a plain dict), recorded in the contract."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


def stamp_contract(contract: PolicyContract, payload: dict) -> PolicyContract:
    """``contract`` with the provenance of the checkpoint ``payload`` it is exported from."""
    return dataclasses.replace(
        contract,
        train_config_hash=config_hash(payload["config"]),
        git_commit=str(payload.get("git_commit") or git_commit()),
    )
