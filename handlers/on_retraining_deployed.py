"""Chain step 5a: the endpoint settled after a run's update -> record what it serves, or the failure."""

from __future__ import annotations

from handlers.deps import Deps
from handlers.events import StateChangeEvent
from handlers.lambda_adapter import make_lambda_handler
from handlers.registry import OnEvent, handler
from services.hosting.service import DETAIL_TYPE
from services.retraining.steps_deploy import finish_deploy


@handler("finish-retraining-deploy", OnEvent(detail_type=(DETAIL_TYPE,),
                                             detail={"EndpointStatus": ["InService", "Failed"]}))
async def handle(event: StateChangeEvent, deps: Deps) -> str | None:
    """Complete the deploy half of the endpoint's run in flight, if any."""
    return await finish_deploy(deps, event.detail)


lambda_handler = make_lambda_handler("finish-retraining-deploy")
