"""Schedules written as strings in configs (DrQ-v2 syntax), evaluated at a count of **env frames**.

A frame is one control step of one simulator, summed over all parallel train envs; an agent step with action
repeat 2 is 2 frames. RoboBase evaluates the same strings at vector-env iterations, so with 8 envs its
``linear(1.0,0.1,500000)`` decays over 8x more experience than written; counting frames keeps a schedule's meaning
independent of the number of envs.

Accepted forms: a number (constant); ``linear(init, final, duration)``; ``step_linear(init, final1, duration1,
final2, duration2)``.
"""

from __future__ import annotations

import re

_NUMBER = r"\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*"
_LINEAR = re.compile(rf"^linear\({_NUMBER},{_NUMBER},{_NUMBER}\)$")
_STEP_LINEAR = re.compile(rf"^step_linear\({_NUMBER},{_NUMBER},{_NUMBER},{_NUMBER},{_NUMBER}\)$")


def _linear(init: float, final: float, duration: float, frame: float) -> float:
    mix = min(max(frame / duration, 0.0), 1.0) if duration > 0 else 1.0
    return (1.0 - mix) * init + mix * final


def schedule(spec: str | float, frame: int) -> float:
    """Value of ``spec`` after ``frame`` env frames."""
    if isinstance(spec, int | float):
        return float(spec)
    text = spec.strip()
    try:
        return float(text)
    except ValueError:
        pass
    if match := _LINEAR.match(text):
        init, final, duration = (float(g) for g in match.groups())
        return _linear(init, final, duration, frame)
    if match := _STEP_LINEAR.match(text):
        init, final1, duration1, final2, duration2 = (float(g) for g in match.groups())
        if frame <= duration1:
            return _linear(init, final1, duration1, frame)
        return _linear(final1, final2, duration2, frame - duration1)
    raise ValueError(
        f"schedule '{spec}' is not understood; use a number, 'linear(init,final,frames)' or "
        "'step_linear(init,final1,frames1,final2,frames2)'"
    )
