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
    """Train a DrQ-v2 policy (algo=sac: the SB3 SAC baseline) in simulation. Outputs go to runs/<name>-<time>/."""
    from common.config import ConfigError, apply_overrides, load_config, save_resolved
    from policies.drqv2.checkpoint import config_from_dict, load_checkpoint
    from policies.drqv2.config import TrainConfig
    from policies.drqv2.trainer import CHECKPOINT, Trainer, resolve_run_dir

    console = Console()
    overrides = list(overrides or [])
    try:
        algo, preset = requested_algo(preset, overrides, resume)
        if algo == "sac":  # the SB3 SAC baseline has its own config schema and trainer
            cfg, run_dir = sac_config(preset, overrides, resume)
        elif resume is not None:
            if not (resume / CHECKPOINT).exists():
                raise ConfigError(
                    f"--resume {resume}: no {CHECKPOINT} there; pass the run directory of a run"
                )
            cfg = apply_overrides(config_from_dict(load_checkpoint(resume)["config"]), overrides)
            cfg.validate()
            run_dir = resume
        else:
            cfg = load_config(TrainConfig, preset, overrides)
            run_dir = resolve_run_dir(cfg)
            if (run_dir / CHECKPOINT).exists():
                raise ConfigError(f"{run_dir} already holds a run; use --resume {run_dir} or another run_dir")
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    save_resolved(cfg, run_dir / "config.yaml")
    console.print(f"run directory: {run_dir}", highlight=False)
    trainer = Trainer if algo == "drqv2" else sac_trainer()
    result = trainer(cfg, run_dir, resume=resume is not None, console=console).run()
    if result:
        console.print(
            f"last eval at frame {result['frame']}: success {result['success_rate']:.2f} "
            f"[{result['success_low']:.2f}, {result['success_high']:.2f}], return {result['episode_return']:.2f}",
            highlight=False,
        )


# -- algo=sac: the SB3 baseline (policies/sb3_baseline.py) ----------------------------------------------------------
ALGOS = ("drqv2", "sac")
SAC_PRESET = "sac_lift_image"


def requested_algo(preset: str, overrides: list[str], resume: Path | None) -> tuple[str, str]:
    """(algo, preset): the algo of --resume's checkpoint, else of an ``algo=`` override, else of the preset's
    ``algo`` key (DrQ-v2 when absent). With ``algo=sac`` the 'default' preset means 'sac_lift_image'."""
    import yaml

    from common.config import ConfigError, preset_path
    from policies.drqv2.checkpoint import load_checkpoint

    if resume is not None:
        found = (resume / "checkpoint.pt").exists()
        return (load_checkpoint(resume).get("algo", "drqv2") if found else "drqv2"), preset
    asked = [
        o.split("=", 1)[1].strip() for o in overrides if o.split("=", 1)[0].strip().lstrip("+") == "algo"
    ]
    if asked and asked[-1] not in ALGOS:
        raise ConfigError(f"unknown algo '{asked[-1]}'; valid: {', '.join(ALGOS)}")
    if asked and asked[-1] == "sac" and preset == "default":
        preset = SAC_PRESET
    data = yaml.safe_load(preset_path(preset).read_text()) or {}
    preset_algo = data.get("algo", "drqv2") if isinstance(data, dict) else "drqv2"
    algo = asked[-1] if asked else preset_algo
    if algo != preset_algo:
        hint = f"--preset {SAC_PRESET}" if algo == "sac" else "a DrQ-v2 preset such as 'default'"
        raise ConfigError(f"preset '{preset}' is for algo={preset_algo}, not algo={algo}; use {hint}")
    return algo, preset


def sac_config(preset: str, overrides: list[str], resume: Path | None):
    """(SacTrainConfig, run directory) for a new SAC run or for resuming one."""
    from common.config import ConfigError, apply_overrides, load_config
    from policies.drqv2.trainer import resolve_run_dir
    from policies.sb3_baseline import CHECKPOINT, SacTrainConfig, load_sac_payload, sac_config_from_dict

    if resume is not None:
        cfg = apply_overrides(sac_config_from_dict(load_sac_payload(resume)["config"]), overrides)
        cfg.validate()
        return cfg, resume
    cfg = load_config(SacTrainConfig, preset, overrides)
    run_dir = resolve_run_dir(cfg)
    if (run_dir / CHECKPOINT).exists():
        raise ConfigError(f"{run_dir} already holds a run; use --resume {run_dir} or another run_dir")
    return cfg, run_dir


def sac_trainer():
    from policies.sb3_baseline import SacTrainer

    return SacTrainer


def register(app: typer.Typer) -> None:
    app.command("train")(train)
