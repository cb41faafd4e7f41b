"""Who may call a node's servers: this machine only, or whoever holds the node's access token.

The node's APIs run code (a training job runs the script it names, a
processing job the command it gives), so a server other machines can reach
must know its caller. A node bound to a non-loopback address refuses to
start without ``HEADWATER_ACCESS_TOKEN``; with a token set, every server
checks it on every request, wherever it is bound.

Clients send the token the way they already send credentials, so boto3 and
the SageMaker SDK work unchanged: as the AWS access key id
(``AWS_ACCESS_KEY_ID=<token>``; SigV4 puts it in the ``Authorization``
header's ``Credential=<key id>/...``, or a presigned URL's
``X-Amz-Credential``). The signature is not verified (the node knows no
secret key): the token is a bearer secret. Plain HTTP clients send
``Authorization: Bearer <token>``. A request without it is answered as AWS
answers one: 403 ``MissingAuthenticationTokenException`` without any
credential, ``UnrecognizedClientException`` with another one.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import socket

from services.core.exceptions import (
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
    UnsafeBindHost,
)
from services.core.settings import Settings

_SIGV4 = "AWS4-HMAC-SHA256"
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


def access_token(settings: Settings) -> str | None:
    """The node's access token, or ``None`` when none is set (an empty value is none)."""
    token = settings.access_token.get_secret_value() if settings.access_token is not None else ""
    return token or None


def is_loopback(host: str) -> bool:
    """True when ``host`` (an address or a name) reaches this machine only.

    A name counts when every address it resolves to is loopback; ``""`` (all
    interfaces, to aiohttp) and a name that does not resolve do not.
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    if not host:
        return False
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


def check_bind(settings: Settings) -> None:
    """Refuse (:class:`UnsafeBindHost`) a node that would serve beyond this machine unchecked."""
    if not is_loopback(settings.bind_host) and access_token(settings) is None:
        raise UnsafeBindHost(
            f"HEADWATER_BIND_HOST={settings.bind_host!r} is not a loopback address and the node's APIs run code: "
            f"set HEADWATER_ACCESS_TOKEN as well (clients then use it as their AWS_ACCESS_KEY_ID, or send "
            f"'Authorization: Bearer <token>'), or bind to 127.0.0.1")
    if settings.aws_endpoint is None and not is_loopback(settings.emulator_host):
        # moto takes any credentials, and its queues start jobs: no token could protect it.
        raise UnsafeBindHost(
            f"HEADWATER_EMULATOR_HOST={settings.emulator_host!r} is not a loopback address: the embedded emulator "
            f"checks no credentials and its queues start jobs; bind it to 127.0.0.1 (HEADWATER_ACCESS_TOKEN "
            f"protects the node's own servers, not the emulator)")


def presented_credential(authorization: str | None, query_credential: str | None = None) -> str | None:
    """The credential a request carries: the bearer token, or the SigV4 access key id (header or
    presigned URL); ``None`` when it carries none."""
    scheme, _, rest = (authorization or "").strip().partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip()
    if scheme == _SIGV4 and (m := _CREDENTIAL.search(rest)):
        return m.group(1)
    if query_credential:
        return query_credential.split("/", 1)[0]
    return None


def check_access(token: str, authorization: str | None, query_credential: str | None = None) -> None:
    """Let a request carrying ``token`` through; raise the error AWS gives one that does not."""
    presented = presented_credential(authorization, query_credential)
    if presented is None:
        raise MissingAuthenticationTokenException("Missing Authentication Token")
    if not hmac.compare_digest(presented.encode(), token.encode()):
        raise UnrecognizedClientException("The security token included in the request is invalid.")
