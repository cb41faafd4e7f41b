"""The AWS JSON 1.1 wire format: request bodies in, responses and errors out.

What boto3 expects, read off botocore's ``JSONParser``:

* a success is HTTP 200 with a JSON object body; timestamps are epoch
  seconds as JSON numbers and blobs are base64 strings;
* an error is any status >= 300 with a body ``{"__type": code, "message":
  text}``. botocore takes ``Error.Code`` from ``__type`` (the part after a
  ``#`` and before a ``:``, so the bare code is fine) and ``Error.Message``
  from ``message`` or ``Message``. A 5xx with an *empty* body is reported as
  a generic HTTP error, so error bodies are never empty;
* ``x-amzn-RequestId`` becomes ``ResponseMetadata.RequestId``.

AWS also sends ``x-amzn-ErrorType``; we send it too, for other clients.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import enum
import json
import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from services.core.exceptions import SerializationException, ServiceError

__all__ = [
    "CONTENT_TYPE",
    "decode_body",
    "encode_json",
    "error_response",
    "json_response",
    "new_request_id",
    "to_jsonable",
]

CONTENT_TYPE = "application/x-amz-json-1.1"
REQUEST_ID_HEADER = "x-amzn-RequestId"
ERROR_TYPE_HEADER = "x-amzn-ErrorType"


def new_request_id() -> str:
    """A fresh request id, in the UUID form AWS uses."""
    return str(uuid.uuid4())


# --------------------------------------------------------------------------- requests


def decode_body(body: bytes) -> dict[str, Any]:
    """Parse a JSON 1.1 request body into a dict.

    An empty body (or ``null``) is an empty request, as boto3 sends for
    operations without parameters.

    :raises SerializationException: the body is not UTF-8 JSON, uses
        ``NaN``/``Infinity``, or is not a JSON object.
    """
    if not body.strip():
        return {}
    try:
        text = body.decode("utf-8")
        parsed = json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise SerializationException(f"Request body is not valid UTF-8: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise SerializationException(
            f"Malformed JSON in request body: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError as exc:  # raised by _reject_constant
        raise SerializationException(str(exc)) from None
    if parsed is None:
        return {}
    if isinstance(parsed, list):
        raise SerializationException("Start of list found where not expected")
    if not isinstance(parsed, dict):
        raise SerializationException("Expected null")
    return parsed


def _reject_constant(name: str) -> Any:
    # Python accepts NaN/Infinity; JSON (and AWS) does not.
    raise ValueError(f"Malformed JSON in request body: {name} is not a JSON value")


# --------------------------------------------------------------------------- responses


def to_jsonable(value: Any) -> Any:
    """Convert a handler result into plain JSON types, the JSON 1.1 way.

    * pydantic models: ``model_dump(by_alias=True, exclude_none=True)``;
    * ``datetime``: epoch seconds, rounded to milliseconds as AWS sends them
      (a naive datetime is taken as UTC); a ``date`` is its UTC midnight;
    * ``bytes``: base64 text (the JSON form of a blob);
    * enums: their value; ``Decimal``: a float; tuples and sets: lists.
    """
    if isinstance(value, BaseModel):
        return to_jsonable(value.model_dump(by_alias=True, exclude_none=True, mode="python"))
    if isinstance(value, Mapping):
        return {str(to_jsonable(k)): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return round(value.timestamp(), 3)
    if isinstance(value, dt.date):
        return to_jsonable(dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def encode_json(payload: Any) -> bytes:
    """Encode a handler result (dict, pydantic model or ``None``) as a JSON body.

    :raises TypeError: a value has no JSON form.
    :raises ValueError: a float is NaN or infinite (not valid JSON).
    """
    data = {} if payload is None else to_jsonable(payload)
    return json.dumps(data, allow_nan=False, separators=(",", ":")).encode("utf-8")


def json_response(payload: Any, *, request_id: str, status: int = 200) -> web.Response:
    """A JSON 1.1 success response carrying ``payload``."""
    return web.Response(
        status=status,
        body=encode_json(payload),
        content_type=CONTENT_TYPE,
        headers={REQUEST_ID_HEADER: request_id},
    )


def error_response(error: ServiceError, *, request_id: str) -> web.Response:
    """A JSON 1.1 error response that boto3 turns into ``ClientError``.

    ``ClientError.response["Error"]`` then reads ``{"Code": error.code,
    "Message": error.message}`` and the HTTP status is ``error.status``.
    """
    body = {"__type": error.code, "message": error.message}
    return web.Response(
        status=error.status,
        body=json.dumps(body).encode("utf-8"),
        content_type=CONTENT_TYPE,
        headers={REQUEST_ID_HEADER: request_id, ERROR_TYPE_HEADER: error.code},
    )


def page_response(key: str, items: list[Any], token: str | None) -> dict[str, Any]:
    """A ``List*`` response: the page's ``items`` under ``key``, and ``NextToken`` when more follow."""
    out: dict[str, Any] = {key: items}
    if token:
        out["NextToken"] = token
    return out
