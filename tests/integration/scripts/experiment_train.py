"""A scikit-learn training script that logs to the Experiments run its job was started in (``load_run``)."""

import os
from pathlib import Path

import boto3
import joblib
import numpy as np
from sagemaker.experiments.run import load_run
from sagemaker.session import Session
from sklearn.linear_model import LogisticRegression

if __name__ == "__main__":
    data = np.vstack([np.loadtxt(p, delimiter=",", ndmin=2)
                      for p in sorted(Path(os.environ["SM_CHANNEL_TRAIN"]).glob("*.csv"))])
    session = Session(boto_session=boto3.Session(region_name=os.environ["AWS_REGION"]))
    # No names: the run comes from the job's ExperimentConfig, found through TRAINING_JOB_ARN.
    with load_run(sagemaker_session=session) as run:
        model = LogisticRegression(max_iter=50).fit(data[:, 1:], data[:, 0])
        run.log_parameter("job_max_iter", 50)
        for epoch in range(3):
            run.log_metric("job_loss", 1.0 / (epoch + 1), step=epoch)
        run.log_metric("job_accuracy", float((model.predict(data[:, 1:]) == data[:, 0]).mean()))
    joblib.dump(model, Path(os.environ["SM_MODEL_DIR"]) / "model.joblib")
    print("logged to run", run.run_name)
