"""Seeded evaluation episodes of any policy: success rate with a Wilson 95% interval, mean return and length.

The policy is a plain function from a batch of observations to a batch of actions, so the same code evaluates
a DrQ-v2 checkpoint during training, from ``so101 eval``, or an exported ONNX policy. Episode ``i`` is reset
with seed ``seed + i`` whatever the number of envs, so results do not depend on how episodes are spread.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sim.config import EnvConfig
from sim.video import OVERVIEW_SIZE, VideoRecorder

import numpy as np

ActFn = Callable[[dict[str, np.ndarray]], np.ndarray]


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval for a success rate: sane at 0/n and n/n, unlike the normal approximation."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class EvalResult:
    returns: list[float]
    lengths: list[int]
    successes: list[bool]
    video: str | None = None
    seeds: list[int] = field(default_factory=list)

    @property
    def episodes(self) -> int:
        return len(self.returns)

    @property
    def success_rate(self) -> float:
        return float(np.mean(self.successes)) if self.successes else float("nan")

    @property
    def success_interval(self) -> tuple[float, float]:
        return wilson_interval(int(sum(self.successes)), self.episodes)

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns)) if self.returns else float("nan")

    @property
    def mean_length(self) -> float:
        return float(np.mean(self.lengths)) if self.lengths else float("nan")

    def summary(self) -> dict:
        low, high = self.success_interval
        return {
            "episodes": self.episodes,
            "success_rate": self.success_rate,
            "success_low": low,
            "success_high": high,
            "mean_return": self.mean_return,
            "mean_length": self.mean_length,
            "video": self.video,
            **{k: v for k, v in asdict(self).items() if k in ("returns", "lengths", "successes", "seeds")},
        }


def _row(obs: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    return {k: v[i] for k, v in obs.items()}


def _batch(obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v)[None] for k, v in obs.items()}


def _success(info: dict, i: int | None = None) -> bool:
    value = info.get("success", False)
    if i is None:
        return bool(value)
    mask = info.get("_success")
    return bool(value[i]) if mask is None or mask[i] else False


class Evaluator:
    """Keeps its eval env(s) open between evaluations; worker processes only when ``num_envs > 1``."""

    def __init__(self, env_cfg: EnvConfig, num_envs: int = 1, seed: int = 0):
        from policies.wrappers import make_env, make_vector_env

        # every episode from env.stage: training's stage_mix is an aid only
        env_cfg = env_cfg.for_evaluation()
        self.env_cfg, self.num_envs, self.seed = env_cfg, num_envs, seed
        self._make_env = make_env
        self.env = make_env(env_cfg, seed=seed, render_overview=True) if num_envs == 1 else None
        self.envs = make_vector_env(env_cfg, num_envs, seed) if num_envs > 1 else None

    def run(
        self, act: ActFn, episodes: int, seed: int | None = None, video_path: str | Path | None = None
    ) -> EvalResult:
        base = self.seed if seed is None else seed
        result = EvalResult([], [], [], seeds=[base + i for i in range(episodes)])
        if self.env is not None:
            for i in range(episodes):
                recorder = VideoRecorder(fps=self._video_fps()) if (video_path and i == 0) else None
                ret, length, success = self._episode(self.env, act, base + i, recorder)
                result.returns.append(ret)
                result.lengths.append(length)
                result.successes.append(success)
                if recorder is not None:
                    result.video = str(recorder.save(video_path))
        else:
            self._run_vector(act, episodes, base, result)
            if video_path:
                env = self._make_env(self.env_cfg, seed=base, render_overview=True)
                try:
                    recorder = VideoRecorder(fps=self._video_fps())
                    self._episode(env, act, base, recorder)
                    result.video = str(recorder.save(video_path))
                finally:
                    env.close()
        return result

    def _video_fps(self) -> float:
        return self.env_cfg.control_hz / (self.env_cfg.action_repeat * self.env_cfg.action_sequence)

    @staticmethod
    def _episode(env, act: ActFn, seed: int, recorder: VideoRecorder | None) -> tuple[float, int, bool]:
        obs, _ = env.reset(seed=seed)
        ret, length, success, done = 0.0, 0, False, False
        overview = env.get_wrapper_attr("render_overview") if recorder is not None else None
        render = lambda: overview(*OVERVIEW_SIZE)  # noqa: E731
        if recorder is not None:
            recorder.add(render(), obs.get("rgb"))
        while not done:
            obs, reward, terminated, truncated, info = env.step(act(_batch(obs))[0])
            ret += float(reward)
            length += 1
            success |= _success(info)
            done = bool(terminated or truncated)
            if recorder is not None:
                recorder.add(render(), obs.get("rgb"))
        return ret, length, success

    def _run_vector(self, act: ActFn, episodes: int, base: int, result: EvalResult) -> None:
        n = self.num_envs
        for start in range(0, episodes, n):
            count = min(n, episodes - start)
            obs, _ = self.envs.reset(seed=[base + start + i for i in range(n)])
            ret, length = np.zeros(n), np.zeros(n, int)
            success, done = np.zeros(n, bool), np.arange(n) >= count
            while not done.all():
                obs, reward, terminated, truncated, info = self.envs.step(act(obs))
                running = ~done
                ret[running] += reward[running]
                length[running] += 1
                for i in np.flatnonzero(running):
                    success[i] |= _success(info, i)
                done |= running & (terminated | truncated)
            result.returns.extend(ret[:count].tolist())
            result.lengths.extend(length[:count].tolist())
            result.successes.extend(success[:count].tolist())

    def close(self) -> None:
        if self.env is not None:
            self.env.close()
        if self.envs is not None:
            self.envs.close()
