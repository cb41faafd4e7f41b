"""Names and paths of the Model Monitor analyzer contract.

SageMaker starts the analyzer as a processing job and tells it everything
through environment variables (the names the SageMaker Python SDK's
``DefaultModelMonitor`` / ``ModelQualityMonitor`` and the monitoring-schedule
platform set). Paths default to the ones the platform uses under
``/opt/ml/processing``; the base directory comes from ``SAGEMAKER_BASE_DIR``
so the same code runs as a process against a temporary directory.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR_ENV = "SAGEMAKER_BASE_DIR"
DEFAULT_BASE_DIR = "/opt/ml"

# The analyzer's environment contract (SageMaker's names, verbatim).
DATASET_FORMAT = "dataset_format"
DATASET_SOURCE = "dataset_source"
OUTPUT_PATH = "output_path"
BASELINE_CONSTRAINTS = "baseline_constraints"
BASELINE_STATISTICS = "baseline_statistics"
PUBLISH_CLOUDWATCH_METRICS = "publish_cloudwatch_metrics"
ANALYSIS_TYPE = "analysis_type"
CATEGORICAL_DRIFT_METHOD = "categorical_drift_method"
RECORD_PREPROCESSOR_SCRIPT = "record_preprocessor_script"
POST_ANALYTICS_PROCESSOR_SCRIPT = "post_analytics_processor_script"
START_TIME = "start_time"
END_TIME = "end_time"
METRIC_TIME = "metric_time"
ENDPOINT_NAME = "sagemaker_endpoint_name"
MONITORING_SCHEDULE_NAME = "sagemaker_monitoring_schedule_name"
# Model quality (ModelQualityMonitor).
PROBLEM_TYPE = "problem_type"
INFERENCE_ATTRIBUTE = "inference_attribute"
PROBABILITY_ATTRIBUTE = "probability_attribute"
PROBABILITY_THRESHOLD_ATTRIBUTE = "probability_threshold_attribute"
GROUND_TRUTH_ATTRIBUTE = "ground_truth_attribute"
# Where the platform mounts the merged ground-truth labels of the window.
GROUND_TRUTH_SOURCE = "ground_truth_source"

# The SDK sends analysis_type=MODEL_QUALITY; anything else is data quality.
MODEL_QUALITY = "MODEL_QUALITY"

# Output file names SageMaker (and the SDK's latest_monitoring_* helpers) read.
STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"
VIOLATIONS_FILE = "constraint_violations.json"

# CloudWatch namespaces the metric files are published under (the stem of
# each file under <base>/output/metrics/cloudwatch names its namespace).
DATA_METRICS = "data-metrics"
MODEL_METRICS = "model-metrics"
CLOUDWATCH_NAMESPACE_PREFIX = "aws/sagemaker/Endpoints/"


def base_dir() -> Path:
    """Return the root of the contract (``/opt/ml`` by default)."""
    return Path(os.environ.get(BASE_DIR_ENV) or DEFAULT_BASE_DIR)


def processing_dir() -> Path:
    """Return ``<base>/processing``."""
    return base_dir() / "processing"


def default_output_path() -> Path:
    """Return ``<base>/processing/resultdata`` (the platform's LocalPath)."""
    return processing_dir() / "resultdata"


def default_dataset_source() -> Path:
    """Return ``<base>/processing/input/endpoint`` (captured data of the window)."""
    return processing_dir() / "input" / "endpoint"


def default_ground_truth_source() -> Path:
    """Return ``<base>/processing/groundtruth`` (merged labels of the window)."""
    return processing_dir() / "groundtruth"


def cloudwatch_metrics_dir() -> Path:
    """Return ``<base>/output/metrics/cloudwatch`` (documented metrics location)."""
    return base_dir() / "output" / "metrics" / "cloudwatch"


def message_path() -> Path:
    """Return ``<base>/output/message``: its first KB becomes ExitMessage."""
    return base_dir() / "output" / "message"


def failure_path() -> Path:
    """Return ``<base>/output/failure``, read by Headwater's job runner."""
    return base_dir() / "output" / "failure"


def resolve(path: str) -> Path:
    """Map a contract path (``/opt/ml/...``) onto the base directory.

    The platform writes literal container paths into the environment; as a
    process (no container, no private mount) they live under the base dir.
    """
    p = Path(path)
    default = Path(DEFAULT_BASE_DIR)
    base = base_dir()
    if base != default and p.is_absolute() and (p == default or default in p.parents):
        return base / p.relative_to(default)
    return p
