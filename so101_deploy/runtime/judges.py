"""Who says an episode starts and whether it succeeded: the twin's ground truth, or the operator."""

from __future__ import annotations

from collections.abc import Callable

from so101_deploy.twin.control_endpoint import TwinClient


class TwinJudge:
    """Resets the twin's scene (seeded per episode) and reads success from its ground truth."""

    def __init__(self, control_url: str, seed: int = 0):
        self.client = TwinClient(control_url)
        self.seed = seed
        self.last_state: dict = {}

    def reset(self, episode: int) -> None:
        self.client.reset(seed=self.seed + episode)

    def success(self) -> bool:
        self.last_state = self.client.state()
        return bool(self.last_state.get("success"))

    def finish(self, episode: int) -> bool:
        return self.success()


class OperatorJudge:
    """A person resets the scene and says whether the episode succeeded (prompts live in the CLI)."""

    def __init__(self, ask_reset: Callable[[int], None], ask_success: Callable[[int], bool]):
        self.ask_reset, self.ask_success = ask_reset, ask_success

    def reset(self, episode: int) -> None:
        self.ask_reset(episode)

    def success(self) -> bool:
        return False

    def finish(self, episode: int) -> bool:
        return self.ask_success(episode)
