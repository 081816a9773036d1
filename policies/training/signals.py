"""Stop requests: Ctrl-C and SIGTERM end a training run with a checkpoint, not with lost frames.

SIGTERM is what ``timeout``, systemd, ``docker stop`` and SLURM send before SIGKILL, so it is handled exactly
like Ctrl-C: the first one asks the loop to stop at the end of the current step, the run saves its checkpoint
and returns; a second one gives up at once (KeyboardInterrupt). Env worker processes ignore both: a Ctrl-C in
the terminal or ``timeout``/systemd signalling the whole process group must not kill a worker under the
trainer's feet; the trainer closes its workers itself.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Installs the stop handlers while active (``with StopRequest(announce) as stop: ... if stop: ...``)."""

    def __init__(self, announce: Callable[[str], None] | None = None):
        self.announce = announce
        self.signal_name: str | None = None
        self._previous: dict[int, object] = {}

    def __bool__(self) -> bool:
        return self.signal_name is not None

    def _handle(self, signum, frame) -> None:
        if self.signal_name is not None:  # the second one: give up at once
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name
        if self.announce is not None:
            self.announce(self.signal_name)

    def __enter__(self) -> StopRequest:
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()


@contextlib.contextmanager
def workers_ignore_stop_signals() -> Iterator[None]:
    """Worker processes started in here inherit ignored SIGINT and SIGTERM (dispositions survive fork and exec)."""
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
