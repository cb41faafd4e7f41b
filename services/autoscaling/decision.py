"""The target-tracking decision, as a pure function of the metric's datapoints and the cooldown clock.

It follows Application Auto Scaling's target tracking for SageMaker variants:

* scale out when every datapoint of the scale-out window is above the target
  (the policy's high alarm); scale in when every datapoint of the longer
  scale-in window is below 90% of it (the low alarm), so a variant sheds
  capacity only after a sustained lull;
* the new capacity is ``ceil(current * metric / target)`` clamped to
  ``[min, max]``; the metric is the window's mean going out, and its highest
  datapoint coming in (never remove capacity the busiest period needed);
* ``ScaleOutCooldown`` spaces scale-outs; ``ScaleInCooldown`` spaces scale-ins
  (a scale-out is never held back by a scale-in's cooldown);
* ``DisableScaleIn`` and the target's suspended state are honoured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.autoscaling.resources import DEFAULT_COOLDOWN

#: The low alarm's threshold, as a fraction of the target (AWS's target tracking uses 90%).
SCALE_IN_THRESHOLD = 0.9


@dataclass(frozen=True)
class Window:
    """How many datapoints each side needs, and the last scaling times of the target."""

    scale_out_periods: int
    scale_in_periods: int
    last_scale_out: datetime | None = None
    last_scale_in: datetime | None = None


@dataclass(frozen=True)
class Decision:
    """A capacity change a policy asks for."""

    desired: int
    direction: str  # "out" | "in"
    metric: float  # the metric value the change was computed from
    alarm: str  # "AlarmHigh" | "AlarmLow"


def desired_capacity(current: int, metric: float, target: float, low: int, high: int) -> int:
    """``ceil(current * metric / target)``, clamped to ``[low, high]``."""
    wanted = math.ceil(round(current * metric / target, 9))  # 3.0000000001 is 3, not 4
    return max(low, min(high, wanted))


def decide(config: dict[str, Any], current: int, low: int, high: int, metrics: list[float], now: datetime,
           window: Window, *, out_suspended: bool = False, in_suspended: bool = False) -> Decision | None:
    """What one target-tracking policy asks for now, or ``None`` (hold).

    :param config: the policy's ``TargetTrackingScalingPolicyConfiguration``.
    :param metrics: the metric's complete datapoints, oldest first (only
        those measured at the current capacity).
    """
    target = float(config["TargetValue"])
    out_cooldown = float(config.get("ScaleOutCooldown", DEFAULT_COOLDOWN))
    in_cooldown = float(config.get("ScaleInCooldown", DEFAULT_COOLDOWN))
    out_window = metrics[-window.scale_out_periods:] if window.scale_out_periods else []
    if not out_suspended and len(out_window) == window.scale_out_periods and all(m > target for m in out_window):
        metric = sum(out_window) / len(out_window)
        desired = desired_capacity(current, metric, target, low, high)
        if desired > current and _cooled(now, window.last_scale_out, out_cooldown):
            return Decision(desired, "out", metric, "AlarmHigh")
        return None
    in_window = metrics[-window.scale_in_periods:] if window.scale_in_periods else []
    if (in_suspended or config.get("DisableScaleIn") or len(in_window) < window.scale_in_periods
            or not all(m < target * SCALE_IN_THRESHOLD for m in in_window)):
        return None
    metric = max(in_window)
    desired = desired_capacity(current, metric, target, low, high)
    if desired < current and _cooled(now, window.last_scale_in, in_cooldown):
        return Decision(desired, "in", metric, "AlarmLow")
    return None


def _cooled(now: datetime, last: datetime | None, cooldown: float) -> bool:
    return last is None or (now - last).total_seconds() >= cooldown


def combine(decisions: list[Decision | None]) -> Decision | None:
    """Several policies on one target: the largest scale-out wins; scale in only when every policy agrees."""
    outs = [d for d in decisions if d is not None and d.direction == "out"]
    if outs:
        return max(outs, key=lambda d: d.desired)
    if decisions and all(d is not None and d.direction == "in" for d in decisions):
        return max((d for d in decisions if d is not None), key=lambda d: d.desired)
    return None
