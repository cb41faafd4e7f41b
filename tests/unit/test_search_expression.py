"""Search expressions parsed against botocore's SearchRecord shapes and matched on records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.api.search_expression import ExpressionParser, sort_records
from services.api.validation import load_service_model
from services.core.exceptions import ValidationException

RECORD = load_service_model("sagemaker").shape_for("SearchRecord")


def parser(member: str = "TrainingJob", resource: str | None = None) -> ExpressionParser:
    return ExpressionParser(resource or member, RECORD.members[member])


def job(name: str, eta: str, rmse: float | None, created: int, channel: str = "train",
        tags: dict[str, str] | None = None) -> dict[str, Any]:
    return {"TrainingJobName": name, "TrainingJobStatus": "Completed", "HyperParameters": {"eta": eta},
            "CreationTime": datetime(2026, 1, created, tzinfo=UTC), "EnableNetworkIsolation": False,
            "FinalMetricDataList": [] if rmse is None else [{"MetricName": "validation:rmse", "Value": rmse}],
            "InputDataConfig": [{"ChannelName": channel, "DataSource": {"S3DataSource": {
                "S3Uri": f"s3://data/{name}/{channel}/"}}}],
            "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()]}


JOBS = [job("a", "0.1", 0.5, 1, tags={"team": "risk"}), job("b", "0.3", 0.2, 2, "validation"),
        job("c", "0.25", None, 3, tags={"team": "growth"}), job("d", "auto", 0.9, 4)]


def names(expression: dict[str, Any], member: str = "TrainingJob", records: list[Any] = JOBS) -> list[str]:
    parsed = parser(member).parse(expression)
    return [r["TrainingJobName"] for r in records if parsed.matches(r)]


def test_hyperparameters_compare_as_numbers_against_a_number() -> None:
    assert names({"Filters": [{"Name": "HyperParameters.eta", "Operator": "LessThan", "Value": "0.26"}]}) == ["a", "c"]
    assert names({"Filters": [{"Name": "HyperParameters.eta", "Operator": "GreaterThanOrEqualTo",
                               "Value": "0.25"}]}) == ["b", "c"]
    # SageMaker: against an integer value, decimal hyperparameter values are compared as integers
    assert names({"Filters": [{"Name": "HyperParameters.eta", "Operator": "LessThan", "Value": "1"}]}) == ["a", "b", "c"]
    # Equals: numerically when the value is a number, else as text
    assert names({"Filters": [{"Name": "HyperParameters.eta", "Value": "0.30"}]}) == ["b"]
    assert names({"Filters": [{"Name": "HyperParameters.eta", "Value": "auto"}]}) == ["d"]


def test_metrics_name_the_final_metric_values() -> None:
    assert names({"Filters": [{"Name": "Metrics.validation:rmse", "Operator": "LessThan", "Value": "0.6"}]}) == ["a", "b"]
    assert names({"Filters": [{"Name": "Metrics.validation:rmse", "Operator": "NotExists"}]}) == ["c"]


def test_tags_text_timestamps_and_lists() -> None:
    assert names({"Filters": [{"Name": "Tags.team", "Operator": "Equals", "Value": "risk"}]}) == ["a"]
    assert names({"Filters": [{"Name": "Tags.team", "Operator": "Exists"}]}) == ["a", "c"]
    assert names({"Filters": [{"Name": "TrainingJobName", "Operator": "In", "Value": "a, d,zz"}]}) == ["a", "d"]
    assert names({"Filters": [{"Name": "TrainingJob.TrainingJobName", "Operator": "Contains", "Value": "B"}]}) == ["b"]
    assert names({"Filters": [{"Name": "CreationTime", "Operator": "GreaterThan",
                               "Value": "2026-01-02T00:00:00"}]}) == ["c", "d"]
    assert names({"Filters": [{"Name": "EnableNetworkIsolation", "Value": "false"}]}) == ["a", "b", "c", "d"]
    # a path through a list matches when any item does; NotEquals when none does
    assert names({"Filters": [{"Name": "InputDataConfig.ChannelName", "Value": "validation"}]}) == ["b"]
    assert names({"Filters": [{"Name": "InputDataConfig.ChannelName", "Operator": "NotEquals",
                               "Value": "validation"}]}) == ["a", "c", "d"]


def test_nested_filters_need_one_item_satisfying_all() -> None:
    nested = {"NestedPropertyName": "InputDataConfig", "Filters": [
        {"Name": "InputDataConfig.ChannelName", "Value": "train"},
        {"Name": "InputDataConfig.DataSource.S3DataSource.S3Uri", "Operator": "Contains", "Value": "/a/"}]}
    assert names({"NestedFilters": [nested]}) == ["a"]


def test_sub_expressions_and_or() -> None:
    either = {"Operator": "Or", "Filters": [{"Name": "TrainingJobName", "Value": "a"},
                                            {"Name": "TrainingJobName", "Value": "d"}]}
    assert names(either) == ["a", "d"]
    both = {"SubExpressions": [either, {"Filters": [{"Name": "Metrics.validation:rmse", "Operator": "GreaterThan",
                                                     "Value": "0.7"}]}]}
    assert names(both) == ["d"]


def test_trial_component_parents_parameters_and_artifacts() -> None:
    tcs = [{"TrialComponentName": "run-1", "Parents": [{"TrialName": "t1", "ExperimentName": "e1"}],
            "Parameters": {"lr": {"NumberValue": 0.1}, "SageMaker.InstanceType": {"StringValue": "ml.m5.large"}},
            "OutputArtifacts": {"model": {"Value": "s3://b/model.tar.gz"}},
            "Metrics": [{"MetricName": "loss", "Max": 2.0, "Last": 0.5}]},
           {"TrialComponentName": "run-2", "Parents": [{"TrialName": "t2", "ExperimentName": "e2"}],
            "Parameters": {"lr": {"NumberValue": 0.5}}, "Metrics": [{"MetricName": "acc", "Max": 0.9}]}]
    p = parser("TrialComponent", "ExperimentTrialComponent")

    def match(expression: dict[str, Any]) -> list[str]:
        parsed = p.parse(expression)
        return [t["TrialComponentName"] for t in tcs if parsed.matches(t)]

    assert match({"Filters": [{"Name": "Parents.ExperimentName", "Value": "e2"}]}) == ["run-2"]
    assert match({"Filters": [{"Name": "Parameters.lr", "Operator": "GreaterThan", "Value": "0.2"}]}) == ["run-2"]
    assert match({"Filters": [{"Name": "Parameters.SageMaker.InstanceType", "Value": "ml.m5.large"}]}) == ["run-1"]
    assert match({"Filters": [{"Name": "Parameters.lr.NumberValue", "Operator": "LessThan", "Value": "0.2"}]}) == ["run-1"]
    assert match({"Filters": [{"Name": "OutputArtifacts.model", "Operator": "Contains", "Value": "model.tar"}]}) == ["run-1"]
    metric = {"NestedPropertyName": "Metrics", "Filters": [{"Name": "Metrics.MetricName", "Value": "loss"},
                                                           {"Name": "Metrics.Max", "Operator": "GreaterThan",
                                                            "Value": "1"}]}
    assert match({"NestedFilters": [metric]}) == ["run-1"]


@pytest.mark.parametrize(("expression", "message"), [
    ({"Filters": [{"Name": "NoSuchThing", "Value": "x"}]}, "'NoSuchThing' is not a property of TrainingJob"),
    ({"Filters": [{"Name": "ModelArtifacts.Nope", "Value": "x"}]}, "'Nope' is not a property of ModelArtifacts"),
    ({"Filters": [{"Name": "TrainingJobName", "Operator": "GreaterThan", "Value": "a"}]},
     "operator GreaterThan is not supported for the text property 'TrainingJobName'"),
    ({"Filters": [{"Name": "CreationTime", "Operator": "Contains", "Value": "2026"}]},
     "operator Contains is not supported for the timestamp property 'CreationTime'"),
    ({"Filters": [{"Name": "InputDataConfig", "Value": "x"}]},
     "operator Equals is not supported for the structured property 'InputDataConfig'"),
    ({"Filters": [{"Name": "Metrics.rmse", "Operator": "LessThan", "Value": "low"}]}, "'low'"),
    ({"Filters": [{"Name": "CreationTime", "Operator": "LessThan", "Value": "yesterday"}]}, "not a timestamp"),
    ({"Filters": [{"Name": "TrainingJobName"}]}, "needs a Value"),
    ({}, "at least one Filter"),
    ({"Filters": [{"Name": "TrainingJobName", "Operator": "Contains", "Value": "a"},
                  {"Name": "TrainingJobArn", "Operator": "Contains", "Value": "b"}]}, "usage limit of 1"),
    ({"NestedFilters": [{"NestedPropertyName": "TrainingJobName", "Filters": [
        {"Name": "TrainingJobName.X", "Value": "x"}]}]}, "not a list of structures"),
    ({"NestedFilters": [{"NestedPropertyName": "InputDataConfig", "Filters": [
        {"Name": "ChannelName", "Value": "x"}]}]}, "must name a property of 'InputDataConfig'"),
])
def test_bad_expressions_name_what_is_wrong(expression: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationException, match=message.replace("(", r"\(").replace(")", r"\)")):
        parser().parse(expression)


def test_too_many_elements() -> None:
    many = {"SubExpressions": [{"Filters": [{"Name": "TrainingJobName", "Value": str(i)}] * 2} for i in range(17)]}
    with pytest.raises(ValidationException, match="at most 50"):
        parser().parse(many)


def test_sorting_puts_records_without_the_property_last() -> None:
    p = parser()
    by_rmse = p.path("Metrics.validation:rmse")
    assert [r["TrainingJobName"] for r in sort_records(JOBS, [by_rmse], descending=False)] == ["b", "a", "d", "c"]
    assert [r["TrainingJobName"] for r in sort_records(JOBS, [by_rmse], descending=True)] == ["d", "a", "b", "c"]
    by_eta = p.path("HyperParameters.eta")  # numbers as numbers, then texts
    assert [r["TrainingJobName"] for r in sort_records(JOBS, [by_eta], descending=False)] == ["a", "c", "b", "d"]


def test_enum_members_match_as_their_wire_values() -> None:
    import enum

    class Status(str, enum.Enum):
        APPROVED = "Approved"

    parsed = parser("ModelPackage").parse({"Filters": [{"Name": "ModelApprovalStatus", "Operator": "In",
                                                        "Value": "Approved,Rejected"}]})
    assert parsed.matches({"ModelApprovalStatus": Status.APPROVED})
