"""Serving a trained artifact with v3's generated resource classes (sagemaker.core.resources).

Usage: serve_core_resources.py <role ARN> <model.tar.gz S3 URI> <name> <CSV rows to score, one per line>
"""

import json
import sys

from sagemaker.core import image_uris
from sagemaker.core.resources import Endpoint, EndpointConfig, Model
from sagemaker.core.shapes import ContainerDefinition, ProductionVariant

role, artifact, name, rows = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
image = image_uris.retrieve("xgboost", "us-east-1", version="1.7-1")
model = Model.create(model_name=name, execution_role_arn=role,
                     primary_container=ContainerDefinition(image=image, model_data_url=artifact))
config = EndpointConfig.create(endpoint_config_name=name, production_variants=[ProductionVariant(
    variant_name="AllTraffic", model_name=model.model_name, initial_instance_count=1, instance_type="ml.m5.large")])
endpoint = Endpoint.create(endpoint_name=name, endpoint_config_name=config.endpoint_config_name)
endpoint.wait_for_status("InService")
response = endpoint.invoke(body=rows, content_type="text/csv", accept="text/csv")
predictions = [float(x) for x in response.body.read().decode().split()]
status = endpoint.endpoint_status
endpoint.delete()
config.delete()
model.delete()
print("RESULT " + json.dumps({"status": status, "variant": response.invoked_production_variant,
                              "content_type": response.content_type, "predictions": predictions}))
