"""Changing a live endpoint with v3's resource classes: a new config, new weights and capacities, a streamed
answer, then everything deleted.

A second model comes from the same S3 artifact through ModelBuilder (an S3 model artifact with the built-in
image). ``Endpoint.update`` moves the endpoint to a config with two variants, Blue (the first model) and
Green (the second); ``update_weights_and_capacities`` then gives Green three times Blue's weight, on two
instances. (A weight of 0 cannot be sent this way: SDK 3.27.0's request serializer drops zero values.)

Usage: serve_endpoint_updates.py <role ARN> <endpoint name> <model.tar.gz S3 URI> <CSV rows>
"""

import json
import os
import sys

from sagemaker.core import image_uris
from sagemaker.core.helper.session_helper import Session
from sagemaker.core.resources import Endpoint, EndpointConfig, Model
from sagemaker.core.shapes import DesiredWeightAndCapacity, ProductionVariant
from sagemaker.serve import ModelBuilder

role, name, artifact, rows = sys.argv[1:5]
image = image_uris.retrieve("xgboost", "us-east-1", version="1.7-1")


def variants(endpoint: Endpoint) -> dict:
    """Each variant's current weight and instance count, as DescribeEndpoint reports them."""
    endpoint.refresh()
    return {v.variant_name: [v.current_weight, v.current_instance_count] for v in endpoint.production_variants}


endpoint = Endpoint.get(endpoint_name=name)
first_config = EndpointConfig.get(endpoint_config_name=endpoint.endpoint_config_name)
first_model = first_config.production_variants[0].model_name

# model_path: ModelBuilder's local staging folder (default: a new one under /tmp); the test's home here.
second = ModelBuilder(s3_model_data_url=artifact, image_uri=image, role_arn=role, instance_type="ml.m5.large",
                      model_path=os.path.join(os.getcwd(), "model-builder")).build(model_name=f"{name}-green")
config = EndpointConfig.create(endpoint_config_name=f"{name}-blue-green", production_variants=[
    ProductionVariant(variant_name="Blue", model_name=first_model, initial_instance_count=1,
                      instance_type="ml.m5.large", initial_variant_weight=1.0),
    ProductionVariant(variant_name="Green", model_name=second.model_name, initial_instance_count=1,
                      instance_type="ml.m5.large", initial_variant_weight=1.0)])
endpoint.endpoint_config_name = config.endpoint_config_name
endpoint.update()
endpoint.wait_for_status("InService")
updated = {"config": endpoint.endpoint_config_name, "variants": variants(endpoint)}

endpoint.update_weights_and_capacities(desired_weights_and_capacities=[
    DesiredWeightAndCapacity(variant_name="Blue", desired_weight=1.0),
    DesiredWeightAndCapacity(variant_name="Green", desired_weight=3.0, desired_instance_count=2)])
status_after_call = Endpoint.get(endpoint_name=name).endpoint_status
endpoint.wait_for_status("InService")
weighted = {"status_after_call": status_after_call, "variants": variants(endpoint)}

# SDK 3.27.0's Endpoint.invoke_with_response_stream sends the request, then fails in its own response
# transform on the EventStream botocore returns (from any server); the v3 session's runtime client reads it.
try:
    endpoint.invoke_with_response_stream(body=rows, content_type="text/csv", accept="text/csv",
                                         target_variant="Green")
    resource_error = None
except AttributeError as err:
    resource_error = str(err)
streamed = Session().sagemaker_runtime_client.invoke_endpoint_with_response_stream(
    EndpointName=name, Body=rows, ContentType="text/csv", Accept="text/csv", TargetVariant="Green")
events = list(streamed["Body"])
stream = {"resource_error": resource_error, "content_type": streamed["ContentType"],
          "variant": streamed["InvokedProductionVariant"], "events": [sorted(event) for event in events],
          "parts": [event["PayloadPart"]["Bytes"].decode() for event in events]}

endpoint.delete()
endpoint.wait_for_delete()
for config_name in (config.endpoint_config_name, first_config.endpoint_config_name):
    EndpointConfig.get(endpoint_config_name=config_name).delete()
for model_name in (first_model, second.model_name):
    Model.get(model_name=model_name).delete()
# v3's wait panel (rich) leaves its last line open on stdout: the result starts a line of its own.
print("\nRESULT " + json.dumps({"first_config": first_config.endpoint_config_name, "updated": updated,
                              "weighted": weighted, "stream": stream}))
