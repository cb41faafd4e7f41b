"""``headwater logs --function <name> [--follow]``: a function's log from CloudWatch Logs."""

from __future__ import annotations

import asyncio

from infra.cli.endpoints import settings_for_client
from services.aws.logs import LogsAdapter
from services.aws.session import AwsClients
from services.core.settings import Settings


async def print_function_logs(settings: Settings, name: str, follow: bool = False, poll_seconds: float = 1.0,
                              stop: asyncio.Event | None = None) -> int:
    """Print every line of ``/aws/lambda/<name>`` in time order; with ``follow``, keep printing new lines
    until ``stop`` is set (or the command is interrupted)."""
    cs, _ = settings_for_client(settings.state_dir, settings.aws_endpoint)
    group = f"/aws/lambda/{name}"
    seen: set[str] = set()
    start = 0
    async with AwsClients(cs) as clients:
        logs = LogsAdapter(clients.logs)
        while True:
            for event_id, ts, _, message in await logs.group_events(group, start):
                if event_id not in seen:
                    seen.add(event_id)
                    print(message, flush=True)
                start = max(start, ts)  # the last millisecond is read again: ids keep it from printing twice
            if not follow or (stop is not None and stop.is_set()):
                break
            await asyncio.sleep(poll_seconds)
    if not seen and not follow:
        print(f"(no log lines in {group} yet)")
    return 0
