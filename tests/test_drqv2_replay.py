"""Replay: frame stacks rebuilt from single frames, n-step targets, termination vs truncation, ring overwrite."""

import numpy as np
import pytest

from policies.drqv2.replay import ReplayBuffer, StepSpec, sample_mixed
from policies.io import FrameStacker

SIZE = 4
SPEC = StepSpec(frame_shape=(3, SIZE, SIZE), low_dim=2, privileged=3, action_dim=2)


def frame(value: int) -> np.ndarray:
    return np.full((3, SIZE, SIZE), value % 256, np.uint8)


def obs(stacker: FrameStacker, value: int, first: bool) -> dict[str, np.ndarray]:
    """An env observation whose newest frame, low-dim and privileged state all encode ``value``."""
    rgb = stacker.reset(frame(value)) if first else stacker.push(frame(value))
    return {
        "rgb": rgb,
        "low_dim_state": np.full(2, value, np.float32),
        "privileged_state": np.full(3, -value, np.float32),
    }


def play(replay: ReplayBuffer, stream: int, start: int, rewards: list[float], end: str) -> list[dict]:
    """Write one episode whose observation values are start, start+1, ...; returns the observations written."""
    stacker = FrameStacker(replay.frame_stack)
    written = [obs(stacker, start, first=True)]
    replay.add_first(stream, written[0])
    for k, r in enumerate(rewards, start=1):
        o = obs(stacker, start + k, first=False)
        last = k == len(rewards)
        replay.add(
            stream,
            np.full(2, start + k, np.float32),
            r,
            o,
            last and end == "terminated",
            last and end == "truncated",
        )
        written.append(o)
    return written


def test_frame_stacks_rebuilt_from_single_frames_match_the_env_stacker():
    replay = ReplayBuffer(200, 2, SPEC, frame_stack=3, nstep=1, discount=0.99)
    episodes = {
        0: play(replay, 0, 10, [0.0] * 5, "truncated"),
        1: play(replay, 1, 100, [0.0] * 6, "terminated"),
    }
    episodes[2] = play(replay, 0, 50, [0.0] * 4, "terminated")  # second episode on stream 0
    checked = 0
    for stream, first_seq, observations in ((0, 0, episodes[0]), (1, 0, episodes[1]), (0, 6, episodes[2])):
        for t in range(len(observations) - 1):
            seq = np.array([first_seq + t])
            batch = replay.gather(np.array([stream]), seq)
            np.testing.assert_array_equal(batch["obs"]["rgb"][0], observations[t]["rgb"])
            np.testing.assert_array_equal(batch["next_obs"]["rgb"][0], observations[t + 1]["rgb"])
            np.testing.assert_array_equal(batch["obs"]["low_dim_state"][0], observations[t]["low_dim_state"])
            np.testing.assert_array_equal(batch["action"][0], observations[t + 1]["low_dim_state"])
            checked += 1
    assert checked == 5 + 6 + 4
    # the first stack of an episode repeats its first frame (oldest first, newest = last 3 channels)
    first = replay.gather(np.array([0]), np.array([6]))["obs"]["rgb"][0]
    assert [int(first[c, 0, 0]) for c in (0, 3, 6)] == [50, 50, 50]
    later = replay.gather(np.array([0]), np.array([8]))["obs"]["rgb"][0]
    assert [int(later[c, 0, 0]) for c in (0, 3, 6)] == [50, 51, 52]


def test_nstep_returns_on_hand_made_episodes():
    gamma = 0.5
    replay = ReplayBuffer(100, 1, SPEC, frame_stack=1, nstep=3, discount=gamma)
    play(replay, 0, 0, [1.0, 2.0, 3.0, 4.0, 5.0], "terminated")  # seq 0..5
    play(replay, 0, 20, [1.0, 2.0, 3.0, 4.0, 5.0], "truncated")  # seq 6..11
    b = replay.gather(np.zeros(4, int), np.array([0, 2, 3, 4]))
    # start 0: 1 + .5*2 + .25*3, bootstrap from obs 3 with gamma^3
    np.testing.assert_allclose(b["reward"][:, 0], [2.75, 3 + 2 + 1.25, 4 + 2.5, 5.0])
    # terminated at step 5: starts 3 and 4 reach it -> no bootstrap
    np.testing.assert_allclose(b["discount"][:, 0], [0.125, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(b["next_obs"]["low_dim_state"][:, 0], [3, 5, 5, 5])
    # same rewards, but the episode was cut by the time limit: bootstrap with gamma^m from the last obs
    b = replay.gather(np.zeros(3, int), np.array([6, 9, 10]))
    np.testing.assert_allclose(b["reward"][:, 0], [2.75, 4 + 2.5, 5.0])
    np.testing.assert_allclose(b["discount"][:, 0], [0.125, 0.25, 0.5])
    np.testing.assert_array_equal(b["next_obs"]["low_dim_state"][:, 0], [23, 25, 25])


def test_nstep_stops_at_the_newest_written_step_of_an_unfinished_episode():
    replay = ReplayBuffer(100, 1, SPEC, frame_stack=1, nstep=3, discount=0.5)
    stacker = FrameStacker(1)
    replay.add_first(0, obs(stacker, 0, True))
    replay.add(0, np.zeros(2, np.float32), 1.0, obs(stacker, 1, False), False, False)
    replay.add(0, np.zeros(2, np.float32), 2.0, obs(stacker, 2, False), False, False)
    b = replay.gather(np.zeros(1, int), np.array([0]))
    np.testing.assert_allclose(b["reward"][:, 0], [2.0])
    np.testing.assert_allclose(b["discount"][:, 0], [0.25])
    np.testing.assert_array_equal(b["next_obs"]["low_dim_state"][:, 0], [2])


def test_an_episode_cut_by_a_new_start_ends_as_truncated():
    replay = ReplayBuffer(100, 1, SPEC, frame_stack=1, nstep=3, discount=0.5)
    stacker = FrameStacker(1)
    replay.add_first(0, obs(stacker, 0, True))
    for k in (1, 2):  # an episode interrupted mid-way (e.g. training stopped, then resumed with this replay)
        replay.add(0, np.zeros(2, np.float32), 1.0, obs(stacker, k, False), False, False)
    play(replay, 0, 100, [1.0] * 5, "truncated")
    b = replay.gather(np.zeros(2, int), np.array([1, 0]))
    np.testing.assert_array_equal(b["next_obs"]["low_dim_state"][:, 0], [2, 2])  # not 100 (the next episode)
    np.testing.assert_allclose(b["discount"][:, 0], [0.5, 0.25])  # bootstrapped, not terminal


def test_samples_never_cross_episodes_or_reach_overwritten_frames():
    replay = ReplayBuffer(2 * 23, 2, SPEC, frame_stack=3, nstep=3, discount=0.9, seed=3)
    value = 0
    for episode in range(12):  # each ring of 23 slots wraps several times
        for stream in (0, 1):
            play(
                replay, stream, value, [1.0] * (3 + episode % 5), "truncated" if episode % 2 else "terminated"
            )
            value += 1000
    for _ in range(20):
        b = replay.sample(64)
        stack = b["obs"]["rgb"][:, ::3, 0, 0].astype(int)  # values of the 3 stacked frames, oldest first
        now = b["obs"]["low_dim_state"][:, 0].astype(int)
        base = now // 1000 * 1000
        expected = np.maximum(now[:, None] - np.array([2, 1, 0]), base[:, None]) % 256
        np.testing.assert_array_equal(stack, expected)
        nxt = b["next_obs"]["low_dim_state"][:, 0].astype(int)
        assert np.all(nxt // 1000 == now // 1000) and np.all((nxt - now >= 1) & (nxt - now <= 3))


def test_sampling_an_empty_replay_says_so():
    replay = ReplayBuffer(100, 1, SPEC, frame_stack=3, nstep=3, discount=0.9)
    with pytest.raises(RuntimeError, match="empty"):
        replay.sample(4)
    with pytest.raises(RuntimeError, match="add_first"):
        replay.add(0, np.zeros(2, np.float32), 0.0, obs(FrameStacker(3), 1, True), False, False)


def test_memory_is_one_frame_per_step():
    spec = StepSpec(frame_shape=(3, 84, 84), low_dim=6, privileged=20, action_dim=4)
    replay = ReplayBuffer(10_000, 8, spec, frame_stack=3, nstep=3, discount=0.99)
    ideal = 10_000 * 3 * 84 * 84
    assert ideal <= replay.nbytes <= 1.1 * ideal


def test_the_memory_estimate_checked_before_training_is_a_lower_bound():
    """`so101 train` refuses a replay whose estimate exceeds the available RAM: it must never overestimate."""
    from sim.config import EnvConfig

    from policies.drqv2.config import TrainConfig

    for obs in ("pixels", "state"):
        cfg = TrainConfig(env=EnvConfig(obs=obs, image_size=64), replay_capacity=4000, num_train_envs=2)
        spec = StepSpec(
            frame_shape=(3, 64, 64) if obs == "pixels" else None, low_dim=6, privileged=22, action_dim=4
        )
        replay = ReplayBuffer(
            cfg.replay_capacity, cfg.num_train_envs, spec, frame_stack=3, nstep=3, discount=0.99
        )
        assert 0 < cfg.replay_nbytes_lower_bound() <= replay.nbytes, obs
        if obs == "pixels":  # frames dominate: the bound is close
            assert cfg.replay_nbytes_lower_bound() >= 0.9 * replay.nbytes


def test_demo_ratio_sets_the_share_of_demo_transitions():
    main = ReplayBuffer(200, 1, SPEC, frame_stack=1, nstep=1, discount=0.9)
    demos = ReplayBuffer(200, 1, SPEC, frame_stack=1, nstep=1, discount=0.9)
    play(main, 0, 0, [0.0] * 30, "truncated")
    play(demos, 0, 500, [0.0] * 30, "truncated")
    b = sample_mixed(main, demos, 40, 0.25)
    is_demo = b["obs"]["low_dim_state"][:, 0] >= 500
    assert b["action"].shape == (40, 2) and int(is_demo.sum()) == 10


def test_state_round_trip_continues_the_same_samples():
    a = ReplayBuffer(100, 1, SPEC, frame_stack=3, nstep=3, discount=0.9, seed=5)
    play(a, 0, 0, [1.0] * 20, "truncated")
    a.sample(8)
    b = ReplayBuffer(100, 1, SPEC, frame_stack=3, nstep=3, discount=0.9, seed=99)
    b.load_state_dict(a.state_dict())
    sa, sb = a.sample(16), b.sample(16)
    np.testing.assert_array_equal(sa["obs"]["rgb"], sb["obs"]["rgb"])
    np.testing.assert_array_equal(sa["next_obs"]["low_dim_state"], sb["next_obs"]["low_dim_state"])
    np.testing.assert_array_equal(sa["reward"], sb["reward"])
