"""Building user functions for the Lambda API tests: zips of handler code, created with boto3."""

from __future__ import annotations

import io
import json
import stat
import textwrap
import zipfile
from typing import Any

ROLE = "arn:aws:iam::123456789012:role/headwater-function-tests"


def zipped(files: dict[str, str]) -> bytes:
    """A deployment package holding ``files`` (name -> source, dedented)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, textwrap.dedent(text))
    return buf.getvalue()


def zip_with_link(name: str, target: str) -> bytes:
    """A zip whose entry ``name`` is a symbolic link to ``target``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo(name)
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(info, target)
        z.writestr("app.py", "def handler(event, context):\n    return 1\n")
    return buf.getvalue()


def create(lam: Any, name: str, source: str, *, handler: str = "app.handler", wait: bool = True,
           **kwargs: Any) -> dict[str, Any]:
    """Create function ``name`` whose ``app.py`` is ``source``; wait until it is Active."""
    config = lam.create_function(FunctionName=name, Runtime=kwargs.pop("Runtime", "python3.11"), Role=ROLE,
                                 Handler=handler, Code={"ZipFile": zipped({"app.py": source})}, **kwargs)
    if wait:
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return config


def call(lam: Any, name: str, event: Any = None, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    """Invoke ``name`` with ``event``; the response and its payload, parsed."""
    resp = lam.invoke(FunctionName=name, Payload=json.dumps({} if event is None else event), **kwargs)
    body = resp["Payload"].read()
    return resp, (json.loads(body) if body else None)
