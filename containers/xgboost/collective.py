"""Distributed training of the built-in XGBoost over xgboost's collective communication.

On a multi-host job every host trains on its own share of the data (all of
it, or its ``ShardedByS3Key`` share); histogram building is allreduced
across hosts, so they grow identical trees. The first host runs the tracker
on the address the platform assigned it (``HEADWATER_HOST_ADDRESSES``); the
others connect to it; each host's rank follows its position in ``hosts``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from containers.common.cluster import master
from containers.common.environment import Environment

# Seconds a host waits for its peers before the job fails instead of hanging.
TIMEOUT_SECONDS = 300


@contextlib.contextmanager
def communicator(env: Environment) -> Iterator[None]:
    """Join the job's hosts for the duration of the block (a no-op on one host)."""
    if len(env.hosts) <= 1:
        yield
        return
    from xgboost import collective
    from xgboost.tracker import RabitTracker

    address, port = master(env.hosts)
    tracker = None
    if env.is_master:
        tracker = RabitTracker(host_ip=address, n_workers=len(env.hosts), port=port, sortby="task",
                               timeout=TIMEOUT_SECONDS)
        tracker.start()
    args = {"dmlc_tracker_uri": address, "dmlc_tracker_port": port, "dmlc_timeout": TIMEOUT_SECONDS,
            "dmlc_task_id": f"{sorted(env.hosts).index(env.current_host):04d}-{env.current_host}"}
    print(f"Joining {len(env.hosts)} hosts through the tracker at {address}:{port} as {env.current_host}",
          flush=True)
    with collective.CommunicatorContext(**args):
        print(f"Host {env.current_host} is rank {collective.get_rank()} of {collective.get_world_size()}",
              flush=True)
        yield
    if tracker is not None:
        tracker.wait_for(TIMEOUT_SECONDS)
