"""A v3 user's first tuning job: HyperparameterTuner over a ModelTrainer with the built-in XGBoost, then the
best training job and its metrics.

Usage: tune_builtin.py <role ARN> <s3 train prefix> <s3 validation prefix> <s3 output path> <tuning job base name>
"""

import json
import logging
import sys

from sagemaker.core import image_uris
from sagemaker.core.parameter import ContinuousParameter, IntegerParameter
from sagemaker.core.resources import TrainingJob
from sagemaker.train import ModelTrainer
from sagemaker.train.configs import Compute, InputData, OutputDataConfig
from sagemaker.train.tuner import HyperparameterTuner

logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s: %(message)s")

role, train, validation, output, base_name = sys.argv[1:6]
trainer = ModelTrainer(
    training_image=image_uris.retrieve("xgboost", "us-east-1", version="1.7-1"),
    role=role,
    compute=Compute(instance_type="ml.m5.large", instance_count=1),
    hyperparameters={"objective": "reg:squarederror", "num_round": 5},
    output_data_config=OutputDataConfig(s3_output_path=output),
    base_job_name="v3-tune",
)
tuner = HyperparameterTuner(
    model_trainer=trainer,
    objective_metric_name="validation:rmse",
    objective_type="Minimize",
    hyperparameter_ranges={"eta": ContinuousParameter(0.1, 0.5), "max_depth": IntegerParameter(1, 4)},
    strategy="Random",
    max_jobs=3,
    max_parallel_jobs=2,
    base_tuning_job_name=base_name,
)
tuner.tune(inputs=[InputData(channel_name="train", data_source=train, content_type="text/csv"),
                   InputData(channel_name="validation", data_source=validation, content_type="text/csv")],
           wait=True)

job = tuner.describe()  # DescribeHyperParameterTuningJob
best_name = tuner.best_training_job()
best = TrainingJob.get(training_job_name=best_name)
analytics = tuner.analytics().dataframe()  # ListTrainingJobsForHyperParameterTuningJob
print("RESULT " + json.dumps({
    "tuning_job": job.hyper_parameter_tuning_job_name, "status": job.hyper_parameter_tuning_job_status,
    "strategy": job.hyper_parameter_tuning_job_config.strategy,
    "completed": job.training_job_status_counters.completed,
    "best": best_name,
    "best_objective": job.best_training_job.final_hyper_parameter_tuning_job_objective_metric.value,
    "best_tuned": job.best_training_job.tuned_hyper_parameters,
    "best_status": best.training_job_status,
    "best_metrics": {m.metric_name: m.value for m in best.final_metric_data_list},
    "best_hyperparameters": best.hyper_parameters,
    "best_artifact": best.model_artifacts.s3_model_artifacts,
    "analytics": {"rows": len(analytics), "min": float(analytics["FinalObjectiveValue"].min()),
                  "jobs": sorted(analytics["TrainingJobName"])},
}))
