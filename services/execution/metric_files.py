"""Publishing the CloudWatch metrics a container wrote as files.

Containers never talk to AWS. SageMaker's contract gives them
``/opt/ml/output/metrics/cloudwatch``: one JSON ``MetricDatum`` per line, in
files whose stem names the namespace (the Model Monitor analyzer writes
``data-metrics.jsonl`` for ``aws/sagemaker/Endpoints/data-metrics``). After
a job, the platform publishes them.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from services.aws.cloudwatch import CloudWatchAdapter

log = logging.getLogger(__name__)

METRICS_DIR = "output/metrics/cloudwatch"
NAMESPACE_PREFIX = "aws/sagemaker/Endpoints/"


def read_metric_files(root: Path) -> dict[str, list[dict[str, Any]]]:
    """``{namespace: [MetricDatum, ...]}`` from a job's ``/opt/ml`` tree (bad lines are logged and skipped)."""
    out: dict[str, list[dict[str, Any]]] = {}
    folder = root / METRICS_DIR
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        namespace = NAMESPACE_PREFIX + path.stem
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                datum = json.loads(line)
                datum["Value"] = float(datum["Value"])
                if isinstance(datum.get("Timestamp"), str):
                    datum["Timestamp"] = datetime.fromisoformat(datum["Timestamp"].replace("Z", "+00:00"))
                out.setdefault(namespace, []).append(datum)
            except (ValueError, KeyError, TypeError) as err:
                log.warning("%s line %d: not a metric datum (%s); skipped", path, n, err)
    return out


async def publish_metric_files(cloudwatch: CloudWatchAdapter, root: Path) -> int:
    """Put every metric file under ``root``; return how many data points were put."""
    total = 0
    for namespace, data in read_metric_files(root).items():
        await cloudwatch.put_data(namespace, data)
        total += len(data)
    return total
