"""Parallel envs: spawned, headless workers with the same spaces as one env, and a clean shutdown."""

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_async_vector_env_spawns_steps_and_shuts_down_cleanly():
    """Run in a fresh interpreter so that leaked workers or semaphores would show up in its stderr."""
    code = textwrap.dedent(
        """
        import multiprocessing as mp
        import numpy as np
        from policies.wrappers import make_env, make_vector_env
        from sim.config import EnvConfig

        if __name__ == "__main__":
            cfg = EnvConfig(episode_steps=6)
            single = make_env(cfg)
            envs = make_vector_env(cfg, num_envs=2, seed=0)
            assert envs.single_observation_space == single.observation_space
            assert envs.single_action_space == single.action_space
            obs, info = envs.reset(seed=[0, 1])
            assert obs["rgb"].shape == (2, 9, 84, 84) and obs["rgb"].dtype == np.uint8
            assert not np.array_equal(obs["privileged_state"][0], obs["privileged_state"][1])
            truncated_seen = False
            for _ in range(4):
                obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
                truncated_seen |= bool(truncated.any())
            assert truncated_seen and not terminated.any()
            envs.close()
            single.close()
            assert mp.active_children() == []
            print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")
    assert "leaked" not in out.stderr and "Traceback" not in out.stderr, out.stderr
