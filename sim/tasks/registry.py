"""Tasks by name: ``env.task`` in a config is looked up here.

A task module registers its class with ``@register_task("name")``. The built-in task modules are imported on
the first look-up rather than when this module loads, because they build on ``sim.scene``, which itself asks
this registry for the task's scene additions.
"""

from __future__ import annotations

import importlib
from typing import TypeVar

from sim.config import EnvConfig
from sim.control import ControllerParams
from sim.kinematics import ArmKinematics
from sim.tasks.base import Task

import mujoco

BUILTIN_TASK_MODULES = ("sim.tasks.lift",)  # each registers its task(s) when imported

_TASKS: dict[str, type[Task]] = {}
T = TypeVar("T", bound=type[Task])


def register_task(name: str):
    """Class decorator: make ``name`` a valid ``env.task``."""

    def add(cls: T) -> T:
        known = _TASKS.get(name)
        if known is not None and known is not cls:
            raise ValueError(f"task {name!r} is already registered ({known.__module__}.{known.__qualname__})")
        cls.name = name
        _TASKS[name] = cls
        return cls

    return add


def unregister_task(name: str) -> None:
    """Forget a task (tests that register throw-away tasks clean up with this)."""
    _TASKS.pop(name, None)


def _load_builtins() -> None:
    for module in BUILTIN_TASK_MODULES:
        importlib.import_module(module)


def task_names() -> tuple[str, ...]:
    _load_builtins()
    return tuple(sorted(_TASKS))


def task_class(name: str) -> type[Task]:
    _load_builtins()
    try:
        return _TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(sorted(_TASKS))}") from None


def make_task(
    name: str, cfg: EnvConfig, model: mujoco.MjModel, kinematics: ArmKinematics, params: ControllerParams
) -> Task:
    """The task ``name`` on a compiled scene (one built by ``sim.scene.build_model`` for the same ``cfg``)."""
    return task_class(name)(cfg, model, kinematics, params)
