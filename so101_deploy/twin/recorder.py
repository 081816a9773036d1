"""`so101 twin --video`: one episode of the twin as an mp4, the overview camera beside the wrist camera.

The episode is the first one started through the twin's reset (`so101 run --twin` resets the scene at every
episode start), up to the next reset or the twin's end. While it runs the recorder only copies the joint and cube
positions (``qpos``) at the video's frame rate, in the physics thread, which costs microseconds; the frames are
rendered and encoded when the twin stops. Rendering an overview costs about 0.1 s a frame on a CPU, and a policy
loop sharing two cores with that would run late, so the recording would change what it records.

The frames are rendered from the recorded positions with the scene as it is at the end (camera mount, lighting):
a visual perturbation applied in the middle of the recorded episode shows from its first frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sim.render import OverviewRenderer
from sim.video import OVERVIEW_SIZE, VideoRecorder

import mujoco
import numpy as np

if TYPE_CHECKING:
    from so101_deploy.twin.world import TwinWorld


@dataclass
class RecorderConfig:
    path: str
    fps: float = 10.0  # the policy's rate on the cpu preset (20 Hz control, action repeat 2), as eval videos
    max_seconds: float = 60.0  # an episode is seconds long; a twin left with no next reset stops growing here


class EpisodeRecorder:
    """Positions of the first episode after a reset, sampled at ``fps`` in sim time; ``save`` renders them."""

    def __init__(self, config: RecorderConfig):
        if config.fps <= 0 or config.max_seconds <= 0:
            raise ValueError("video fps and max_seconds must be > 0")
        self.config = config
        self.states: list[np.ndarray] = []
        self.episode: int | None = None  # the world's episode number being (or that was) recorded
        self.finished = False
        self._next_time = 0.0

    # -- called by TwinWorld under its lock ---------------------------------------------------------------
    def episode_started(self, world: TwinWorld) -> None:
        if self.episode is None:
            self.episode, self._next_time = world.episode, world.sim_time
            self._keep(world)
        else:
            self.finished = True

    def control_step(self, world: TwinWorld) -> None:
        if self.episode is None or self.finished:
            return
        if len(self.states) >= self.config.max_seconds * self.config.fps:
            self.finished = True
        elif world.sim_time >= self._next_time - 1e-9:
            self._keep(world)

    def _keep(self, world: TwinWorld) -> None:
        self.states.append(world.data.qpos.copy())
        self._next_time += 1.0 / self.config.fps

    # -- after the twin's threads have stopped ----------------------------------------------------------------
    def save(self, world: TwinWorld) -> Path | None:
        """Render and write the recorded episode (None when no episode was started); from the calling thread,
        which owns the GL contexts made here, with the physics thread stopped."""
        if not self.states:
            return None
        data = mujoco.MjData(world.model)
        overview = OverviewRenderer(world.model, *OVERVIEW_SIZE)
        wrist = world.camera_renderer()
        video = VideoRecorder(fps=self.config.fps, height=OVERVIEW_SIZE[0])
        try:
            for qpos in self.states:
                data.qpos[:] = qpos
                mujoco.mj_forward(world.model, data)
                world.view_camera(wrist, data)
                video.add(overview.render(data), wrist.render().transpose(2, 0, 1))
        finally:
            overview.close()
            wrist.close()
        return video.save(self.config.path)

    @property
    def seconds(self) -> float:
        return len(self.states) / self.config.fps
