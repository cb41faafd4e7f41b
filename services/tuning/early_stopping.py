"""``TrainingJobEarlyStoppingType: Auto``: SageMaker's median stopping rule.

After each step (an XGBoost round, an epoch) of a running trial: take every
earlier trial that reached the same step, compute each one's running
average of the objective up to that step, and stop the trial when its own
value at that step is worse than the median of those averages.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

#: Earlier trials needed at a step before the rule judges anyone there.
MIN_EARLIER_TRIALS = 3


def running_average(curve: Sequence[float | None], step: int) -> float | None:
    """The mean of ``curve[0..step]`` (missing points skipped); ``None`` without a value at ``step``."""
    if step >= len(curve) or curve[step] is None:
        return None
    points = [v for v in curve[:step + 1] if v is not None]
    return sum(points) / len(points)


def worse(value: float, than: float, maximize: bool) -> bool:
    """True when ``value`` is strictly worse than ``than`` for the objective's direction."""
    return value < than if maximize else value > than


def median_rule_stops(curve: Sequence[float | None], earlier: Sequence[Sequence[float | None]],
                      step: int, maximize: bool, min_earlier: int = MIN_EARLIER_TRIALS) -> bool:
    """True when a trial whose objective by step is ``curve`` must stop at ``step``."""
    if step >= len(curve) or curve[step] is None:
        return False
    averages = [a for c in earlier if (a := running_average(c, step)) is not None]
    if len(averages) < min_earlier:
        return False
    return worse(float(curve[step]), statistics.median(averages), maximize)  # type: ignore[arg-type]


def first_stopping_step(curve: Sequence[float | None], earlier: Sequence[Sequence[float | None]],
                        from_step: int, maximize: bool, min_earlier: int = MIN_EARLIER_TRIALS) -> int | None:
    """The first step at or after ``from_step`` where the rule stops the trial, if any."""
    for step in range(from_step, len(curve)):
        if median_rule_stops(curve, earlier, step, maximize, min_earlier):
            return step
    return None
