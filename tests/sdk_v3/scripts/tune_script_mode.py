"""A v3 user's tuning job over a script-mode ModelTrainer: scikit-learn ``SourceCode``, a metric definition
reading the script's log, the tuner's ranges over the script's arguments.

Usage: tune_script_mode.py <role ARN> <s3 train prefix> <s3 validation prefix> <s3 output path> <bucket>
    <tuning job base name>
"""

import json
import logging
import sys
from pathlib import Path

from sagemaker.core import image_uris
from sagemaker.core.helper.session_helper import Session
from sagemaker.core.parameter import ContinuousParameter
from sagemaker.train import ModelTrainer
from sagemaker.train.configs import Compute, InputData, OutputDataConfig, SourceCode
from sagemaker.train.tuner import HyperparameterTuner

logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s: %(message)s")

role, train, validation, output, bucket, base_name = sys.argv[1:7]
trainer = ModelTrainer(
    training_image=image_uris.retrieve("sklearn", "us-east-1", version="1.2-1"),
    role=role,
    source_code=SourceCode(source_dir=str(Path(__file__).resolve().parent / "tuning_code"), entry_script="train.py"),
    compute=Compute(instance_type="ml.m5.large", instance_count=1),
    hyperparameters={"alpha": 1.0},
    output_data_config=OutputDataConfig(s3_output_path=output),
    base_job_name="v3-tune-script",
    # The source code is staged in the session's default bucket.
    sagemaker_session=Session(default_bucket=bucket),
)
tuner = HyperparameterTuner(
    model_trainer=trainer,
    objective_metric_name="validation:mse",
    objective_type="Minimize",
    metric_definitions=[{"Name": "validation:mse", "Regex": "validation-mse: ([0-9.]+)"}],
    hyperparameter_ranges={"alpha": ContinuousParameter(0.01, 100.0, scaling_type="Logarithmic")},
    strategy="Random",
    max_jobs=2,
    max_parallel_jobs=2,
    base_tuning_job_name=base_name,
)
tuner.tune(inputs=[InputData(channel_name="train", data_source=train),
                   InputData(channel_name="validation", data_source=validation)], wait=True)

job = tuner.describe()
best = job.best_training_job
print("RESULT " + json.dumps({
    "tuning_job": job.hyper_parameter_tuning_job_name, "status": job.hyper_parameter_tuning_job_status,
    "completed": job.training_job_status_counters.completed, "best": tuner.best_training_job(),
    "best_metric": best.final_hyper_parameter_tuning_job_objective_metric.value,
    "best_hyperparameters": best.tuned_hyper_parameters,
}))
