"""The state-store calls the two recorders that follow every training job state change cost over a job's
life (``Starting`` -> ``Downloading`` -> ``Training`` -> ``Uploading`` -> ``Completed``): the lineage and
the job's trial component are written at the job's first event and at its end, the changes between cost
nothing, and nothing just written is read back (counting wrappers over the in-memory backend)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from services.core.store import DocumentStore
from services.experiments.jobs import record_training_job_change
from services.experiments.models import Experiment, Trial, TrialComponent
from services.experiments.service import ExperimentsService
from services.lineage.recorder import LineageRecorder
from services.lineage.service import LineageService
from services.lineage.stores import LineageStores
from services.training.models import MetricData, ModelArtifacts, SecondaryStatus, TrainingJob, TrainingJobStatus
from services.training.service import DETAIL_TYPE, TrainingService
from tests.unit.test_launch_round_trips import CountingBackend
from tests.unit.test_training_service import Clock, Recorder, request

WHERE = {"region": "us-east-1", "account_id": "123456789012"}


async def _job_life() -> list[dict[str, Any]]:
    """The event details a job publishes from its creation to ``Completed`` (with a model and a metric)."""
    bus = Recorder()
    training = TrainingService(DocumentStore(CountingBackend(), "training-jobs", TrainingJob, "Training job"),
                               bus, bus, clock=Clock(), **WHERE)  # type: ignore[arg-type]
    await training.create_training_job(request("job-1"))
    for secondary in (SecondaryStatus.DOWNLOADING, SecondaryStatus.TRAINING, SecondaryStatus.UPLOADING):
        await training.transition("job-1", secondary=secondary, message=secondary.value)

    def finish(job: TrainingJob) -> None:
        job.model_artifacts = ModelArtifacts(s3_model_artifacts="s3://b/out/model.tar.gz")
        job.final_metric_data_list = [MetricData(metric_name="rmse", value=0.5, timestamp=training.clock())]

    await training.transition("job-1", TrainingJobStatus.COMPLETED, SecondaryStatus.COMPLETED, "done", edit=finish)
    details = [detail for detail_type, detail in bus.events if detail_type == DETAIL_TYPE]
    assert [d["SecondaryStatus"] for d in details] == ["Starting", "Downloading", "Training", "Uploading",
                                                        "Completed"]
    return details


class ListingCountingBackend(CountingBackend):
    """Counts the listings too."""

    async def keys(self, prefix: str) -> list[str]:
        self.calls["list", prefix.split("/")[0]] += 1
        return await super().keys(prefix)

    async def listing(self, prefix: str) -> list[tuple[str, str | None]]:
        self.calls["list", prefix.split("/")[0]] += 1
        return [(k, self.docs[k][1]) for k in await super().keys(prefix)]


def _calls(counted: Counter[tuple[str, str]]) -> Counter[str]:
    """The calls by primitive only."""
    out: Counter[str] = Counter()
    for (primitive, _), n in counted.items():
        out[primitive] += n
    return out


async def test_lineage_of_a_jobs_life_is_written_at_its_first_and_last_event_without_reading_it_back() -> None:
    details = await _job_life()
    backend = ListingCountingBackend()
    lineage = LineageService(LineageStores.build(lambda c, m, k: DocumentStore(backend, c, m, k)), **WHERE)
    recorder = LineageRecorder(lineage)
    per_event = []
    for detail in [*details, details[0], details[-1]]:  # the first and the last redelivered
        await recorder.training_job(detail)
        per_event.append(_calls(backend.take()))
    first, *between, last, first_again, last_again = per_event
    assert between == [Counter()] * 3  # Downloading, Training, Uploading change nothing recorded: no call
    # First: the trial component, the data set and image artifacts (each looked up by its own key and by its
    # source, then created with its source index entry) and their two associations (each and its mirror):
    # no read of what was just written.
    assert first == {"write": 1 + 2 * 2 + 2 * 2, "read": 2, "list": 2}, first
    # Last: the component (already there), the model artifact and its association.
    assert last == {"write": 1 + 2 + 2, "read": 1, "list": 1}, last
    assert sum(first_again.values()) <= sum(first.values()) and sum(last_again.values()) <= sum(last.values())

    component = lineage.entities.arn("experiment-trial-component", "job-1-aws-training-job")
    found = await lineage.graph.query_lineage({"StartArns": [component], "IncludeEdges": True})
    assert sorted(v["Type"] for v in found["Vertices"]) == ["DataSet", "Image", "Model", "TrainingJob"]
    assert len(found["Edges"]) == 3 and len(await lineage.graph.incoming(component)) == 2  # nothing twice


async def test_a_jobs_trial_component_is_written_at_its_first_and_last_event_without_reading_it_back() -> None:
    details = await _job_life()
    backend = ListingCountingBackend()
    experiments = ExperimentsService(DocumentStore(backend, "e", Experiment, "Experiment"),
                                     DocumentStore(backend, "t", Trial, "Trial"),
                                     DocumentStore(backend, "c", TrialComponent, "Trial component"), **WHERE)
    per_event = []
    jobs = [TrainingJob.model_validate(detail).describe() for detail in details]  # as the handler reads them
    for job in jobs:
        await record_training_job_change(experiments, job)
        per_event.append(_calls(backend.take()))
    assert per_event == [{"write": 1}, Counter(), Counter(), Counter(), {"write": 1}], per_event
    assert await record_training_job_change(experiments, jobs[0]) is not None  # a late first event: kept out
    component = await experiments.describe_trial_component("job-1-aws-training-job")
    described = component.describe()
    assert described["Status"] == {"PrimaryStatus": "Completed"}
    assert described["OutputArtifacts"] == {"SageMaker.ModelArtifact": {"Value": "s3://b/out/model.tar.gz"}}
    assert [m["MetricName"] for m in described["Metrics"]] == ["rmse"]
    assert described["EndTime"] is not None  # the job's end, from its final change
