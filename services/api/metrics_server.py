"""The ``sagemaker-metrics`` service (rest-json): ``BatchPutMetrics``, where the SDK's ``Run.log_metric``
sends a run's metrics.

botocore's ``sagemaker-metrics`` client (``boto3.client("sagemaker-metrics")``,
what ``sagemaker.Session`` builds) finds its endpoint in
``AWS_ENDPOINT_URL_SAGEMAKER_METRICS``. Its one route, ``PUT
/BatchPutMetrics``, is served beside the SageMaker control plane's ``POST /``
on the same server, so that variable names the control plane's URL. The body
is checked against botocore's model of the operation, as the control plane's
are; the values are folded into the trial component's metric summaries,
which ``DescribeTrialComponent`` and ``Search`` return.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from services.api import protocol
from services.api.validation import validate_input
from services.core.exceptions import InternalFailure, ServiceError
from services.experiments.service import ExperimentsService

log = logging.getLogger(__name__)
SERVICE = "sagemaker-metrics"


def add_metrics_routes(app: web.Application, experiments: ExperimentsService) -> None:
    """Serve ``BatchPutMetrics`` on ``app``."""

    async def batch_put_metrics(request: web.Request) -> web.Response:
        request_id = protocol.new_request_id()
        try:
            params: dict[str, Any] = protocol.decode_body(await request.read())
            validate_input(SERVICE, "BatchPutMetrics", params)
            await experiments.put_metrics(params["TrialComponentName"], params["MetricData"])
        except ServiceError as err:
            return protocol.error_response(err, request_id=request_id)
        except Exception:
            log.exception("BatchPutMetrics failed (request %s)", request_id)
            return protocol.error_response(InternalFailure("BatchPutMetrics failed"), request_id=request_id)
        return web.json_response({}, headers={protocol.REQUEST_ID_HEADER: request_id})

    app.router.add_put("/BatchPutMetrics", batch_put_metrics)
