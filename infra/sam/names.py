"""Physical names as CloudFormation derives them when a template gives none: ``<stack>-<logical id>-<suffix>``.

CloudFormation's suffix is random; here it is a hash of the stack and logical id, so a redeploy of the same
template finds the resources the first one made.
"""

from __future__ import annotations

import base64
import hashlib

_SUFFIX_LENGTH = 12


def physical_name(stack: str, logical_id: str, max_length: int = 64, lower: bool = False) -> str:
    """``<stack>-<logical id>-<SUFFIX>`` within ``max_length`` (stack name and logical id shortened as
    CloudFormation does when they do not fit); lower case for S3 bucket names."""
    digest = hashlib.sha256(f"{stack}/{logical_id}".encode()).digest()
    suffix = base64.b32encode(digest).decode().rstrip("=")[:_SUFFIX_LENGTH]
    room = max_length - len(suffix) - 2
    head, tail = stack, logical_id
    if len(head) + len(tail) > room:
        tail = tail[:max(room // 2, room - len(head))]
        head = head[:room - len(tail)]
    name = f"{head}-{tail}-{suffix}"
    return name.lower() if lower else name
