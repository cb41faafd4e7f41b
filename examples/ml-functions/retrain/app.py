"""Nightly: start a training job like the dataset's latest completed one (same algorithm, data, resources),
so a model is retrained on whatever datasets/<name>/train/ holds now."""

import time

import boto3

sm = boto3.client("sagemaker")
_COPIED = ("AlgorithmSpecification", "RoleArn", "InputDataConfig", "OutputDataConfig", "ResourceConfig",
           "StoppingCondition", "HyperParameters")


def handler(event, context):
    dataset = event["dataset"]
    jobs = sm.list_training_jobs(NameContains=dataset, StatusEquals="Completed", SortBy="CreationTime",
                                 SortOrder="Descending")["TrainingJobSummaries"]
    if not jobs:
        print(f"no completed training job of {dataset} yet; nothing to retrain")
        return {"started": None}
    latest = sm.describe_training_job(TrainingJobName=jobs[0]["TrainingJobName"])
    name = f"{dataset}-nightly-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}"
    sm.create_training_job(TrainingJobName=name, **{k: latest[k] for k in _COPIED if k in latest})
    print(f"started {name} like {latest['TrainingJobName']}")
    return {"started": name}
