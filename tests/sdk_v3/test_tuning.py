"""The SageMaker Python SDK v3's ``HyperparameterTuner``, unchanged, against a node: over a ModelTrainer with
the built-in XGBoost, and over a script-mode ModelTrainer with a metric definition of its own.

``tune(wait=True)`` creates the tuning job (``CreateHyperParameterTuningJob`` with a
``TrainingJobDefinition``) and polls ``DescribeHyperParameterTuningJob``; ``best_training_job()``,
``TrainingJob.get`` and ``analytics()`` (``ListTrainingJobsForHyperParameterTuningJob``) read what the node
reports.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.cli.endpoints import env_exports, read_endpoints
from tests.integration.tuning_support import regression_csv
from tests.sdk_v3.support import exported, run_v3, v3_environment
from tests.support import NodeThread

pytestmark = pytest.mark.sdk

TRAIN = "s3://headwater-data/sdk-v3-tuning/train/"
VALIDATION = "s3://headwater-data/sdk-v3-tuning/validation/"
OUTPUT = "s3://headwater-artifacts/sdk-v3-tuning"


@pytest.fixture(scope="module")
def env(node: NodeThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The user's shell after ``eval "$(headwater env)"``, and small train and validation sets."""
    s3 = node.client("s3")
    s3.put_object(Bucket="headwater-data", Key="sdk-v3-tuning/train/part.csv", Body=regression_csv(120, 1))
    s3.put_object(Bucket="headwater-data", Key="sdk-v3-tuning/validation/part.csv", Body=regression_csv(60, 2))
    exports = exported(env_exports(read_endpoints(node.settings.state_dir)))
    yield v3_environment(exports, tmp_path_factory.mktemp("sdk-v3-home"))


def _children(node: NodeThread, tuning_job: str) -> list[dict]:
    """The tuning job's training jobs, best (lowest objective) first, as boto3 lists them."""
    summaries: list[dict] = node.client("sagemaker").list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=tuning_job, SortBy="FinalObjectiveMetricValue",
        SortOrder="Ascending")["TrainingJobSummaries"]
    return summaries


def test_tuner_over_a_builtin_model_trainer_finds_the_best_training_job(node: NodeThread,
                                                                        env: dict[str, str]) -> None:
    role = env["SAGEMAKER_EXECUTION_ROLE_ARN"]
    result = run_v3("tune_builtin", env, role, TRAIN, VALIDATION, OUTPUT, "v3-tuner").result
    assert result["status"] == "Completed" and result["strategy"] == "Random" and result["completed"] == 3
    children = _children(node, result["tuning_job"])
    assert len(children) == 3 and all(c["TrainingJobStatus"] == "Completed" for c in children)
    objectives = [c["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for c in children]
    assert result["best"] == children[0]["TrainingJobName"] and result["best_objective"] == min(objectives)
    # The best job, as TrainingJob.get reads it: its metrics, the tuned values within their ranges, the
    # trainer's static hyperparameters, its artifact.
    assert result["best_status"] == "Completed"
    assert result["best_metrics"]["validation:rmse"] == pytest.approx(result["best_objective"])
    assert "train:rmse" in result["best_metrics"]
    tuned = result["best_tuned"]
    assert 0.1 <= float(tuned["eta"]) <= 0.5 and 1 <= int(tuned["max_depth"]) <= 4
    assert {k: result["best_hyperparameters"][k] for k in ("objective", "num_round", "eta", "max_depth")} == {
        "objective": "reg:squarederror", "num_round": "5", **tuned}
    assert result["best_artifact"] == f"{OUTPUT}/{result['best']}/output/model.tar.gz"
    assert result["analytics"] == {"rows": 3, "min": min(objectives),
                                   "jobs": sorted(c["TrainingJobName"] for c in children)}

    desc = node.client("sagemaker").describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=result["tuning_job"])
    limits = desc["HyperParameterTuningJobConfig"]["ResourceLimits"]
    assert (limits["MaxNumberOfTrainingJobs"], limits["MaxParallelTrainingJobs"]) == (3, 2)
    definition = desc["TrainingJobDefinition"]
    assert definition["RoleArn"] == role
    # The trainer's hyperparameters less the tuned ones, and the objective, as SageMaker records it.
    assert definition["StaticHyperParameters"] == {"objective": "reg:squarederror", "num_round": "5",
                                                   "_tuning_objective_metric": "validation:rmse"}
    assert [c["ChannelName"] for c in definition["InputDataConfig"]] == ["train", "validation"]


def test_tuner_over_a_script_mode_model_trainer_reads_its_metric_definition(node: NodeThread,
                                                                            env: dict[str, str]) -> None:
    role = env["SAGEMAKER_EXECUTION_ROLE_ARN"]
    result = run_v3("tune_script_mode", env, role, TRAIN, VALIDATION, OUTPUT, "headwater-artifacts",
                    "v3-tuner-script").result
    assert result["status"] == "Completed" and result["completed"] == 2
    children = _children(node, result["tuning_job"])
    assert result["best"] == children[0]["TrainingJobName"]
    # The objective is the value the script printed, read by the tuner's own regex.
    log = node.client("logs").get_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs",
        logStreamName=node.client("logs").describe_log_streams(
            logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{result['best']}/")[
            "logStreams"][0]["logStreamName"])["events"]
    printed = [e["message"] for e in log if "validation-mse: " in e["message"]]
    assert len(printed) == 1
    assert float(printed[0].rsplit(" ", 1)[1]) == pytest.approx(result["best_metric"], abs=1e-6)
    assert printed[0].startswith(f"alpha={float(result['best_hyperparameters']['alpha'])} ")
