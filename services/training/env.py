"""The training container contract: config files and ``SM_*`` variables.

Writes ``input/config/{hyperparameters,inputdataconfig,resourceconfig}.json``
into the job tree and builds the environment the SageMaker training toolkit
defines, with paths as the container sees them (``/opt/ml`` in an engine,
the job directory for the process runner).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from services.inputs.modes import container_mode
from services.training.models import TrainingJob

# The interface the hosts reach each other on: every host is on this machine's loopback (SageMaker's eth0
# would name an interface that does not carry them, or none; MPI's launcher binds to the one named here).
NETWORK_INTERFACE = "lo"

ML_DIRS = ("input/config", "input/data", "model", "output/data", "output/intermediate", "checkpoints", "code")


def prepare_tree(root: Path) -> None:
    """Create the ``/opt/ml`` layout under ``root``."""
    for d in ML_DIRS:
        (root / d).mkdir(parents=True, exist_ok=True)


def input_data_config(job: TrainingJob) -> dict[str, dict[str, str]]:
    """``inputdataconfig.json`` as SageMaker writes it."""
    out: dict[str, dict[str, str]] = {}
    for ch in job.input_data_config or []:
        src = ch.data_source.s3_data_source
        entry = {
            # FastFile is a lazy mount of File mode's layout: the container is told File (as SageMaker does).
            "TrainingInputMode": container_mode(ch.input_mode or job.algorithm_specification.training_input_mode),
            "S3DistributionType": (src.s3_data_distribution_type if src else None) or "FullyReplicated",
            "RecordWrapperType": ch.record_wrapper_type or "None",
        }
        if ch.content_type:
            entry["ContentType"] = ch.content_type
        if ch.compression_type:
            entry["CompressionType"] = ch.compression_type
        out[ch.channel_name] = entry
    return out


def resource_config(job: TrainingJob, current_host: str, hosts: list[str]) -> dict[str, Any]:
    """``resourceconfig.json`` as SageMaker writes it."""
    itype = job.resource_config.instance_type or "local"
    return {
        "current_host": current_host,
        "current_instance_type": itype,
        "current_group_name": "homogeneousCluster",
        "hosts": hosts,
        "instance_groups": [{"instance_group_name": "homogeneousCluster", "instance_type": itype, "hosts": hosts}],
        "network_interface_name": NETWORK_INTERFACE,
    }


def write_config(root: Path, job: TrainingJob, current_host: str = "algo-1", hosts: list[str] | None = None) -> None:
    """Write the three config files under ``root/input/config``."""
    hosts = hosts or [current_host]
    cfg = root / "input/config"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "hyperparameters.json").write_text(json.dumps(job.hyper_parameters or {}))
    (cfg / "inputdataconfig.json").write_text(json.dumps(input_data_config(job)))
    (cfg / "resourceconfig.json").write_text(json.dumps(resource_config(job, current_host, hosts)))


def _hp_value(value: str) -> Any:
    # The toolkit JSON-decodes hyperparameters where it can ("3" -> 3).
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def _env_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def training_env(job: TrainingJob, base: str, current_host: str = "algo-1", hosts: list[str] | None = None,
                 num_gpus: int = 0, num_cpus: int | None = None) -> dict[str, str]:
    """``TRAINING_JOB_NAME``, ``TRAINING_JOB_ARN``, the ``SM_*`` set and the job's ``Environment``."""
    hosts = hosts or [current_host]
    hps = {k: _hp_value(v) for k, v in (job.hyper_parameters or {}).items()}
    user_hps = {k: v for k, v in hps.items() if not k.startswith("sagemaker_")}
    channels = sorted(c.channel_name for c in job.input_data_config or [])
    data_cfg = input_data_config(job)
    res_cfg = resource_config(job, current_host, hosts)
    num_cpus = num_cpus or os.cpu_count() or 1
    user_args = [x for k, v in sorted(user_hps.items()) for x in (f"--{k}", _env_value(v))]
    module = str(hps.get("sagemaker_program", "")).removesuffix(".py")
    env: dict[str, Any] = {
        "TRAINING_JOB_NAME": job.training_job_name,
        "TRAINING_JOB_ARN": job.training_job_arn,
        "SM_HOSTS": hosts,
        "SM_CURRENT_HOST": current_host,
        "SM_CURRENT_INSTANCE_TYPE": res_cfg["current_instance_type"],
        "SM_CURRENT_INSTANCE_GROUP": "homogeneousCluster",
        "SM_NETWORK_INTERFACE_NAME": NETWORK_INTERFACE,
        "SM_HPS": user_hps,
        "SM_CHANNELS": channels,
        "SM_INPUT_DATA_CONFIG": data_cfg,
        "SM_RESOURCE_CONFIG": res_cfg,
        "SM_NUM_CPUS": num_cpus,
        "SM_NUM_GPUS": num_gpus,
        "SM_LOG_LEVEL": 20,
        "SM_MODEL_DIR": f"{base}/model",
        "SM_INPUT_DIR": f"{base}/input",
        "SM_INPUT_CONFIG_DIR": f"{base}/input/config",
        "SM_OUTPUT_DIR": f"{base}/output",
        "SM_OUTPUT_DATA_DIR": f"{base}/output/data",
        "SM_OUTPUT_INTERMEDIATE_DIR": f"{base}/output/intermediate",
        "SM_MODULE_DIR": str(hps.get("sagemaker_submit_directory", "")),
        "SM_MODULE_NAME": module,
        "SM_USER_ENTRY_POINT": str(hps.get("sagemaker_program", "")),
        "SM_USER_ARGS": user_args,
        "SM_FRAMEWORK_PARAMS": {},
    }
    for ch in channels:
        env[f"SM_CHANNEL_{ch.upper()}"] = f"{base}/input/data/{ch}"
    for k, v in user_hps.items():
        env[f"SM_HP_{k.upper()}"] = v
    env["SM_TRAINING_ENV"] = {
        "additional_framework_parameters": {},
        "channel_input_dirs": {ch: f"{base}/input/data/{ch}" for ch in channels},
        "current_host": current_host,
        "hosts": hosts,
        "hyperparameters": user_hps,
        "input_config_dir": f"{base}/input/config",
        "input_data_config": data_cfg,
        "input_dir": f"{base}/input",
        "job_name": job.training_job_name,
        "log_level": 20,
        "model_dir": f"{base}/model",
        "module_dir": env["SM_MODULE_DIR"],
        "module_name": module,
        "network_interface_name": NETWORK_INTERFACE,
        "num_cpus": num_cpus,
        "num_gpus": num_gpus,
        "output_data_dir": f"{base}/output/data",
        "output_dir": f"{base}/output",
        "output_intermediate_dir": f"{base}/output/intermediate",
        "resource_config": res_cfg,
        "user_entry_point": env["SM_USER_ENTRY_POINT"],
    }
    out = {k: _env_value(v) for k, v in env.items()}
    # Thread pools (OpenMP, BLAS) follow the job's CPU share, not the machine's.
    out["OMP_NUM_THREADS"] = str(num_cpus)
    out.update(job.environment or {})
    return out
