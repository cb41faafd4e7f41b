"""Hyperband: brackets of successive halving over a resource (epochs, rounds).

SageMaker's Hyperband is asynchronous (as in ASHA): trials are spread over
brackets; bracket ``b`` judges its trials at rungs ``MinResource * eta**(b+k)``
below ``MaxResource``; a trial reaching a rung continues only when its
objective there is among the best ``1/eta`` of the values its bracket has
recorded at that rung (the best one while fewer than ``eta`` are known),
and is stopped otherwise. The last bracket has no rung: its trials use the
whole ``MaxResource``, so Hyperband also explores without early stopping.
Resource ``r`` is reached at step ``r - 1`` (XGBoost's round ``[r-1]``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from services.tuning.early_stopping import worse

ETA = 3
#: Static hyperparameters SageMaker reads ``MaxResource`` from, and XGBoost's rounds.
RESOURCE_KEYS = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs", "num_round")


@dataclass(frozen=True)
class HyperbandSchedule:
    """Brackets and rungs for one tuning job."""

    min_resource: int
    max_resource: int
    eta: int = ETA

    @property
    def brackets(self) -> int:
        """How many brackets (``floor(log_eta(max/min)) + 1``)."""
        if self.max_resource <= self.min_resource:
            return 1
        return int(math.floor(math.log(self.max_resource / self.min_resource, self.eta) + 1e-9)) + 1

    def bracket_of(self, ordinal: int) -> int:
        """The bracket of the trial with this ordinal (round robin)."""
        return ordinal % self.brackets

    def rungs(self, bracket: int) -> list[int]:
        """Resources at which ``bracket`` judges its trials."""
        out, r = [], self.min_resource * self.eta ** bracket
        while r < self.max_resource:
            out.append(r)
            r *= self.eta
        return out


def value_at(curve: Sequence[float | None], resource: int) -> float | None:
    """The objective once ``resource`` is used (the last value up to step ``resource - 1``)."""
    if len(curve) < resource:
        return None
    for v in reversed(curve[:resource]):
        if v is not None:
            return float(v)
    return None


def promotable(value: float, competitors: Sequence[float], maximize: bool, eta: int = ETA) -> bool:
    """True when ``value`` is among the best ``1/eta`` of ``competitors + [value]``."""
    values = sorted([*competitors, value], reverse=maximize)
    threshold = values[max(1, len(values) // eta) - 1]
    return not worse(value, threshold, maximize)


def judge(schedule: HyperbandSchedule, bracket: int, curve: Sequence[float | None], recorded: dict[str, float],
          bracket_rungs: dict[str, list[float]], maximize: bool) -> tuple[dict[str, float], bool]:
    """Record the rungs a trial newly reached; return (its rung values, whether it must stop).

    ``recorded`` holds the rungs already judged for this trial, ``bracket_rungs``
    the values the bracket's other trials recorded, by rung.
    """
    out = dict(recorded)
    for rung in schedule.rungs(bracket):
        key = str(rung)
        if key in out:
            continue
        value = value_at(curve, rung)
        if value is None:
            break
        out[key] = value
        if not promotable(value, bracket_rungs.get(key, []), maximize, schedule.eta):
            return out, True
    return out, False


def resource_key(static: dict[str, str]) -> str | None:
    """The static hyperparameter that sets the resource, if any."""
    return next((k for k in RESOURCE_KEYS if k in static), None)
