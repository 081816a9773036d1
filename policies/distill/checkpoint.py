"""Distillation checkpoints: the student, its optimiser, counters, RNG and config in one file, written and read
through policies.training.checkpoint (atomic write, ``weights_only`` read, one-line refusals). The aggregated
dataset is not saved: a resumed run aggregates afresh, starting from the saved student."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from common.config import from_dict
from policies.distill.config import DistillConfig
from policies.distill.student import StudentSpec, build_student
from policies.drqv2.networks import Policy
from policies.training.checkpoint import (
    check_algorithm_format,
    checkpoint_path,
    read_checkpoint,
    save_training_checkpoint,
)

ALGO = "distill"
FORMAT_VERSION = 1
READABLE_FORMATS = (1,)


def save_checkpoint(
    path: str | Path,
    student: Policy,
    optimizer: torch.optim.Optimizer,
    spec: StudentSpec,
    cfg: DistillConfig,
    counters: dict,
) -> Path:
    return save_training_checkpoint(
        path,
        ALGO,
        FORMAT_VERSION,
        cfg,
        counters,
        student_spec=dataclasses.asdict(spec),
        student=student.state_dict(),
        optimizer=optimizer.state_dict(),
    )


def check_payload(payload: dict, path: Path) -> None:
    check_algorithm_format(payload, path, ALGO, "distill", READABLE_FORMATS)


def load_checkpoint(path: str | Path) -> dict:
    payload = read_checkpoint(path)
    check_payload(payload, checkpoint_path(path))
    return payload


def config_from_dict(data: dict) -> DistillConfig:
    return from_dict(DistillConfig, data)


def spec_from_payload(payload: dict) -> StudentSpec:
    spec = payload["student_spec"]
    return StudentSpec(tuple(spec["rgb_shape"]), int(spec["low_dim"]), int(spec["action_dim"]))


def load_student(path: str | Path, device: str = "cpu") -> tuple[Policy, DistillConfig, dict]:
    """(student in eval mode, its training config, the payload)."""
    payload = load_checkpoint(path)
    cfg = config_from_dict(payload["config"])
    student = build_student(spec_from_payload(payload), cfg.student)
    student.load_state_dict(payload["student"])
    return student.to(device).eval(), cfg, payload
