"""Script mode with ModelTrainer: a framework image runs the user's code through v3's own drivers.

Usage: train_script_mode.py <spec JSON>, the spec naming what a user would write:
  framework        "sklearn" or "pytorch" (the image URI as v3 resolves it)
  source_dir       the user's code (a local directory: v3 uploads it)
  entry_script / command / requirements   SourceCode's fields (either may be absent)
  hyperparameters  a dict, or the path of a JSON / YAML file
  instance_count   hosts; distributed "torchrun" or "mpi" (or absent); mpi_options  MPI's mpi_additional_options
  train            the train channel: a local directory (v3 uploads it) or an S3 URI; sharded: ShardedByS3Key
  checkpoint       a CheckpointConfig S3 URI (or absent); output  the S3 output path
"""

import json
import logging
import sys

from sagemaker.core import image_uris
from sagemaker.core.shapes import S3DataSource
from sagemaker.core.training.configs import (
    CheckpointConfig,
    Compute,
    InputData,
    OutputDataConfig,
    SourceCode,
    StoppingCondition,
)
from sagemaker.train import ModelTrainer
from sagemaker.train.distributed import MPI, Torchrun

# v3 writes the job's log to the sagemaker.core.resources logger; the application decides where it goes.
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s: %(message)s")

spec = json.loads(sys.argv[1])
if spec["framework"] == "sklearn":
    image = image_uris.retrieve("sklearn", "us-east-1", version="1.2-1")
else:
    image = image_uris.retrieve("pytorch", "us-east-1", version="2.1", py_version="py310",
                                instance_type="ml.m5.large", image_scope="training")
distributed = {"torchrun": Torchrun(process_count_per_node=1),
               "mpi": MPI(process_count_per_node=1, mpi_additional_options=spec.get("mpi_options")),
               None: None}[spec.get("distributed")]
trainer = ModelTrainer(
    training_image=image,
    source_code=SourceCode(source_dir=spec["source_dir"], entry_script=spec.get("entry_script"),
                           command=spec.get("command"), requirements=spec.get("requirements")),
    compute=Compute(instance_type="ml.m5.large", instance_count=spec.get("instance_count", 1)),
    distributed=distributed,
    hyperparameters=spec.get("hyperparameters") or {},
    checkpoint_config=CheckpointConfig(s3_uri=spec["checkpoint"]) if spec.get("checkpoint") else None,
    output_data_config=OutputDataConfig(s3_output_path=spec["output"]),
    stopping_condition=StoppingCondition(max_runtime_in_seconds=150),  # a job that hangs ends, Stopped
    base_job_name=spec["base_job_name"],
)
train = spec["train"]
if spec.get("sharded"):
    train = S3DataSource(s3_data_type="S3Prefix", s3_uri=train, s3_data_distribution_type="ShardedByS3Key")
try:
    trainer.train(input_data_config=[InputData(channel_name="train", data_source=train)],
                  wait=True, logs=True)
    error = None
except Exception as err:  # noqa: BLE001 - a failed job is a result the test reads
    if trainer._latest_training_job is None:  # no job was created: that is the failure
        raise
    error = f"{type(err).__name__}: {err}"
job = trainer._latest_training_job.refresh()
failed = job.training_job_status == "Failed"
print("RESULT " + json.dumps({
    "image": image, "job": job.training_job_name, "status": job.training_job_status, "error": error,
    "failure_reason": job.failure_reason if failed else None,
    "artifact": None if failed else job.model_artifacts.s3_model_artifacts}))
