"""A v3 user's scikit-learn model object, deployed by ModelBuilder with a SchemaBuilder.

ModelBuilder pickles the model and the schema into ``code/serve.pkl``, adds its own ``code/inference.py``
(the model server's handler), uploads them as the model artifact and creates the model on the
scikit-learn serving image with ``SAGEMAKER_PROGRAM=inference.py`` and
``SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code``. The client serializes with the schema's own
(de)serializers.

SDK 3.27.0 particulars a user meets: auto-detecting the image of a scikit-learn model fails inside the
SDK (it cannot parse a version of its own image list), so the image is named, and with a named image
the model server must be named too (TorchServe is what auto-detection would pick); the dependency
capture runs in a subprocess without the caller's environment, so without a region in ~/.aws/config it
fails: this story turns it off. The default bucket is named (v3 derives it from STS at AWS).

Usage: serve_model_builder_object.py <role ARN> <endpoint name> <bucket>
"""

import json
import os
import sys

import numpy as np
from sagemaker.core import image_uris
from sagemaker.core.helper.session_helper import Session
from sagemaker.core.resources import EndpointConfig, Model
from sagemaker.serve import ModelBuilder
from sagemaker.serve.builder.schema_builder import SchemaBuilder
from sklearn.linear_model import LinearRegression

role, name, bucket = sys.argv[1:4]
x = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 4.0], [0.0, 1.0]])
model = LinearRegression().fit(x, x @ np.array([2.0, -1.0]) + 0.5)
schema = SchemaBuilder(sample_input=x[:1], sample_output=model.predict(x[:1]))

# model_path: where ModelBuilder stages the artifact (default: a new folder under /tmp); the test's home here.
builder = ModelBuilder(model=model, schema_builder=schema, role_arn=role, instance_type="ml.m5.large",
                       model_path=os.path.join(os.getcwd(), "model-builder"),
                       image_uri=image_uris.retrieve("sklearn", "us-east-1", version="1.2-1"),
                       sagemaker_session=Session(default_bucket=bucket))
builder.configure_for_torchserve(dependencies={"auto": False})
built = builder.build(model_name=name)
endpoint = builder.deploy(endpoint_name=name)

rows = np.array([[1.0, 1.0], [4.0, 2.0]])
response = endpoint.invoke(body=schema.input_serializer.serialize(rows),
                           content_type=schema.input_serializer.CONTENT_TYPE, accept=schema.output_deserializer.ACCEPT)
predictions = schema.output_deserializer.deserialize(response.body, response.content_type)
container = Model.get(model_name=name).primary_container
result = {"status": endpoint.endpoint_status, "image": container.image, "model_data_url": container.model_data_url,
          "environment": container.environment, "content_type": response.content_type,
          "predictions": predictions.tolist(), "expected": model.predict(rows).tolist()}
endpoint.delete()
endpoint.wait_for_delete()
EndpointConfig.get(endpoint_config_name=name).delete()
built.delete()
# v3's wait panel (rich) leaves its last line open on stdout: the result starts a line of its own.
print("\nRESULT " + json.dumps(result))
