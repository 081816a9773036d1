"""DrQ-v2 (policies/drqv2/) in the algorithm registry."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from policies.algos.base import ActFn, CheckpointExportError
from policies.training.checks import check_fits_in_memory
from policies.training.device import resolve_device


class DrQV2:
    name = "drqv2"
    default_preset = "default"

    def config_schema(self) -> type:
        from policies.drqv2.config import TrainConfig

        return TrainConfig

    def config_from_payload(self, payload: dict):
        from policies.drqv2.checkpoint import config_from_dict

        return config_from_dict(payload["config"])

    def check_payload(self, payload: dict, path: Path) -> None:
        from policies.drqv2.checkpoint import check_payload

        check_payload(payload, path)

    def check_resources(self, cfg) -> None:
        resolve_device(cfg.device)
        check_fits_in_memory(cfg.replay_nbytes_lower_bound(), "the replay", "replay_capacity")

    def trainer(self, cfg, run_dir: Path, resume: bool, console: Console):
        from policies.drqv2.trainer import Trainer

        return Trainer(cfg, run_dir, resume=resume, console=console)

    def policy(self, checkpoint: Path, device: str) -> tuple[ActFn, object]:
        from policies.drqv2.checkpoint import load_agent

        agent, cfg = load_agent(checkpoint, device=device)
        agent.train(False)
        return (lambda obs: agent.act(obs, 10**12, eval_mode=True)), cfg

    def exportable_actor(self, checkpoint: Path):
        from policies.contract import contract_for_env
        from policies.drqv2.checkpoint import load_agent, load_checkpoint
        from policies.provenance import stamp_contract

        agent, cfg = load_agent(checkpoint)
        if agent.policy.encoder is None:
            raise CheckpointExportError(
                f"{checkpoint} is a state-based policy (env.obs=state): it reads privileged simulator state that "
                "the real arm does not have, so it cannot be deployed; train with env.obs=pixels"
            )
        return agent.policy, stamp_contract(contract_for_env(cfg.env), load_checkpoint(checkpoint))


ALGORITHM = DrQV2()
