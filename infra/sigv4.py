"""What a SigV4-signed request says about itself, read off its WSGI environ."""

from __future__ import annotations

import re
from typing import Any

# Credential=<key id>/<date>/<region>/<service>/aws4_request, in the Authorization header or, presigned,
# in the X-Amz-Credential query parameter (its slashes percent-encoded).
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]*/[^/,\s]*/[^/,\s]*/(?P<service>[^/,\s]*)/aws4_request")


def signed_service(environ: dict[str, Any]) -> str | None:
    """The service a signed request names in its credential scope; ``None`` for an unsigned request."""
    scope = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", "")) or _CREDENTIAL_SCOPE.search(
        environ.get("QUERY_STRING", "").replace("%2F", "/").replace("%2f", "/"))
    return scope["service"] if scope is not None else None
