"""Search strategies: which hyperparameters the next trial gets.

Every strategy is a pure function of (seed, the trial's ordinal, the
history), so a restarted orchestrator suggests what the lost one would
have, and ``RandomSeed`` reproduces a Random (or Hyperband) tuning job
trial for trial, whatever order trials finish in.

* Random: coordinates drawn uniformly in the unit cube (each range's
  ``ScalingType`` shapes the values), from a generator seeded by
  ``(seed, ordinal)``.
* Bayesian: a surrogate model fitted to every finished trial (Optuna's
  Gaussian-process sampler when PyTorch is installed, else its multivariate
  TPE). Running trials enter as "constant liars" (the worst value seen) so
  parallel suggestions spread out instead of repeating each other.
* Grid: the categorical grid in order (the last range varies fastest).
* Hyperband: Random's sampling; its brackets stop trials early (``hyperband``).
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from services.tuning.models import Strategy
from services.tuning.ranges import ParameterSpace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class History:
    """A trial as a strategy sees it: hyperparameters and, once known, the objective."""

    hyper_parameters: dict[str, str]
    objective: float | None  # None while the trial runs


class SearchStrategy(Protocol):
    """Suggests the hyperparameters of trial ``ordinal`` (0-based); ``None`` when exhausted."""

    def suggest(self, ordinal: int, history: list[History]) -> dict[str, str] | None: ...


class RandomSearch:
    """Uniform in the unit cube, seeded per trial."""

    def __init__(self, space: ParameterSpace, seed: int) -> None:
        self.space = space
        self.seed = seed

    def suggest(self, ordinal: int, history: list[History]) -> dict[str, str] | None:
        rng = np.random.default_rng([self.seed, ordinal])
        point: dict[str, float | str] = {r.name: float(rng.random()) for r in self.space.numeric}
        point.update({c.name: c.from_unit(float(rng.random())) for c in self.space.categorical})
        return self.space.from_unit(point)


class GridSearch:
    """Every combination of the categorical ranges, in order."""

    def __init__(self, space: ParameterSpace) -> None:
        self.space = space

    def suggest(self, ordinal: int, history: list[History]) -> dict[str, str] | None:
        if ordinal >= self.space.grid_size:
            return None
        out: dict[str, str] = {}
        rest = ordinal
        for c in reversed(self.space.categorical):
            rest, i = divmod(rest, len(c.values))
            out[c.name] = c.values[i]
        return {c.name: out[c.name] for c in self.space.categorical}


def _gp_available() -> bool:
    try:
        import torch  # noqa: F401  # GPSampler's dependency
    except ImportError:
        return False
    return True


def _degenerate_fit_errors() -> tuple[type[BaseException], ...]:
    """What a surrogate fit raises on a degenerate history: a singular or non-positive-definite kernel
    matrix (numpy's, or torch's for the GP sampler), a numerical overflow.

    Optuna already retries a failed GP kernel fit with default parameters and samples at random until
    ``n_startup_trials`` have finished, so these are what is left once it gives up.
    """
    errors: tuple[type[BaseException], ...] = (np.linalg.LinAlgError, ArithmeticError)
    if _gp_available():
        import torch

        errors += (torch.linalg.LinAlgError,)
    return errors


class BayesianSearch:
    """A surrogate model over the finished trials (Optuna's samplers).

    Should the model fail to fit some history (a degenerate fit, see
    :func:`_degenerate_fit_errors`), that trial is drawn at random instead,
    a tuning job never stalls on its optimizer, and :attr:`notes` says so
    for that ordinal. Any other error (a bug) is raised.
    """

    def __init__(self, space: ParameterSpace, seed: int, maximize: bool, n_startup: int,
                 sampler: str | None = None) -> None:
        self.space = space
        self.seed = seed
        self.maximize = maximize
        self.n_startup = n_startup
        self.sampler = sampler or ("gp" if _gp_available() else "tpe")
        self.notes: dict[int, str] = {}  # ordinal -> why it was drawn at random; the launcher takes them

    def _make_sampler(self, seed: int):  # noqa: ANN202 - an optuna BaseSampler
        import optuna

        if self.sampler == "gp":
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=self.n_startup,
                                             deterministic_objective=False)
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=self.n_startup, multivariate=True)

    def suggest(self, ordinal: int, history: list[History]) -> dict[str, str] | None:
        try:
            return self._suggest(ordinal, history)
        except _degenerate_fit_errors() as err:
            self.notes[ordinal] = (f"Hyperparameters drawn at random: the Bayesian model could not fit "
                                   f"{len(history)} trial(s) ({type(err).__name__}: {err})")
            log.debug("Bayesian suggestion %d: %s", ordinal, self.notes[ordinal], exc_info=True)
            return RandomSearch(self.space, self.seed).suggest(ordinal, history)

    def _suggest(self, ordinal: int, history: list[History]) -> dict[str, str] | None:
        import optuna
        from optuna.distributions import CategoricalDistribution, FloatDistribution

        optuna.logging.set_verbosity(logging.WARNING)
        dists = {r.name: FloatDistribution(0.0, 1.0) for r in self.space.numeric}
        dists.update({c.name: CategoricalDistribution(list(c.values)) for c in self.space.categorical})
        known = [(p, h.objective) for h in history
                 if (p := self.space.to_unit(h.hyper_parameters)) is not None]
        finished = [v for _, v in known if v is not None and math.isfinite(v)]
        liar = (min(finished) if self.maximize else max(finished)) if finished else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the GP sampler is marked experimental
            study = optuna.create_study(direction="maximize" if self.maximize else "minimize",
                                        sampler=self._make_sampler((self.seed * 1_000_003 + ordinal) % 2**32))
            for params, value in known:
                if value is None or not math.isfinite(value):
                    if liar is None:
                        continue
                    value = liar
                study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=value))
            trial = study.ask(dists)
        return self.space.from_unit(dict(trial.params))


def make_strategy(strategy: Strategy, space: ParameterSpace, seed: int, maximize: bool,
                  max_jobs: int) -> SearchStrategy:
    """The search strategy for a tuning job's ``Strategy``."""
    if strategy is Strategy.GRID:
        return GridSearch(space)
    if strategy is Strategy.BAYESIAN:
        # Fewer random start-up trials on small budgets, so the model has trials left to guide.
        return BayesianSearch(space, seed, maximize, n_startup=max(3, min(10, max_jobs // 4)))
    return RandomSearch(space, seed)
