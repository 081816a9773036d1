"""Atomic writes: a failed or killed write leaves the old file, and the next write clears what a kill left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from common.atomic_file import atomic_path, stale_temp_files, write_bytes, write_text

ROOT = Path(__file__).resolve().parents[1]


def test_write_replaces_the_file_with_an_ordinary_mode_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "sub" / "summary.json"
    write_text(target, "old")
    write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert (target.stat().st_mode & 0o777) == 0o644  # mkstemp's 0600 would hide a calibration from others
    assert [p.name for p in target.parent.iterdir()] == ["summary.json"]


def test_a_write_that_fails_midway_keeps_the_old_file_and_removes_its_temp(tmp_path):
    target = tmp_path / "checkpoint.pt"
    target.write_bytes(b"good")
    with pytest.raises(RuntimeError, match="disk on fire"), atomic_path(target) as tmp:
        tmp.write_bytes(b"half a checkp")
        raise RuntimeError("disk on fire")
    assert target.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_suffix_keeps_the_extension_a_writer_picks_its_format_by(tmp_path):
    with atomic_path(tmp_path / "eval.mp4", suffix=".mp4") as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".tmp.mp4") and tmp.name.startswith(".eval.mp4.")
        tmp.write_bytes(b"video")
    assert (tmp_path / "eval.mp4").read_bytes() == b"video"


WRITER = textwrap.dedent(
    """
    import sys, time
    from common.atomic_file import atomic_path
    with atomic_path(sys.argv[1]) as tmp:
        tmp.write_bytes(b"partial")
        print(tmp, flush=True)
        time.sleep(60)
    """
)


def test_a_killed_write_leaves_the_old_file_and_the_next_write_removes_its_temp(tmp_path):
    target = tmp_path / "arm.json"
    target.write_text("last good")
    other = tmp_path / ".arm.json.bak.1.abcdefgh.tmp"  # not a temp file of arm.json: must survive
    other.write_text("someone else's")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        tmp = Path(proc.stdout.readline().strip())
        assert tmp.read_bytes() == b"partial"
        assert stale_temp_files(target) == []  # its writer is alive: not stale, not ours to delete
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    assert target.read_text() == "last good" and tmp.exists()  # SIGKILL: no cleanup ran
    assert stale_temp_files(target) == [tmp]

    write_text(target, "next")
    assert target.read_text() == "next"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["arm.json", other.name])
