"""SageMaker Experiments: experiments, trials, trial components, their associations and metrics.

What the SageMaker Python SDK's ``sagemaker.experiments.Run`` and
``ExperimentAnalytics`` call. Names are unique case-insensitively (SageMaker
lower-cases them in ARNs), so documents are stored under the lower-cased
name; a missing resource is ``ResourceNotFound``, an existing name on create
``ValidationException`` ("... already exists", what the SDK's
load-or-create looks for). An experiment with trials, a trial with
components and a component still in a trial cannot be deleted, as in
SageMaker. A training job run with ``ExperimentConfig`` becomes a trial
component (:mod:`services.experiments.jobs`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from services.core.exceptions import ResourceInUse, ResourceNotFound, ValidationException
from services.core.paging import page
from services.core.store import DocumentStore
from services.core.tags import TagAccess, document_tags
from services.core.times import parse_time, utcnow
from services.experiments.models import Experiment, MetricStats, Trial, TrialComponent

D = TypeVar("D", Experiment, Trial, TrialComponent)


def entity_name(name_or_arn: str) -> str:
    """The name in an experiment entity's name or ARN (``...:experiment-trial-component/<name>``)."""
    return name_or_arn.rsplit("/", 1)[1] if name_or_arn.startswith("arn:") else name_or_arn


class ExperimentsService:
    """Experiments, trials and trial components over three collections."""

    def __init__(self, experiments: DocumentStore[Experiment], trials: DocumentStore[Trial],
                 components: DocumentStore[TrialComponent], *, region: str, account_id: str,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.experiments = experiments
        self.trials = trials
        self.components = components
        self.region = region
        self.account_id = account_id
        self.clock = clock

    def arn(self, kind: str, name: str) -> str:
        """``arn:aws:sagemaker:<region>:<account>:<kind>/<name, lower-cased>``."""
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:{kind}/{name.lower()}"

    # ----------------------------------------------------------------------------------------- shared

    async def _create(self, store: DocumentStore[D], name: str, doc: D) -> D:
        try:
            return await store.create(name.lower(), doc)
        except ResourceInUse as err:
            raise ValidationException(f"{store.kind} '{doc_arn(doc)}' already exists.") from err

    async def _require(self, store: DocumentStore[D], name_or_arn: str) -> D:
        name = entity_name(name_or_arn)
        doc = await store.get(name.lower())
        if doc is None:
            raise ResourceNotFound(f"{store.kind} '{name}' does not exist.")
        return doc

    async def _update(self, store: DocumentStore[D], name_or_arn: str, edit: Callable[[D], None]) -> D:
        name, now = entity_name(name_or_arn), self.clock()

        def mutate(doc: D) -> D:
            edit(doc)
            doc.last_modified_time = now
            return doc

        try:
            return (await store.update(name.lower(), mutate))[1]
        except ResourceNotFound as err:
            raise ResourceNotFound(f"{store.kind} '{name}' does not exist.") from err

    def _page(self, items: list[D], params: dict[str, Any]) -> tuple[list[D], str | None]:
        after, before = parse_time(params.get("CreatedAfter")), parse_time(params.get("CreatedBefore"))
        items = [i for i in items if (after is None or i.creation_time > after)
                 and (before is None or i.creation_time < before)]
        by_name = params.get("SortBy") == "Name"
        items.sort(key=lambda i: doc_name(i).lower() if by_name else (i.creation_time, doc_name(i)),
                   reverse=params.get("SortOrder", "Descending") == "Descending")
        return page(items, int(params.get("MaxResults", 10)), params.get("NextToken"))

    def tag_access(self, kind: str) -> TagAccess:
        """How ``AddTags`` / ``ListTags`` reach an experiment (``experiment``), a trial (``experiment-trial``)
        or a trial component (``experiment-trial-component``)."""
        store: DocumentStore[Any] = {"experiment": self.experiments, "experiment-trial": self.trials,
                                     "experiment-trial-component": self.components}[kind]

        async def find(name: str) -> Any:
            return await self._require(store, name)

        return document_tags(store, find, lambda d: doc_name(d).lower())

    # ----------------------------------------------------------------------------------------- experiments

    async def create_experiment(self, params: dict[str, Any]) -> Experiment:
        """``CreateExperiment``."""
        name, now = params["ExperimentName"], self.clock()
        doc = Experiment(experiment_name=name, experiment_arn=self.arn("experiment", name),
                         display_name=params.get("DisplayName"), description=params.get("Description"),
                         creation_time=now, last_modified_time=now, tags=params.get("Tags"))
        return await self._create(self.experiments, name, doc)

    async def describe_experiment(self, name: str) -> Experiment:
        """``DescribeExperiment``."""
        return await self._require(self.experiments, name)

    async def update_experiment(self, params: dict[str, Any]) -> Experiment:
        """``UpdateExperiment``: ``DisplayName`` and ``Description``."""

        def edit(e: Experiment) -> None:
            e.display_name = params.get("DisplayName", e.display_name)
            e.description = params.get("Description", e.description)

        return await self._update(self.experiments, params["ExperimentName"], edit)

    async def list_experiments(self, params: dict[str, Any]) -> tuple[list[Experiment], str | None]:
        """``ListExperiments``."""
        return self._page(await self.experiments.list(), params)

    async def delete_experiment(self, name: str) -> Experiment:
        """``DeleteExperiment``: only an experiment without trials."""
        experiment = await self._require(self.experiments, name)
        if any(t.experiment_name.lower() == experiment.experiment_name.lower() for t in await self.trials.list()):
            raise ValidationException(f"Experiment '{experiment.experiment_name}' has trials: delete them first.")
        await self.experiments.delete(experiment.experiment_name.lower())
        return experiment

    # ----------------------------------------------------------------------------------------- trials

    async def create_trial(self, params: dict[str, Any]) -> Trial:
        """``CreateTrial`` in an existing experiment."""
        experiment = await self._require(self.experiments, params["ExperimentName"])
        name, now = params["TrialName"], self.clock()
        doc = Trial(trial_name=name, trial_arn=self.arn("experiment-trial", name),
                    display_name=params.get("DisplayName"), experiment_name=experiment.experiment_name,
                    creation_time=now, last_modified_time=now, metadata_properties=params.get("MetadataProperties"),
                    tags=params.get("Tags"))
        return await self._create(self.trials, name, doc)

    async def describe_trial(self, name: str) -> Trial:
        """``DescribeTrial``."""
        return await self._require(self.trials, name)

    async def update_trial(self, params: dict[str, Any]) -> Trial:
        """``UpdateTrial``: ``DisplayName``."""

        def edit(t: Trial) -> None:
            t.display_name = params.get("DisplayName", t.display_name)

        return await self._update(self.trials, params["TrialName"], edit)

    async def list_trials(self, params: dict[str, Any]) -> tuple[list[Trial], str | None]:
        """``ListTrials``, of an experiment and of a trial component when asked."""
        trials = await self.trials.list()
        if experiment := params.get("ExperimentName"):
            trials = [t for t in trials if t.experiment_name.lower() == experiment.lower()]
        if component := params.get("TrialComponentName"):
            names = {p["TrialName"].lower() for p in (await self._require(self.components, component)).parents}
            trials = [t for t in trials if t.trial_name.lower() in names]
        return self._page(trials, params)

    async def delete_trial(self, name: str) -> Trial:
        """``DeleteTrial``: only a trial without components."""
        trial = await self._require(self.trials, name)
        if await self.components_of(trial.trial_name):
            raise ValidationException(f"Trial '{trial.trial_name}' has trial components: disassociate them first.")
        await self.trials.delete(trial.trial_name.lower())
        return trial

    async def components_of(self, trial: str) -> list[TrialComponent]:
        """The trial components associated with ``trial``."""
        return [c for c in await self.components.list()
                if any(p["TrialName"].lower() == trial.lower() for p in c.parents)]

    # ----------------------------------------------------------------------------------------- components

    async def create_trial_component(self, params: dict[str, Any]) -> TrialComponent:
        """``CreateTrialComponent``."""
        name, now = params["TrialComponentName"], self.clock()
        doc = TrialComponent(
            trial_component_name=name, trial_component_arn=self.arn("experiment-trial-component", name),
            display_name=params.get("DisplayName"), status=params.get("Status"),
            start_time=parse_time(params.get("StartTime")), end_time=parse_time(params.get("EndTime")),
            creation_time=now, last_modified_time=now, parameters=params.get("Parameters") or {},
            input_artifacts=params.get("InputArtifacts") or {}, output_artifacts=params.get("OutputArtifacts") or {},
            metadata_properties=params.get("MetadataProperties"), tags=params.get("Tags"))
        return await self._create(self.components, name, doc)

    async def describe_trial_component(self, name_or_arn: str) -> TrialComponent:
        """``DescribeTrialComponent`` (by name or ARN)."""
        return await self._require(self.components, name_or_arn)

    async def update_trial_component(self, params: dict[str, Any]) -> TrialComponent:
        """``UpdateTrialComponent``: parameters and artifacts are added or replaced by name (and removed with
        ``*ToRemove``), so two writers of one run (a notebook and its job) never drop each other's."""

        def edit(c: TrialComponent) -> None:
            c.display_name = params.get("DisplayName", c.display_name)
            c.status = params.get("Status", c.status)
            c.start_time = parse_time(params["StartTime"]) if "StartTime" in params else c.start_time
            c.end_time = parse_time(params["EndTime"]) if "EndTime" in params else c.end_time
            for field, key in (("parameters", "Parameters"), ("input_artifacts", "InputArtifacts"),
                               ("output_artifacts", "OutputArtifacts")):
                current = getattr(c, field)
                current.update(params.get(key) or {})
                for gone in params.get(f"{key}ToRemove") or []:
                    current.pop(gone, None)

        return await self._update(self.components, params["TrialComponentName"], edit)

    async def list_trial_components(self, params: dict[str, Any]) -> tuple[list[TrialComponent], str | None]:
        """``ListTrialComponents`` of an experiment, a trial or a source (a job's ARN) when asked."""
        found = await self.components.list()
        if experiment := params.get("ExperimentName"):
            found = [c for c in found if any(p["ExperimentName"].lower() == experiment.lower() for p in c.parents)]
        if trial := params.get("TrialName"):
            found = [c for c in found if any(p["TrialName"].lower() == trial.lower() for p in c.parents)]
        if source := params.get("SourceArn"):
            found = [c for c in found if c.source and c.source["SourceArn"].lower() == source.lower()]
        return self._page(found, params)

    async def delete_trial_component(self, name: str) -> TrialComponent:
        """``DeleteTrialComponent``: only a component in no trial."""
        component = await self._require(self.components, name)
        if component.parents:
            raise ValidationException(f"Trial component '{component.trial_component_name}' is associated with "
                                      f"trial(s): disassociate it first.")
        await self.components.delete(component.trial_component_name.lower())
        return component

    async def associate(self, component: str, trial: str) -> tuple[TrialComponent, Trial]:
        """``AssociateTrialComponent`` (associating it again changes nothing)."""
        found = await self._require(self.trials, trial)
        parent = {"TrialName": found.trial_name, "ExperimentName": found.experiment_name}

        def edit(c: TrialComponent) -> None:
            if parent not in c.parents:
                c.parents.append(parent)

        return await self._update(self.components, component, edit), found

    async def disassociate(self, component: str, trial: str) -> tuple[TrialComponent, Trial]:
        """``DisassociateTrialComponent``."""
        found = await self._require(self.trials, trial)

        def edit(c: TrialComponent) -> None:
            c.parents = [p for p in c.parents if p["TrialName"].lower() != found.trial_name.lower()]

        return await self._update(self.components, component, edit), found

    async def put_metrics(self, component: str, data: list[dict[str, Any]]) -> None:
        """``BatchPutMetrics``: fold each value into its metric's summary."""

        def edit(c: TrialComponent) -> None:
            for datum in data:
                when = parse_time(datum["Timestamp"]) or self.clock()
                c.headwater.metrics.setdefault(datum["MetricName"], MetricStats()).add(float(datum["Value"]), when)

        await self._update(self.components, component, edit)


def doc_name(doc: Experiment | Trial | TrialComponent) -> str:
    """The document's resource name."""
    if isinstance(doc, Experiment):
        return doc.experiment_name
    return doc.trial_name if isinstance(doc, Trial) else doc.trial_component_name


def doc_arn(doc: Experiment | Trial | TrialComponent) -> str:
    """The document's ARN."""
    if isinstance(doc, Experiment):
        return doc.experiment_arn
    return doc.trial_arn if isinstance(doc, Trial) else doc.trial_component_arn
