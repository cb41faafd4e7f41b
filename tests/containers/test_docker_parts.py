"""Processing jobs, spot-style resume and multi-host training under the docker runner.

The process runner proves these in ``tests/e2e``; here the very same tests
(imported, not copied: same scripts, helpers and assertions) run against one
node whose worker starts every host as its own container in a real engine:

- a Processing job in the scikit-learn container, with the SDK's
  ``ContainerEntrypoint`` / ``ContainerArguments``, S3 inputs at the literal
  ``/opt/ml/processing/...`` paths and outputs uploaded at the end or
  continuously (two containers for two instances, each with its shard),
  and ``StopProcessingJob`` ending a running container;
- the built-in XGBoost interrupted mid-run: the restarted container gets its
  checkpoints back from S3 and ends with the same boosting rounds as an
  uninterrupted run;
- two-host training: PyTorch DDP over gloo and the built-in XGBoost over
  xgboost's collective, each host a separate container reaching the other on
  the loopback ports Headwater assigns (the containers share the host's
  network namespace).

The e2e modules' fixtures (``env``, ``events``, ``train_uri``, ``shards``) are
imported by name so they build on this module's ``node``: the docker node.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.containers.conftest import start_node
from tests.e2e import test_multi_host as multi_host
from tests.e2e import test_processing as processing
from tests.e2e import test_spot_checkpoints as spot
from tests.e2e.test_multi_host import shards  # noqa: F401 - a fixture, on this module's node
from tests.e2e.test_processing import env, events  # noqa: F401 - fixtures, on this module's node
from tests.e2e.test_spot_checkpoints import train_uri  # noqa: F401 - a fixture, on this module's node
from tests.support import NodeThread

IMAGES = ("sklearn", "xgboost", "pytorch")

pytestmark = pytest.mark.sdk


@pytest.fixture(scope="module")
def node(images: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeThread]:
    """One node for the module whose worker runs every host in the engine."""
    # Ended jobs' trees are kept: the multi-host tests look into each host's.
    n = start_node(tmp_path_factory.mktemp("node-docker-parts"), "docker", keep_job_trees=True)
    yield n
    n.stop()


def _ran_in_containers(node: NodeThread, log: str) -> None:
    """The host's log says the docker runner started it (not a process)."""
    text = (node.settings.jobs_dir / log).read_text()
    assert "(container " in text, text[:2000]


def _newest_processing_job(node: NodeThread) -> str:
    return node.client("sagemaker").list_processing_jobs(SortBy="CreationTime", SortOrder="Descending")[
        "ProcessingJobSummaries"][0]["ProcessingJobName"]


def test_processing_sklearn_processor_in_a_container(node: NodeThread, env: None, events: Any) -> None:  # noqa: F811
    processing.test_sklearn_processor_splits_a_dataset(node, env, events)
    _ran_in_containers(node, f"processing/{_newest_processing_job(node)}/algo-1.log")


def test_processing_two_instances_sharded_and_continuous(node: NodeThread, env: None) -> None:  # noqa: F811
    processing.test_script_processor_two_instances_sharded_and_continuous(node, env)
    name = _newest_processing_job(node)
    for host in ("algo-1", "algo-2"):
        _ran_in_containers(node, f"processing/{name}/{host}.log")


def test_stop_processing_job_stops_its_container(node: NodeThread, env: None) -> None:  # noqa: F811
    # The stop has to reach the script through the engine (SIGTERM via the container's init, then a kill).
    processing.test_stop_processing_job(node, env)
    _ran_in_containers(node, "processing/sleepy/algo-1.log")


def test_builtin_xgboost_resumes_from_its_checkpoint(node: NodeThread, train_uri: str) -> None:  # noqa: F811
    spot.test_builtin_xgboost_resumes_boosting_from_its_checkpoint(node, train_uri)
    _ran_in_containers(node, "xgb-spot/algo-1.log")


def test_ddp_across_two_host_containers(node: NodeThread, shards: str,  # noqa: F811
                                        tmp_path_factory: pytest.TempPathFactory) -> None:
    multi_host.test_ddp_across_two_hosts_exchanges_gradients(node, shards, tmp_path_factory)
    for host in ("algo-1", "algo-2"):
        _ran_in_containers(node, f"ddp-two-hosts/{host}.log")


def test_builtin_xgboost_across_two_host_containers(node: NodeThread, shards: str) -> None:  # noqa: F811
    multi_host.test_builtin_xgboost_trains_across_two_hosts(node, shards)
    for host in ("algo-1", "algo-2"):
        _ran_in_containers(node, f"xgb-two-hosts/{host}.log")

