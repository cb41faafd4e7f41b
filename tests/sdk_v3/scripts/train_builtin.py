"""A v3 user's first training job: the built-in XGBoost with ModelTrainer, data from S3.

Usage: train_builtin.py <role ARN, or "-" for none> <s3 train prefix> <s3 output path>
"""

import json
import logging
import sys

from sagemaker.core import image_uris
from sagemaker.train import ModelTrainer
from sagemaker.train.configs import Compute, InputData, OutputDataConfig

# v3 writes the job's log to the sagemaker.core.resources logger; the application decides where it goes.
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s: %(message)s")

role, train, output = sys.argv[1], sys.argv[2], sys.argv[3]
image = image_uris.retrieve("xgboost", "us-east-1", version="1.7-1")
trainer = ModelTrainer(
    training_image=image,
    role=None if role == "-" else role,
    compute=Compute(instance_type="ml.m5.large", instance_count=1),
    hyperparameters={"objective": "reg:squarederror", "num_round": 3},
    output_data_config=OutputDataConfig(s3_output_path=output),
    base_job_name="v3-xgboost",
)
trainer.train(input_data_config=[InputData(channel_name="train", data_source=train, content_type="text/csv")],
              wait=True, logs=True)
job = trainer._latest_training_job
print("RESULT " + json.dumps({"image": image, "role": trainer.role, "job": job.training_job_name,
                              "status": job.training_job_status,
                              "artifact": job.model_artifacts.s3_model_artifacts}))
