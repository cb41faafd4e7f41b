"""The tuning engine's pure parts: scaling, strategies, early stopping, Hyperband, names."""

from __future__ import annotations

import math
import re

import numpy as np
import optuna
import pytest

from services.core.exceptions import ValidationException
from services.tuning.early_stopping import first_stopping_step, median_rule_stops, running_average
from services.tuning.hyperband import HyperbandSchedule, judge, promotable, value_at
from services.tuning.models import ParameterRanges, Strategy
from services.tuning.naming import child_name, seed_for
from services.tuning.ranges import parse_space
from services.tuning.strategies import BayesianSearch, GridSearch, History, RandomSearch, make_strategy


def space(**ranges: object):  # noqa: ANN201
    return parse_space(ParameterRanges.model_validate(ranges))


def cont(name: str, lo: str, hi: str, scaling: str | None = None) -> dict[str, str]:
    r = {"Name": name, "MinValue": lo, "MaxValue": hi}
    if scaling:
        r["ScalingType"] = scaling
    return r


# --- scaling ----------------------------------------------------------------------


def test_logarithmic_scaling_spreads_samples_evenly_over_orders_of_magnitude() -> None:
    s = space(ContinuousParameterRanges=[cont("lr", "0.0001", "1", "Logarithmic")])
    values = np.array([float(s.from_unit({"lr": u})["lr"]) for u in np.linspace(0, 1, 4001)])
    decades = np.histogram(np.log10(values), bins=[-4, -3, -2, -1, 0])[0]
    assert decades.min() > 0.2 * len(values)  # a quarter each, where linear would put 90% in the last
    assert values.min() == pytest.approx(1e-4) and values.max() == pytest.approx(1.0)


def test_reverse_logarithmic_concentrates_near_one() -> None:
    s = space(ContinuousParameterRanges=[cont("beta", "0.9", "0.9999", "ReverseLogarithmic")])
    values = [float(s.from_unit({"beta": u})["beta"]) for u in np.linspace(0, 1, 1001)]
    assert min(values) == pytest.approx(0.9) and max(values) == pytest.approx(0.9999)
    # log-uniform in 1 - x: as many samples above 0.999 as in [0.9, 0.99)
    above = sum(v >= 0.999 for v in values)
    assert above > 0.3 * len(values)


def test_integer_ranges_cover_every_value_and_stay_in_bounds() -> None:
    s = space(IntegerParameterRanges=[cont("depth", "2", "5"), cont("trees", "1", "1000", "Logarithmic")])
    depths = {int(s.from_unit({"depth": u, "trees": 0.5})["depth"]) for u in np.linspace(0, 1, 101)}
    assert depths == {2, 3, 4, 5}
    trees = [int(s.from_unit({"depth": 0.5, "trees": u})["trees"]) for u in np.linspace(0, 1, 101)]
    assert min(trees) == 1 and max(trees) == 1000 and sorted(trees) == trees


def test_auto_scaling_is_logarithmic_for_wide_positive_ranges_only() -> None:
    s = space(ContinuousParameterRanges=[cont("a", "0.001", "1", "Auto"), cont("b", "0", "1"),
                                         cont("c", "0.1", "0.5")])
    scalings = {r.name: r.scaling for r in s.numeric}
    assert scalings == {"a": "Logarithmic", "b": "Linear", "c": "Linear"}


def test_unit_coordinates_round_trip() -> None:
    s = space(ContinuousParameterRanges=[cont("lr", "0.001", "0.5", "Logarithmic"),
                                         cont("m", "0.5", "0.99", "ReverseLogarithmic")],
              IntegerParameterRanges=[cont("d", "1", "9")],
              CategoricalParameterRanges=[{"Name": "booster", "Values": ["gbtree", "dart"]}])
    hps = s.from_unit({"lr": 0.3, "m": 0.7, "d": 0.5, "booster": "dart"})
    back = s.to_unit(hps)
    assert back is not None and back["lr"] == pytest.approx(0.3) and back["m"] == pytest.approx(0.7)
    assert s.from_unit(back) == hps
    assert s.to_unit({**hps, "lr": "0.9"}) is None  # outside the range: not this space's point


@pytest.mark.parametrize("ranges, words", [
    ({"ContinuousParameterRanges": [cont("x", "0", "1", "Logarithmic")]}, "greater than 0"),
    ({"ContinuousParameterRanges": [cont("x", "0.5", "1.5", "ReverseLogarithmic")]}, "0 <= x < 1.0"),
    ({"IntegerParameterRanges": [cont("x", "1", "9", "ReverseLogarithmic")]}, "integer"),
    ({"IntegerParameterRanges": [cont("x", "1.5", "9")]}, "an integer"),
    ({"ContinuousParameterRanges": [cont("x", "2", "1")]}, "greater than MaxValue"),
    ({"ContinuousParameterRanges": [cont("x", "0", "1")], "IntegerParameterRanges": [cont("x", "0", "1")]},
     "more than one range"),
    ({"CategoricalParameterRanges": [{"Name": "c", "Values": ["a", "a"]}]}, "duplicate"),
])
def test_bad_ranges_are_rejected_with_the_reason(ranges: dict, words: str) -> None:
    with pytest.raises(ValidationException, match=words):
        space(**ranges)


# --- strategies -------------------------------------------------------------------

SPACE = dict(ContinuousParameterRanges=[cont("eta", "0.01", "0.5", "Logarithmic")],
             IntegerParameterRanges=[cont("max_depth", "1", "10")],
             CategoricalParameterRanges=[{"Name": "booster", "Values": ["gbtree", "dart"]}])


def test_random_search_with_the_same_seed_suggests_the_same_trials_in_any_order() -> None:
    a, b = RandomSearch(space(**SPACE), seed=42), RandomSearch(space(**SPACE), seed=42)
    forward = [a.suggest(i, []) for i in range(8)]
    backward = [b.suggest(i, []) for i in reversed(range(8))][::-1]
    assert forward == backward
    other = [RandomSearch(space(**SPACE), seed=43).suggest(i, []) for i in range(8)]
    assert other != forward
    assert len({tuple(sorted(t.items())) for t in forward}) == 8  # type: ignore[union-attr]


def test_grid_enumerates_every_combination_in_order_then_stops() -> None:
    g = GridSearch(space(CategoricalParameterRanges=[{"Name": "a", "Values": ["1", "2"]},
                                                     {"Name": "b", "Values": ["x", "y", "z"]}]))
    trials = [g.suggest(i, []) for i in range(7)]
    assert trials[:6] == [{"a": a, "b": b} for a in ("1", "2") for b in ("x", "y", "z")]
    assert trials[6] is None


def _quadratic(hps: dict[str, str]) -> float:
    """A smooth objective with its minimum at x=0.7, y=0.2 (in a 0..1 box)."""
    return (float(hps["x"]) - 0.7) ** 2 + (float(hps["y"]) - 0.2) ** 2


@pytest.mark.parametrize("sampler", ["tpe", "gp"])
def test_bayesian_search_beats_random_search_on_a_smooth_objective(sampler: str) -> None:
    box = space(ContinuousParameterRanges=[cont("x", "0", "1"), cont("y", "0", "1")])
    budget, wins = 15, 0
    for seed in range(3):
        bayes = BayesianSearch(box, seed, maximize=False, n_startup=4, sampler=sampler)
        history: list[History] = []
        for i in range(budget):
            hps = bayes.suggest(i, history)
            history.append(History(hps, _quadratic(hps)))  # type: ignore[arg-type]
        rand = RandomSearch(box, seed)
        random_best = min(_quadratic(rand.suggest(i, [])) for i in range(budget))  # type: ignore[arg-type]
        wins += min(h.objective for h in history) < random_best  # type: ignore[operator]
    assert wins >= 2


def test_bayesian_search_does_not_repeat_a_running_trial() -> None:
    box = space(ContinuousParameterRanges=[cont("x", "0", "1"), cont("y", "0", "1")])
    bayes = BayesianSearch(box, 0, maximize=False, n_startup=3, sampler="tpe")
    history = [History(h, _quadratic(h)) for h in (bayes.suggest(i, []) for i in range(5))]  # type: ignore[arg-type]
    running = bayes.suggest(5, history)
    following = bayes.suggest(6, [*history, History(running, None)])  # type: ignore[arg-type]
    assert following != running


def test_bayesian_search_uses_warm_start_trials_outside_nothing() -> None:
    box = space(ContinuousParameterRanges=[cont("x", "0", "1"), cont("y", "0", "1")])
    bayes = BayesianSearch(box, 0, maximize=False, n_startup=3, sampler="tpe")
    # a parent's trial outside the new box is left out instead of breaking the model
    history = [History({"x": "5", "y": "0.1"}, 0.0), History({"x": "0.7", "y": "0.2"}, 0.0)]
    hps = bayes.suggest(0, history)
    assert hps is not None and 0 <= float(hps["x"]) <= 1


def _five_finished(bayes: BayesianSearch) -> list[History]:
    return [History(h, _quadratic(h)) for h in (bayes.suggest(i, []) for i in range(5))]  # type: ignore[arg-type]


def test_bayesian_search_lets_an_unexpected_error_through(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in the model (here a TypeError) fails loudly instead of quietly turning into random search."""
    box = space(ContinuousParameterRanges=[cont("x", "0", "1"), cont("y", "0", "1")])
    bayes = BayesianSearch(box, 0, maximize=False, n_startup=3, sampler="tpe")
    history = _five_finished(bayes)

    def broken(*args: object, **kwargs: object) -> None:
        raise TypeError("a bug in the surrogate model")

    monkeypatch.setattr(optuna.samplers.TPESampler, "sample_relative", broken)
    with pytest.raises(TypeError, match="a bug in the surrogate model"):
        bayes.suggest(5, history)
    assert bayes.notes == {}


def test_bayesian_search_draws_at_random_when_the_fit_is_degenerate_and_says_so(
        monkeypatch: pytest.MonkeyPatch) -> None:
    box = space(ContinuousParameterRanges=[cont("x", "0", "1"), cont("y", "0", "1")])
    bayes = BayesianSearch(box, 0, maximize=False, n_startup=3, sampler="tpe")
    history = _five_finished(bayes)

    def singular(*args: object, **kwargs: object) -> None:
        raise np.linalg.LinAlgError("Matrix is not positive definite")

    monkeypatch.setattr(optuna.samplers.TPESampler, "sample_relative", singular)
    assert bayes.suggest(5, history) == RandomSearch(box, 0).suggest(5, history)
    assert "drawn at random" in bayes.notes[5] and "Matrix is not positive definite" in bayes.notes[5]


def test_make_strategy_picks_the_engine() -> None:
    s = space(**SPACE)
    assert isinstance(make_strategy(Strategy.RANDOM, s, 1, False, 10), RandomSearch)
    assert isinstance(make_strategy(Strategy.HYPERBAND, s, 1, False, 10), RandomSearch)
    assert isinstance(make_strategy(Strategy.BAYESIAN, s, 1, False, 10), BayesianSearch)
    cat = space(CategoricalParameterRanges=[{"Name": "c", "Values": ["1"]}])
    assert isinstance(make_strategy(Strategy.GRID, cat, 1, False, 10), GridSearch)


# --- early stopping (median rule) ---------------------------------------------------


def test_running_average_skips_gaps() -> None:
    assert running_average([1.0, None, 3.0], 2) == 2.0
    assert running_average([1.0, 2.0], 5) is None


def test_median_rule_stops_a_trial_worse_than_the_median_of_earlier_running_averages() -> None:
    earlier = [[1.0, 0.6, 0.4], [1.0, 0.5, 0.3], [1.0, 0.7, 0.5]]  # running averages at step 2: .67 .6 .73
    assert median_rule_stops([1.0, 0.9, 0.8], earlier, 2, maximize=False)
    assert not median_rule_stops([1.0, 0.5, 0.35], earlier, 2, maximize=False)
    # maximizing, a low value is the bad one
    assert median_rule_stops([0.1, 0.1, 0.1], [[0.5, 0.6, 0.7]] * 3, 2, maximize=True)
    # fewer earlier trials than needed at that step: no judgement
    assert not median_rule_stops([9.0, 9.0, 9.0], earlier[:2], 2, maximize=False)
    assert not median_rule_stops([9.0, 9.0, 9.0, 9.0], earlier, 3, maximize=False)


def test_first_stopping_step_judges_each_step_once() -> None:
    earlier = [[1.0, 0.5, 0.3, 0.2]] * 3
    bad = [1.0, 0.95, 0.9, 0.85]
    assert first_stopping_step(bad, earlier, 0, maximize=False) == 1  # step 0 ties the median: not worse
    assert first_stopping_step(bad[:1], earlier, 0, maximize=False) is None


# --- Hyperband ----------------------------------------------------------------------


def test_hyperband_brackets_and_rungs() -> None:
    hb = HyperbandSchedule(min_resource=1, max_resource=81)
    assert hb.brackets == 5
    assert hb.rungs(0) == [1, 3, 9, 27] and hb.rungs(2) == [9, 27] and hb.rungs(4) == []
    assert [hb.bracket_of(i) for i in range(6)] == [0, 1, 2, 3, 4, 0]
    assert HyperbandSchedule(5, 5).brackets == 1


def test_promotion_keeps_the_top_third() -> None:
    assert promotable(0.1, [], maximize=False)  # alone at the rung
    assert not promotable(0.5, [0.1], maximize=False)  # fewer than eta: only the best goes on
    assert promotable(0.2, [0.1, 0.3, 0.4, 0.5, 0.6], maximize=False)  # top 2 of 6
    assert not promotable(0.3, [0.1, 0.2, 0.4, 0.5, 0.6], maximize=False)
    assert promotable(0.9, [0.1, 0.2], maximize=True)


def test_judge_records_rungs_and_stops_a_weak_trial() -> None:
    hb = HyperbandSchedule(1, 27)
    curve = [0.9, 0.8, 0.7, 0.6]  # value at resource 1 is 0.9, at 3 is 0.7
    rungs, stop = judge(hb, 0, curve, {}, {"1": [0.5]}, maximize=False)
    assert stop and rungs == {"1": 0.9}
    rungs, stop = judge(hb, 0, curve, {}, {"1": [0.95], "3": [0.8]}, maximize=False)
    assert not stop and rungs == {"1": 0.9, "3": 0.7}
    assert value_at([0.5, None, None], 3) == 0.5 and value_at([0.5], 3) is None


# --- names --------------------------------------------------------------------------


def test_child_names_follow_sagemaker_and_are_stable() -> None:
    name = child_name("my-tuning-job", 7, {"eta": "0.1"})
    assert re.fullmatch(r"my-tuning-job-007-[0-9a-f]{8}", name)
    assert name == child_name("my-tuning-job", 7, {"eta": "0.1"})
    assert name != child_name("my-tuning-job", 7, {"eta": "0.2"})
    longest = child_name("a" * 32, 500, {"x": "1"})
    assert len(longest) <= 63  # TrainingJobName's limit


def test_seed_is_random_seed_or_derived_from_the_name() -> None:
    assert seed_for("job", 5) == 5
    assert seed_for("job", None) == seed_for("job", None) != seed_for("other", None)
    assert not math.isnan(seed_for("job", None))


def test_an_upload_names_its_tuning_job_within_sagemaker_s_limit() -> None:
    from services.training.trigger import DatasetUpload
    from services.tuning.naming import TUNING_JOB_NAME
    from services.tuning.trigger import tuning_job_name_for

    upload = DatasetUpload("headwater-data", "datasets/a very_long dataset name indeed/train/x.csv",
                           "a very_long dataset name indeed")
    name = tuning_job_name_for(upload, '"etag-1"')
    assert TUNING_JOB_NAME.match(name) and len(name) <= 32
    assert name == tuning_job_name_for(upload, "etag-1")  # quotes around an ETag do not matter
    assert name != tuning_job_name_for(upload, "etag-2")
