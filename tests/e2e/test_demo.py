"""`make demo`'s story runs to the end and says what happened."""

from __future__ import annotations

import subprocess
import sys


def test_demo_tells_the_story_and_exits_zero() -> None:
    out = subprocess.run([sys.executable, "-m", "infra.cli", "demo", "--rows", "2000"], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    steps = [line.split()[1] for line in out.stdout.splitlines() if line.startswith("[")]
    for step in ("upload", "event", "status", "train", "model", "register", "approve", "deploy", "lineage",
                 "predict", "baseline", "monitor", "policy", "drift", "labels", "chain", "update", "summary"):
        assert step in steps, (step, out.stdout)
    assert steps[-1] == "done"
    assert "Training job completed" in out.stdout and "InService" in out.stdout
    [lineage] = [line for line in out.stdout.splitlines() if line.split()[1:2] == ["lineage"]]
    assert lineage.endswith("trained on s3://headwater-data/datasets/churn/train/, "
                            "s3://headwater-data/datasets/churn/validation/"), lineage
    # the chain went all the way, and the last execution found no drift
    assert "CompletedWithViolations" in out.stdout and "Completed    v2 serves" in out.stdout
    assert "since the update, against the new baseline: no violations" in out.stdout
    summary = [line.split()[2:] for line in out.stdout.splitlines() if line.split()[1:2] == ["summary"]]
    v1, v2 = (float(x) for x in next(cells for cells in summary if cells[:1] == ["auc"])[-2:])
    assert v2 > v1, out.stdout
