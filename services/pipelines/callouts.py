"""Lambda and Callback steps: steps that hand their arguments to the user's code and take back outputs.

A Lambda step invokes a function of the node's Lambda service with its
``Arguments`` as the event and waits for it; the function returns a JSON
object whose members named in ``OutputParameters`` become the step's
``OutputParameters['<name>']`` properties. A Callback step sends its
``Arguments`` to an SQS queue with a ``token`` and waits for
``SendPipelineExecutionStepSuccess`` (with ``OutputParameters``) or
``SendPipelineExecutionStepFailure`` naming that token; when its execution
is stopped it sends a second message, ``"status": "Stopping"``, and still
waits for one of those calls.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from services.core.exceptions import ValidationException

#: ``await invoke_function(function_arn, payload)``: the function's response and its ``FunctionError``.
FunctionInvoke = Callable[[str, bytes], Awaitable[tuple[bytes, str | None]]]
#: ``await send_message(queue_url, body)``.
MessageSend = Callable[[str, str], Awaitable[None]]

CALLOUT_TYPES = frozenset({"Lambda", "Callback"})


class CalloutFailed(ValidationException):
    """The user's code failed the step: its message is the step's ``FailureReason`` as it stands."""
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def declared_outputs(raw_step: dict[str, Any]) -> dict[str, str]:
    """``OutputParameters`` as declared in the definition: name -> ``OutputType``."""
    return {o["OutputName"]: o.get("OutputType", "String") for o in raw_step.get("OutputParameters") or []
            if isinstance(o, dict) and isinstance(o.get("OutputName"), str)}


def typed_outputs(step: str, declared: dict[str, str], given: dict[str, Any]) -> dict[str, Any]:
    """The declared outputs from ``given`` (a function's response, a callback's values), each as its
    ``OutputType``; ``ValidationException`` for one missing or of another type."""
    out: dict[str, Any] = {}
    for name, kind in declared.items():
        if name not in given:
            raise ValidationException(f"Step {step}: the output parameter {name} was not given (the outputs "
                                      f"given are {sorted(given)})")
        value = given[name]
        try:
            if kind == "Integer":
                out[name] = int(value)
            elif kind == "Float":
                out[name] = float(value)
            elif kind == "Boolean":
                out[name] = value if isinstance(value, bool) else {"true": True, "false": False}[str(value).lower()]
            else:
                out[name] = value if isinstance(value, str) else json.dumps(value)
        except (ValueError, TypeError, KeyError) as err:
            raise ValidationException(f"Step {step}: the output parameter {name} of type {kind} cannot take the "
                                      f"value {value!r}") from err
    return out


def output_list(values: dict[str, Any]) -> list[dict[str, str]]:
    """Outputs as the step's ``Metadata`` lists them: ``[{"Name", "Value"}]``, values as text."""
    return [{"Name": k, "Value": json.dumps(v) if isinstance(v, bool) else str(v)} for k, v in values.items()]


def lambda_result(step: str, payload: bytes, function_error: str | None) -> dict[str, Any]:
    """A function's response as a JSON object; ``ValidationException`` with the function's own error."""
    try:
        body = json.loads(payload or b"null")
    except ValueError:
        body = None
    if function_error:
        if isinstance(body, dict) and "errorMessage" in body:
            raise CalloutFailed(f"{body.get('errorType', function_error)}: {body['errorMessage']}")
        raise CalloutFailed(f"{function_error}: {payload[:500].decode(errors='replace')}")
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise CalloutFailed(f"Step {step}: the function returned {str(body)[:200]}, not a JSON object")
    return body


def callback_token(execution_id: str, step: str, attempt: int) -> str:
    """The ``CallbackToken`` of a step's attempt (10 letters and digits): the same on a repeated start."""
    number = int.from_bytes(hashlib.sha256(f"{execution_id}/{step}/{attempt}".encode()).digest()[:8], "big")
    out = ""
    for _ in range(10):
        number, digit = divmod(number, len(_ALPHABET))
        out += _ALPHABET[digit]
    return out


def callback_message(token: str, execution_arn: str, arguments: Any, status: str) -> str:
    """The SQS message body a Callback step sends (``status`` is ``Executing``, then ``Stopping``)."""
    return json.dumps({"token": token, "pipelineExecutionArn": execution_arn, "arguments": arguments,
                       "status": status})
