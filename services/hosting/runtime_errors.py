"""Errors of the ``sagemaker-runtime`` API, in the shape boto3 reads them."""

from __future__ import annotations

import json
import uuid

from containers.shared.http_server import Response


def runtime_error(status: int, code: str, message: str, **extra: object) -> Response:
    """An error as botocore's rest-json parser reads it (code from ``x-amzn-ErrorType``)."""
    return Response(status, json.dumps({"message": message, **extra}).encode(), "application/json",
                    {"x-amzn-ErrorType": code, "x-amzn-RequestId": str(uuid.uuid4())})
