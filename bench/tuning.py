"""Hyperparameter tuning: how good a model each strategy finds, and what a trial costs.

1. Search quality. A fixed dataset (scikit-learn's Friedman #1 regression,
   3000 rows, 10 features, noise 1.0, seed 0; 2000 rows train, 1000
   validation) and a fixed search space over the built-in XGBoost (eta,
   max_depth, min_child_weight, subsample, colsample_bytree, lambda; 100
   rounds, Hyperband's MaxResource). For Random, Bayesian and Hyperband, the
   best ``validation:rmse`` after 10, 20 and 40 trials, median over the
   seeds. Suggestions and stopping decisions come from Headwater's own
   engine (``services.tuning``: the same strategy objects, median rule and
   Hyperband rungs the orchestrator uses); by default each trial is
   evaluated in this process with the container's own hyperparameter
   parsing and ``xgboost.train``, one trial at a time. With
   ``--through-node`` every trial is a real child training job of a real
   tuning job on a node (2 at a time), which is the full-size run.
2. Per-trial cost. The same objective, ``--overhead-trials`` trials of a
   Random tuning job on a node (children through the worker, 2 at a time)
   beside the same trials in an in-process Optuna study (sequential).

Nothing is asserted. Default run: about five minutes on two cores;
``--overhead-only`` runs part 2 alone (under a minute), ``--overhead-parallel``
sets its children at a time.
Full size: ``python bench/tuning.py --through-node`` (600 real training jobs:
roughly 30-60 minutes on two cores).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import xgboost as xgb  # noqa: E402
from aiobotocore.session import get_session  # noqa: E402
from sklearn.datasets import make_friedman1  # noqa: E402

from containers.xgboost.hyperparameters import parse_hyperparameters  # noqa: E402
from infra.node import HeadwaterNode  # noqa: E402
from services.aws.session import client_kwargs  # noqa: E402
from services.core.settings import Settings  # noqa: E402
from services.tuning.hyperband import HyperbandSchedule, judge  # noqa: E402
from services.tuning.models import ParameterRanges, Strategy  # noqa: E402
from services.tuning.ranges import parse_space  # noqa: E402
from services.tuning.strategies import History, make_strategy  # noqa: E402

ROUNDS = 100
CHECKPOINTS = (10, 20, 40)
STATIC = {"num_round": str(ROUNDS), "objective": "reg:squarederror", "eval_metric": "rmse"}
RANGES: dict[str, Any] = {
    "ContinuousParameterRanges": [
        {"Name": "eta", "MinValue": "0.005", "MaxValue": "0.5", "ScalingType": "Logarithmic"},
        {"Name": "min_child_weight", "MinValue": "0.1", "MaxValue": "50", "ScalingType": "Logarithmic"},
        {"Name": "subsample", "MinValue": "0.3", "MaxValue": "1", "ScalingType": "Linear"},
        {"Name": "colsample_bytree", "MinValue": "0.3", "MaxValue": "1", "ScalingType": "Linear"},
        {"Name": "lambda", "MinValue": "0.001", "MaxValue": "100", "ScalingType": "Logarithmic"}],
    "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "1", "MaxValue": "10", "ScalingType": "Linear"}],
}
HYPERBAND = HyperbandSchedule(min_resource=4, max_resource=ROUNDS)


def dataset() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The fixed data: (x_train, y_train, x_validation, y_validation)."""
    x, y = make_friedman1(n_samples=3000, n_features=10, noise=1.0, random_state=0)
    return x[:2000], y[:2000], x[2000:], y[2000:]


def to_csv(x: np.ndarray, y: np.ndarray) -> bytes:
    buf = io.StringIO()
    np.savetxt(buf, np.column_stack([y, x]), delimiter=",", fmt="%.6f")
    return buf.getvalue().encode()


class InProcessObjective:
    """One trial's validation curve, trained here with the container's hyperparameter parsing."""

    def __init__(self) -> None:
        xt, yt, xv, yv = dataset()
        self.train, self.validation = xgb.DMatrix(xt, label=yt), xgb.DMatrix(xv, label=yv)

    def curve(self, hps: dict[str, str]) -> list[float]:
        config = parse_hyperparameters({**STATIC, **hps}, num_cpus=1)
        result: dict[str, Any] = {}
        xgb.train(config.params, self.train, config.num_round, evals=[(self.validation, "validation")],
                  evals_result=result, verbose_eval=False)
        return [float(v) for v in result["validation"]["rmse"]]


def simulate(strategy: Strategy, seed: int, trials: int, objective: InProcessObjective) -> tuple[list[float], int]:
    """Objective of each trial of one tuning job, one trial at a time, with Headwater's engine;
    and the boosting rounds trained in all (Hyperband stops trials early)."""
    space = parse_space(ParameterRanges.model_validate(RANGES))
    search = make_strategy(strategy, space, seed, maximize=False, max_jobs=trials)
    history: list[History] = []
    rungs_by_trial: list[tuple[int, dict[str, float]]] = []
    out = []
    rounds = 0
    for i in range(trials):
        hps = search.suggest(i, history)
        assert hps is not None
        curve = objective.curve(hps)
        value, used = curve[-1], len(curve)
        if strategy is Strategy.HYPERBAND:
            bracket = HYPERBAND.bracket_of(i)
            competing: dict[str, list[float]] = {}
            for b, rungs in rungs_by_trial:
                if b == bracket:
                    for k, v in rungs.items():
                        competing.setdefault(k, []).append(v)
            # replay the curve step by step as the orchestrator sees it
            rungs: dict[str, float] = {}
            for step in range(1, len(curve) + 1):
                rungs, stop = judge(HYPERBAND, bracket, curve[:step], rungs, competing, maximize=False)
                if stop:
                    value, used = curve[step - 1], step
                    break
            rungs_by_trial.append((bracket, rungs))
        history.append(History(hps, value))
        out.append(value)
        rounds += used
    return out, rounds


def best_after(values: list[float], n: int) -> float:
    return min(values[:n])


async def through_node(strategy: Strategy, seed: int, trials: int, parallel: int = 2,
                       name: str | None = None) -> tuple[list[float], float]:
    """Objectives (in trial order) of a real tuning job on a fresh node, and its wall seconds."""
    xt, yt, xv, yv = dataset()
    with tempfile.TemporaryDirectory(prefix="hw-bench-tuning-") as state:
        settings = Settings(state_dir=Path(state), emulator_port=0, sagemaker_port=0, runtime_port=0,
                            lambda_port=0, heartbeat_seconds=2.0)
        stop = asyncio.Event()
        async with HeadwaterNode(settings) as node:
            serving = asyncio.create_task(node.serve(stop))
            s = node.settings
            kwargs = client_kwargs(s, "sagemaker")
            kwargs["endpoint_url"] = node.endpoints["sagemaker"]
            s3 = node.services.s3.client
            await s3.put_object(Bucket=s.data_bucket, Key="bench/train/part.csv", Body=to_csv(xt, yt))
            await s3.put_object(Bucket=s.data_bucket, Key="bench/validation/part.csv", Body=to_csv(xv, yv))

            def channel(ch: str) -> dict[str, Any]:
                return {"ChannelName": ch, "ContentType": "text/csv", "DataSource": {"S3DataSource": {
                    "S3DataType": "S3Prefix", "S3Uri": f"s3://{s.data_bucket}/bench/{ch}/"}}}

            config: dict[str, Any] = {
                "Strategy": strategy.value, "RandomSeed": seed, "ParameterRanges": RANGES,
                "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "validation:rmse"},
                "ResourceLimits": {"MaxNumberOfTrainingJobs": trials, "MaxParallelTrainingJobs": parallel}}
            if strategy is Strategy.HYPERBAND:
                config["StrategyConfig"] = {"HyperbandStrategyConfig": {
                    "MinResource": HYPERBAND.min_resource, "MaxResource": HYPERBAND.max_resource}}
            job = name or f"bench-{strategy.value.lower()}-{seed}"
            async with get_session().create_client("sagemaker", **kwargs) as sm:
                started = time.perf_counter()
                await sm.create_hyper_parameter_tuning_job(
                    HyperParameterTuningJobName=job, HyperParameterTuningJobConfig=config,
                    TrainingJobDefinition={
                        "StaticHyperParameters": {k: v for k, v in STATIC.items()},
                        "AlgorithmSpecification": {"TrainingImage": "headwater/xgboost", "TrainingInputMode": "File"},
                        "RoleArn": f"arn:aws:iam::{s.account_id}:role/bench",
                        "InputDataConfig": [channel("train"), channel("validation")],
                        "OutputDataConfig": {"S3OutputPath": f"s3://{s.artifacts_bucket}/bench-tuning"},
                        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
                        "StoppingCondition": {"MaxRuntimeInSeconds": 3600}})
                while (await sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=job))[
                        "HyperParameterTuningJobStatus"] not in ("Completed", "Failed", "Stopped"):
                    await asyncio.sleep(0.5)
                elapsed = time.perf_counter() - started
                summaries: list[dict[str, Any]] = []
                token: dict[str, str] = {}
                while True:
                    page = await sm.list_training_jobs_for_hyper_parameter_tuning_job(
                        HyperParameterTuningJobName=job, SortBy="Name", MaxResults=100, **token)
                    summaries += page["TrainingJobSummaries"]
                    if not page.get("NextToken"):
                        break
                    token = {"NextToken": page["NextToken"]}
            stop.set()
            await serving
    values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries
              if "FinalHyperParameterTuningJobObjectiveMetric" in s]
    return values, elapsed


def optuna_in_process(trials: int, objective: InProcessObjective) -> float:
    """Wall seconds of ``trials`` trials of an in-process Optuna study of the same objective."""
    import optuna

    optuna.logging.set_verbosity(logging.WARNING)
    space = parse_space(ParameterRanges.model_validate(RANGES))

    def fn(trial: Any) -> float:
        point = {r.name: trial.suggest_float(r.name, 0.0, 1.0) for r in space.numeric}
        return objective.curve(space.from_unit(point))[-1]

    started = time.perf_counter()
    optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).optimize(fn, n_trials=trials)
    return time.perf_counter() - started


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--trials", type=int, default=max(CHECKPOINTS))
    p.add_argument("--through-node", action="store_true", help="every trial a real child training job")
    p.add_argument("--overhead-trials", type=int, default=12)
    p.add_argument("--overhead-parallel", type=int, default=2, help="children at a time in the per-trial cost run")
    p.add_argument("--overhead-only", action="store_true", help="only the per-trial cost (skip search quality)")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("werkzeug", "botocore", "aiobotocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    objective = InProcessObjective()
    if not args.overhead_only:
        search_quality(args, objective)
    overhead(args.overhead_trials, objective, args.overhead_parallel)
    return 0


def search_quality(args: argparse.Namespace, objective: InProcessObjective) -> None:
    """Part 1: the best objective each strategy finds after N trials."""
    strategies = (Strategy.RANDOM, Strategy.BAYESIAN, Strategy.HYPERBAND)
    checkpoints = [c for c in CHECKPOINTS if c <= args.trials]
    print(f"Search quality: best validation:rmse after N trials, median of {args.seeds} seeds "
          f"({'real tuning jobs on a node, 2 trials at a time' if args.through_node else 'Headwater engine, trials evaluated in-process one at a time'})")
    results: dict[Strategy, dict[int, float]] = {}
    for strategy in strategies:
        started = time.perf_counter()
        runs, rounds = [], []
        for seed in range(args.seeds):
            if args.through_node:
                runs.append(asyncio.run(through_node(strategy, seed, args.trials))[0])
            else:
                values, used = simulate(strategy, seed, args.trials, objective)
                runs.append(values)
                rounds.append(used)
        results[strategy] = {n: statistics.median(best_after(r, n) for r in runs) for n in checkpoints}
        trained = f", {statistics.median(rounds):.0f} boosting rounds trained (median)" if rounds else ""
        print(f"  {strategy.value:<10} done in {time.perf_counter() - started:6.1f} s{trained}", flush=True)
    print(f"\n  {'trials':>6}  " + "  ".join(f"{s.value:>10}" for s in strategies) + "   Bayesian/Random")
    for n in checkpoints:
        row = [results[s][n] for s in strategies]
        print(f"  {n:>6}  " + "  ".join(f"{v:>10.4f}" for v in row) + f"   {row[1] / row[0]:>15.3f}")
    if 20 in checkpoints and 40 in checkpoints:
        reached = results[Strategy.BAYESIAN][20] <= results[Strategy.RANDOM][40]
        print(f"  target (Bayesian@20 <= Random@40): {results[Strategy.BAYESIAN][20]:.4f} vs "
              f"{results[Strategy.RANDOM][40]:.4f} -> {'met' if reached else 'not met'}")


def overhead(n: int, objective: InProcessObjective, parallel: int = 2) -> None:
    """Part 2: wall seconds per trial of a real tuning job beside an in-process Optuna study."""
    print(f"\nPer-trial cost: {n} Random trials of the same objective", flush=True)
    values, node_seconds = asyncio.run(through_node(Strategy.RANDOM, 0, n, parallel=parallel, name="bench-overhead"))
    local_seconds = optuna_in_process(n, objective)
    print(f"  {'in-process Optuna study (sequential)':<48} {local_seconds / n:8.3f} s/trial")
    print(f"  {f'Headwater tuning job ({parallel} children at a time)':<48} {node_seconds / n:8.3f} s/trial"
          f"   ({len(values)} trials scored)")
    print(f"  {'ratio Headwater / in-process':<48} {node_seconds / local_seconds:8.2f} x")
    print(f"  {f'overhead per trial (wall, {parallel} at a time)':<48} {(node_seconds - local_seconds) / n:8.3f} s")


if __name__ == "__main__":
    sys.exit(main())
