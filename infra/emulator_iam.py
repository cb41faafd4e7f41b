"""IAM's ``SimulatePrincipalPolicy`` for the embedded emulator, as WSGI middleware around moto's app.

The SageMaker Python SDK v3 validates an execution role before it creates a job: it asks
``iam:SimulatePrincipalPolicy`` whether the role may perform the actions a job needs. moto (5.2)
does not implement that action and answers an HTML 500 page botocore cannot parse. :func:`wrap_iam`
answers it instead, in IAM's query-protocol shape, and passes every other request to moto unchanged.

Decisions come from the principal's identity-based policies, read back from moto through IAM's own
API (``GetRole`` / ``GetUser`` / ``GetGroup``, their inline and attached policies): an ``Allow``
whose ``Action`` and ``Resource`` (or ``NotAction`` / ``NotResource``) match gives ``allowed``, a
matching ``Deny`` gives ``explicitDeny``, nothing matching ``implicitDeny``, as IAM's evaluation
does. Not evaluated (as if satisfied or absent): ``Condition`` blocks, permissions boundaries,
SCPs, resource policies, a user's group memberships, and the ``PolicyInputList`` /
``ContextEntries`` members. The emulator itself enforces no policy at all; the simulation tells a
client what AWS would decide for the same policies.
"""

from __future__ import annotations

import io
import json
import re
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from infra.sigv4 import signed_service

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
_VERSION = "2010-05-08"
_ACTION = "SimulatePrincipalPolicy"
_DEFAULT_MAX_ITEMS = 100  # IAM's default page size for the simulator
# PolicySourceArn: an IAM user, group or role, with an optional path.
_SOURCE_ARN = re.compile(r"^arn:[\w-]+:iam::\d{12}:(?P<kind>user|group|role)/(?:[^/]+/)*(?P<name>[^/]+)$")
# The simulator's PolicySourceType for each inline policy owner; managed policies are told apart by ARN.
_INLINE_SOURCE = {"role": "role", "user": "user", "group": "group"}


class IamError(Exception):
    """An IAM error answered in IAM's ``ErrorResponse`` shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class SourcePolicy:
    """One identity-based policy of the simulated principal."""

    policy_id: str  # the inline policy's name or the managed policy's ARN, as IAM reports it
    source_type: str  # IAM's PolicySourceType: role, user, group, user-managed, aws-managed
    statements: list[dict[str, Any]]


def wrap_iam(app: WSGIApp) -> WSGIApp:
    """``app`` (moto's WSGI app) with IAM's ``SimulatePrincipalPolicy`` answered in front of it.

    Composed innermost (``infra.emulator``: ``gated(wrap_iam(DomainDispatcherApplication(...)))``), so the
    reads it makes of the principal's policies happen inside the request that asked."""

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not _may_be_iam(environ):
            return app(environ, start_response)
        params = _params(environ, _read_form_body(environ))
        if params.get("Action") != _ACTION:
            return app(environ, start_response)
        try:
            status, xml = 200, _simulate(_IamReader(app, environ), params)
        except IamError as err:
            status, xml = err.status, _error_xml(err)
        payload = xml.encode()
        start_response(f"{status} {'OK' if status == 200 else 'Error'}",
                       [("Content-Type", "text/xml"), ("Content-Length", str(len(payload))),
                        ("x-amzn-RequestId", str(uuid.uuid4()))])
        return [payload]

    return middleware


def _may_be_iam(environ: dict[str, Any]) -> bool:
    """Cheap, before any body is read: a signed request names its service in its credential scope."""
    if environ.get("REQUEST_METHOD") not in ("POST", "GET"):
        return False
    return signed_service(environ) in (None, "iam")


def _read_form_body(environ: dict[str, Any]) -> bytes:
    """A query-protocol body (form-encoded, with a length), re-seated in ``environ`` for moto; else nothing.

    Any other body (an S3 upload, a chunked stream) is left unread."""
    if environ.get("REQUEST_METHOD") != "POST" or "x-www-form-urlencoded" not in environ.get("CONTENT_TYPE", ""):
        return b""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return b""
    if length <= 0:
        return b""
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _params(environ: dict[str, Any], body: bytes) -> dict[str, str]:
    params = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    params.update(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def _members(params: dict[str, str], name: str) -> list[str]:
    """A query-protocol list: ``Name.member.1``, ``Name.member.2``, ... in order."""
    found = [(int(k.rsplit(".", 1)[1]), v) for k, v in params.items()
             if k.startswith(f"{name}.member.") and k.rsplit(".", 1)[1].isdigit()]
    return [v for _, v in sorted(found)]


class _IamReader:
    """Reads a principal's policies from the wrapped app through IAM's own API (no moto internals)."""

    def __init__(self, app: WSGIApp, environ: dict[str, Any]) -> None:
        self.app = app
        self.environ = environ

    def call(self, action: str, **params: str) -> ET.Element:
        body = urllib.parse.urlencode({"Action": action, "Version": _VERSION, **params}).encode()
        # The caller's headers (its signature names the service and the account moto serves).
        env = {k: v for k, v in self.environ.items() if k.startswith(("HTTP_", "SERVER_", "wsgi.", "REMOTE_"))}
        env.update(REQUEST_METHOD="POST", PATH_INFO="/", QUERY_STRING="", SCRIPT_NAME="",
                   CONTENT_TYPE="application/x-www-form-urlencoded; charset=utf-8",
                   CONTENT_LENGTH=str(len(body)), **{"wsgi.input": io.BytesIO(body)})
        status: list[str] = []

        def start_response(s: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            status.append(s)
            return lambda data: None

        chunks = self.app(env, start_response)
        try:
            data = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        root = ET.fromstring(data)
        if not status or not status[0].startswith("200"):
            code = root.findtext(f".//{{{_NS}}}Code") or root.findtext(".//Code") or "ServiceFailure"
            message = root.findtext(f".//{{{_NS}}}Message") or root.findtext(".//Message") or ""
            raise IamError(int(status[0].split()[0]) if status else 500, code, message)
        return root

    def texts(self, root: ET.Element, tag: str) -> list[str]:
        return [e.text or "" for e in root.iter(f"{{{_NS}}}{tag}")]

    def policies(self, kind: str, name: str) -> list[SourcePolicy]:
        """The inline and attached policies of the ``kind`` (role, user, group) called ``name``."""
        k = kind.capitalize()
        key = {f"{k}Name": name}
        self.call(f"Get{k}", **key)  # NoSuchEntity when the principal does not exist
        out: list[SourcePolicy] = []
        for policy_name in self.texts(self.call(f"List{k}Policies", **key), "member"):
            doc = self.texts(self.call(f"Get{k}Policy", PolicyName=policy_name, **key), "PolicyDocument")[0]
            out.append(SourcePolicy(policy_name, _INLINE_SOURCE[kind], _statements(doc)))
        for arn in self.texts(self.call(f"ListAttached{k}Policies", **key), "PolicyArn"):
            version = self.texts(self.call("GetPolicy", PolicyArn=arn), "DefaultVersionId")[0]
            doc = self.texts(self.call("GetPolicyVersion", PolicyArn=arn, VersionId=version), "Document")[0]
            source = "aws-managed" if ":iam::aws:policy/" in arn else "user-managed"
            out.append(SourcePolicy(arn, source, _statements(doc)))
        return out


def _statements(document: str) -> list[dict[str, Any]]:
    # IAM returns policy documents URL-encoded.
    doc = json.loads(urllib.parse.unquote(document))
    statements = doc.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _wildcard(pattern: str, value: str, ignore_case: bool) -> bool:
    # IAM's wildcards: * any run of characters, ? one character; nothing else is special.
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def _covers(statement: dict[str, Any], key: str, value: str) -> bool:
    """Whether ``statement``'s ``key`` (Action or Resource), or its ``Not`` form, covers ``value``."""
    ignore_case = key == "Action"  # action names are case-insensitive, ARNs are not
    if key in statement:
        return any(_wildcard(p, value, ignore_case) for p in _as_list(statement[key]))
    if f"Not{key}" in statement:
        return not any(_wildcard(p, value, ignore_case) for p in _as_list(statement[f"Not{key}"]))
    return False


def evaluate(policies: list[SourcePolicy], action: str, resource: str) -> tuple[str, list[SourcePolicy]]:
    """IAM's decision for ``action`` on ``resource`` under ``policies``, and the policies that decided it."""
    allows: list[SourcePolicy] = []
    denies: list[SourcePolicy] = []
    for policy in policies:
        for st in policy.statements:
            if _covers(st, "Action", action) and _covers(st, "Resource", resource):
                effect = str(st.get("Effect", ""))
                (denies if effect == "Deny" else allows if effect == "Allow" else []).append(policy)
    if denies:
        return "explicitDeny", denies
    return ("allowed", allows) if allows else ("implicitDeny", [])


def _simulate(reader: _IamReader, params: dict[str, str]) -> str:
    source = params.get("PolicySourceArn", "")
    actions = _members(params, "ActionNames")
    if not source or not actions:
        missing = "policySourceArn" if not source else "actionNames"
        raise IamError(400, "ValidationError",
                       f"1 validation error detected: Value null at '{missing}' failed to satisfy constraint: "
                       "Member must not be null")
    match = _SOURCE_ARN.match(source)
    if match is None:
        raise IamError(400, "InvalidInput", f"Invalid PolicySourceArn: {source} is not a user, group or role ARN.")
    policies = reader.policies(match["kind"], match["name"])
    # Without ResourceArns IAM simulates against every resource: "*".
    resources = _members(params, "ResourceArns") or ["*"]
    results = [(action, resource, *evaluate(policies, action, resource))
               for action in actions for resource in resources]
    try:
        start = int(params.get("Marker") or 0)
        size = int(params.get("MaxItems") or _DEFAULT_MAX_ITEMS)
    except ValueError as err:
        raise IamError(400, "InvalidInput", f"Invalid Marker or MaxItems: {err}") from None
    page = results[start:start + size]
    truncated = start + size < len(results)
    members = "".join(_result_xml(*r) for r in page)
    marker = f"<Marker>{start + size}</Marker>" if truncated else ""
    return (f'<SimulatePrincipalPolicyResponse xmlns="{_NS}"><SimulatePrincipalPolicyResult>'
            f"<IsTruncated>{str(truncated).lower()}</IsTruncated>{marker}"
            f"<EvaluationResults>{members}</EvaluationResults></SimulatePrincipalPolicyResult>"
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
            "</SimulatePrincipalPolicyResponse>")


def _result_xml(action: str, resource: str, decision: str, matched: list[SourcePolicy]) -> str:
    statements = "".join(f"<member><SourcePolicyId>{escape(p.policy_id)}</SourcePolicyId>"
                         f"<SourcePolicyType>{p.source_type}</SourcePolicyType></member>" for p in matched)
    return (f"<member><EvalActionName>{escape(action)}</EvalActionName>"
            f"<EvalResourceName>{escape(resource)}</EvalResourceName><EvalDecision>{decision}</EvalDecision>"
            f"<MatchedStatements>{statements}</MatchedStatements><MissingContextValues/></member>")


def _error_xml(err: IamError) -> str:
    kind = "Sender" if err.status < 500 else "Receiver"
    return (f'<ErrorResponse xmlns="{_NS}"><Error><Type>{kind}</Type><Code>{escape(err.code)}</Code>'
            f"<Message>{escape(err.message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")
