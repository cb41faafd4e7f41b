"""SageMaker Experiments operations, and their ``Search`` records."""

from __future__ import annotations

from typing import Any

from services.api.backends import SageMakerBackends
from services.api.protocol import page_response
from services.api.search_resources import RecordSource
from services.api.server import AwsJsonService


def register(api: AwsJsonService, services: SageMakerBackends) -> None:
    """Register the Experiment, Trial and TrialComponent operations."""
    ex = services.experiments

    @api.operation("CreateExperiment")
    async def create_experiment(params: dict[str, Any]) -> dict[str, Any]:
        return {"ExperimentArn": (await ex.create_experiment(params)).experiment_arn}

    @api.operation("DescribeExperiment")
    async def describe_experiment(params: dict[str, Any]) -> dict[str, Any]:
        return (await ex.describe_experiment(params["ExperimentName"])).describe()

    @api.operation("UpdateExperiment")
    async def update_experiment(params: dict[str, Any]) -> dict[str, Any]:
        return {"ExperimentArn": (await ex.update_experiment(params)).experiment_arn}

    @api.operation("ListExperiments")
    async def list_experiments(params: dict[str, Any]) -> dict[str, Any]:
        found, token = await ex.list_experiments(params)
        return page_response("ExperimentSummaries", [e.summary() for e in found], token)

    @api.operation("DeleteExperiment")
    async def delete_experiment(params: dict[str, Any]) -> dict[str, Any]:
        return {"ExperimentArn": (await ex.delete_experiment(params["ExperimentName"])).experiment_arn}

    @api.operation("CreateTrial")
    async def create_trial(params: dict[str, Any]) -> dict[str, Any]:
        return {"TrialArn": (await ex.create_trial(params)).trial_arn}

    @api.operation("DescribeTrial")
    async def describe_trial(params: dict[str, Any]) -> dict[str, Any]:
        return (await ex.describe_trial(params["TrialName"])).describe()

    @api.operation("UpdateTrial")
    async def update_trial(params: dict[str, Any]) -> dict[str, Any]:
        return {"TrialArn": (await ex.update_trial(params)).trial_arn}

    @api.operation("ListTrials")
    async def list_trials(params: dict[str, Any]) -> dict[str, Any]:
        found, token = await ex.list_trials(params)
        return page_response("TrialSummaries", [t.summary() for t in found], token)

    @api.operation("DeleteTrial")
    async def delete_trial(params: dict[str, Any]) -> dict[str, Any]:
        return {"TrialArn": (await ex.delete_trial(params["TrialName"])).trial_arn}

    @api.operation("CreateTrialComponent")
    async def create_component(params: dict[str, Any]) -> dict[str, Any]:
        return {"TrialComponentArn": (await ex.create_trial_component(params)).trial_component_arn}

    @api.operation("DescribeTrialComponent")
    async def describe_component(params: dict[str, Any]) -> dict[str, Any]:
        return (await ex.describe_trial_component(params["TrialComponentName"])).describe()

    @api.operation("UpdateTrialComponent")
    async def update_component(params: dict[str, Any]) -> dict[str, Any]:
        return {"TrialComponentArn": (await ex.update_trial_component(params)).trial_component_arn}

    @api.operation("ListTrialComponents")
    async def list_components(params: dict[str, Any]) -> dict[str, Any]:
        found, token = await ex.list_trial_components(params)
        return page_response("TrialComponentSummaries", [c.summary() for c in found], token)

    @api.operation("DeleteTrialComponent")
    async def delete_component(params: dict[str, Any]) -> dict[str, Any]:
        return {"TrialComponentArn": (await ex.delete_trial_component(params["TrialComponentName"])).trial_component_arn}

    @api.operation("AssociateTrialComponent")
    async def associate(params: dict[str, Any]) -> dict[str, Any]:
        component, trial = await ex.associate(params["TrialComponentName"], params["TrialName"])
        return {"TrialComponentArn": component.trial_component_arn, "TrialArn": trial.trial_arn}

    @api.operation("DisassociateTrialComponent")
    async def disassociate(params: dict[str, Any]) -> dict[str, Any]:
        component, trial = await ex.disassociate(params["TrialComponentName"], params["TrialName"])
        return {"TrialComponentArn": component.trial_component_arn, "TrialArn": trial.trial_arn}


def search_sources(services: SageMakerBackends) -> dict[str, RecordSource]:
    """``Experiment``, ``ExperimentTrial`` (with its components) and ``ExperimentTrialComponent`` records."""
    ex = services.experiments

    async def experiments() -> list[dict[str, Any]]:
        return [e.record() for e in await ex.experiments.list()]

    async def trials() -> list[dict[str, Any]]:
        components = await ex.components.list()
        out = []
        for t in await ex.trials.list():
            record = t.describe() | {"Tags": list(t.tags or [])}
            record["TrialComponentSummaries"] = [
                c.simple_summary() for c in components
                if any(p["TrialName"].lower() == t.trial_name.lower() for p in c.parents)]
            out.append(record)
        return out

    async def components() -> list[dict[str, Any]]:
        return [c.record() for c in await ex.components.list()]

    return {"Experiment": experiments, "ExperimentTrial": trials, "ExperimentTrialComponent": components}
