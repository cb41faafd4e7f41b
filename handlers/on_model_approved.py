"""Chain step 4: a version approved -> deploy it blue/green to the endpoints that serve its group.

Works for versions the chain registered and for any a human approves
(``headwater approve``); a run's version also gets its monitoring baseline
recomputed from its training data.
"""

from __future__ import annotations

from handlers.deps import Deps
from handlers.events import StateChangeEvent
from handlers.lambda_adapter import make_lambda_handler
from handlers.registry import OnEvent, handler
from services.registry.service import DETAIL_TYPE
from services.retraining.steps_deploy import deploy_approved


@handler("deploy-approved-model", OnEvent(detail_type=(DETAIL_TYPE,), detail={"ModelApprovalStatus": ["Approved"]}),
         timeout_seconds=120)
async def handle(event: StateChangeEvent, deps: Deps) -> list[str]:
    """Update each endpoint whose retraining policy names the version's group."""
    return await deploy_approved(deps, event.detail)


lambda_handler = make_lambda_handler("deploy-approved-model")
