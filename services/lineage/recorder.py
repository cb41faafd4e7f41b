"""The lineage SageMaker records by itself, from the Describe responses its state changes carry.

What SageMaker creates, and so what the SDK's ``sagemaker.lineage`` queries
walk (an endpoint's ascendants are its deployment, the models deployed, the
jobs that trained them and the data those read)::

    DataSet artifact (channel S3Uri) --ContributedTo--> trial component <job>-aws-training-job
    Image artifact (TrainingImage)   --ContributedTo--> trial component
    trial component --Produced--> Model artifact (S3ModelArtifacts), Checkpoint artifact (S3Uri)

    Model / Image artifact (each container) --ContributedTo--> ModelPackage artifact (package ARN)
    trial component of MetadataProperties.GeneratedBy --ContributedTo--> ModelPackage artifact
    ModelPackage artifact --AssociatedWith--> ModelGroup context (group ARN)
    ModelPackage artifact --ContributedTo--> Approval action (its status follows the approval)

    Model / Image / ModelPackage artifact (each variant's containers) --ContributedTo--> ModelDeployment action
    ModelDeployment action --AssociatedWith--> Endpoint context (endpoint ARN)

    RetrainingRun action (Headwater's chain) --ContributedTo--> trial component, ModelPackage artifact

Artifacts are shared by ``SourceUri`` and type: the model a job produced is
the model a package and an endpoint use. Every step is idempotent, so a
redelivered event changes nothing. When an endpoint serves a new endpoint
config, the deployments it no longer serves are detached from its context
(their actions stay, with their own ascendants).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from services.core.exceptions import ResourceInUse
from services.lineage.entities import ACTION, ARTIFACT, CONTEXT
from services.lineage.graph import End
from services.lineage.models import JobComponent, digest
from services.lineage.service import LineageService

_GROUP_OF_PACKAGE = re.compile(r"^(?P<head>arn:aws[a-z-]*:sagemaker:[^:]+:\d{12}):model-package/(?P<group>[^/]+)/\d+$")
_TRAINING_JOB = re.compile(r"^arn:aws[a-z-]*:sagemaker:[^:]+:\d{12}:training-job/(?P<name>.+)$")
#: Each action status, by the state of what it records.
APPROVAL_STATUS = {"Approved": "Completed", "Rejected": "Failed", "PendingManualApproval": "InProgress"}
RUN_STATUS = {"Completed": "Completed", "Failed": "Failed"}  # any other run status is InProgress
TERMINAL_JOB = ("Completed", "Failed", "Stopped")
#: The secondary status of a training job's first state change (its creation).
FIRST_SECONDARY = "Starting"
#: How the deployments Headwater records are named: the ones an endpoint update detaches (a user's own stay).
DEPLOYMENT_SUFFIX = "-aws-model-deployment"


def _containers(spec: dict[str, Any] | None) -> list[dict[str, Any]]:
    spec = spec or {}
    return list(spec.get("Containers") or ([spec["PrimaryContainer"]] if spec.get("PrimaryContainer") else []))


class LineageRecorder:
    """Records jobs, model packages, endpoints and retraining runs in ``lineage``."""

    def __init__(self, lineage: LineageService) -> None:
        self.lineage = lineage
        self.entities = lineage.entities

    # --- the building blocks ------------------------------------------------------------

    async def artifact(self, uri: str, artifact_type: str) -> str:
        """The ARN of the artifact of ``uri`` and ``artifact_type``, created if need be."""
        doc = await self.entities.ensure(ARTIFACT, {"Source": {"SourceUri": uri}, "ArtifactType": artifact_type})
        return doc.arn

    async def action(self, name: str, action_type: str, uri: str, status: str,
                     properties: dict[str, str] | None = None) -> str:
        """The ARN of action ``name``, created if need be, its status and properties brought up to date."""
        props = {k: v[:2500] for k, v in (properties or {}).items() if v}
        doc = await self.entities.ensure(ACTION, {"ActionName": name, "ActionType": action_type, "Status": status,
                                                  "Source": {"SourceUri": uri}, "Properties": props})
        if getattr(doc, "status", None) != status or any((doc.properties or {}).get(k) != v for k, v in props.items()):
            doc = await self.entities.update(ACTION, doc.arn, {"Status": status, "Properties": props})
        return doc.arn

    async def context(self, name: str, context_type: str, uri: str) -> str:
        """The ARN of context ``name``, created if need be."""
        doc = await self.entities.ensure(CONTEXT, {"ContextName": name, "ContextType": context_type,
                                                   "Source": {"SourceUri": uri}})
        return doc.arn

    async def link(self, source: str, destination: str, association_type: str) -> None:
        """Associate the two (kept as it is when they already are)."""
        await self.lineage.graph.add({"SourceArn": source, "DestinationArn": destination,
                                      "AssociationType": association_type}, auto=True)

    async def job_component(self, job_name: str, job_arn: str, component_type: str, suffix: str) -> str:
        """The ARN of the trial component SageMaker names ``<job><suffix>`` after a job."""
        return (await self._job_component(job_name, job_arn, component_type, suffix))[0]

    async def _job_component(self, job_name: str, job_arn: str, component_type: str,
                             suffix: str) -> tuple[str, bool]:
        """The component's ARN (derived from the name) and whether this call created its document: one
        conditional create, which fails when it is there already (no read first)."""
        name = f"{job_name}{suffix}"
        arn = self.entities.arn("experiment-trial-component", name)
        now = self.lineage.clock()
        try:
            await self.lineage.stores.components.create(name.lower(), JobComponent(
                trial_component_name=name, component_type=component_type, source_arn=job_arn,
                trial_component_arn=arn, creation_time=now, last_modified_time=now))
        except ResourceInUse:  # recorded at an earlier change, or by a concurrent recorder
            return arn, False
        return arn, True

    async def _artifact_end(self, uri: str, artifact_type: str) -> End:
        doc = await self.entities.ensure(ARTIFACT, {"Source": {"SourceUri": uri}, "ArtifactType": artifact_type})
        return End.of(doc)

    # --- what SageMaker records ---------------------------------------------------------

    async def training_job(self, job: dict[str, Any]) -> str | None:
        """A training job's inputs, image and checkpoints (at its first state change) and model (when it has
        completed) around its trial component.

        Only the job's first change (``Starting``) and its final one change what is recorded: the changes
        between return at once, reading nothing. A change that finds the component missing (the first was
        never recorded) records the inputs too."""
        name, status = job.get("TrainingJobName"), job.get("TrainingJobStatus")
        if not name or not job.get("TrainingJobArn"):
            return None
        first = status == "InProgress" and job.get("SecondaryStatus", FIRST_SECONDARY) == FIRST_SECONDARY
        if not first and status not in TERMINAL_JOB:
            return self.entities.arn("experiment-trial-component", f"{name}-aws-training-job")
        arn, created = await self._job_component(name, job["TrainingJobArn"], "TrainingJob", "-aws-training-job")
        wanted: list[tuple[str, str, bool]] = []  # (uri, artifact type, whether the job produced it)
        if first or created:
            for channel in job.get("InputDataConfig") or []:
                uri = ((channel.get("DataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
                if uri:
                    wanted.append((uri, "DataSet", False))
            if image := (job.get("AlgorithmSpecification") or {}).get("TrainingImage"):
                wanted.append((image, "Image", False))
            if checkpoints := (job.get("CheckpointConfig") or {}).get("S3Uri"):
                wanted.append((checkpoints, "Checkpoint", True))
        model = (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
        if model and status == "Completed":
            wanted.append((model, "Model", True))
        ends = await asyncio.gather(*(self._artifact_end(uri, kind) for uri, kind, _ in wanted))
        component = End.component(arn)
        await self.lineage.graph.record([(component, end, "Produced") if produced else (end, component, "ContributedTo")
                                         for end, (_, _, produced) in zip(ends, wanted, strict=True)])
        return arn

    async def model_package(self, package: dict[str, Any]) -> str | None:
        """A model package: its containers' models and images, its group, its approval."""
        arn = package.get("ModelPackageArn")
        if not arn or package.get("ModelPackageStatus") == "Deleting":
            return None
        artifact = await self.artifact(arn, "ModelPackage")
        for container in _containers(package.get("InferenceSpecification")):
            for member, artifact_type in (("ModelDataUrl", "Model"), ("Image", "Image")):
                if container.get(member):
                    await self.link(await self.artifact(container[member], artifact_type), artifact, "ContributedTo")
        job = _TRAINING_JOB.match((package.get("MetadataProperties") or {}).get("GeneratedBy", ""))
        if job:
            component = await self.job_component(job["name"], job.group(0), "TrainingJob", "-aws-training-job")
            await self.link(component, artifact, "ContributedTo")
        group = _GROUP_OF_PACKAGE.match(arn)
        if group:
            context = await self.context(f"{group['group']}-aws-model-package-group", "ModelGroup",
                                         f"{group['head']}:model-package-group/{group['group']}")
            await self.link(artifact, context, "AssociatedWith")
        stem = f"{group['group']}-{arn.rsplit('/', 1)[1]}" if group else arn.rsplit("/", 1)[1]
        status = package.get("ModelApprovalStatus")
        approval = await self.action(f"{stem[:90].rstrip('-')}-aws-model-package-approval", "Approval", arn,
                                     APPROVAL_STATUS.get(status or "", "Unknown"),
                                     {"ModelApprovalStatus": status or "", "ApprovalDescription":
                                      package.get("ApprovalDescription") or ""})
        await self.link(artifact, approval, "ContributedTo")
        return artifact

    async def endpoint(self, endpoint: dict[str, Any], config: dict[str, Any],
                       models: dict[str, dict[str, Any]]) -> str | None:
        """An endpoint in service on ``config``: its context, the deployment of ``config``'s models."""
        if endpoint.get("EndpointStatus") != "InService" or not endpoint.get("EndpointArn"):
            return None
        name, config_name = endpoint["EndpointName"], config["EndpointConfigName"]
        context = await self.context(f"{name}-aws-endpoint", "Endpoint", endpoint["EndpointArn"])
        deployment = await self.action(
            f"{name}-{digest(config_name)[:8]}{DEPLOYMENT_SUFFIX}", "ModelDeployment",
            config.get("EndpointConfigArn") or config_name, "Completed", {"EndpointConfigName": config_name})
        for variant in [*(config.get("ProductionVariants") or []), *(config.get("ShadowProductionVariants") or [])]:
            model = models.get(variant.get("ModelName") or "")
            for container in _containers(model):
                for member, artifact_type in (("ModelDataUrl", "Model"), ("Image", "Image")):
                    if container.get(member):
                        await self.link(await self.artifact(container[member], artifact_type), deployment,
                                        "ContributedTo")
                if str(container.get("ModelPackageName", "")).startswith("arn:"):
                    await self.link(await self.artifact(container["ModelPackageName"], "ModelPackage"), deployment,
                                    "ContributedTo")
        await self.link(deployment, context, "AssociatedWith")
        for old in await self.lineage.graph.incoming(context):
            if old.source_arn != deployment and (old.source_name or "").endswith(DEPLOYMENT_SUFFIX):
                await self.lineage.graph.delete(old.source_arn, context)  # the endpoint no longer serves it
        return context

    async def retraining_run(self, run: dict[str, Any]) -> str | None:
        """A run of Headwater's retraining chain: an action with the run's state, before the job it
        trained and the version it registered."""
        name = run.get("RunName")
        if not name:
            return None
        status = str(run.get("Status") or "")
        endpoint_arn = self.entities.arn("endpoint", run.get("EndpointName") or name)
        action = await self.action(name, "RetrainingRun", endpoint_arn, RUN_STATUS.get(status, "InProgress"), {
            "RunStatus": status, "EndpointName": run.get("EndpointName") or "",
            "ModelPackageGroupName": run.get("ModelPackageGroupName") or "",
            "ServingModelPackageArn": run.get("ServingPackageArn") or "",
            "FailureReason": run.get("FailureReason") or ""})
        if run.get("TrainingJobName"):
            job = run["TrainingJobName"]
            component = await self.job_component(job, self.entities.arn("training-job", job), "TrainingJob",
                                                 "-aws-training-job")
            await self.link(action, component, "ContributedTo")
        if run.get("ModelPackageArn"):
            await self.link(action, await self.artifact(run["ModelPackageArn"], "ModelPackage"), "ContributedTo")
        return action
