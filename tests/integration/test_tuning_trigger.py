"""An upload starts a tuning job when its dataset has a ``tuning.json`` template.

The same rule that starts a training job for ``datasets/<name>/train/...``
starts a tuning job instead, with the template's settings over the
defaults (Bayesian, the validation metric, XGBoost's ranges).
"""

from __future__ import annotations

import json
from typing import Any

from tests.integration.tuning_support import DATA_BUCKET, regression_csv, wait_for_tuning
from tests.support import wait_for


def test_a_dataset_with_tuning_json_starts_a_tuning_job_on_upload(node: Any) -> None:
    s3, sm = node.client("s3"), node.client("sagemaker")
    template = {"HyperParameterTuningJobConfig": {
        "Strategy": "Random", "RandomSeed": 1,
        "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 2},
        "ParameterRanges": {"IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "2", "MaxValue": "5"}]}},
        "TrainingJobDefinition": {"StaticHyperParameters": {"num_round": "5", "objective": "reg:squarederror"}}}
    s3.put_object(Bucket=DATA_BUCKET, Key="datasets/houses/tuning.json", Body=json.dumps(template).encode())
    s3.put_object(Bucket=DATA_BUCKET, Key="datasets/houses/validation/part.csv", Body=regression_csv(100, 2))
    s3.put_object(Bucket=DATA_BUCKET, Key="datasets/houses/train/part.csv", Body=regression_csv(300, 1))

    def started() -> list[str]:
        return [j["HyperParameterTuningJobName"] for j in sm.list_hyper_parameter_tuning_jobs(
            NameContains="houses")["HyperParameterTuningJobSummaries"]]

    [name] = wait_for(started, 60, what="a tuning job for the upload")
    final = wait_for_tuning(sm, name)
    assert final["HyperParameterTuningJobStatus"] == "Completed", final.get("FailureReason")
    config = final["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Random"
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Minimize", "MetricName": "validation:rmse"}
    channels = [c["ChannelName"] for c in final["TrainingJobDefinition"]["InputDataConfig"]]
    assert channels == ["train", "validation"]
    assert final["TrainingJobStatusCounters"]["Completed"] == 2
    # a tuning job instead of, not beside, the plain training job
    names = [j["TrainingJobName"] for j in sm.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]]
    assert len(names) == 2 and all(n.startswith(f"{name}-") for n in names)
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=final["HyperParameterTuningJobArn"])["Tags"]}
    assert tags["headwater:dataset"] == "houses"
