"""How a run is told to stop: every terminating signal becomes one orderly stop, and the stop cannot be interrupted.

SIGINT (Ctrl-C), SIGTERM (kill, systemd, docker stop), SIGHUP (terminal closed, SSH dropped) and SIGQUIT (Ctrl-\\)
all end a run the same way: torque off on every servo, then the summary. The first one raises ``Stop`` in the
main thread; from then on, and from the moment the shutdown starts for any other reason, signals are only
recorded. A second Ctrl-C used to land inside torque-off (servos left driven) or inside the telemetry plot (a
traceback), and a burst of them aborted the interpreter.

SIGKILL and power loss cannot be caught; docs/safety.md says what to do after them.
"""

from __future__ import annotations

import signal
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


class Stop(BaseException):  # noqa: N818 - a request, like KeyboardInterrupt, not an error
    """Raised in the main thread by the first stop signal. A BaseException, so no ``except Exception`` eats it.

    ``signum`` picks the exit code, 128 + signal number, as a shell reports a signal's death.
    """

    def __init__(self, name: str, signum: int = signal.SIGINT) -> None:
        super().__init__(name)
        self.name = name
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class StopSignals:
    """Installs the stop handler for STOP_SIGNALS (main thread only); a context manager restoring the old ones.

    ``interruptible`` is True while raising is safe: the run sets it False (``shield()``) before it switches
    torque off, and it never becomes True again. ``received`` lists every signal that came, in order.
    """

    def __init__(self) -> None:
        self.received: list[str] = []
        self.interruptible = True
        self._previous: dict[int, object] = {}

    def shield(self) -> None:
        """From now on signals are recorded, never raised: the shutdown runs to its end."""
        self.interruptible = False

    @property
    def requested(self) -> str:
        """The first signal received, or ''."""
        return self.received[0] if self.received else ""

    def _handle(self, signum: int, frame: FrameType | None) -> None:  # noqa: ARG002
        self.received.append(signal.Signals(signum).name)
        if self.interruptible:
            self.interruptible = False
            raise Stop(signal.Signals(signum).name, signum)

    def __enter__(self) -> StopSignals:
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        """Restore the old handlers; after a stop request, ignore the signals instead: the process is ending
        on request, and a Ctrl-C burst's tail must not turn its exit into a traceback or an abort."""
        for sig, previous in self._previous.items():
            signal.signal(sig, signal.SIG_IGN if self.received else previous)  # type: ignore[arg-type]
        self._previous.clear()
