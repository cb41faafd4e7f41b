"""The training jobs' index over the S3 backend on a real moto server: two nodes (each its own
client and store) creating jobs at once on one state bucket, and a client paging meanwhile."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiobotocore.session import get_session
from botocore.config import Config

from services.aws.s3 import S3Adapter
from services.aws.s3_documents import S3Backend
from services.core.job_service import ListJobsQuery
from services.core.store import DocumentStore
from services.training.models import TrainingJob, TrainingJobStatus
from services.training.service import TrainingService
from tests.unit.test_training_service import Clock, Recorder, request

BUCKET = "index-system"
CREDS = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}


def _node(client: Any, clock: Clock) -> TrainingService:
    store = DocumentStore(S3Backend(S3Adapter(client), BUCKET), "training-jobs", TrainingJob, "Training job",
                          TrainingService.summary)
    return TrainingService(store, Recorder(), Recorder(), region="us-east-1",  # type: ignore[arg-type]
                           account_id="123456789012", clock=clock)


async def _scenario(url: str) -> None:
    config = Config(s3={"addressing_style": "path"}, max_pool_connections=20)
    session = get_session()
    async with session.create_client("s3", endpoint_url=url, config=config, **CREDS) as one, \
            session.create_client("s3", endpoint_url=url, config=config, **CREDS) as two:
        await one.create_bucket(Bucket=BUCKET)
        clock = Clock()
        a, b = _node(one, clock), _node(two, clock)
        for i in range(8):
            await a.create_training_job(request(f"early-{i}"))

        seen: list[str] = []

        async def page_through() -> None:
            token: str | None = None
            while True:  # newest first: every job created meanwhile sorts ahead of where we are
                jobs, token = await b.list_jobs(ListJobsQuery(sort_order="Descending", max_results=3,
                                                              next_token=token))
                seen.extend(j.training_job_name for j in jobs)
                if token is None:
                    return

        await asyncio.gather(page_through(),
                             *(svc.create_training_job(request(f"{who}-{i:02d}"))
                               for i in range(15) for who, svc in (("a", a), ("b", b))))
        assert len(seen) == len(set(seen)), seen
        assert sorted(n for n in seen if n.startswith("early-")) == [f"early-{i}" for i in range(8)]

        await asyncio.gather(*(svc.transition(f"a-{i:02d}", TrainingJobStatus.FAILED)
                               for i, svc in zip(range(15), [a, b] * 8, strict=False)))
        fresh = _node(one, clock)  # a third node: holds nothing, reads the index
        failed, _ = await fresh.list_jobs(ListJobsQuery(status_equals="Failed", max_results=100))
        assert sorted(j.training_job_name for j in failed) == [f"a-{i:02d}" for i in range(15)]
        listed = await one.list_objects_v2(Bucket=BUCKET, Prefix="state/_index/training-jobs/")
        entries: dict[str, Any] = {}
        for obj in listed["Contents"]:
            if not obj["Key"].endswith("built.json"):
                body = await (await one.get_object(Bucket=BUCKET, Key=obj["Key"]))["Body"].read()
                entries.update(json.loads(body)["entries"])
        assert len(entries) == 38 and not any(e.get("p") for e in entries.values())


def test_two_nodes_on_one_bucket_keep_one_index_and_paging_stays_stable(emulator: str) -> None:
    asyncio.run(_scenario(emulator))
