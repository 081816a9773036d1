"""What `so101 doctor` checks: versions, a real headless render, serial ports and cameras.

Each check returns plain data so the CLI can print a table and tests can assert on it.
"""

from __future__ import annotations

import glob
import grp
import importlib
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field

from sim.rendering_backend import APT_PACKAGES, PREFERENCE, apt_fix_command

from so101_deploy.hardware.camera import CameraInfo, list_cameras

_RENDER_PROBE = """
import os, sys
os.environ["MUJOCO_GL"] = sys.argv[1]
import mujoco
m = mujoco.MjModel.from_xml_string('<mujoco><worldbody><light pos="0 0 1"/><geom size=".1"/></worldbody></mujoco>')
d = mujoco.MjData(m)
with mujoco.Renderer(m, 16, 16) as r:
    r.update_scene(d)
    img = r.render()
print(img.shape, int(img.sum()))
"""

VERSIONED_PACKAGES = ("numpy", "mujoco", "onnxruntime", "cv2", "scservo_sdk", "typer", "omegaconf", "torch")


@dataclass
class RenderCheck:
    backend: str
    ok: bool
    detail: str


@dataclass
class PortCheck:
    path: str
    readable: bool
    writable: bool


@dataclass
class DoctorReport:
    versions: dict[str, str]
    cuda: str | None
    render: list[RenderCheck]
    working_backend: str | None
    ports: list[PortCheck]
    in_dialout: bool
    video_devices: list[str]
    notes: list[str] = field(default_factory=list)
    cameras: list[CameraInfo] = field(default_factory=list)  # video devices with their modes

    @property
    def ok(self) -> bool:
        return self.working_backend is not None


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            mod = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a broken optional package is reported, not fatal
            versions[name] = "not installed"
            continue
        versions[name] = str(getattr(mod, "__version__", "installed"))
    return versions


def cuda_status() -> str | None:
    if "torch" not in sys.modules:
        return None
    import torch

    if torch.cuda.is_available():
        return f"{torch.version.cuda} ({torch.cuda.get_device_name(0)})"
    return "not available"


def probe_render(backend: str, timeout_s: float = 60.0) -> RenderCheck:
    """Render one 16x16 frame in a fresh interpreter: the only honest test that a GL backend works."""
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    if backend == "osmesa":
        env["PYOPENGL_PLATFORM"] = "osmesa"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _RENDER_PROBE, backend],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return RenderCheck(backend, False, f"timed out after {timeout_s:.0f} s")
    if proc.returncode == 0:
        return RenderCheck(backend, True, proc.stdout.strip())
    last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
    return RenderCheck(
        backend, False, f"{last}  (apt packages: {' '.join(APT_PACKAGES.get(backend, ['?']))})"
    )


def serial_ports() -> list[PortCheck]:
    paths = sorted(glob.glob("/dev/ttyACM*") + glob.glob("/dev/ttyUSB*"))
    return [PortCheck(p, os.access(p, os.R_OK), os.access(p, os.W_OK)) for p in paths]


def user_in_dialout() -> bool:
    try:
        gid = grp.getgrnam("dialout").gr_gid
    except KeyError:
        return False
    return os.geteuid() == 0 or gid in os.getgroups()


def video_devices() -> list[str]:
    return sorted(glob.glob("/dev/video*"))


def run_doctor(backends: tuple[str, ...] | None = None) -> DoctorReport:
    backends = PREFERENCE if backends is None else backends
    versions = package_versions()
    render: list[RenderCheck] = []
    working = None
    for backend in backends:
        check = probe_render(backend)
        render.append(check)
        if check.ok:
            working = backend
            break
    report = DoctorReport(
        versions=versions,
        cuda=cuda_status(),
        render=render,
        working_backend=working,
        ports=serial_ports(),
        in_dialout=user_in_dialout(),
        video_devices=video_devices(),
        cameras=list_cameras(),
    )
    if working is None:
        report.notes.append(f"No MuJoCo GL backend renders here. Fix: {apt_fix_command()}")
    if report.ports and not all(p.readable and p.writable for p in report.ports) and not report.in_dialout:
        report.notes.append(
            "Serial ports are not accessible: sudo usermod -aG dialout $USER, then log in again."
        )
    return report
