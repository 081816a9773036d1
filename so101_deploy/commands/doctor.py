"""`so101 doctor`: is this machine ready to render, train and talk to an arm?"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table


def doctor() -> None:
    """Check versions, headless rendering (egl, then osmesa), serial ports and cameras."""
    from so101_deploy.doctor import run_doctor

    console = Console()
    report = run_doctor()
    versions = Table(title="versions", show_header=False)
    for name, ver in report.versions.items():
        versions.add_row(name, ver)
    versions.add_row("cuda", report.cuda or "n/a (torch not loaded)")
    console.print(versions)

    render = Table(title="MuJoCo rendering")
    render.add_column("backend")
    render.add_column("works")
    render.add_column("detail")
    for check in report.render:
        render.add_row(check.backend, "yes" if check.ok else "NO", check.detail)
    console.print(render)

    ports = Table(title="serial ports")
    ports.add_column("port")
    ports.add_column("read/write")
    for p in report.ports:
        ports.add_row(p.path, "ok" if p.readable and p.writable else "denied (dialout group?)")
    if not report.ports:
        ports.add_row("none found", "looked at /dev/ttyACM*, /dev/ttyUSB*")
    console.print(ports)
    cameras = Table(title="cameras")
    cameras.add_column("device")
    cameras.add_column("name")
    cameras.add_column("modes (fourcc WxH@fps)")
    for cam in report.cameras:
        cameras.add_row(cam.path, cam.name, ", ".join(map(str, cam.modes)) or cam.note)
    if not report.cameras:
        cameras.add_row("none found", "", "looked at /dev/video*")
    console.print(cameras)
    for note in report.notes:
        console.print(f"[bold red]{note}[/]")
    if not report.ok:
        raise typer.Exit(1)
    console.print(f"[green]ok[/]: rendering with MUJOCO_GL={report.working_backend}")


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
