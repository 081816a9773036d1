"""The Squint training loop: DrQ-v2's loop (policies/drqv2/trainer.py: parallel envs, one-frame-per-slot replay,
updates overlapping the simulation, evaluation, metrics, video, checkpoints, resume, stop signals) driving a
``SquintAgent``. The replay fits as it is: one frame per slot, n-step returns at the agent's discount."""

from __future__ import annotations

from pathlib import Path

from policies.drqv2.trainer import Trainer as LoopTrainer
from policies.squint.agent import SquintAgent
from policies.squint.checkpoint import load_checkpoint, save_checkpoint


class Trainer(LoopTrainer):
    def build_agent(self) -> SquintAgent:
        return SquintAgent(self.spec, self.cfg.agent, device=self.device, seed=self.cfg.seed)

    def load_checkpoint(self, path: Path) -> dict:
        return load_checkpoint(path)

    def save_checkpoint(self, path: Path) -> Path:
        return save_checkpoint(path, self.agent, self.cfg, self.counters)
