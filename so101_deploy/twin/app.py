"""`so101 twin` as an object: physics world + emulated servo bus on a pty + MJPEG camera + control endpoint.

Use it as a context manager in tests (`with Twin(TwinConfig()) as twin:`) or run it from the CLI. It writes
the calibration files a user would have after calibrating a real arm (LeRobot servo JSON, camera JSON), so
`so101 run` is pointed at it exactly as at hardware: --port, --camera, --calibration.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.scene import wrist_camera_pose

from calibration.camera_model import CameraCalibration, SimCameraPose, crop_for_fovy
from robot.camera_geometry import fov_deg, pinhole_matrix
from so101_deploy.hardware.calibration_file import save_calibration
from so101_deploy.twin.backend import MujocoBackend
from so101_deploy.twin.control_endpoint import ControlServer
from so101_deploy.twin.emulator import EmulatorConfig, ServoEmulator
from so101_deploy.twin.factory import TickMapping, eeprom_overrides, twin_calibration
from so101_deploy.twin.mjpeg import MjpegServer
from so101_deploy.twin.recorder import EpisodeRecorder, RecorderConfig
from so101_deploy.twin.world import TwinWorld, WorldConfig


@dataclass
class TwinConfig:
    world: WorldConfig = field(default_factory=WorldConfig)
    robot_id: str = "so101_twin"
    out_dir: str = ""  # calibration files go here (default: a fresh temporary folder)
    pace_bus: bool = False  # real-time byte pacing at 1 Mbaud on the emulated bus
    control_port: int = 0  # 0 = any free port on 127.0.0.1
    camera_port: int = 0
    # The calibration the operator made (EEPROM + LeRobot file); None: the factory one. The physical arm is
    # the factory's whatever this says, so a calibration made in a wrong homing pose reads it wrongly.
    calibration: dict | None = None
    video: RecorderConfig | None = None  # an mp4 of the first episode started by a reset, written at stop


def twin_camera_calibration(config: WorldConfig) -> CameraCalibration:
    """The exact intrinsics of the twin's pinhole camera, cropped to the sim camera's fovy."""
    cam = config.camera
    K = pinhole_matrix(cam.fovy_deg, cam.width, cam.height)  # noqa: N806
    f = float(K[1, 1])
    sim_cam = wrist_camera_pose(config.env.wrist_camera)
    ratio, centre, suggested = crop_for_fovy(K, cam.width, cam.height, sim_cam.fovy)
    return CameraCalibration(
        image_width=cam.width,
        image_height=cam.height,
        camera_matrix=tuple(tuple(float(v) for v in row) for row in K),
        dist_coeffs=(0.0, 0.0, 0.0, 0.0, 0.0),
        rms_px=0.0,
        views=0,
        target_fovy_deg=float(sim_cam.fovy),
        crop_fov_ratio=float(ratio),
        crop_center=(float(centre[0]), float(centre[1])),
        fov_h_deg=fov_deg(f, cam.width),
        fov_v_deg=fov_deg(f, cam.height),
        suggested_sim_fovy_deg=suggested,
        sim_camera=SimCameraPose(
            pos=tuple(sim_cam.pos), euler=tuple(sim_cam.euler), fovy=float(sim_cam.fovy)
        ),
        notes=("exact intrinsics of the digital twin's camera",),
    )


def camera_stream(world: TwinWorld, port: int = 0) -> MjpegServer:
    """The twin's wrist camera as `so101 run` reads it: the world's render, JPEG-encoded at the virtual camera's
    rate and quality, served over HTTP (not started). Tests that hold the world still use it without the rest
    of the twin (tests/test_training_image_matches_twin.py)."""
    cam = world.config.camera
    return MjpegServer(
        world.render_camera,
        fps=cam.fps,
        quality=cam.jpeg_quality,
        port=port,
        on_producer_exit=world.close_renderer,
    )


class Twin:
    def __init__(self, config: TwinConfig | None = None):
        self.config = config or TwinConfig()
        self.world = TwinWorld(self.config.world)
        self.calibration = dict(self.config.calibration or twin_calibration())
        self.mapping = TickMapping(twin_calibration())
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.emulator: ServoEmulator | None = None
        self.camera: MjpegServer | None = None
        self.control: ControlServer | None = None
        self.recorder = EpisodeRecorder(self.config.video) if self.config.video else None
        self.world.recorder = self.recorder
        self.video: Path | None = None  # where stop() wrote the recorded episode

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> Twin:
        out = self.config.out_dir
        if not out:
            self._tmp = tempfile.TemporaryDirectory(prefix="so101-twin-")
            out = self._tmp.name
        self.out_dir = Path(out)
        self.calibration_path = save_calibration(
            self.calibration, self.out_dir / f"{self.config.robot_id}.json"
        )
        self.camera_calibration_path = twin_camera_calibration(self.config.world).save(
            self.out_dir / f"{self.config.robot_id}_camera.json"
        )
        backend = MujocoBackend(self.world, self.mapping)
        q = self.world.joint_positions()
        initial = {j: self.mapping.rad_to_encoder(i, q[i]) for i, j in enumerate(sorted(backend.index))}
        self.emulator = ServoEmulator(
            EmulatorConfig(
                pace=self.config.pace_bus,
                initial_ticks=initial,
                register_overrides=eeprom_overrides(self.calibration),
            ),
            backend=backend,
        ).start()
        self.world.start()
        self.camera = camera_stream(self.world, self.config.camera_port).start()
        self.control = ControlServer(self, port=self.config.control_port).start()
        self._wait_for_first_frame()
        return self

    def _wait_for_first_frame(self, timeout_s: float = 20.0) -> None:
        """Announce the twin only once its camera has rendered: creating the GL context stalls the process
        for a moment, long enough for a servo ping sent during it to time out."""
        deadline = time.monotonic() + timeout_s
        while self.camera.frames_encoded == 0:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the twin's camera rendered no frame in {timeout_s:g} s: {self.camera.last_error}"
                )
            time.sleep(0.02)

    def stop(self) -> None:
        for part in (self.control, self.camera, self.emulator):
            if part is not None:
                part.stop() if hasattr(part, "stop") else part.close()
        self.control = self.camera = self.emulator = None
        self.world.stop()
        try:
            if self.recorder is not None:
                recorder, self.recorder = self.recorder, None
                self.world.recorder = None
                self.video = recorder.save(self.world)
        finally:
            if self._tmp is not None:
                self._tmp.cleanup()
                self._tmp = None

    def __enter__(self) -> Twin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what a user / test needs ------------------------------------------------------------------------
    @property
    def port(self) -> str:
        return self.emulator.port if self.emulator else ""

    @property
    def camera_url(self) -> str:
        return self.camera.url if self.camera else ""

    @property
    def control_url(self) -> str:
        return self.control.url if self.control else ""

    def describe(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "camera_url": self.camera_url,
            "control_url": self.control_url,
            "calibration": str(self.calibration_path),
            "camera_calibration": str(self.camera_calibration_path),
        }

    def torque_enabled(self) -> dict[str, bool]:
        """Torque_Enable as the emulated servos hold it (ground truth for tests)."""
        assert self.emulator is not None
        names = {cal.id: name for name, cal in self.calibration.items()}
        return {names[s.key]: bool(s.peek("Torque_Enable")) for s in self.emulator.servos}

    # -- TwinControl (served on the control endpoint) -------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return self.world.state()

    def reset(self, seed: int | None = None) -> dict[str, Any]:
        result = self.world.reset(seed)
        # Joints moved under the servos: their goals follow, as when an operator repositions a limp arm.
        if self.emulator is not None:
            for servo in self.emulator.servos:
                if servo.peek("Torque_Enable"):
                    servo.poke("Goal_Position", servo.peek("Present_Position"))
        return result

    def perturb(self, changes: dict[str, Any]) -> dict[str, Any]:
        return self.world.perturb(changes)


def describe_json(twin: Twin) -> str:
    return json.dumps(twin.describe())
