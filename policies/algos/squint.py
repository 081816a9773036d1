"""The Squint-style visual SAC (policies/squint/) in the algorithm registry."""

from __future__ import annotations

from pathlib import Path

from policies.algos.base import ActFn, PackageAlgorithm


class Squint(PackageAlgorithm):
    def policy(self, checkpoint: Path, device: str) -> tuple[ActFn, object]:
        agent, cfg, _ = self.module("checkpoint").load_agent(checkpoint, device=device)
        agent.train(False)
        return (lambda obs: agent.act(obs, 0, eval_mode=True)), cfg

    def exportable_actor(self, checkpoint: Path):
        from policies.contract import contract_for_env
        from policies.provenance import stamp_contract

        agent, cfg, payload = self.module("checkpoint").load_agent(checkpoint)
        return agent.deployed_policy, stamp_contract(contract_for_env(cfg.env), payload)


ALGORITHM = Squint("squint", "policies.squint", default_preset="cpu")
