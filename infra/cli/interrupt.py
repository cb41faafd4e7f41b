"""``headwater interrupt <job>``: the fault-injection control for spot-style interruption.

It marks the job in the state store; the worker running it stops its hosts,
shows ``Interrupted`` then ``Restarting``, and runs it again from its last
checkpoint, as a reclaimed spot instance would.
"""

from __future__ import annotations

import sys

from infra.cli.endpoints import settings_for_client
from services.aws.session import AwsClients
from services.core.exceptions import ServiceError
from services.core.settings import Settings


async def interrupt_job(settings: Settings, job: str) -> int:
    """Interrupt training job ``job`` on the running node; 1 when it cannot be interrupted."""
    from infra.composition.services import build_services
    from services.training.spot import interrupt_training_job

    if settings.aws_endpoint is None:
        settings, _ = settings_for_client(settings.state_dir, None)
    async with AwsClients(settings) as clients:
        try:
            await interrupt_training_job(build_services(settings, clients).training, job)
        except ServiceError as err:
            print(f"{err.code}: {err.message}", file=sys.stderr)
            return 1
    print(f"Interrupting {job}: it restarts from its last checkpoint")
    return 0
