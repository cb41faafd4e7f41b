"""The pipeline definition language: what the SDK v2 emits parses, and each kind of bad definition is refused
naming the step and the path; expressions, conditions and property paths evaluate as SageMaker's.

``tests/events/pipeline_definition_sdk_v2.json`` is ``Pipeline.definition()`` of the SDK v2 (2.257) for a
processing -> training -> evaluation -> condition -> register / model / transform / fail pipeline.
"""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from services.core.exceptions import ValidationException
from services.pipelines.definition import parse_definition
from services.pipelines.expressions import ExpressionError, Scope, evaluate_condition, json_path, resolve
from services.pipelines.properties import Key, PathError, check_path, lookup, parse_path

SDK_DEFINITION = json.loads((Path(__file__).parents[1] / "events" / "pipeline_definition_sdk_v2.json").read_text())


def _with(change: Any) -> str:
    doc = copy.deepcopy(SDK_DEFINITION)
    change(doc)
    return json.dumps(doc)


def _steps(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}

    def walk(items: list[dict[str, Any]]) -> None:
        for s in items:
            found[s["Name"]] = s
            walk(s.get("Arguments", {}).get("IfSteps", []) + s.get("Arguments", {}).get("ElseSteps", []))

    walk(doc["Steps"])
    return found


def test_the_sdk_definition_parses_with_its_steps_and_their_upstream_steps() -> None:
    d = parse_definition(json.dumps(SDK_DEFINITION))
    assert list(d.steps) == ["Prep", "Train", "Evaluate", "Check", "Reg-RegisterModel", "MakeModel-CreateModel",
                             "Batch", "Bad"]
    assert d.steps["Train"].upstream == {"Prep"}  # it reads Prep's output
    assert d.steps["Check"].upstream == {"Evaluate"}  # its JsonGet reads Evaluate's property file
    assert d.steps["Reg-RegisterModel"].upstream == {"Check", "Train"}
    assert d.steps["Reg-RegisterModel"].branch == ("Check", True)
    assert d.steps["Bad"].branch == ("Check", False) and d.steps["Bad"].upstream == {"Check", "Evaluate"}
    assert d.steps["Batch"].upstream == {"Check", "MakeModel-CreateModel"}
    assert d.steps["Prep"].cache_config == {"Enabled": True, "ExpireAfter": "PT1H"}
    assert set(d.parameters) == {"InputData", "NumRound", "Threshold", "Flag"}


@pytest.mark.parametrize(("change", "expected"), [
    (lambda d: d["Steps"][0].__setitem__("DependsOn", ["Check"]),
     "The pipeline's steps form a cycle: Prep waits for Check waits for Evaluate waits for Train waits for Prep"),
    (lambda d: d["Steps"][1].__setitem__("DependsOn", ["Nowhere"]),
     "Step Train: DependsOn names Nowhere, which is not a step of the pipeline"),
    (lambda d: d["Steps"][1]["Arguments"]["InputDataConfig"][0]["DataSource"]["S3DataSource"].__setitem__(
        "S3Uri", {"Get": "Steps.Prep.ProcessingOutputConfig.Outputs['train'].S3Output.S3Url"}),
     "Step Train: {'Get': \"Steps.Prep.ProcessingOutputConfig.Outputs['train'].S3Output.S3Url\"}: "
     "ProcessingOutputConfig.Outputs['train'].S3Output has no member 'S3Url'"),
    (lambda d: d["Steps"][1]["Arguments"].__setitem__("RoleArn", {"Get": "Steps.Prep.ModelArtifacts"}),
     "Step Train: {'Get': 'Steps.Prep.ModelArtifacts'}: a Processing step has no property 'ModelArtifacts'"),
    (lambda d: d["Steps"][1]["Arguments"].__setitem__("RoleArn", {"Get": "Parameters.Role"}),
     "Step Train: {'Get': 'Parameters.Role'} names no parameter of the pipeline"),
    (lambda d: d["Steps"][1]["Arguments"].__setitem__("RoleArn", {"Get": "Steps.Ghost.ModelArtifacts"}),
     "Step Train: {'Get': 'Steps.Ghost.ModelArtifacts'} names step Ghost, which is not a step of the pipeline"),
    (lambda d: d["Steps"][0].__setitem__("Type", "EMR"), "Step Prep: step type EMR is not supported by Headwater"),
    (lambda d: d["Steps"][2].__setitem__("Type", "ClarifyCheck"),
     "Step Evaluate: step type ClarifyCheck is not supported by Headwater"),
    (lambda d: d["Steps"][2].__setitem__("Type", "QualityCheck"), "Step Evaluate: step type QualityCheck is not run by Headwater"),
    (lambda d: d["Steps"].append(copy.deepcopy(d["Steps"][0])), "Step names must be unique: Prep appears twice"),
    (lambda d: d["Parameters"][1].__setitem__("DefaultValue", "three"),
     "Parameter NumRound of type Integer has a DefaultValue of another type"),
    (lambda d: d["Steps"][1]["Arguments"].__setitem__("RoleArn", {"Get": "Steps.Train.ModelArtifacts"}),
     "reads the step's own properties"),
    (lambda d: d["Steps"][3]["Arguments"]["Conditions"].append({"Type": "Between", "LeftValue": 1}),
     "Step Check: unknown condition type 'Between'"),
    (lambda d: d["Steps"][3]["Arguments"]["Conditions"][0]["Conditions"][0]["LeftValue"]["Std:JsonGet"].__setitem__(
        "PropertyFile", {"Get": "Steps.Evaluate.PropertyFiles.Missing"}),
     "Step Check: {'Get': 'Steps.Evaluate.PropertyFiles.Missing'}: step Evaluate declares no property file Missing"),
    (lambda d: d.__setitem__("Version", "2019-01-01"), "Version must be '2020-12-01'"),
])
def test_a_bad_definition_is_refused_naming_the_step_and_the_path(change: Any, expected: str) -> None:
    with pytest.raises(ValidationException) as err:
        parse_definition(_with(change))
    assert expected in err.value.message


def test_a_definition_that_is_not_json_is_refused() -> None:
    with pytest.raises(ValidationException, match="not valid JSON"):
        parse_definition("{'Version': ")


def test_parameters_are_typed_and_a_wrong_override_is_refused() -> None:
    d = parse_definition(json.dumps(SDK_DEFINITION))
    assert d.typed_parameters([{"Name": "NumRound", "Value": "7"}, {"Name": "Flag", "Value": "False"}]) == {
        "InputData": "s3://bkt/in/", "NumRound": 7, "Threshold": 0.5, "Flag": False}
    with pytest.raises(ValidationException, match="Parameter NumRound of type Integer cannot take the value '2.5'"):
        d.typed_parameters([{"Name": "NumRound", "Value": "2.5"}])
    with pytest.raises(ValidationException, match="Parameter Flag of type Boolean cannot take the value 'yes'"):
        d.typed_parameters([{"Name": "Flag", "Value": "yes"}])
    with pytest.raises(ValidationException, match=r"\['Nope'\] are not parameters of the pipeline"):
        d.typed_parameters([{"Name": "Nope", "Value": "1"}])


def test_property_paths_follow_the_describe_shapes() -> None:
    assert parse_path("ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri") == [
        "ProcessingOutputConfig", "Outputs", Key("train"), "S3Output", "S3Uri"]
    check_path("Training", "FinalMetricDataList['validation:rmse'].Value")
    check_path("Training", "HyperParameters['num_round']")
    check_path("Tuning", "TrainingJobSummaries[0].TrainingJobName")
    check_path("Tuning", "BestTrainingJob.TrainingJobName")
    check_path("RegisterModel", "ModelPackageArn")
    check_path("Condition", "Outcome")
    with pytest.raises(PathError, match="indexed by position, not by key"):
        check_path("Training", "SecondaryStatusTransitions['x'].Status")
    with pytest.raises(PathError, match="takes no index"):
        check_path("Training", "TrainingJobName[0]")
    with pytest.raises(PathError, match="malformed"):
        parse_path("A..B")
    described = {"ProcessingOutputConfig": {"Outputs": [
        {"OutputName": "test", "S3Output": {"S3Uri": "s3://b/test"}},
        {"OutputName": "train", "S3Output": {"S3Uri": "s3://b/train"}}]}}
    assert lookup(described, "ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri") == "s3://b/train"
    assert lookup(described, "ProcessingOutputConfig.Outputs[0].S3Output.S3Uri") == "s3://b/test"
    with pytest.raises(PathError, match="Outputs\\['valid'\\]"):
        lookup(described, "ProcessingOutputConfig.Outputs['valid'].S3Output.S3Uri")


def _scope(files: dict[str, Any] | None = None, **parameters: Any) -> Scope:
    props = {"Evaluate": {"ProcessingOutputConfig": {"Outputs": [
        {"OutputName": "evaluation", "S3Output": {"S3Uri": "s3://b/eval"}}]}}}

    async def read(uri: str) -> Any:
        if uri not in (files or {}):
            raise ExpressionError(f"no object at {uri}")
        return (files or {})[uri]

    return Scope(parameters=parameters, execution={"PipelineExecutionId": "abc123def456"},
                 step_properties=props.get,
                 property_file_uri=lambda step, name: "s3://b/eval/evaluation.json", read_json=read)


def test_join_get_and_json_get_resolve() -> None:
    report = {"regression_metrics": {"mse": {"value": 0.25}}, "rows": [3, {"n": 4}]}
    scope = _scope({"s3://b/eval/evaluation.json": report}, N=3, Flag=True)
    value = {"Uri": {"Std:Join": {"On": "/", "Values": ["s3:/", "b", {"Get": "Execution.PipelineExecutionId"},
                                                         {"Get": "Parameters.N"}, {"Get": "Parameters.Flag"}]}},
             "Mse": {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.Eval"},
                                     "Path": "regression_metrics.mse.value"}},
             "List": [{"Get": "Steps.Evaluate.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"}]}
    assert asyncio.run(resolve(value, scope)) == {"Uri": "s3://b/abc123def456/3/true", "Mse": 0.25,
                                                 "List": ["s3://b/eval"]}
    assert json_path(report, "rows[1]['n']") == 4
    with pytest.raises(ExpressionError, match="has nothing at 'rows\\[5\\]'"):
        json_path(report, "rows[5]")
    with pytest.raises(ExpressionError, match="Steps.Train has not succeeded"):
        asyncio.run(resolve({"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}, scope))


@pytest.mark.parametrize(("condition", "expected"), [
    ({"Type": "Equals", "LeftValue": {"Get": "Parameters.N"}, "RightValue": 3}, True),
    ({"Type": "Equals", "LeftValue": {"Get": "Parameters.Flag"}, "RightValue": True}, True),
    ({"Type": "Equals", "LeftValue": "a", "RightValue": "b"}, False),
    ({"Type": "GreaterThan", "LeftValue": {"Get": "Parameters.N"}, "RightValue": 3}, False),
    ({"Type": "GreaterThanOrEqualTo", "LeftValue": {"Get": "Parameters.N"}, "RightValue": 3.0}, True),
    ({"Type": "LessThan", "LeftValue": 2.5, "RightValue": {"Get": "Parameters.N"}}, True),
    ({"Type": "LessThanOrEqualTo", "LeftValue": 4, "RightValue": {"Get": "Parameters.N"}}, False),
    ({"Type": "In", "QueryValue": {"Get": "Parameters.N"}, "Values": [1, 2, 3]}, True),
    ({"Type": "Not", "Condition": {"Type": "In", "QueryValue": "x", "Values": ["y"]}}, True),
    ({"Type": "Or", "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 2},
                                   {"Type": "LessThan", "LeftValue": 1, "RightValue": 2}]}, True),
    ({"Type": "Or", "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 2}]}, False),
])
def test_conditions_decide_as_sagemakers(condition: dict[str, Any], expected: bool) -> None:
    assert asyncio.run(evaluate_condition(condition, _scope(N=3, Flag=True))) is expected


def test_comparing_a_number_with_a_text_is_an_error_naming_both() -> None:
    with pytest.raises(ExpressionError, match="GreaterThan compares numbers or texts, not 'abc' and 3"):
        asyncio.run(evaluate_condition({"Type": "GreaterThan", "LeftValue": "abc", "RightValue": 3}, _scope()))
