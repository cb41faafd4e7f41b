"""A v3 user's remote functions: ``@remote`` runs a small function as a training job and returns its value;
``RemoteExecutor`` runs several, futures in hand; an exception the function raises is raised again here.

Usage: remote_function.py <role ARN> <image URI> <s3 root URI> <default bucket>
"""

import json
import logging
import sys

from sagemaker.core.helper.session_helper import Session
from sagemaker.core.remote_function import RemoteExecutor, remote

logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s: %(message)s")

role, image, s3_root, bucket = sys.argv[1:5]
settings = dict(role=role, image_uri=image, instance_type="ml.m5.large", s3_root_uri=s3_root,
                sagemaker_session=Session(default_bucket=bucket), max_runtime_in_seconds=300)


@remote(job_name_prefix="v3-remote-divide", **settings)
def divide(x: float, y: float) -> dict:
    """Runs in the job: what it computed, and where it ran."""
    import os

    import sagemaker

    return {"quotient": x / y, "job": os.environ["TRAINING_JOB_NAME"], "prefix": sys.prefix,
            "sdk": sagemaker.__version__ if hasattr(sagemaker, "__version__") else None}


def square(x: int) -> int:
    return x * x


result = divide(10, 4)
try:
    divide(1, 0)
    raised = None
except ZeroDivisionError as err:  # raised in the job, serialized there, raised again here
    raised = {"type": type(err).__name__, "message": str(err)}

with RemoteExecutor(max_parallel_jobs=2, job_name_prefix="v3-remote-square", **settings) as executor:
    futures = [executor.submit(square, x) for x in (3, 4)]
squares = [f.result() for f in futures]

print("RESULT " + json.dumps({"divide": result, "raised": raised, "squares": squares}))
