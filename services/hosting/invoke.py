"""``InvokeEndpoint``: route a runtime request to a variant's instance, answer as SageMaker does.

Plugged into :class:`services.api.runtime_server.RuntimeServer` as its
``invoker`` (the server has refused bodies over 6 MB already). Errors are
the ``sagemaker-runtime`` model's own: an unknown endpoint or variant is
``ValidationError``; a container's 4xx/5xx is ``ModelError`` (HTTP 424)
carrying ``OriginalStatusCode`` and ``OriginalMessage``; no reachable
instance is ``ServiceUnavailable``. Successful answers carry
``x-Amzn-Invoked-Production-Variant``. Data capture and shadow copies run
after the answer is ready and never delay or fail it; at most
``max_shadow_in_flight`` shadow copies run at once, and a request that
arrives while that many are still running is not copied (counted as
``skipped`` in the shadow statistics) rather than queued without end. On a multi-model
variant ``X-Amzn-SageMaker-Target-Model`` is required (and refused
elsewhere), and a target model that cannot be fetched is ``ValidationError``
(:mod:`services.hosting.multi_model`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from containers.shared.http_server import Request, Response
from services.hosting.capture import CaptureWriter
from services.hosting.fleet import LiveEndpoint, LiveVariant
from services.hosting.invocation_metrics import InvocationMetrics
from services.hosting.manager import HostingManager
from services.hosting.multi_model import ModelLoadRefused, MultiModelRouter, TargetModelNotFound
from services.hosting.runtime_errors import runtime_error
from services.hosting.shadow import ShadowStats
from services.hosting.target_model import H_TARGET_MODEL, check_target_model, multi_model_container
from services.inference.instance import Answer, InstanceUnavailable

log = logging.getLogger(__name__)

H_TARGET_VARIANT = "X-Amzn-SageMaker-Target-Variant"
H_CUSTOM = "X-Amzn-SageMaker-Custom-Attributes"
H_INFERENCE_ID = "X-Amzn-SageMaker-Inference-Id"
H_INVOKED = "x-Amzn-Invoked-Production-Variant"
# The request's headers arrive with lower-case names.
_TARGET_VARIANT, _CUSTOM, _INFERENCE_ID = H_TARGET_VARIANT.lower(), H_CUSTOM.lower(), H_INFERENCE_ID.lower()
_TARGET_MODEL = H_TARGET_MODEL.lower()
MAX_SHADOW_IN_FLIGHT = 32
# How long a request to an endpoint being brought back waits for its fleet (boto3's read timeout is 60 s).
RESTORE_WAIT_SECONDS = 50.0


class EndpointInvoker:
    """The runtime's ``invoker``: ``await invoker(name, request)``; ``None`` for an unknown endpoint."""

    def __init__(self, manager: HostingManager, capture: CaptureWriter, shadows: ShadowStats, *,
                 region: str, account_id: str, metrics: InvocationMetrics | None = None,
                 multi_model: MultiModelRouter | None = None,
                 max_shadow_in_flight: int = MAX_SHADOW_IN_FLIGHT) -> None:
        self.manager = manager
        self.multi_model = multi_model  # loads TargetModel on multi-model endpoints
        self.capture = capture
        self.shadows = shadows
        self.metrics = metrics  # SageMaker's Invocations per variant, which autoscaling tracks
        self.region = region
        self.account_id = account_id
        # Shadow copies in flight; a slow shadow variant must not pile up one task (and body) per request.
        self.max_shadow_in_flight = max_shadow_in_flight
        self._background: set[asyncio.Task[None]] = set()

    async def __call__(self, name: str, request: Request) -> Response | None:
        # An endpoint brought back after a restart answers once its fleet is up, as an InService one does.
        live = await self.manager.live_endpoint(name, wait=RESTORE_WAIT_SECONDS)
        if live is None:
            return None
        body, headers = request.body, request.headers  # a body over 6 MB was refused before routing
        target = headers.get(_TARGET_VARIANT)
        try:
            variant = live.choose(target)
        except KeyError:
            return runtime_error(400, "ValidationError", f"Variant {target} not found for endpoint {name}. "
                                 f"Available variants: {', '.join(live.variants)}.")
        if self.metrics is not None:
            self.metrics.record(name, variant.name, sum(1 for i in variant.instances if i.healthy))
        ctype = headers.get("content-type") or "application/octet-stream"
        accept = headers.get("accept")
        custom = headers.get(_CUSTOM)
        target_model = headers.get(_TARGET_MODEL)
        refusal = check_target_model(name, variant.model, target_model)
        if refusal is not None:
            message, code = refusal
            return runtime_error(400, "ValidationError", message, **({"ErrorCode": code} if code else {}))
        try:
            answer = await self.call(variant, body, ctype, accept, custom, target_model)
        except TargetModelNotFound as err:
            return runtime_error(400, "ValidationError", str(err))
        except ModelLoadRefused as err:
            return self._model_error(name, variant.name, err.answer)
        if answer is None:
            return runtime_error(503, "ServiceUnavailable", f"No healthy instance of variant {variant.name} of "
                                 f"endpoint {name} could be reached; try again.")
        if answer.status >= 400:
            return self._model_error(name, variant.name, answer)
        self._after(live, variant, body, ctype, accept, custom, answer, headers.get(_INFERENCE_ID))
        out = {H_INVOKED: variant.name, "x-amzn-RequestId": str(uuid.uuid4())}
        if answer.custom_attributes:
            out[H_CUSTOM] = answer.custom_attributes
        return Response(200, answer.body, answer.content_type, out)

    async def call(self, variant: LiveVariant, body: bytes, ctype: str, accept: str | None,
                   custom: str | None, target_model: str | None = None) -> Answer | None:
        """Invoke one instance of ``variant``; another one if it cannot be reached.

        With ``target_model`` on a multi-model variant, the model is loaded on that instance first.
        """
        container = multi_model_container(variant.model) if target_model else None
        session = self.manager.session
        assert session is not None
        for _ in range(max(1, len(variant.instances))):
            instance = variant.pick()
            if instance is None:
                return None
            try:
                if container is not None and target_model and self.multi_model is not None:
                    return await self.multi_model.invoke(session, instance, container, target_model, body, ctype,
                                                         accept, custom, self.manager.invoke_timeout)
                return await instance.invoke(session, body, ctype, accept, custom, self.manager.invoke_timeout)
            except InstanceUnavailable as err:
                log.warning("%s; trying another instance", err)
            finally:
                instance.release()
        return None

    def _model_error(self, endpoint: str, variant: str, answer: Answer) -> Response:
        original = answer.body.decode("utf-8", errors="replace")
        kind = "client" if answer.status < 500 else "server"
        group = f"/aws/sagemaker/Endpoints/{endpoint}"
        return runtime_error(
            424, "ModelError",
            f"Received {kind} error ({answer.status}) from primary with message \"{original}\". See "
            f"https://{self.region}.console.aws.amazon.com/cloudwatch/home?region={self.region}"
            f"#logEventViewer:group={group} in account {self.account_id} for more information.",
            OriginalStatusCode=answer.status, OriginalMessage=original,
            LogStreamArn=f"arn:aws:logs:{self.region}:{self.account_id}:log-group:{group}",
            ErrorCode=f"{kind.upper()}_ERROR_FROM_MODEL")

    def _after(self, live: LiveEndpoint, variant: LiveVariant, body: bytes, ctype: str, accept: str | None,
               custom: str | None, answer: Answer, inference_id: str | None = None) -> None:
        """Capture the exchange and copy it to shadow variants, off the request's path."""
        capture = live.capture
        if capture is not None and self.capture.sampled(capture):
            self.capture.add(capture, live.name, variant.name, (body, ctype), (answer.body, answer.content_type),
                             inference_id)
        for shadow in live.shadows.values():
            if len(self._background) >= self.max_shadow_in_flight:
                self.shadows.skip(live.name, shadow.name)
                continue
            task = asyncio.create_task(self._shadow(live, shadow, body, ctype, accept, custom, answer))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _shadow(self, live: LiveEndpoint, shadow: LiveVariant, body: bytes, ctype: str, accept: str | None,
                      custom: str | None, production: Answer) -> None:
        try:
            answer = await self.call(shadow, body, ctype, accept, custom)
        except Exception:  # noqa: BLE001 - a shadow never affects production
            log.warning("shadow variant %s of %s failed", shadow.name, live.name, exc_info=True)
            answer = None
        self.shadows.record(live.name, shadow.name, production, answer)
        capture = live.capture
        if capture is not None and answer is not None and answer.status < 400 and self.capture.sampled(capture):
            self.capture.add(capture, live.name, shadow.name, (body, ctype), (answer.body, answer.content_type))
