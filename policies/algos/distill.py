"""DAgger distillation (policies/distill/) in the algorithm registry."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from policies.algos.base import ActFn
from policies.training.checks import check_fits_in_memory
from policies.training.device import resolve_device


class Distill:
    name = "distill"
    default_preset = "distill_cpu"

    def config_schema(self) -> type:
        from policies.distill.config import DistillConfig

        return DistillConfig

    def config_from_payload(self, payload: dict):
        from policies.distill.checkpoint import config_from_dict

        return config_from_dict(payload["config"])

    def check_payload(self, payload: dict, path: Path) -> None:
        from policies.distill.checkpoint import check_payload

        check_payload(payload, path)

    def check_resources(self, cfg) -> None:
        resolve_device(cfg.device)
        image = 3 * cfg.env.frame_stack * cfg.env.image_size**2
        check_fits_in_memory(cfg.dataset_capacity * image, "the DAgger dataset", "dataset_capacity")

    def trainer(self, cfg, run_dir: Path, resume: bool, console: Console):
        from policies.distill.trainer import DistillTrainer

        return DistillTrainer(cfg, run_dir, resume=resume, console=console)

    def policy(self, checkpoint: Path, device: str) -> tuple[ActFn, object]:
        from policies.distill.checkpoint import load_student
        from policies.distill.student import act_fn

        resolved = resolve_device(device)
        student, cfg, _ = load_student(checkpoint, device=resolved)
        return act_fn(student, resolved), cfg

    def exportable_actor(self, checkpoint: Path):
        from policies.contract import contract_for_env
        from policies.distill.checkpoint import load_student
        from policies.provenance import stamp_contract

        student, cfg, payload = load_student(checkpoint)
        return student, stamp_contract(contract_for_env(cfg.env), payload)


ALGORITHM = Distill()
