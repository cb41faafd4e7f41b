"""Parameter ranges and their scaling, as a unit cube the strategies search.

Every numeric range maps a coordinate ``u`` in ``[0, 1]`` to a value with
its ``ScalingType`` (SageMaker's ``Linear``, ``Logarithmic``,
``ReverseLogarithmic``; ``Auto`` picks logarithmic for positive ranges
spanning two or more orders of magnitude, linear otherwise), so a uniform
``u`` samples the scale the user asked for and a surrogate model sees a
space where distances mean what the scale says. Categorical ranges keep
their values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from services.core.exceptions import ValidationException
from services.tuning.models import ParameterRanges

SCALING_TYPES = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")
# Auto goes logarithmic when max/min reaches this ratio (two orders of magnitude).
AUTO_LOG_RATIO = 100.0


@dataclass(frozen=True)
class NumericRange:
    """An ``IntegerParameterRange`` or ``ContinuousParameterRange``."""

    name: str
    low: float
    high: float
    integer: bool
    scaling: str  # resolved: Linear | Logarithmic | ReverseLogarithmic

    def from_unit(self, u: float) -> float | int:
        """The value at coordinate ``u`` (clipped to ``[0, 1]``)."""
        u = min(1.0, max(0.0, u))
        lo, hi = self.low, self.high
        if self.integer:
            if self.scaling == "Logarithmic":
                x = math.exp(math.log(lo) + u * (math.log(hi + 1) - math.log(lo)))
            else:
                x = lo + u * (hi - lo + 1)
            return int(min(hi, max(lo, math.floor(x))))
        if self.scaling == "Logarithmic":
            x = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
        elif self.scaling == "ReverseLogarithmic":
            x = 1.0 - math.exp(math.log(1 - lo) + u * (math.log(1 - hi) - math.log(1 - lo)))
        else:
            x = lo + u * (hi - lo)
        return min(hi, max(lo, x))

    def to_unit(self, value: float) -> float:
        """The coordinate of ``value`` (the middle of its cell for integers); outside the range, clipped."""
        lo, hi = self.low, self.high
        if hi == lo:
            return 0.5
        v = min(hi, max(lo, value))
        if self.integer:
            if self.scaling == "Logarithmic":
                a, b = math.log(v), math.log(v + 1)
                return ((a + b) / 2 - math.log(lo)) / (math.log(hi + 1) - math.log(lo))
            return (v - lo + 0.5) / (hi - lo + 1)
        if self.scaling == "Logarithmic":
            return (math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo))
        if self.scaling == "ReverseLogarithmic":
            return (math.log(1 - v) - math.log(1 - lo)) / (math.log(1 - hi) - math.log(1 - lo))
        return (v - lo) / (hi - lo)

    def contains(self, value: float) -> bool:
        """True when ``value`` lies in the range."""
        return self.low <= value <= self.high

    def format(self, value: float | int) -> str:
        """The hyperparameter string a training job receives."""
        return str(int(value)) if self.integer else repr(float(value))


@dataclass(frozen=True)
class CategoricalRange:
    """A ``CategoricalParameterRange``."""

    name: str
    values: tuple[str, ...]

    def from_unit(self, u: float) -> str:
        """The value whose cell holds ``u``."""
        return self.values[min(len(self.values) - 1, int(max(0.0, u) * len(self.values)))]


Range = NumericRange | CategoricalRange


@dataclass(frozen=True)
class ParameterSpace:
    """Every range of one training job definition."""

    numeric: tuple[NumericRange, ...]
    categorical: tuple[CategoricalRange, ...]

    @property
    def names(self) -> list[str]:
        """Names of every tuned hyperparameter."""
        return [r.name for r in self.numeric] + [r.name for r in self.categorical]

    @property
    def grid_size(self) -> int:
        """How many combinations the categorical grid holds."""
        return math.prod(len(c.values) for c in self.categorical)

    def format(self, values: dict[str, float | int | str]) -> dict[str, str]:
        """Hyperparameter strings for a point given by value."""
        out = {r.name: r.format(values[r.name]) for r in self.numeric}  # type: ignore[arg-type]
        out.update({c.name: str(values[c.name]) for c in self.categorical})
        return out

    def from_unit(self, point: dict[str, float | str]) -> dict[str, str]:
        """Hyperparameter strings for a point given in unit coordinates (categoricals by value)."""
        out = {r.name: r.format(r.from_unit(float(point[r.name]))) for r in self.numeric}
        out.update({c.name: str(point[c.name]) for c in self.categorical})
        return out

    def to_unit(self, hyper_parameters: dict[str, str]) -> dict[str, float | str] | None:
        """Unit coordinates of recorded hyperparameters; ``None`` when one is missing or outside the space."""
        out: dict[str, float | str] = {}
        for r in self.numeric:
            try:
                v = float(hyper_parameters[r.name])
            except (KeyError, ValueError):
                return None
            if not r.contains(v):
                return None
            out[r.name] = r.to_unit(v)
        for c in self.categorical:
            v = hyper_parameters.get(c.name)
            if v not in c.values:
                return None
            out[c.name] = v
        return out


def _number(value: str, name: str, integer: bool) -> float:
    try:
        x = int(value) if integer else float(value)
    except ValueError as err:
        kind = "an integer" if integer else "a number"
        raise ValidationException(f"The value {value!r} of hyperparameter range {name} must be {kind}") from err
    if not math.isfinite(x):
        raise ValidationException(f"The value {value!r} of hyperparameter range {name} must be finite")
    return float(x)


def _resolve_scaling(name: str, low: float, high: float, integer: bool, scaling: str | None) -> str:
    scaling = scaling or "Auto"
    if scaling == "Auto":
        return "Logarithmic" if low > 0 and high / low >= AUTO_LOG_RATIO else "Linear"
    if scaling == "Logarithmic" and low <= 0:
        raise ValidationException(
            f"Hyperparameter range {name}: Logarithmic scaling works only for ranges that have values greater than 0")
    if scaling == "ReverseLogarithmic":
        if integer:
            raise ValidationException(
                f"Hyperparameter range {name}: ReverseLogarithmic scaling is not supported for integer ranges")
        if not (0 <= low and high < 1):
            raise ValidationException(
                f"Hyperparameter range {name}: ReverseLogarithmic scaling works only for ranges that are "
                f"entirely within the range 0 <= x < 1.0")
    return scaling


def parse_space(ranges: ParameterRanges | None) -> ParameterSpace:
    """Check ``ranges`` and build their space; :class:`ValidationException` on bad input."""
    numeric: list[NumericRange] = []
    categorical: list[CategoricalRange] = []
    seen: set[str] = set()
    ranges = ranges or ParameterRanges()
    if ranges.auto_parameters:
        raise ValidationException("AutoParameters are only used with Autotune, which Headwater does not support")
    pairs = [(r, True) for r in ranges.integer_parameter_ranges or []]
    pairs += [(r, False) for r in ranges.continuous_parameter_ranges or []]  # type: ignore[misc]
    for r, integer in pairs:
        low, high = _number(r.min_value, r.name, integer), _number(r.max_value, r.name, integer)
        if low > high:
            raise ValidationException(
                f"Hyperparameter range {r.name}: MinValue {r.min_value} must not be greater than MaxValue {r.max_value}")
        numeric.append(NumericRange(r.name, low, high, integer,
                                    _resolve_scaling(r.name, low, high, integer, r.scaling_type)))
    for c in ranges.categorical_parameter_ranges or []:
        if not c.values:
            raise ValidationException(f"Categorical hyperparameter range {c.name} needs at least one value")
        if len(set(c.values)) != len(c.values):
            raise ValidationException(f"Categorical hyperparameter range {c.name} has duplicate values")
        categorical.append(CategoricalRange(c.name, tuple(c.values)))
    for name in [r.name for r in numeric] + [c.name for c in categorical]:
        if name in seen:
            raise ValidationException(f"Hyperparameter {name} appears in more than one range")
        seen.add(name)
    return ParameterSpace(tuple(numeric), tuple(categorical))
