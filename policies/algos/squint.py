"""The Squint-style visual SAC (policies/squint/) in the algorithm registry."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from policies.algos.base import ActFn
from policies.training.checks import check_fits_in_memory
from policies.training.device import resolve_device


class Squint:
    name = "squint"
    default_preset = "squint_cpu"

    def config_schema(self) -> type:
        from policies.squint.config import TrainConfig

        return TrainConfig

    def config_from_payload(self, payload: dict):
        from policies.squint.checkpoint import config_from_dict

        return config_from_dict(payload["config"])

    def check_payload(self, payload: dict, path: Path) -> None:
        from policies.squint.checkpoint import check_payload

        check_payload(payload, path)

    def check_resources(self, cfg) -> None:
        resolve_device(cfg.device)
        check_fits_in_memory(cfg.replay_nbytes_lower_bound(), "the replay", "replay_capacity")

    def trainer(self, cfg, run_dir: Path, resume: bool, console: Console):
        from policies.squint.trainer import Trainer

        return Trainer(cfg, run_dir, resume=resume, console=console)

    def policy(self, checkpoint: Path, device: str) -> tuple[ActFn, object]:
        from policies.squint.checkpoint import load_agent

        agent, cfg, _ = load_agent(checkpoint, device=device)
        agent.train(False)
        return (lambda obs: agent.act(obs, 0, eval_mode=True)), cfg

    def exportable_actor(self, checkpoint: Path):
        from policies.contract import contract_for_env
        from policies.provenance import stamp_contract
        from policies.squint.checkpoint import load_agent

        agent, cfg, payload = load_agent(checkpoint)
        return agent.policy, stamp_contract(contract_for_env(cfg.env), payload)


ALGORITHM = Squint()
