"""Which trials a tuning job starts next: retries first, then the strategy's suggestions.

A trial that failed with a ``RetryableError`` is run again with the same
hyperparameters (``MAX_RETRIES`` times at most; retries do not count
against ``MaxNumberOfTrainingJobs``). New trials go round robin over the
training job definitions; each definition's strategy sees the finished
trials of that definition (and the warm start parents') as its history.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from services.tuning.models import Strategy, Trial, TrialStatus, TuningJob
from services.tuning.naming import child_name, seed_for
from services.tuning.ranges import parse_space
from services.tuning.strategies import BayesianSearch, History, SearchStrategy, make_strategy
from services.tuning.trials import MAX_RETRIES, objective_status

log = logging.getLogger(__name__)


class TrialLauncher:
    """Suggests and records new trials for one tuning job."""

    def __init__(self, job: TuningJob, bracket_of: Callable[[int], int | None]) -> None:
        config = job.hyper_parameter_tuning_job_config
        self.job = job
        self.bracket_of = bracket_of
        self.definitions = {d.definition_name: d for d in job.definitions()}
        self.order = list(self.definitions)
        spaces = {dn: parse_space(d.hyper_parameter_ranges or config.parameter_ranges)
                  for dn, d in self.definitions.items()}
        max_jobs = config.resource_limits.max_number_of_training_jobs
        if config.strategy is Strategy.GRID:
            grid = sum(s.grid_size for s in spaces.values())
            max_jobs = min(max_jobs, grid) if max_jobs else grid
        self.max_jobs = int(max_jobs or 1)
        seed = seed_for(job.name, config.random_seed)
        self.strategies: dict[str | None, SearchStrategy] = {
            dn: make_strategy(config.strategy, spaces[dn], seed, job.objective(dn).maximize, self.max_jobs)
            for dn in self.order}
        self.exhausted: set[str | None] = set()

    @staticmethod
    def fresh_count(trials: list[Trial]) -> int:
        """Trials that are not retries (what ``MaxNumberOfTrainingJobs`` counts)."""
        return sum(1 for t in trials if t.retry_of is None)

    @staticmethod
    def retries_due(trials: list[Trial]) -> list[Trial]:
        """Failed trials to run again."""
        retried = {t.retry_of for t in trials if t.retry_of is not None}
        return [t for t in trials if t.status is TrialStatus.FAILED and t.error_kind == "RetryableError"
                and t.attempt <= MAX_RETRIES and t.index not in retried]

    def done(self, trials: list[Trial]) -> bool:
        """True when no new trial can start (limit reached, or every strategy exhausted)."""
        return self.fresh_count(trials) >= self.max_jobs or len(self.exhausted) >= len(self.order)

    async def launch(self, trials: list[Trial], capacity: int) -> list[Trial]:
        """Up to ``capacity`` new trials (appended to ``trials`` too)."""
        added: list[Trial] = []
        for failed in self.retries_due(trials)[:max(0, capacity)]:
            added.append(self._add(trials, failed.definition_name, failed.hyper_parameters, failed.bracket, failed))
        while len(added) < capacity and not self.done(trials):
            fresh = self.fresh_count(trials)
            live = [dn for dn in self.order if dn not in self.exhausted]
            dn = live[fresh % len(live)]
            ordinal = sum(1 for t in trials if t.retry_of is None and t.definition_name == dn)
            strategy = self.strategies[dn]
            tuned = await asyncio.to_thread(strategy.suggest, ordinal, self._history(trials, dn))
            if tuned is None:
                self.exhausted.add(dn)
                continue
            trial = self._add(trials, dn, tuned, self.bracket_of(fresh))
            if isinstance(strategy, BayesianSearch) and (note := strategy.notes.pop(ordinal, None)):
                trial.suggestion_note = note
                log.warning("tuning job %s: trial %s: %s", self.job.name, trial.name, note)
            added.append(trial)
        return added

    def _history(self, trials: list[Trial], dn: str | None) -> list[History]:
        out: list[History] = []
        for t in [*self.job.headwater.parent_trials, *trials]:
            if t.definition_name != dn and len(self.order) > 1:
                continue
            status = objective_status(t)
            if status == "Succeeded":
                out.append(History(t.hyper_parameters, t.objective))
            elif status == "Pending":
                out.append(History(t.hyper_parameters, None))
        return out

    def _add(self, trials: list[Trial], dn: str | None, tuned: dict[str, str], bracket: int | None,
             retry_of: Trial | None = None) -> Trial:
        index = len(trials) + 1
        trial = Trial(index=index, name=child_name(self.job.name, index, tuned), definition_name=dn,
                      hyper_parameters=dict(tuned), bracket=bracket,
                      attempt=(retry_of.attempt + 1) if retry_of else 1,
                      retry_of=retry_of.index if retry_of else None,
                      suggestion_note=retry_of.suggestion_note if retry_of else None)  # same values, same origin
        trials.append(trial)
        return trial

