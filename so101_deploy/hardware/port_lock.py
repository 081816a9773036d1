"""One program at a time on a servo bus: an exclusive lock on the open serial port, and who holds it.

Two programs on one bus interleave their packets: a second `so101 run --dry-run` once switched torque off under
a running `so101 run`, which went on and reported `done`. ``flock`` on the open port is advisory (a program that
does not ask is not stopped), but every so101 command asks, and the kernel drops the lock when its holder dies,
even by SIGKILL, so a crash never leaves a port locked. TIOCEXCL would also stop other programs, but it
outlives its holder on a pseudo-terminal (the twin's bus) and would lock the twin until restarted.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from so101_deploy.hardware.errors import PortError


class PortBusyError(PortError):
    """Another program holds the serial port. ``pid`` is the holder's process id when it can be known."""

    def __init__(self, message: str, pid: int | None) -> None:
        super().__init__(message)
        self.pid = pid


def lock_port(fd: int, path: str) -> None:
    """Take the exclusive lock on an open port, or raise PortBusyError naming the holder."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            return  # a device or filesystem without flock: nothing to enforce, nothing to refuse
        pid = lock_holder(path)
        who = f"held by PID {pid} ({_command_line(pid)})" if pid else "held by another program"
        raise PortBusyError(
            f"port busy: {path} is {who}; stop that program first (two programs on one bus corrupt each "
            "other's packets and can switch torque off under a running arm)",
            pid,
        ) from None


def lock_holder(path: str) -> int | None:
    """PID holding a flock on ``path``, from /proc/locks (Linux); None where it cannot be known."""
    try:
        st = os.stat(path)
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    wanted = (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    for line in lines:
        fields = line.split()
        if len(fields) < 6 or fields[1] != "FLOCK" or fields[0] == "->":
            continue
        try:
            major, minor, inode = fields[5].split(":")
            if (int(major, 16), int(minor, 16), int(inode)) == wanted:
                return int(fields[4])
        except ValueError:
            continue
    return None


def _command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "unknown command"
    words = raw.rstrip(b"\0").split(b"\0")
    text = " ".join(w.decode(errors="replace") for w in words)
    return text if len(text) <= 120 else text[:117] + "..."
