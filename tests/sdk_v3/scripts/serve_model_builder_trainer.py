"""A v3 user's train-then-deploy: ModelTrainer with the built-in XGBoost, then ModelBuilder over the trainer.

ModelBuilder takes the trainer's artifact and, given the built-in image, creates the model as it is
(``CreateModel`` with that image and ``ModelDataUrl``, no inference code of its own), then ``deploy()``
creates the endpoint config and endpoint and waits, streaming the endpoint's log. The endpoint is left
in service for the next story. The session names its default bucket: v3 otherwise derives it from STS at
AWS's own endpoint.

Usage: serve_model_builder_trainer.py <role ARN> <s3 train prefix> <s3 output path> <endpoint name> <CSV rows>
       <bucket>
"""

import json
import sys

from sagemaker.core import image_uris
from sagemaker.core.helper.session_helper import Session
from sagemaker.serve import ModelBuilder
from sagemaker.train import ModelTrainer
from sagemaker.train.configs import Compute, InputData, OutputDataConfig

role, train, output, name, rows, bucket = sys.argv[1:7]
image = image_uris.retrieve("xgboost", "us-east-1", version="1.7-1")
trainer = ModelTrainer(training_image=image, role=role, compute=Compute(instance_type="ml.m5.large", instance_count=1),
                       hyperparameters={"objective": "reg:squarederror", "num_round": 3},
                       output_data_config=OutputDataConfig(s3_output_path=output), base_job_name="v3-serve")
trainer.train(input_data_config=[InputData(channel_name="train", data_source=train, content_type="text/csv")],
              wait=True, logs=False)

builder = ModelBuilder(model=trainer, image_uri=image, role_arn=role, instance_type="ml.m5.large",
                       sagemaker_session=Session(default_bucket=bucket))
model = builder.build(model_name=name)
endpoint = builder.deploy(endpoint_name=name)
response = endpoint.invoke(body=rows, content_type="text/csv", accept="text/csv")
# v3's wait panel (rich) leaves its last line open on stdout: the result starts a line of its own.
print("\nRESULT " + json.dumps({
    "artifact": trainer._latest_training_job.model_artifacts.s3_model_artifacts,
    "model": model.model_name, "endpoint": endpoint.endpoint_name, "status": endpoint.endpoint_status,
    "variant": response.invoked_production_variant,
    "predictions": [float(x) for x in response.body.read().decode().split()]}))
