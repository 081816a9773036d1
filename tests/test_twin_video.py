"""`so101 twin --video`: the first episode after a reset, to the next reset, as an mp4 of the overview and wrist
cameras; rendered when the twin stops, so a running policy loop does not pay for it."""

import json

import imageio.v2 as imageio
import numpy as np
from typer.testing import CliRunner

from so101_deploy.cli import app
from so101_deploy.twin.app import Twin, TwinConfig
from so101_deploy.twin.recorder import EpisodeRecorder, RecorderConfig
from so101_deploy.twin.world import TwinWorld, WorldConfig

runner = CliRunner()


def _frames(path) -> np.ndarray:
    with imageio.get_reader(path) as reader:
        # not list(reader): the reader's length is "unknown" (sys.maxsize), which list() would preallocate
        return np.stack([frame for frame in reader])


def test_the_first_episode_after_a_reset_is_recorded_up_to_the_next_reset(tmp_path):
    world = TwinWorld(WorldConfig())
    recorder = EpisodeRecorder(RecorderConfig(str(tmp_path / "episode.mp4"), fps=10))
    world.recorder = recorder
    world.advance(0.5)  # the twin idling before `so101 run` starts: not recorded
    assert recorder.states == [] and recorder.save(world) is None
    world.reset(1)
    for joint in range(6):
        world.set_goal(joint, float(world.joint_positions()[joint]))
    world.set_goal(1, 0.6)  # shoulder_lift swings: the frames must show it
    world.advance(1.0)
    world.reset(2)  # the second episode starts: the recording is over
    world.advance(0.5)
    assert len(recorder.states) == 11  # t = 0, 0.1, ..., 1.0 s of the first episode

    path = recorder.save(world)
    frames = _frames(path)
    assert frames.shape == (11, 240, 640, 3)  # overview 320 wide beside the 4:3 wrist camera
    overview, wrist = frames[..., :320, :].astype(int), frames[..., 320:, :].astype(int)
    assert overview.std() > 10 and wrist.std() > 10  # pictures, not blank panels
    assert np.abs(overview[-1] - overview[0]).mean() > 2  # the arm moved between the first and last frame


def test_so101_run_on_a_recording_twin_leaves_an_mp4_of_its_first_episode(smoke_policy, tmp_path):
    path = tmp_path / "twin_episode.mp4"
    with Twin(TwinConfig(video=RecorderConfig(str(path)))) as twin:
        args = [
            "run", "--policy", str(smoke_policy), "--port", twin.port, "--camera", twin.camera_url,
            "--calibration", str(twin.calibration_path), "--twin", twin.control_url, "--start-pose", "hold",
            "--yes", "--episodes", "2", "--max-steps", "30", "--out", str(tmp_path / "run"), "--json",
        ]  # fmt: skip
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert json.loads(result.output.strip().splitlines()[-1])["episodes"] == 2
        assert not path.exists()  # written at stop, not while a policy runs
    assert twin.video == path
    frames = _frames(path)
    assert len(frames) >= 5 and frames.shape[1:] == (240, 640, 3)


def test_a_folder_as_video_path_is_refused_before_the_twin_starts(tmp_path):
    result = runner.invoke(app, ["twin", "--video", str(tmp_path)])
    assert result.exit_code == 2
    assert "is a folder; write to" in " ".join(result.output.split())
