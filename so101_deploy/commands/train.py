"""`so101 train`: DrQ-v2 in simulation from a preset plus ``key=value`` overrides, or ``--resume`` a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def train(
    overrides: Annotated[
        list[str] | None, typer.Argument(help="Config overrides, e.g. env.stage=1 num_train_envs=2.")
    ] = None,
    preset: Annotated[
        str, typer.Option("--preset", "-p", help="YAML preset in resources/configs.")
    ] = "default",
    resume: Annotated[
        Path | None, typer.Option("--resume", help="Run directory to continue from its checkpoint.pt.")
    ] = None,
) -> None:
    """Train a policy in simulation: DrQ-v2, or algo=NAME (sac, squint, distill; a preset may name its algo).
    Outputs go to runs/<name>-<time>/. Ctrl-C or SIGTERM saves a checkpoint; --resume continues from it."""
    from common.config import ConfigError, save_resolved
    from policies.training.checkpoint import CheckpointWriteError
    from policies.training.run_dir import RunDirBusy

    console = Console()
    try:
        algorithm, cfg, run_dir = _resolve(preset, list(overrides or []), resume)
        algorithm.check_resources(cfg)  # before anything is created
        lock = _lock(run_dir, fresh=resume is None)
    except (ConfigError, ValueError, FileNotFoundError, RunDirBusy) as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    try:
        save_resolved(cfg, run_dir / "config.yaml")
        console.print(f"run directory: {run_dir}", highlight=False)
        result = algorithm.trainer(cfg, run_dir, resume=resume is not None, console=console).run()
    except CheckpointWriteError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    finally:
        lock.release()
    if result:
        console.print(
            f"last eval at frame {result['frame']}: success {result['success_rate']:.2f} "
            f"[{result['success_low']:.2f}, {result['success_high']:.2f}], return {result['episode_return']:.2f}",
            highlight=False,
        )


def _resolve(preset: str, overrides: list[str], resume: Path | None):
    """(algorithm, validated config, run directory) for a new run or for resuming one; creates nothing."""
    from common.config import ConfigError, apply_overrides, load_config
    from policies import algos
    from policies.training.checkpoint import CHECKPOINT
    from policies.training.run_dir import resolve_run_dir

    if resume is not None:
        if not (resume / CHECKPOINT).exists():
            raise ConfigError(f"--resume {resume}: no {CHECKPOINT} there; pass the run directory of a run")
        algorithm, payload = algos.open_checkpoint(resume)
        cfg = apply_overrides(algorithm.config_from_payload(payload), overrides)
        cfg.validate()
        return algorithm, cfg, resume
    algorithm, preset = requested_algorithm(preset, overrides)
    cfg = load_config(algorithm.config_schema(), preset, overrides)
    return algorithm, cfg, resolve_run_dir(cfg)


def _lock(run_dir: Path, fresh: bool):
    """The run directory's lock; a new run may not start where a checkpoint already is (use --resume)."""
    from policies.training.run_dir import RunDirLock, refuse_existing_run

    lock = RunDirLock(run_dir).acquire()
    if fresh:
        try:
            refuse_existing_run(run_dir)
        except ValueError:
            lock.release()
            raise
    return lock


def requested_algorithm(preset: str, overrides: list[str]):
    """(algorithm, preset): the algo of an ``algo=`` override, else of the preset's ``algo`` key (DrQ-v2 when
    absent). With ``algo=NAME`` the 'default' preset means that algorithm's own default preset."""
    import yaml

    from common.config import ConfigError, preset_path
    from policies import algos

    asked = [
        o.split("=", 1)[1].strip() for o in overrides if o.split("=", 1)[0].strip().lstrip("+") == "algo"
    ]
    if asked:
        try:
            algos.get(asked[-1])
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if preset == "default":
            preset = algos.get(asked[-1]).default_preset
    data = yaml.safe_load(preset_path(preset).read_text()) or {}
    preset_algo = data.get("algo", algos.DEFAULT) if isinstance(data, dict) else algos.DEFAULT
    algo = asked[-1] if asked else preset_algo
    if algo != preset_algo:
        raise ConfigError(
            f"preset '{preset}' is for algo={preset_algo}, not algo={algo}; use --preset {algos.get(algo).default_preset}"
        )
    return algos.get(algo), preset


def register(app: typer.Typer) -> None:
    app.command("train")(train)
