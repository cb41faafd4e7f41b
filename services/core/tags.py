"""Tags on any SageMaker resource, found by ARN.

Each resource kind registers how to read and write its tags under its ARN
resource type (``training-job``, ``endpoint``...), so ``AddTags``,
``ListTags`` and ``DeleteTags`` work for every kind without knowing them.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from services.core.exceptions import ResourceNotFound, ValidationException
from services.core.store import DocumentStore

Tags = list[dict[str, str]]
_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:(?P<type>[a-z-]+)/(?P<name>.+)$")
MAX_TAGS = 50


@dataclass(frozen=True)
class TagAccess:
    """How one resource kind reads and rewrites its tags by (ARN) name."""

    get: Callable[[str], Awaitable[Tags]]
    update: Callable[[str, Callable[[Tags], Tags]], Awaitable[None]]


def document_tags(store: DocumentStore[Any], find: Callable[[str], Awaitable[Any]],
                  key_of: Callable[[Any], str]) -> TagAccess:
    """Tags kept on a document's ``tags`` field: ``find`` resolves an ARN's name to the document
    (or raises ``ResourceNotFound``), ``key_of`` gives the key it is stored under."""

    async def get(name: str) -> Tags:
        return list((await find(name)).tags or [])

    async def update(name: str, change: Callable[[Tags], Tags]) -> None:
        key = key_of(await find(name))

        def mutate(doc: Any) -> Any:
            doc.tags = change(list(doc.tags or []))
            return doc

        await store.update(key, mutate)

    return TagAccess(get=get, update=update)


class TagService:
    """``AddTags`` / ``ListTags`` / ``DeleteTags`` over the registered kinds."""

    def __init__(self) -> None:
        self._kinds: dict[str, TagAccess] = {}

    def register(self, resource_type: str, access: TagAccess) -> None:
        """Serve tags of ARNs ``...:<resource_type>/<name>``."""
        self._kinds[resource_type] = access

    def _resolve(self, arn: str) -> tuple[TagAccess, str]:
        m = _ARN.match(arn)
        if m is None:
            raise ValidationException(f"Invalid ResourceArn: {arn}")
        access = self._kinds.get(m["type"])
        if access is None:
            raise ResourceNotFound(f"Resource {arn} not found (Headwater does not tag {m['type']} resources)")
        return access, m["name"]

    async def list_tags(self, arn: str) -> Tags:
        """The resource's tags."""
        access, name = self._resolve(arn)
        return await access.get(name)

    async def add_tags(self, arn: str, tags: Tags) -> Tags:
        """Add or overwrite tags by key; return the tags as they are now."""
        access, name = self._resolve(arn)
        new = {t["Key"]: t.get("Value", "") for t in tags}

        def merge(current: Tags) -> Tags:
            merged = {t["Key"]: t.get("Value", "") for t in current} | new
            if len(merged) > MAX_TAGS:
                raise ValidationException(f"A resource can have at most {MAX_TAGS} tags")
            return [{"Key": k, "Value": v} for k, v in merged.items()]

        await access.update(name, merge)
        return await access.get(name)

    async def delete_tags(self, arn: str, keys: list[str]) -> None:
        """Remove tags by key (absent keys are fine)."""
        access, name = self._resolve(arn)
        await access.update(name, lambda current: [t for t in current if t["Key"] not in set(keys)])
