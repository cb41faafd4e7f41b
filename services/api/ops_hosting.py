"""Hosting operations: models, endpoint configs, endpoints."""

from __future__ import annotations

from typing import Any

from services.api.backends import SageMakerBackends
from services.api.protocol import page_response
from services.api.server import AwsJsonService
from services.core.models import parse_model
from services.core.times import parse_time
from services.hosting.models import EndpointConfig, Model
from services.hosting.service import HostingService


def _listing(params: dict[str, Any]) -> dict[str, Any]:
    return dict(name_contains=params.get("NameContains"),
                creation_time_after=parse_time(params.get("CreationTimeAfter")),
                creation_time_before=parse_time(params.get("CreationTimeBefore")),
                sort_by=params.get("SortBy", "CreationTime"), sort_order=params.get("SortOrder", "Descending"),
                max_results=int(params.get("MaxResults", 10)), next_token=params.get("NextToken"))



def register(api: AwsJsonService, services: SageMakerBackends) -> None:
    """Register the model, endpoint config and endpoint operations."""
    hosting = services.hosting
    _register_models(api, hosting)
    _register_endpoint_configs(api, hosting)
    _register_endpoints(api, hosting)


def _register_models(api: AwsJsonService, hosting: HostingService) -> None:
    """CreateModel, DescribeModel, ListModels, DeleteModel."""

    @api.operation("CreateModel")
    async def create_model(params: dict[str, Any]) -> dict[str, Any]:
        model = await hosting.create_model(parse_model(Model, params))
        return {"ModelArn": model.model_arn}

    @api.operation("DescribeModel")
    async def describe_model(params: dict[str, Any]) -> dict[str, Any]:
        return (await hosting.describe_model(params["ModelName"])).describe()

    @api.operation("ListModels")
    async def list_models(params: dict[str, Any]) -> dict[str, Any]:
        models, token = await hosting.list(hosting.models, name_attr="model_name", **_listing(params))
        return page_response("Models", [{"ModelName": m.model_name, "ModelArn": m.model_arn,
                                         "CreationTime": m.creation_time} for m in models], token)

    @api.operation("DeleteModel")
    async def delete_model(params: dict[str, Any]) -> dict[str, Any]:
        await hosting.delete_model(params["ModelName"])
        return {}


def _register_endpoint_configs(api: AwsJsonService, hosting: HostingService) -> None:
    """CreateEndpointConfig, DescribeEndpointConfig, ListEndpointConfigs, DeleteEndpointConfig."""

    @api.operation("CreateEndpointConfig")
    async def create_endpoint_config(params: dict[str, Any]) -> dict[str, Any]:
        config = await hosting.create_endpoint_config(parse_model(EndpointConfig, params))
        return {"EndpointConfigArn": config.endpoint_config_arn}

    @api.operation("DescribeEndpointConfig")
    async def describe_endpoint_config(params: dict[str, Any]) -> dict[str, Any]:
        return (await hosting.describe_endpoint_config(params["EndpointConfigName"])).describe()

    @api.operation("ListEndpointConfigs")
    async def list_endpoint_configs(params: dict[str, Any]) -> dict[str, Any]:
        configs, token = await hosting.list(hosting.configs, name_attr="endpoint_config_name", **_listing(params))
        return page_response("EndpointConfigs", [{"EndpointConfigName": c.endpoint_config_name,
                                                  "EndpointConfigArn": c.endpoint_config_arn,
                                                  "CreationTime": c.creation_time} for c in configs], token)

    @api.operation("DeleteEndpointConfig")
    async def delete_endpoint_config(params: dict[str, Any]) -> dict[str, Any]:
        await hosting.delete_endpoint_config(params["EndpointConfigName"])
        return {}


def _register_endpoints(api: AwsJsonService, hosting: HostingService) -> None:
    """CreateEndpoint, DescribeEndpoint, ListEndpoints, UpdateEndpoint, UpdateEndpointWeightsAndCapacities,
    DeleteEndpoint."""

    @api.operation("CreateEndpoint")
    async def create_endpoint(params: dict[str, Any]) -> dict[str, Any]:
        endpoint = await hosting.create_endpoint(params["EndpointName"], params["EndpointConfigName"],
                                                 params.get("Tags"))
        return {"EndpointArn": endpoint.endpoint_arn}

    @api.operation("DescribeEndpoint")
    async def describe_endpoint(params: dict[str, Any]) -> dict[str, Any]:
        return (await hosting.describe_endpoint(params["EndpointName"])).describe()

    @api.operation("ListEndpoints")
    async def list_endpoints(params: dict[str, Any]) -> dict[str, Any]:
        endpoints, token = await hosting.list(
            hosting.endpoints, name_attr="endpoint_name", status_equals=params.get("StatusEquals"),
            last_modified_time_after=parse_time(params.get("LastModifiedTimeAfter")),
            last_modified_time_before=parse_time(params.get("LastModifiedTimeBefore")), **_listing(params))
        return page_response("Endpoints", [e.summary() for e in endpoints], token)

    @api.operation("UpdateEndpoint")
    async def update_endpoint(params: dict[str, Any]) -> dict[str, Any]:
        endpoint = await hosting.update_endpoint(params["EndpointName"], params["EndpointConfigName"])
        return {"EndpointArn": endpoint.endpoint_arn}

    @api.operation("UpdateEndpointWeightsAndCapacities")
    async def update_weights(params: dict[str, Any]) -> dict[str, Any]:
        endpoint = await hosting.update_weights_and_capacities(params["EndpointName"],
                                                               params["DesiredWeightsAndCapacities"])
        return {"EndpointArn": endpoint.endpoint_arn}

    @api.operation("DeleteEndpoint")
    async def delete_endpoint(params: dict[str, Any]) -> dict[str, Any]:
        await hosting.delete_endpoint(params["EndpointName"])
        return {}
