"""`so101 eval --twin`: a policy's success through twin + `so101 run`, next to its success in the plain sim.

The difference between the two is the sim-to-real gap proxy: the same policy, once with sim observations,
once through a virtual USB camera (wider lens, crop, JPEG), a servo bus with 4096-tick quantisation,
real-time scheduling and any perturbations asked for.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.config import EnvConfig

from policies.training.evaluate import wilson_interval
from so101_deploy.runtime.judges import TwinJudge
from so101_deploy.runtime.loop import RunConfig, Runner
from so101_deploy.twin.app import Twin, TwinConfig
from so101_deploy.twin.world import Perturbations, WorldConfig, twin_perturbation


@dataclass
class TwinEvalResult:
    successes: list[bool]
    exit_code: int
    reason: str
    timings_ms: dict = field(default_factory=dict)
    perturbations: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict:
        n = len(self.successes)
        low, high = wilson_interval(int(sum(self.successes)), n)
        return {
            "episodes": n,
            "success_rate": (sum(self.successes) / n) if n else float("nan"),
            "success_low": low,
            "success_high": high,
            "successes": self.successes,
            "exit_code": self.exit_code,
            "reason": self.reason,
        }


def evaluate_on_twin(
    policy_path: str | Path,
    env_cfg: EnvConfig,
    episodes: int,
    seed: int = 0,
    max_steps: int | None = None,
    perturbations: list[dict[str, Any]] | None = None,
    out_dir: str | Path | None = None,
) -> TwinEvalResult:
    """Run ``episodes`` twin episodes (episode i reset with seed + i, perturbation i if given, in the training
    sim's meaning: ``sim.heldout``). Each goes through `so101 run`'s own start-up: the twin places the cube and
    leaves the arm at rest, and run moves it to the home pose at its start-pose speed before the episode."""
    steps = max_steps or env_cfg.episode_steps
    successes: list[bool] = []
    timings: dict = {}
    code, reason = 0, "done"
    with tempfile.TemporaryDirectory(prefix="so101-twin-eval-") as tmp:
        out = Path(out_dir) if out_dir else Path(tmp) / "run"
        world = WorldConfig(env=env_cfg.for_evaluation(), seed=seed, perturbations=Perturbations())
        with Twin(TwinConfig(world=world)) as twin:
            for i in range(episodes):
                if perturbations:
                    held_out = twin_perturbation(perturbations[i % len(perturbations)], env_cfg)
                    twin.perturb({**Perturbations().__dict__, **held_out})
                config = RunConfig(
                    policy=str(policy_path), port=twin.port, camera=twin.camera_url,
                    calibration=str(twin.calibration_path), max_steps=steps, start_pose="home",
                    out_dir=str(out / f"episode_{i:03d}"), packet_timeout_ms=50.0,
                )  # fmt: skip
                result = Runner(
                    config, judge=TwinJudge(twin.control_url, seed=seed + i), log=lambda _: None
                ).run()
                if result.exit_code:
                    code, reason = result.exit_code, result.reason
                    break
                successes.append(bool(result.episodes and result.episodes[0]["success"]))
                timings = result.summary.get("timings_ms", timings)
    return TwinEvalResult(successes, code, reason, timings, list(perturbations or []))
