"""A v3 user's processing job: a scikit-learn script that splits a dataset, through v3's processing classes.

Usage: process_sklearn.py <script|framework> <role ARN> <s3 input prefix> <s3 output prefix> <code bucket>

``script``: ``ScriptProcessor`` with the scikit-learn image and ``command=["python3"]`` (the script is the
entrypoint's last argument). ``framework``: ``FrameworkProcessor`` with a ``source_dir`` (packed as
``sourcedir.tar.gz``, started through the generated ``runproc.sh`` under ``/bin/bash``).
"""

import json
import logging
import sys
from pathlib import Path

from sagemaker.core import image_uris
from sagemaker.core.helper.session_helper import Session
from sagemaker.core.processing import FrameworkProcessor, ScriptProcessor
from sagemaker.core.shapes import ProcessingInput, ProcessingOutput, ProcessingS3Input, ProcessingS3Output

logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s: %(message)s")

kind, role, source, destination, bucket = sys.argv[1:6]
code = Path(__file__).resolve().parent / "processing_code"
image = image_uris.retrieve("sklearn", "us-east-1", version="1.2-1")
common = dict(role=role, image_uri=image, instance_type="ml.m5.large", instance_count=1,
              base_job_name=f"v3-{kind}-processor", env={"MARK": "from-v3"},
              # The code is staged in the session's default bucket.
              sagemaker_session=Session(default_bucket=bucket))
if kind == "script":
    processor = ScriptProcessor(command=["python3"], **common)
    run_code = dict(code=str(code / "split.py"))
else:
    processor = FrameworkProcessor(**common)
    run_code = dict(code="split.py", source_dir=str(code))


def output(name: str) -> ProcessingOutput:
    return ProcessingOutput(output_name=name, s3_output=ProcessingS3Output(
        s3_uri=f"{destination}/{name}", local_path=f"/opt/ml/processing/{name}", s3_upload_mode="EndOfJob"))


processor.run(
    inputs=[ProcessingInput(input_name="raw", s3_input=ProcessingS3Input(
        s3_uri=source, local_path="/opt/ml/processing/input", s3_data_type="S3Prefix", s3_input_mode="File"))],
    outputs=[output("train"), output("test")],
    arguments=["--test-size", "0.2"], wait=True, logs=True, **run_code)
job = processor.latest_job
job.refresh()
print("RESULT " + json.dumps({
    "job": job.processing_job_name, "status": job.processing_job_status, "image": image,
    "entrypoint": job.app_specification.container_entrypoint,
    "arguments": job.app_specification.container_arguments,
    "outputs": {o.output_name: o.s3_output.s3_uri for o in job.processing_output_config.outputs},
}))
