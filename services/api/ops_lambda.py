"""The Lambda API (rest-json, botocore's ``lambda`` model) on the node's Lambda port.

User functions (:mod:`services.functions`) and the built-in handlers
(:class:`~services.functions.builtins.BuiltinFunctions`) share one
namespace: ``ListFunctions`` lists both, ``Invoke`` runs either, and a
user's function may not take a built-in's name. The control-plane
operations (versions, aliases, settings) are for user functions.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from services.api.rest_json import RestJsonService
from services.core.paging import decode_token, encode_token
from services.functions.async_delivery import MAX_ASYNC_PAYLOAD, AsyncInvocations
from services.functions.builtins import BuiltinFunctions
from services.functions.event_sources import SqsEventSources
from services.functions.exceptions import (
    InvalidRequestContentException,
    RequestTooLargeException,
    ResourceConflictException,
    ResourceNotFoundException,
    ServiceException,
)
from services.functions.invoker import Invoker
from services.functions.names import LATEST, FunctionRef, parse_function_name
from services.functions.service import FunctionsService
from services.functions.settings_ops import FunctionSettings

log = logging.getLogger(__name__)

#: Lambda's limit on a ``RequestResponse`` invocation's payload.
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
_DEFAULT_PAGE = 50


class LambdaApi:
    """The operations, over the user functions (when given) and the built-in ones."""

    def __init__(self, builtins: BuiltinFunctions | None, functions: FunctionsService | None = None,
                 settings: FunctionSettings | None = None, invoker: Invoker | None = None,
                 async_invocations: AsyncInvocations | None = None,
                 event_sources: SqsEventSources | None = None) -> None:
        self.builtins = builtins
        self.functions = functions
        self.settings = settings
        self.invoker = invoker
        self.async_invocations = async_invocations
        self.event_sources = event_sources
        self.service = RestJsonService("lambda")
        self._register()

    # ------------------------------------------------------------------ helpers

    def _builtin(self, ref: FunctionRef) -> str | None:
        """The built-in ``ref`` names, if it names one (only ``$LATEST`` of it exists)."""
        if self.builtins is None or ref.name not in self.builtins.names():
            return None
        if ref.qualifier not in (None, LATEST):
            raise ResourceNotFoundException(f"Function not found: {ref.name}:{ref.qualifier} (only $LATEST exists)")
        return ref.name

    def _user(self) -> tuple[FunctionsService, FunctionSettings]:
        if self.functions is None or self.settings is None:
            raise ResourceNotFoundException("This endpoint serves the built-in functions only")
        return self.functions, self.settings

    def _ref(self, params: dict[str, Any], qualified: bool = True) -> FunctionRef:
        return parse_function_name(params["FunctionName"], params.get("Qualifier") if qualified else None)

    def _user_ref(self, params: dict[str, Any], qualified: bool = True) -> FunctionRef:
        ref = self._ref(params, qualified)
        if self._builtin(ref) is not None:
            raise ResourceConflictException(f"{ref.name} is one of Headwater's built-in functions: it cannot be "
                                            "changed through this API")
        return ref

    # ------------------------------------------------------------------ operations

    def _register(self) -> None:
        api = self.service

        @api.operation("CreateFunction")
        async def create_function(params: dict[str, Any]) -> dict[str, Any]:
            functions, _ = self._user()
            ref = parse_function_name(params["FunctionName"])
            if self._builtin(FunctionRef(ref.name, None)) is not None:
                raise ResourceConflictException(f"Function already exist: {ref.name} (a built-in function)")
            return await functions.create_function({**params, "FunctionName": ref.name})

        @api.operation("GetFunction")
        async def get_function(params: dict[str, Any]) -> dict[str, Any]:
            ref = self._ref(params)
            if (name := self._builtin(ref)) is not None:
                assert self.builtins is not None
                return {"Configuration": self.builtins.configuration(name)}
            return await self._user()[0].get_function(ref)

        @api.operation("GetFunctionConfiguration")
        async def get_function_configuration(params: dict[str, Any]) -> dict[str, Any]:
            ref = self._ref(params)
            if (name := self._builtin(ref)) is not None:
                assert self.builtins is not None
                return self.builtins.configuration(name)
            _, config, _ = await self._user()[0].resolve(ref)
            return config.describe()

        @api.operation("ListFunctions")
        async def list_functions(params: dict[str, Any]) -> dict[str, Any]:
            found = [self.builtins.configuration(n) for n in self.builtins.names()] if self.builtins else []
            if self.functions is not None:
                found += await self.functions.list_functions(params.get("FunctionVersion") == "ALL")
            found.sort(key=lambda c: (c["FunctionName"], c.get("Version", LATEST) != LATEST))
            return _page("Functions", found, params)

        @api.operation("UpdateFunctionCode")
        async def update_function_code(params: dict[str, Any]) -> dict[str, Any]:
            ref = self._user_ref(params, qualified=False)
            return await self._user()[0].update_function_code(ref.name, params)

        @api.operation("UpdateFunctionConfiguration")
        async def update_function_configuration(params: dict[str, Any]) -> dict[str, Any]:
            ref = self._user_ref(params, qualified=False)
            return await self._user()[0].update_function_configuration(ref.name, params)

        @api.operation("DeleteFunction")
        async def delete_function(params: dict[str, Any]) -> dict[str, Any]:
            await self._user()[0].delete_function(self._user_ref(params))
            return {"StatusCode": 204}

        @api.operation("PublishVersion")
        async def publish_version(params: dict[str, Any]) -> dict[str, Any]:
            return await self._user()[0].publish_version(self._user_ref(params, False).name, params)

        @api.operation("ListVersionsByFunction")
        async def list_versions(params: dict[str, Any]) -> dict[str, Any]:
            return _page("Versions", await self._user()[0].list_versions(self._user_ref(params, False).name), params)

        @api.operation("CreateAlias")
        async def create_alias(params: dict[str, Any]) -> dict[str, Any]:
            return await self._user()[0].create_alias(self._user_ref(params, False).name, params)

        @api.operation("GetAlias")
        async def get_alias(params: dict[str, Any]) -> dict[str, Any]:
            return await self._user()[0].get_alias(self._user_ref(params, False).name, params["Name"])

        @api.operation("UpdateAlias")
        async def update_alias(params: dict[str, Any]) -> dict[str, Any]:
            return await self._user()[0].update_alias(self._user_ref(params, False).name, params["Name"], params)

        @api.operation("DeleteAlias")
        async def delete_alias(params: dict[str, Any]) -> None:
            await self._user()[0].delete_alias(self._user_ref(params, False).name, params["Name"])

        @api.operation("ListAliases")
        async def list_aliases(params: dict[str, Any]) -> dict[str, Any]:
            aliases = await self._user()[0].list_aliases(self._user_ref(params, False).name,
                                                         params.get("FunctionVersion"))
            return _page("Aliases", aliases, params)

        @api.operation("PutFunctionConcurrency")
        async def put_concurrency(params: dict[str, Any]) -> dict[str, Any]:
            return await self._user()[1].put_concurrency(self._user_ref(params, False).name,
                                                         params["ReservedConcurrentExecutions"])

        @api.operation("GetFunctionConcurrency")
        async def get_concurrency(params: dict[str, Any]) -> dict[str, Any]:
            return await self._user()[1].get_concurrency(self._user_ref(params, False).name)

        @api.operation("DeleteFunctionConcurrency")
        async def delete_concurrency(params: dict[str, Any]) -> None:
            await self._user()[1].delete_concurrency(self._user_ref(params, False).name)

        @api.operation("AddPermission")
        async def add_permission(params: dict[str, Any]) -> dict[str, Any]:
            ref = self._user_ref(params)
            return await self._user()[1].add_permission(ref.name, ref.qualifier, params)

        @api.operation("RemovePermission")
        async def remove_permission(params: dict[str, Any]) -> None:
            ref = self._user_ref(params)
            await self._user()[1].remove_permission(ref.name, ref.qualifier, params["StatementId"],
                                                    params.get("RevisionId"))

        @api.operation("GetPolicy")
        async def get_policy(params: dict[str, Any]) -> dict[str, Any]:
            ref = self._user_ref(params)
            return await self._user()[1].get_policy(ref.name, ref.qualifier)

        @api.operation("PutFunctionEventInvokeConfig")
        async def put_event_invoke_config(params: dict[str, Any]) -> dict[str, Any]:
            ref = self._user_ref(params)
            return await self._user()[1].put_event_invoke_config(ref.name, ref.qualifier, params)

        @api.operation("UpdateFunctionEventInvokeConfig")
        async def update_event_invoke_config(params: dict[str, Any]) -> dict[str, Any]:
            ref = self._user_ref(params)
            return await self._user()[1].put_event_invoke_config(ref.name, ref.qualifier, params, merge=True)

        @api.operation("GetFunctionEventInvokeConfig")
        async def get_event_invoke_config(params: dict[str, Any]) -> dict[str, Any]:
            ref = self._user_ref(params)
            return await self._user()[1].get_event_invoke_config(ref.name, ref.qualifier)

        @api.operation("DeleteFunctionEventInvokeConfig")
        async def delete_event_invoke_config(params: dict[str, Any]) -> None:
            ref = self._user_ref(params)
            await self._user()[1].delete_event_invoke_config(ref.name, ref.qualifier)

        @api.operation("ListFunctionEventInvokeConfigs")
        async def list_event_invoke_configs(params: dict[str, Any]) -> dict[str, Any]:
            configs = await self._user()[1].list_event_invoke_configs(self._user_ref(params, False).name)
            return _page("FunctionEventInvokeConfigs", configs, params)

        @api.operation("TagResource")
        async def tag_resource(params: dict[str, Any]) -> None:
            await self._user()[1].tag(self._resource(params["Resource"]), params["Tags"])

        @api.operation("UntagResource")
        async def untag_resource(params: dict[str, Any]) -> None:
            await self._user()[1].untag(self._resource(params["Resource"]), params["TagKeys"])

        @api.operation("ListTags")
        async def list_tags(params: dict[str, Any]) -> dict[str, Any]:
            return {"Tags": await self._user()[1].list_tags(self._resource(params["Resource"]))}

        @api.operation("Invoke")
        async def invoke(params: dict[str, Any]) -> dict[str, Any]:
            return await self._invoke(params)

        @api.operation("CreateEventSourceMapping")
        async def create_event_source_mapping(params: dict[str, Any]) -> dict[str, Any]:
            self._user_ref(params)
            return await self._sources().create(params)

        @api.operation("GetEventSourceMapping")
        async def get_event_source_mapping(params: dict[str, Any]) -> dict[str, Any]:
            return (await self._sources().get(params["UUID"])).describe()

        @api.operation("UpdateEventSourceMapping")
        async def update_event_source_mapping(params: dict[str, Any]) -> dict[str, Any]:
            if params.get("FunctionName"):
                self._user_ref(params)
            return await self._sources().update(params["UUID"], params)

        @api.operation("DeleteEventSourceMapping")
        async def delete_event_source_mapping(params: dict[str, Any]) -> dict[str, Any]:
            return await self._sources().delete(params["UUID"])

        @api.operation("ListEventSourceMappings")
        async def list_event_source_mappings(params: dict[str, Any]) -> dict[str, Any]:
            found = await self._sources().list(params.get("FunctionName"), params.get("EventSourceArn"))
            return _page("EventSourceMappings", found, params)

    def _sources(self) -> SqsEventSources:
        if self.event_sources is None:
            raise ResourceNotFoundException("This endpoint serves no event source mappings")
        return self.event_sources

    def _resource(self, arn: str) -> str:
        ref = parse_function_name(arn)
        if ref.qualifier:
            raise ResourceNotFoundException(f"Tags are kept on the unqualified function: {arn}")
        return ref.name

    async def _invoke(self, params: dict[str, Any]) -> dict[str, Any]:
        ref = self._ref(params)
        kind = params.get("InvocationType") or "RequestResponse"
        payload: bytes = params.get("Payload") or b""
        limit = MAX_ASYNC_PAYLOAD if kind == "Event" else MAX_SYNC_PAYLOAD
        if len(payload) > limit:
            raise RequestTooLargeException(f"Request must be smaller than {limit} bytes for the InvokeFunction "
                                           "operation")
        if not payload.strip():
            payload = b"{}"
        try:
            event = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as err:
            raise InvalidRequestContentException(
                f"Could not parse request body into json: Could not parse payload into json: {err}") from None
        if (name := self._builtin(ref)) is not None:
            return await self._invoke_builtin(name, kind, event)
        functions, _ = self._user()
        assert self.invoker is not None and self.async_invocations is not None
        await functions.resolve(ref, cached=True)  # ResourceNotFoundException before anything is queued
        if kind == "DryRun":
            return {"StatusCode": 204}
        if kind == "Event":
            await self.async_invocations.enqueue(ref, payload)
            return {"StatusCode": 202}
        result = await self.invoker.invoke(ref, payload, client_context=params.get("ClientContext"))
        out: dict[str, Any] = {"StatusCode": 200, "Payload": result.payload,
                               "ExecutedVersion": result.executed_version}
        if result.function_error:
            out["FunctionError"] = result.function_error
        if params.get("LogType") == "Tail":
            out["LogResult"] = result.log_result()
        return out

    async def _invoke_builtin(self, name: str, kind: str, event: Any) -> dict[str, Any]:
        assert self.builtins is not None
        if kind == "DryRun":
            return {"StatusCode": 204, "ExecutedVersion": LATEST}
        if kind == "Event":
            try:
                await self.builtins.queue_event(name, event)
            except Exception as err:  # noqa: BLE001 - not accepted: the caller retries, as with Lambda's 5xx
                log.warning("could not queue an Event invocation of %s: %s", name, err)
                raise ServiceException(f"The invocation could not be queued: {err}") from err
            return {"StatusCode": 202, "ExecutedVersion": LATEST}
        result, failed = await self.builtins.invoke(name, event)
        out: dict[str, Any] = {"StatusCode": 200, "ExecutedVersion": LATEST,
                               "Payload": json.dumps(result, default=str).encode()}
        if failed:
            out["FunctionError"] = "Unhandled"
        return out


def _page(key: str, items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """One page of ``items`` (Lambda's ``Marker`` / ``MaxItems`` / ``NextMarker``)."""
    start = decode_token(params["Marker"]) if params.get("Marker") else 0
    size = int(params.get("MaxItems") or _DEFAULT_PAGE)
    out: dict[str, Any] = {key: items[start:start + size]}
    if start + size < len(items):
        out["NextMarker"] = encode_token(start + size)
    return out
