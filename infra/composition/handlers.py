"""What handlers are given: their :class:`~handlers.deps.Deps`, from the wired services.

The node's handler runtime, the Lambda endpoint and ``headwater invoke``
share one :func:`handler_deps`. A handler module deployed as a Lambda
function of its own is started by the Lambda runtime, not by a node: it
finds :func:`lambda_deps` through the ``headwater.handler_deps`` entry point
(``pyproject.toml``), so the handlers never import this layer.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from handlers.deps import Deps
from infra.composition.services import Services, build_services
from services.aws.session import AwsClients
from services.core.settings import Settings


def handler_deps(services: Services) -> Deps:
    """The handler view of a wired :class:`Services`."""
    return Deps(settings=services.settings, training=services.training, s3=services.s3,
                clock=services.training.clock, processing=services.processing, tuning=services.tuning,
                registry=services.registry, hosting=services.hosting, transform=services.transform,
                monitoring=services.monitoring, retraining=services.retraining,
                lineage=services.lineage,
                experiments=services.experiments, pipelines=services.pipelines)


@contextlib.asynccontextmanager
async def lambda_deps() -> AsyncIterator[Deps]:
    """Deps for one Lambda invocation: settings from ``HEADWATER_*``, clients opened and closed around it."""
    settings = Settings()
    async with AwsClients(settings) as clients:
        yield handler_deps(build_services(settings, clients))
