"""`so101 eval`: seeded evaluation episodes of a trained checkpoint in simulation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


def evaluate(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint.pt, or the run directory holding one.")],
    overrides: Annotated[
        list[str] | None, typer.Argument(help="Env overrides for evaluation only, e.g. env.stage=4.")
    ] = None,
    episodes: Annotated[int, typer.Option("--episodes", "-n", min=1, help="Number of seeded episodes.")] = 20,
    seed: Annotated[int, typer.Option("--seed", help="Episode i is reset with seed + i.")] = 0,
    num_envs: Annotated[int, typer.Option("--num-envs", min=1, help="Parallel env worker processes.")] = 1,
    video: Annotated[
        Path | None, typer.Option("--video", help="Save the first episode as mp4 (overview + wrist) here.")
    ] = None,
    device: Annotated[str, typer.Option("--device", help="torch device for the policy.")] = "cpu",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object as the last line.")] = False,
) -> None:
    """Success rate (95% Wilson interval), mean return and length of a checkpoint over N seeded episodes."""
    from policies.drqv2.checkpoint import load_agent, load_checkpoint
    from policies.drqv2.evaluate import Evaluator
    from so101_deploy.commands.train import apply_overrides
    from so101_deploy.config import ConfigError

    console = Console()
    try:
        # the SB3 SAC baseline (policies/sb3_baseline.py) keeps its own checkpoint layout
        if load_checkpoint(checkpoint).get("algo") == "sac":
            from policies.sb3_baseline import deterministic_act, load_sac

            model, cfg = load_sac(checkpoint, device=device)
            act = deterministic_act(model)
        else:
            agent, cfg = load_agent(checkpoint, device=device)
            agent.train(False)
            act = lambda obs: agent.act(obs, 10**12, eval_mode=True)  # noqa: E731
        bad = [o for o in overrides or [] if not o.split("=", 1)[0].startswith("env.")]
        if bad:
            raise ConfigError(f"eval accepts env.* overrides only (e.g. env.stage=4), got '{bad[0]}'")
        env_cfg = apply_overrides(cfg, list(overrides or [])).env
    except (ConfigError, FileNotFoundError, ValueError, KeyError) as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None

    evaluator = Evaluator(env_cfg, num_envs=num_envs, seed=seed)
    try:
        result = evaluator.run(act, episodes, video_path=video)
    finally:
        evaluator.close()
    summary = result.summary() | {"checkpoint": str(checkpoint), "stage": env_cfg.stage, "seed": seed}
    low, high = result.success_interval
    table = Table(title=f"{checkpoint} - stage {env_cfg.stage}, {result.episodes} episodes from seed {seed}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("success rate", f"{result.success_rate:.2f}  (95% CI {low:.2f}-{high:.2f})")
    table.add_row("mean return", f"{result.mean_return:.2f}")
    table.add_row("mean length", f"{result.mean_length:.1f}")
    if result.video:
        table.add_row("video", result.video)
    console.print(table)
    if as_json:
        print(json.dumps(summary))


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate)
