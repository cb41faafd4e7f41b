"""Names and paths of the SageMaker training container contract.

SageMaker mounts everything a training container needs under ``/opt/ml``.
The base directory is read from ``SAGEMAKER_BASE_DIR`` so the very same
entrypoint also runs as a plain process against a temporary directory (tests,
local runs without a container runtime). Paths are computed on each call, not
at import time, so a changed environment variable is always honoured.
"""

from __future__ import annotations

import os
from pathlib import Path

# Environment variables read by the container side.
BASE_DIR_ENV = "SAGEMAKER_BASE_DIR"
DEFAULT_BASE_DIR = "/opt/ml"
# Set by SageMaker for every training job; informative only.
TRAINING_JOB_NAME_ENV = "TRAINING_JOB_NAME"

# File names under <base>/input/config.
HYPERPARAMETERS_FILE = "hyperparameters.json"
INPUT_DATA_CONFIG_FILE = "inputdataconfig.json"
RESOURCE_CONFIG_FILE = "resourceconfig.json"

# File name SageMaker reads the FailureReason from.
FAILURE_FILE = "failure"

# Host name SageMaker gives the only host of a single-instance job.
DEFAULT_HOST = "algo-1"


def base_dir() -> Path:
    """Return the root of the container contract (``/opt/ml`` by default)."""
    return Path(os.environ.get(BASE_DIR_ENV) or DEFAULT_BASE_DIR)


def input_dir() -> Path:
    """Return ``<base>/input``."""
    return base_dir() / "input"


def config_dir() -> Path:
    """Return ``<base>/input/config``."""
    return input_dir() / "config"


def hyperparameters_path() -> Path:
    """Return ``<base>/input/config/hyperparameters.json``."""
    return config_dir() / HYPERPARAMETERS_FILE


def input_data_config_path() -> Path:
    """Return ``<base>/input/config/inputdataconfig.json``."""
    return config_dir() / INPUT_DATA_CONFIG_FILE


def resource_config_path() -> Path:
    """Return ``<base>/input/config/resourceconfig.json``."""
    return config_dir() / RESOURCE_CONFIG_FILE


def data_dir() -> Path:
    """Return ``<base>/input/data``, the parent of every channel directory."""
    return input_dir() / "data"


def channel_dir(channel: str) -> Path:
    """Return ``<base>/input/data/<channel>``."""
    return data_dir() / channel


def model_dir() -> Path:
    """Return ``<base>/model``; its contents become ``model.tar.gz``."""
    return base_dir() / "model"


def output_dir() -> Path:
    """Return ``<base>/output``."""
    return base_dir() / "output"


def failure_path() -> Path:
    """Return ``<base>/output/failure``; its text becomes the FailureReason."""
    return output_dir() / FAILURE_FILE


def output_data_dir() -> Path:
    """Return ``<base>/output/data``; its contents become ``output.tar.gz``."""
    return output_dir() / "data"


def checkpoint_dir() -> Path:
    """Return ``<base>/checkpoints``, synced with the job's checkpoint S3 URI."""
    return base_dir() / "checkpoints"
