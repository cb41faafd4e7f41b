"""``headwater tuning <job>``: a live leaderboard of a tuning job's trials."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from infra.cli.client import sagemaker_client
from services.core.settings import Settings

TERMINAL = {"Completed", "Failed", "Stopped"}


def leaderboard(described: dict[str, Any], trials: list[dict[str, Any]]) -> list[str]:
    """The table lines: best objective first, then the trials without one."""
    objective = described["HyperParameterTuningJobConfig"].get("HyperParameterTuningJobObjective") or {}
    maximize = objective.get("Type") == "Maximize"
    metric = objective.get("MetricName", "objective")

    def value(t: dict[str, Any]) -> float | None:
        m = t.get("FinalHyperParameterTuningJobObjectiveMetric")
        return None if m is None else float(m["Value"])

    scored = sorted((t for t in trials if value(t) is not None), key=lambda t: value(t), reverse=maximize)  # type: ignore[arg-type, return-value]
    rest = sorted((t for t in trials if value(t) is None), key=lambda t: t["TrainingJobName"])
    counters = described["TrainingJobStatusCounters"]
    lines = [f"{described['HyperParameterTuningJobName']}  {described['HyperParameterTuningJobStatus']}  "
             f"{described['HyperParameterTuningJobConfig']['Strategy']}  "
             + "  ".join(f"{k}={v}" for k, v in counters.items() if v)]
    rows = [("RANK", "TRIAL", "STATUS", metric.upper(), "HYPERPARAMETERS")]
    for rank, t in enumerate([*scored, *rest], 1):
        v = value(t)
        trial = t["TrainingJobName"].rsplit("-", 2)[-2] if t["TrainingJobName"].count("-") >= 2 else "-"
        hps = " ".join(f"{k}={_short(x)}" for k, x in sorted(t["TunedHyperParameters"].items()))
        rows.append((str(rank) if v is not None else "-", trial, t["TrainingJobStatus"],
                     f"{v:.6g}" if v is not None else "-", hps))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines += ["  ".join([*(c.ljust(w) for c, w in zip(r[:-1], widths)), r[-1]]).rstrip() for r in rows]
    if not trials:
        lines.append("(no trials yet)")
    return lines


def _short(value: str) -> str:
    try:
        number = float(value)
    except ValueError:
        return value
    return value if "." not in value else f"{number:.4g}"


async def print_tuning(settings: Settings, job: str, follow: bool = True, poll_seconds: float = 1.0) -> int:
    """Print the leaderboard (again on every change while ``follow``), then the best job."""
    clear = sys.stdout.isatty()
    last: list[str] = []
    async with sagemaker_client(settings) as sm:
        while True:
            described = await sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=job)
            trials: list[dict[str, Any]] = []
            kwargs: dict[str, Any] = {"HyperParameterTuningJobName": job, "MaxResults": 100}
            while True:
                page = await sm.list_training_jobs_for_hyper_parameter_tuning_job(**kwargs)
                trials += page["TrainingJobSummaries"]
                if not page.get("NextToken"):
                    break
                kwargs["NextToken"] = page["NextToken"]
            lines = leaderboard(described, trials)
            if lines != last:
                if clear:
                    print("\x1b[H\x1b[2J", end="")
                elif last:
                    print()
                print("\n".join(lines), flush=True)
                last = lines
            done = described["HyperParameterTuningJobStatus"] in TERMINAL
            if done or not follow:
                break
            await asyncio.sleep(poll_seconds)
    best = described.get("BestTrainingJob")
    if best:
        m = best["FinalHyperParameterTuningJobObjectiveMetric"]
        print(f"Best training job: {best['TrainingJobName']}  {m['MetricName']}={m['Value']:.6g}  "
              + " ".join(f"{k}={v}" for k, v in sorted(best["TunedHyperParameters"].items())), flush=True)
    if described.get("FailureReason"):
        print(f"Failure reason: {described['FailureReason']}", flush=True)
    return 1 if described["HyperParameterTuningJobStatus"] == "Failed" else 0
