"""The hosting control plane: models, endpoint configs and endpoints.

Documents live in the state store; an endpoint's fleet is run by a
:class:`FleetController` (the node's hosting manager), which this service
tells about every change and which reports back through :meth:`transition`.
Every endpoint status change is published as "SageMaker Endpoint State
Change" with the Describe response as ``detail``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from services.core.events import Publisher, publish_state_change
from services.core.exceptions import ResourceInUse, ResourceNotFound, ServiceError, ValidationException
from services.core.paging import page
from services.core.store import DocumentStore
from services.core.tags import TagAccess, document_tags
from services.core.times import utcnow
from services.hosting.model_packages import PackageLookup, resolve_containers
from services.hosting.models import Endpoint, EndpointConfig, EndpointStatus, Model
from services.hosting.target_model import validate_modes

DETAIL_TYPE = "SageMaker Endpoint State Change"
D = TypeVar("D", bound=BaseModel)


class FleetController(Protocol):
    """What runs endpoints: told of each change, it reports back via :meth:`HostingService.transition`."""

    def deploy(self, endpoint: str) -> None: ...

    def update(self, endpoint: str, config: str) -> None: ...

    def reweight(self, endpoint: str, desired: list[dict[str, Any]]) -> None: ...

    def delete(self, endpoint: str) -> None: ...


class HostingService:
    """``CreateModel`` ... ``DeleteEndpoint`` over three document collections."""

    def __init__(self, models: DocumentStore[Model], configs: DocumentStore[EndpointConfig],
                 endpoints: DocumentStore[Endpoint], publisher: Publisher, *, region: str, account_id: str,
                 clock: Callable[[], datetime] = utcnow, model_packages: PackageLookup | None = None) -> None:
        self.models = models
        self.configs = configs
        self.endpoints = endpoints
        self.publisher = publisher
        self.region = region
        self.account_id = account_id
        self.clock = clock
        self.model_packages = model_packages  # the registry's DescribeModelPackage, for ModelPackageName
        self.fleet: FleetController | None = None

    def arn(self, kind: str, name: str) -> str:
        """``arn:aws:sagemaker:<region>:<account>:<kind>/<name, lower-cased as SageMaker does>``."""
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:{kind}/{name.lower()}"

    # ------------------------------------------------------------------ models

    async def create_model(self, model: Model) -> Model:
        """Store a model; every container needs an image Headwater can run at deploy time, its own or that of
        the model package it names (resolved now, as SageMaker does)."""
        if not model.requested_containers():
            raise ValidationException("Either PrimaryContainer or Containers must be specified")
        if model.primary_container and model.containers:
            raise ValidationException("Only one of PrimaryContainer and Containers may be specified")
        model.headwater.resolved_containers = await resolve_containers(model.requested_containers(),
                                                                       self.model_packages)
        for c in model.pipeline():
            if not c.image:
                raise ValidationException("Container Image must be specified")
        validate_modes(model)
        model.model_arn = self.arn("model", model.model_name)
        model.creation_time = self.clock()
        await self._create(self.models, model.model_name, model, "model", model.model_arn)
        return model

    async def describe_model(self, name: str) -> Model:
        """The model, or SageMaker's ``ValidationException``."""
        return await self._require(self.models, name, "model")

    async def model_exists(self, name: str) -> bool:
        """Whether model ``name`` exists (transform jobs check before they are created)."""
        try:
            await self.describe_model(name)
        except ServiceError:
            return False
        return True

    async def delete_model(self, name: str) -> None:
        """Delete a model (running endpoints keep their fleet, as on SageMaker)."""
        await self._require(self.models, name, "model")
        await self.models.delete(name)

    # ---------------------------------------------------------- endpoint configs

    async def create_endpoint_config(self, config: EndpointConfig) -> EndpointConfig:
        """Store a config after checking its variants and the models they name."""
        names = [v.variant_name for v in config.production_variants + (config.shadow_production_variants or [])]
        if len(names) != len(set(names)):
            raise ValidationException(f"Variant names must be unique within an endpoint config: {names}")
        for v in config.production_variants + (config.shadow_production_variants or []):
            if not v.model_name:
                raise ValidationException(f"ModelName must be specified for variant {v.variant_name}")
            if await self.models.get(v.model_name) is None:
                raise ValidationException(f"Could not find model \"{self.arn('model', v.model_name)}\".")
            if not v.initial_instance_count:
                raise ValidationException(f"InitialInstanceCount must be specified for variant {v.variant_name}")
        capture = config.data_capture_config
        if capture is not None and not capture.destination_s3_uri.startswith("s3://"):
            raise ValidationException(f"DestinationS3Uri {capture.destination_s3_uri!r} must be an s3:// URI")
        config.endpoint_config_arn = self.arn("endpoint-config", config.endpoint_config_name)
        config.creation_time = self.clock()
        await self._create(self.configs, config.endpoint_config_name, config, "endpoint configuration",
                           config.endpoint_config_arn)
        return config

    async def describe_endpoint_config(self, name: str) -> EndpointConfig:
        """The config, or SageMaker's ``ValidationException``."""
        return await self._require(self.configs, name, "endpoint configuration")

    async def delete_endpoint_config(self, name: str) -> None:
        """Delete a config (an endpoint using it keeps running, as on SageMaker)."""
        await self._require(self.configs, name, "endpoint configuration")
        await self.configs.delete(name)

    # ---------------------------------------------------------------- endpoints

    async def create_endpoint(self, name: str, config_name: str, tags: list[dict[str, str]] | None) -> Endpoint:
        """Record the endpoint as ``Creating`` and have the fleet deploy it."""
        config = await self.describe_endpoint_config(config_name)
        now = self.clock()
        endpoint = Endpoint(endpoint_name=name, endpoint_arn=self.arn("endpoint", name),
                            endpoint_config_name=config.endpoint_config_name,
                            endpoint_status=EndpointStatus.CREATING, creation_time=now, last_modified_time=now,
                            tags=tags or None)
        await self._create(self.endpoints, name, endpoint, "endpoint", endpoint.endpoint_arn)
        await self._publish(endpoint)
        if self.fleet is not None:
            self.fleet.deploy(name)
        return endpoint

    async def describe_endpoint(self, name: str) -> Endpoint:
        """The endpoint, or SageMaker's ``ValidationException``."""
        return await self._require(self.endpoints, name, "endpoint")

    async def update_endpoint(self, name: str, config_name: str) -> Endpoint:
        """Blue/green to ``config_name``: the fleet starts the new one, moves traffic, drains the old."""
        config = await self.describe_endpoint_config(config_name)

        def start(e: Endpoint) -> Endpoint:
            self._require_in_service(e, "update")
            e.endpoint_status = EndpointStatus.UPDATING
            e.failure_reason = None
            e.headwater.pending_config = config.endpoint_config_name
            e.pending_deployment_summary = {"EndpointConfigName": config.endpoint_config_name,
                                            "StartTime": self.clock()}
            e.last_modified_time = self.clock()
            return e

        _, after = await self._update(name, start)
        if self.fleet is not None:
            self.fleet.update(name, config.endpoint_config_name)
        return after

    async def update_weights_and_capacities(self, name: str, desired: list[dict[str, Any]]) -> Endpoint:
        """Change variant weights and instance counts in place."""

        def start(e: Endpoint) -> Endpoint:
            self._require_in_service(e, "update")
            known = {v.variant_name for v in e.production_variants or []}
            for d in desired:
                if d["VariantName"] not in known:
                    raise ValidationException(f"The variant name(s) [{d['VariantName']}] is/are not present in "
                                              f"endpoint \"{e.endpoint_arn}\".")
                if "DesiredWeight" not in d and "DesiredInstanceCount" not in d:
                    raise ValidationException("Either DesiredWeight or DesiredInstanceCount must be specified "
                                              f"for variant {d['VariantName']}")
            for v in e.production_variants or []:  # DescribeEndpoint shows the change being applied
                for d in desired:
                    if d["VariantName"] == v.variant_name and "DesiredInstanceCount" in d:
                        v.desired_instance_count = int(d["DesiredInstanceCount"])
                    if d["VariantName"] == v.variant_name and "DesiredWeight" in d:
                        v.desired_weight = float(d["DesiredWeight"])
            e.endpoint_status = EndpointStatus.UPDATING
            e.last_modified_time = self.clock()
            return e

        _, after = await self._update(name, start)
        if self.fleet is not None:
            self.fleet.reweight(name, desired)
        return after

    async def delete_endpoint(self, name: str) -> None:
        """Mark ``Deleting``; the fleet drains and stops, then the document goes."""

        def start(e: Endpoint) -> Endpoint:
            e.endpoint_status = EndpointStatus.DELETING
            e.last_modified_time = self.clock()
            return e

        await self._update(name, start)
        if self.fleet is not None:
            self.fleet.delete(name)
        else:
            await self.endpoints.delete(name)

    async def transition(self, name: str, edit: Callable[[Endpoint], None]) -> Endpoint:
        """Apply a fleet's report to the endpoint; publish if its status changed."""

        def mutate(e: Endpoint) -> Endpoint:
            edit(e)
            e.last_modified_time = self.clock()
            return e

        await self._update(name, mutate)
        return await self.describe_endpoint(name)

    async def list(self, store: DocumentStore[D], *, name_attr: str, name_contains: str | None,
                   creation_time_after: datetime | None, creation_time_before: datetime | None,
                   sort_by: str, sort_order: str, max_results: int, next_token: str | None,
                   status_equals: str | None = None, last_modified_time_after: datetime | None = None,
                   last_modified_time_before: datetime | None = None) -> tuple[list[D], str | None]:
        """Filter, sort and page a collection as the ``List*`` operations do."""
        docs = await store.list()
        if name_contains:
            docs = [d for d in docs if name_contains.lower() in getattr(d, name_attr).lower()]
        if creation_time_after:
            docs = [d for d in docs if d.creation_time > creation_time_after]  # type: ignore[attr-defined]
        if creation_time_before:
            docs = [d for d in docs if d.creation_time < creation_time_before]  # type: ignore[attr-defined]
        if status_equals:
            docs = [d for d in docs if d.endpoint_status.value == status_equals]  # type: ignore[attr-defined]
        if last_modified_time_after:
            docs = [d for d in docs if d.last_modified_time > last_modified_time_after]  # type: ignore[attr-defined]
        if last_modified_time_before:
            docs = [d for d in docs if d.last_modified_time < last_modified_time_before]  # type: ignore[attr-defined]
        key: Callable[[Any], Any] = {
            "Name": lambda d: getattr(d, name_attr),
            "Status": lambda d: (d.endpoint_status.value, d.creation_time),
        }.get(sort_by, lambda d: (d.creation_time, getattr(d, name_attr)))
        docs.sort(key=key, reverse=sort_order == "Descending")
        return page(docs, max_results, next_token)

    # ------------------------------------------------------------------ helpers

    def tag_access(self, store: DocumentStore[Any], kind: str) -> TagAccess:
        """How ``AddTags`` / ``ListTags`` / ``DeleteTags`` reach one collection's tags."""

        async def find(name: str) -> Any:
            doc = await store.find(name, self._name)  # ARNs carry the name lower-cased
            if doc is None:
                raise ResourceNotFound(f"Requested resource not found: {kind} {name} does not exist")
            return doc

        return document_tags(store, find, self._name)

    @staticmethod
    def _name(doc: Any) -> str:
        for attr in ("endpoint_name", "endpoint_config_name", "model_name"):
            if hasattr(doc, attr):
                return str(getattr(doc, attr))
        raise TypeError(type(doc).__name__)

    def _require_in_service(self, e: Endpoint, what: str) -> None:
        if e.endpoint_status is not EndpointStatus.IN_SERVICE:
            raise ValidationException(f"Cannot {what} in-progress endpoint \"{e.endpoint_arn}\".")

    async def _create(self, store: DocumentStore[Any], name: str, doc: Any, kind: str, arn: str) -> None:
        if await store.get(name) is not None:
            raise ValidationException(f"Cannot create already existing {kind} \"{arn}\".")
        try:
            await store.create(name, doc)
        except ResourceInUse as err:  # lost a race with a concurrent create
            raise ValidationException(f"Cannot create already existing {kind} \"{arn}\".") from err

    async def _require(self, store: DocumentStore[D], name: str, kind: str) -> D:
        doc = await store.get(name)
        if doc is None:
            prefix = {"model": "model", "endpoint": "endpoint"}.get(kind, "endpoint-config")
            raise ValidationException(f"Could not find {kind} \"{self.arn(prefix, name)}\".")
        return doc

    async def _update(self, name: str, mutate: Callable[[Endpoint], Endpoint]) -> tuple[Endpoint, Endpoint]:
        await self.describe_endpoint(name)  # SageMaker's error for an unknown endpoint
        before, after = await self.endpoints.update(name, mutate)
        if before.endpoint_status != after.endpoint_status or before.failure_reason != after.failure_reason:
            await self._publish(after)
        return before, after

    async def _publish(self, endpoint: Endpoint) -> None:
        # SageMaker's endpoint events carry the tags as a map.
        doc = {**endpoint.describe(), "Tags": {t["Key"]: t.get("Value", "") for t in endpoint.tags or []}}
        await publish_state_change(self.publisher, DETAIL_TYPE, doc, [endpoint.endpoint_arn],
                                   f"endpoint {endpoint.endpoint_name}")
