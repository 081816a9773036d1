"""Who says an episode starts and whether it succeeded: the twin's ground truth, or the operator."""

from __future__ import annotations

import http.client
from collections.abc import Callable

from so101_deploy.twin.control_endpoint import TwinClient

MAX_SEED = 2**32 - 1  # the twin seeds numpy's generator; larger or negative seeds are refused there


class JudgeError(RuntimeError):
    """The judge cannot reset or judge an episode (twin endpoint unreachable, died, or refused a request)."""


class TwinJudge:
    """Resets the twin's scene (seeded per episode) and reads success from its ground truth.

    ``timeout_s`` bounds each call: success is asked every control tick, and a stalled endpoint must end the
    run by name rather than hold the arm mid-motion for the HTTP client's default.
    """

    def __init__(self, control_url: str, seed: int = 0, timeout_s: float = 2.0):
        self.client = TwinClient(control_url, timeout_s=timeout_s)
        self.seed = seed
        self.last_state: dict = {}

    def probe(self, episodes: int = 1) -> None:
        """Before torque on: the endpoint answers and every episode's seed is one it accepts."""
        last = self.seed + max(0, episodes - 1)
        if self.seed < 0 or last > MAX_SEED:
            raise JudgeError(
                f"--seed must be in 0..{MAX_SEED - max(0, episodes - 1)} (episode i uses seed + i)"
            )
        self._call("/state", self.client.state)

    def reset(self, episode: int) -> None:
        self._call("/reset", lambda: self.client.reset(seed=self.seed + episode))

    def success(self) -> bool:
        self.last_state = self._call("/state", self.client.state)
        return bool(self.last_state.get("success"))

    def finish(self, episode: int) -> bool:
        return self.success()

    def _call(self, route: str, call: Callable[[], dict]) -> dict:
        try:
            reply = call()
        except (OSError, RuntimeError, ValueError, http.client.HTTPException) as exc:  # timeouts are OSErrors
            where = (
                ""
                if self.client.url in str(exc)
                else f"twin control endpoint {self.client.url} failed on {route}: "
            )
            hint = (
                "; is the twin running? pass the control_url it printed" if isinstance(exc, OSError) else ""
            )
            raise JudgeError(f"{where}{exc}{hint}") from None
        if not isinstance(reply, dict):
            raise JudgeError(
                f"twin control endpoint {self.client.url} sent {type(reply).__name__} on {route}"
            )
        return reply


class OperatorJudge:
    """A person resets the scene and says whether the episode succeeded (prompts live in the CLI)."""

    def __init__(self, ask_reset: Callable[[int], None], ask_success: Callable[[int], bool]):
        self.ask_reset, self.ask_success = ask_reset, ask_success

    def probe(self, episodes: int = 1) -> None:
        """Nothing to check: the operator is there (the CLI makes sure a terminal is)."""

    def reset(self, episode: int) -> None:
        self.ask_reset(episode)

    def success(self) -> bool:
        return False

    def finish(self, episode: int) -> bool:
        return self.ask_success(episode)
