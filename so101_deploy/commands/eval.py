"""`so101 eval`: seeded evaluation episodes of a checkpoint or an exported policy, in the sim or on the twin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from so101_deploy.numeric_options import MAX_EPISODES, MAX_STEPS, numeric_option, seed_option


def evaluate(
    checkpoint: Annotated[
        Path | None, typer.Argument(help="checkpoint.pt, or the run directory holding one (or use --policy).")
    ] = None,
    overrides: Annotated[
        list[str] | None, typer.Argument(help="Env overrides for evaluation only, e.g. env.stage=4.")
    ] = None,
    episodes: Annotated[
        int,
        numeric_option(
            "--episodes", "-n", kind=int, low=1, high=MAX_EPISODES, help="Number of seeded episodes."
        ),
    ] = 20,
    seed: Annotated[int, seed_option(help="Episode i is reset with seed + i.")] = 0,
    num_envs: Annotated[
        int, numeric_option("--num-envs", kind=int, low=1, high=256, help="Parallel env worker processes.")
    ] = 1,
    video: Annotated[
        Path | None, typer.Option("--video", help="Save the first episode as mp4 (overview + wrist) here.")
    ] = None,
    device: Annotated[str, typer.Option("--device", help="torch device for the policy.")] = "cpu",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object as the last line.")] = False,
    policy: Annotated[
        Path | None,
        typer.Option("--policy", help="An exported policy.onnx, run through the runtime's own calls."),
    ] = None,
    twin: Annotated[
        bool,
        typer.Option(
            "--twin", help="Also run the episodes through `so101 twin` + `so101 run` (the gap proxy)."
        ),
    ] = False,
    perturb: Annotated[
        str, typer.Option("--perturb", help="Twin perturbations: 'none' or 'heldout' (sim/heldout.py).")
    ] = "none",
    max_steps: Annotated[
        int | None,
        numeric_option(
            "--max-steps", kind=int, low=1, high=MAX_STEPS, help="Twin episode length in control ticks."
        ),
    ] = None,
) -> None:
    """Success rate (95% Wilson interval), mean return and length over N seeded episodes.

    A checkpoint runs in its training sim (its randomisation included); --policy policy.onnx runs the exported
    file through the runtime's calls; --twin adds the same policy through twin + run, beside its plain-sim
    success, both on the task the checkpoint trained on with randomisation off. An ONNX file does not record
    its task: give it env.stage=N, env.render_size=N, ... where they differ from the defaults.
    """
    if policy is not None and checkpoint is not None and "=" in str(checkpoint):
        # with --policy there is no checkpoint: the first positional word is already an override
        overrides, checkpoint = [str(checkpoint), *(overrides or [])], None
    if (checkpoint is None) == (policy is None):
        Console().print("[red]error:[/] give a checkpoint or --policy policy.onnx (one of them)")
        raise typer.Exit(2)
    if perturb not in ("none", "heldout"):
        Console().print(f"[red]error:[/] --perturb must be 'none' or 'heldout', got {perturb!r}")
        raise typer.Exit(2)
    if policy is not None or twin:
        _evaluate_policy(
            checkpoint, policy, overrides or [], episodes, seed, twin, perturb, max_steps, as_json
        )
        return
    from common.config import ConfigError, apply_overrides
    from policies import algos
    from policies.training.evaluate import Evaluator

    console = Console()
    try:
        algorithm, _ = algos.open_checkpoint(checkpoint)
        act, cfg = algorithm.policy(checkpoint, device)
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


def _trained_task(checkpoint: Path):
    """The task a checkpoint trained on (stage, episode length, camera, ...) with randomisation off.

    The ONNX contract fixes what the policy reads and writes but not the task, so without this a stage-2
    checkpoint would be judged on the default stage 3. Randomisation is left off: the sim column is the
    nominal task, and the twin brings its own perturbations (``--perturb``).
    """
    import dataclasses

    from sim.config import EnvConfig
    from sim.randomize import RandomizationConfig

    from policies import algos

    algorithm, payload = algos.open_checkpoint(checkpoint)
    env: EnvConfig = algorithm.config_from_payload(payload).env
    return dataclasses.replace(env.for_evaluation(), randomization=RandomizationConfig())


def _evaluate_policy(
    checkpoint: Path | None,
    policy: Path | None,
    overrides: list[str],
    episodes: int,
    seed: int,
    twin: bool,
    perturb: str,
    max_steps: int | None,
    as_json: bool,
) -> None:
    """ONNX policy in the sim through the runtime's calls, and optionally through twin + run."""
    import tempfile

    from sim.config import EnvConfig

    from common.config import ConfigError, apply_overrides
    from policies.drqv2.config import TrainConfig
    from policies.onnx_eval import env_config_for, evaluate_onnx
    from policies.onnx_policy import OnnxPolicy, PolicyLoadError

    console = Console(stderr=as_json)
    with tempfile.TemporaryDirectory(prefix="so101-eval-") as tmp:
        try:
            if policy is None:  # a checkpoint with --twin: export it first, as a user would
                from policies.export import export_checkpoint

                policy = export_checkpoint(checkpoint, Path(tmp) / "policy.onnx").path
            onnx_policy = OnnxPolicy(policy)
            bad = [o for o in overrides if not o.split("=", 1)[0].startswith("env.")]
            if bad:
                raise ConfigError(f"eval accepts env.* overrides only (e.g. env.stage=4), got '{bad[0]}'")
            task = _trained_task(checkpoint) if checkpoint is not None else EnvConfig()
            base = TrainConfig(env=env_config_for(onnx_policy.contract, task))
            env_cfg = apply_overrides(base, overrides).env
        except (ConfigError, FileNotFoundError, ValueError, KeyError, PolicyLoadError) as exc:
            console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

        sim_result = evaluate_onnx(onnx_policy, env_cfg, episodes, seed)
        summary = {"policy": str(policy), "stage": env_cfg.stage, "seed": seed, "sim": sim_result.summary()}
        table = Table(title=f"{policy} - stage {env_cfg.stage}, {episodes} episodes from seed {seed}")
        table.add_column("where")
        table.add_column("success rate (95% CI)", justify="right")
        low, high = sim_result.success_interval
        table.add_row("sim (runtime calls)", f"{sim_result.success_rate:.2f}  ({low:.2f}-{high:.2f})")
        if twin:
            from sim.heldout import heldout_perturbations

            from so101_deploy.twin.evaluate import evaluate_on_twin

            perturbations = heldout_perturbations() if perturb == "heldout" else None
            twin_result = evaluate_on_twin(
                policy, env_cfg, episodes, seed=seed, max_steps=max_steps, perturbations=perturbations
            )
            twin_summary = twin_result.summary()
            summary["twin"] = twin_summary | {"perturb": perturb}
            summary["gap"] = sim_result.success_rate - twin_summary["success_rate"]
            table.add_row(
                f"twin + so101 run ({perturb})",
                f"{twin_summary['success_rate']:.2f}  ({twin_summary['success_low']:.2f}-"
                f"{twin_summary['success_high']:.2f})",
            )
            if twin_result.exit_code:
                console.print(f"[red]twin run stopped:[/] {twin_result.reason}", highlight=False)
        console.print(table)
        if as_json:
            print(json.dumps(summary))


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate)
