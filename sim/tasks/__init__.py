"""Tasks behind one interface (``sim.tasks.base.Task``) and one registry (``sim.tasks.registry``).

To add a task: write a module with a ``Task`` subclass (scene additions, stages, reset, measure, reward
versions, success, privileged layout, optionally an expert), decorate it with ``@register_task("name")``, and
list the module in ``registry.BUILTIN_TASK_MODULES``; ``env.task: name`` then selects it everywhere.
"""

from sim.tasks.base import Expert, RewardRegistry, Task, privileged_slices
from sim.tasks.registry import make_task, register_task, task_class, task_names, unregister_task

__all__ = [
    "Expert",
    "RewardRegistry",
    "Task",
    "make_task",
    "privileged_slices",
    "register_task",
    "task_class",
    "task_names",
    "unregister_task",
]
