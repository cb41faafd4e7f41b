"""``InvokeEndpoint``: route a runtime request to a variant's instance, answer as SageMaker does.

Plugged into :func:`services.api.runtime_server.make_runtime_app` as its
``invoker``. Errors are the ``sagemaker-runtime`` model's own: an unknown
endpoint or variant and an oversized payload are ``ValidationError``; a
container's 4xx/5xx is ``ModelError`` (HTTP 424) carrying
``OriginalStatusCode`` and ``OriginalMessage``; no reachable instance is
``ServiceUnavailable``. Successful answers carry
``x-Amzn-Invoked-Production-Variant``. Data capture and shadow copies run
after the answer is ready and never delay or fail it. On a multi-model
variant ``X-Amzn-SageMaker-Target-Model`` is required (and refused
elsewhere), and a target model that cannot be fetched is ``ValidationError``
(:mod:`services.hosting.multi_model`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

from aiohttp import web

from services.hosting.capture import CaptureWriter
from services.hosting.fleet import LiveEndpoint, LiveVariant
from services.hosting.instance import Answer, InstanceUnavailable
from services.hosting.invocation_metrics import InvocationMetrics
from services.hosting.manager import HostingManager
from services.hosting.multi_model import ModelLoadRefused, MultiModelRouter, TargetModelNotFound
from services.hosting.target_model import H_TARGET_MODEL, check_target_model, multi_model_container
from services.hosting.shadow import ShadowStats

log = logging.getLogger(__name__)

MAX_PAYLOAD = 6 * 1024 * 1024
H_TARGET_VARIANT = "X-Amzn-SageMaker-Target-Variant"
H_CUSTOM = "X-Amzn-SageMaker-Custom-Attributes"
H_INFERENCE_ID = "X-Amzn-SageMaker-Inference-Id"
H_INVOKED = "x-Amzn-Invoked-Production-Variant"


def runtime_error(status: int, code: str, message: str, **extra: object) -> web.Response:
    """An error as botocore's rest-json parser reads it (code from ``x-amzn-ErrorType``)."""
    return web.Response(status=status, body=json.dumps({"message": message, **extra}).encode(),
                        content_type="application/json",
                        headers={"x-amzn-ErrorType": code, "x-amzn-RequestId": str(uuid.uuid4())})


class EndpointInvoker:
    """The runtime's ``invoker``: ``await invoker(name, request)``; ``None`` for an unknown endpoint."""

    def __init__(self, manager: HostingManager, capture: CaptureWriter, shadows: ShadowStats, *,
                 region: str, account_id: str, metrics: InvocationMetrics | None = None,
                 multi_model: MultiModelRouter | None = None) -> None:
        self.manager = manager
        self.multi_model = multi_model  # loads TargetModel on multi-model endpoints
        self.capture = capture
        self.shadows = shadows
        self.metrics = metrics  # SageMaker's Invocations per variant, which autoscaling tracks
        self.region = region
        self.account_id = account_id
        self._background: set[asyncio.Task[None]] = set()

    async def __call__(self, name: str, request: web.Request) -> web.StreamResponse | None:
        live = self.manager.live.get(name)
        if live is None:
            return None
        body = await _read_limited(request)
        if body is None:
            return runtime_error(413, "ValidationError", f"Received payload of more than {MAX_PAYLOAD} bytes, "
                                 f"the maximum allowed for InvokeEndpoint is {MAX_PAYLOAD} bytes (6 MB).")
        target = request.headers.get(H_TARGET_VARIANT)
        try:
            variant = live.choose(target)
        except KeyError:
            return runtime_error(400, "ValidationError", f"Variant {target} not found for endpoint {name}. "
                                 f"Available variants: {', '.join(live.variants)}.")
        if self.metrics is not None:
            self.metrics.record(name, variant.name, sum(1 for i in variant.instances if i.healthy))
        ctype = request.headers.get("Content-Type") or "application/octet-stream"
        accept = request.headers.get("Accept")
        custom = request.headers.get(H_CUSTOM)
        target_model = request.headers.get(H_TARGET_MODEL)
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
        self._after(live, variant, body, ctype, accept, custom, answer, request.headers.get(H_INFERENCE_ID))
        headers = {"Content-Type": answer.content_type, H_INVOKED: variant.name,
                   "x-amzn-RequestId": str(uuid.uuid4())}
        if answer.custom_attributes:
            headers[H_CUSTOM] = answer.custom_attributes
        return web.Response(body=answer.body, headers=headers)

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

    def _model_error(self, endpoint: str, variant: str, answer: Answer) -> web.Response:
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


async def _read_limited(request: web.Request) -> bytes | None:
    """The body, or ``None`` when it is over :data:`MAX_PAYLOAD`."""
    if (request.content_length or 0) > MAX_PAYLOAD:
        return None
    if request.content_length is not None:
        return await request.content.readexactly(request.content_length) if request.content_length else b""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > MAX_PAYLOAD:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
