"""DAgger distillation (policies/distill/) in the algorithm registry."""

from __future__ import annotations

from pathlib import Path

from policies.algos.base import ActFn, PackageAlgorithm
from policies.training.checks import check_fits_in_memory
from policies.training.device import resolve_device


class Distill(PackageAlgorithm):
    config_class = "DistillConfig"
    trainer_class = "DistillTrainer"

    def check_resources(self, cfg) -> None:
        resolve_device(cfg.device)
        image = 3 * cfg.env.frame_stack * cfg.env.image_size**2
        check_fits_in_memory(cfg.dataset_capacity * image, "the DAgger dataset", "dataset_capacity")

    def policy(self, checkpoint: Path, device: str) -> tuple[ActFn, object]:
        from policies.distill.student import act_fn

        resolved = resolve_device(device)
        student, cfg, _ = self.module("checkpoint").load_student(checkpoint, device=resolved)
        return act_fn(student, resolved), cfg

    def exportable_actor(self, checkpoint: Path):
        from policies.contract import contract_for_env
        from policies.provenance import stamp_contract

        student, cfg, payload = self.module("checkpoint").load_student(checkpoint)
        return student, stamp_contract(contract_for_env(cfg.env), payload)


ALGORITHM = Distill("distill", "policies.distill", default_preset="distill_cpu")
