"""DrQ-v2 (policies/drqv2/) in the algorithm registry."""

from __future__ import annotations

from pathlib import Path

from policies.algos.base import ActFn, CheckpointExportError, PackageAlgorithm


class DrQV2(PackageAlgorithm):
    def policy(self, checkpoint: Path, device: str) -> tuple[ActFn, object]:
        agent, cfg = self.module("checkpoint").load_agent(checkpoint, device=device)
        agent.train(False)
        return (lambda obs: agent.act(obs, 10**12, eval_mode=True)), cfg

    def exportable_actor(self, checkpoint: Path):
        from policies.contract import contract_for_env
        from policies.provenance import stamp_contract

        checkpoints = self.module("checkpoint")
        agent, cfg = checkpoints.load_agent(checkpoint)
        if agent.policy.encoder is None:
            raise CheckpointExportError(
                f"{checkpoint} is a state-based policy (env.obs=state): it reads privileged simulator state that "
                "the real arm does not have, so it cannot be deployed; train with env.obs=pixels"
            )
        return agent.policy, stamp_contract(
            contract_for_env(cfg.env), checkpoints.load_checkpoint(checkpoint)
        )


ALGORITHM = DrQV2("drqv2", "policies.drqv2", default_preset="default")
