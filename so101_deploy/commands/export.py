"""`so101 export`: a training checkpoint becomes one ONNX file that carries its observation/action contract."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def export(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint.pt, or the run directory holding one.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the ONNX policy.")] = Path(
        "policy.onnx"
    ),
) -> None:
    """Export the deterministic actor (uint8 pixels in, normalisation inside, mean action out) with its contract."""
    from so101_deploy.output_paths import output_file_problem

    console = Console()
    if problem := output_file_problem(output, "policy.onnx"):
        console.print(f"[red]error:[/] -o {output} {problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    from policies.algos import CheckpointExportError
    from policies.export import export_checkpoint
    from policies.onnx_policy import OnnxPolicy

    try:
        result = export_checkpoint(checkpoint, output)
    except (FileNotFoundError, CheckpointExportError, ValueError) as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    OnnxPolicy(result.path)  # read it back exactly as the runtime will
    console.print(f"wrote {result.path} ({result.size_bytes / 1e6:.2f} MB)", highlight=False)
    console.print(result.contract.summary(), highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("export")(export)
