"""``QueryLineage``'s walk: direction, depth, cycles, filters, and the paths ``IncludeEdges`` keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.lineage.models import Association, LineageType, Vertex
from services.lineage.query import QueryFilters, query, walk

T0 = datetime(2024, 1, 1, tzinfo=UTC)
ACCOUNT = "arn:aws:sagemaker:us-east-1:123456789012"


def art(name: str) -> str:
    return f"{ACCOUNT}:artifact/{name}"


DATA, IMAGE, MODEL, OTHER_MODEL = art("data"), art("image"), art("model"), art("other-model")
JOB = f"{ACCOUNT}:experiment-trial-component/job-aws-training-job"
OTHER_JOB = f"{ACCOUNT}:experiment-trial-component/other-aws-training-job"
DEPLOY = f"{ACCOUNT}:action/deploy"
ENDPOINT = f"{ACCOUNT}:context/endpoint"

#: data -> job -> model -> deploy -> endpoint; image -> job; data -> other job -> other model.
EDGES = [(DATA, JOB, "ContributedTo"), (IMAGE, JOB, "ContributedTo"), (JOB, MODEL, "Produced"),
         (MODEL, DEPLOY, "ContributedTo"), (DEPLOY, ENDPOINT, "AssociatedWith"),
         (DATA, OTHER_JOB, "ContributedTo"), (OTHER_JOB, OTHER_MODEL, "Produced")]
VERTICES = {
    DATA: Vertex(DATA, LineageType.ARTIFACT, "DataSet", T0, T0, {"owner": "ml"}),
    IMAGE: Vertex(IMAGE, LineageType.ARTIFACT, "Image", T0 + timedelta(hours=1), T0 + timedelta(hours=1)),
    MODEL: Vertex(MODEL, LineageType.ARTIFACT, "Model", T0 + timedelta(hours=2), T0 + timedelta(hours=5)),
    OTHER_MODEL: Vertex(OTHER_MODEL, LineageType.ARTIFACT, "Model", T0, T0),
    JOB: Vertex(JOB, LineageType.TRIAL_COMPONENT, "TrainingJob"),
    OTHER_JOB: Vertex(OTHER_JOB, LineageType.TRIAL_COMPONENT, "TrainingJob"),
    DEPLOY: Vertex(DEPLOY, LineageType.ACTION, "ModelDeployment", T0, T0),
    ENDPOINT: Vertex(ENDPOINT, LineageType.CONTEXT, "Endpoint", T0, T0),
}


class Graph:
    """Associations in memory, counting the reads the walk makes."""

    def __init__(self, edges: list[tuple[str, str, str]]) -> None:
        self.edges = [Association(source_arn=s, destination_arn=d, association_type=t, creation_time=T0)
                      for s, d, t in edges]
        self.reads: list[str] = []

    async def outgoing(self, arn: str) -> list[Association]:
        self.reads.append(arn)
        return [a for a in self.edges if a.source_arn == arn]

    async def incoming(self, arn: str) -> list[Association]:
        self.reads.append(arn)
        return [a for a in self.edges if a.destination_arn == arn]


async def vertex(arn: str) -> Vertex | None:
    return VERTICES.get(arn)


async def run(start: str, direction: str, depth: int = 10, keep_paths: bool = False,
              **filters: object) -> tuple[list[str], set[tuple[str, str]]]:
    g = Graph(EDGES)
    found, edges = await query(start, direction, depth, QueryFilters.from_request(filters or None), g.outgoing,
                               g.incoming, vertex, keep_paths=keep_paths)
    return [v.arn for v in found], {(e.source_arn, e.destination_arn) for e in edges}


async def test_ascendants_of_an_endpoint_reach_its_data_and_never_turn_round() -> None:
    arns, _ = await run(ENDPOINT, "Ascendants")
    assert arns == [ENDPOINT, DEPLOY, MODEL, JOB, DATA, IMAGE]  # the start, then by depth
    assert OTHER_JOB not in arns and OTHER_MODEL not in arns  # downstream of the data: another walk's


async def test_descendants_and_both() -> None:
    assert (await run(DATA, "Descendants"))[0] == [DATA, JOB, OTHER_JOB, MODEL, OTHER_MODEL, DEPLOY, ENDPOINT]
    both, _ = await run(MODEL, "Both")
    assert set(both) == {MODEL, JOB, DATA, IMAGE, DEPLOY, ENDPOINT}
    assert OTHER_MODEL not in both


async def test_max_depth_counts_associations_from_the_start() -> None:
    assert (await run(ENDPOINT, "Ascendants", depth=0))[0] == [ENDPOINT]
    assert (await run(ENDPOINT, "Ascendants", depth=2))[0] == [ENDPOINT, DEPLOY, MODEL]
    assert DATA in (await run(ENDPOINT, "Ascendants", depth=4))[0]
    assert DATA not in (await run(ENDPOINT, "Ascendants", depth=3))[0]


async def test_a_cycle_ends_the_walk() -> None:
    g = Graph([(DATA, JOB, "ContributedTo"), (JOB, MODEL, "Produced"), (MODEL, DATA, "DerivedFrom")])
    arns, walked = await walk(DATA, "Descendants", 10, g.outgoing, g.incoming)
    assert arns == [DATA, JOB, MODEL]
    assert len(walked) == 3 and len(g.reads) == 3  # each vertex read once


async def test_filters_choose_vertices_not_the_way() -> None:
    datasets, _ = await run(ENDPOINT, "Ascendants", Types=["DataSet"], LineageTypes=["Artifact"])
    assert datasets == [DATA]
    jobs, _ = await run(ENDPOINT, "Ascendants", Types=["TrainingJob"], LineageTypes=["TrialComponent"])
    assert jobs == [JOB]
    assert (await run(ENDPOINT, "Ascendants", LineageTypes=["Artifact"], Properties={"owner": "ml"}))[0] == [DATA]
    assert (await run(ENDPOINT, "Ascendants", Properties={"owner": "other"}))[0] == []


async def test_time_filters_leave_out_vertices_without_a_time() -> None:
    after = (T0 + timedelta(minutes=30)).timestamp()
    created, _ = await run(ENDPOINT, "Ascendants", CreatedAfter=after)
    assert created == [MODEL, IMAGE]  # the job has no recorded time: a time filter leaves it out
    assert (await run(ENDPOINT, "Ascendants", CreatedBefore=after, LineageTypes=["Artifact"]))[0] == [DATA]
    modified, _ = await run(ENDPOINT, "Ascendants", ModifiedAfter=(T0 + timedelta(hours=4)).timestamp())
    assert modified == [MODEL]
    assert IMAGE not in (await run(ENDPOINT, "Ascendants", ModifiedBefore=(T0 + timedelta(hours=1)).timestamp()))[0]


async def test_include_edges_keeps_the_paths_to_what_matched() -> None:
    arns, edges = await run(ENDPOINT, "Ascendants", keep_paths=True, Types=["DataSet"])
    assert arns == [ENDPOINT, DEPLOY, MODEL, JOB, DATA]  # the image leads to no dataset: not on a path
    assert edges == {(DATA, JOB), (JOB, MODEL), (MODEL, DEPLOY), (DEPLOY, ENDPOINT)}
    everything, all_edges = await run(MODEL, "Both", keep_paths=True)
    assert set(everything) == {MODEL, JOB, DATA, IMAGE, DEPLOY, ENDPOINT}
    assert all_edges == {(DATA, JOB), (IMAGE, JOB), (JOB, MODEL), (MODEL, DEPLOY), (DEPLOY, ENDPOINT)}
    assert (await run(ENDPOINT, "Ascendants", keep_paths=True, Types=["Nothing"])) == ([], set())


async def test_without_include_edges_no_edges_come_back() -> None:
    assert (await run(MODEL, "Both"))[1] == set()


async def test_a_vertex_that_cannot_be_described_is_left_out() -> None:
    g = Graph(EDGES)

    async def some(arn: str) -> Vertex | None:
        return None if arn == MODEL else VERTICES.get(arn)

    found, _ = await query(ENDPOINT, "Ascendants", 10, QueryFilters(), g.outgoing, g.incoming, some)
    assert [v.arn for v in found] == [ENDPOINT, DEPLOY, JOB, DATA, IMAGE]
