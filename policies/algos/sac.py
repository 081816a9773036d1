"""The Stable-Baselines3 SAC baseline (policies/sb3_baseline.py) in the algorithm registry."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from policies.algos.base import ActFn


class SB3Sac:
    name = "sac"
    default_preset = "sac_lift_image"

    def config_schema(self) -> type:
        from policies.sb3_baseline import SacTrainConfig

        return SacTrainConfig

    def config_from_payload(self, payload: dict):
        from policies.sb3_baseline import sac_config_from_dict

        return sac_config_from_dict(payload["config"])

    def check_payload(self, payload: dict, path: Path) -> None:
        from policies.sb3_baseline import check_payload

        check_payload(payload, path)

    def check_resources(self, cfg) -> None:
        from policies.sb3_baseline import check_resources

        check_resources(cfg)

    def trainer(self, cfg, run_dir: Path, resume: bool, console: Console):
        from policies.sb3_baseline import SacTrainer

        return SacTrainer(cfg, run_dir, resume=resume, console=console)

    def policy(self, checkpoint: Path, device: str) -> tuple[ActFn, object]:
        from policies.sb3_baseline import deterministic_act, load_sac

        model, cfg = load_sac(checkpoint, device=device)
        return deterministic_act(model), cfg

    def exportable_actor(self, checkpoint: Path):
        from policies.sb3_baseline import exportable_actor

        return exportable_actor(checkpoint)


ALGORITHM = SB3Sac()
