"""The state store: JSON documents with optimistic concurrency.

``DocumentStore`` holds the logic (create-once, read-modify-write with retry
on conflict, listing); a backend implements four primitives. The S3 backend
(:mod:`services.aws.s3_documents`) writes to the system bucket with
``If-None-Match: *`` to create and ``If-Match: <etag>`` to update, which real
S3, moto and LocalStack enforce. The in-memory backend is a test double for
unit tests only.
"""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from services.core.exceptions import PlatformError, PreconditionFailed, ResourceInUse, ResourceNotFound

M = TypeVar("M", bound=BaseModel)
Mutator = Callable[[M], "M | None | Awaitable[M | None]"]

_MAX_CONFLICT_RETRIES = 20


class StoreBackend(ABC):
    """Primitives a document backend provides."""

    @abstractmethod
    async def read(self, key: str) -> tuple[Any, str] | None:
        """The document at ``key`` and its version tag, or ``None``."""

    @abstractmethod
    async def create(self, key: str, doc: Any) -> str:
        """Write ``doc`` only if ``key`` is absent; else :class:`PreconditionFailed`."""

    @abstractmethod
    async def replace(self, key: str, doc: Any, version: str) -> str:
        """Write ``doc`` only if ``key`` is still at ``version``; else :class:`PreconditionFailed`."""

    @abstractmethod
    async def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix``."""

    async def delete(self, key: str) -> None:
        """Remove ``key`` (absent is fine)."""
        raise NotImplementedError


class MemoryBackend(StoreBackend):
    """A dict with the same conditional semantics (unit tests only)."""

    def __init__(self) -> None:
        self.docs: dict[str, tuple[str, str]] = {}
        self._counter = 0

    def _version(self) -> str:
        self._counter += 1
        return f'"{self._counter}"'

    async def read(self, key: str) -> tuple[Any, str] | None:
        if key not in self.docs:
            return None
        text, version = self.docs[key]
        return json.loads(text), version

    async def create(self, key: str, doc: Any) -> str:
        if key in self.docs:
            raise PreconditionFailed(key)
        version = self._version()
        self.docs[key] = (json.dumps(doc, default=str), version)
        return version

    async def replace(self, key: str, doc: Any, version: str) -> str:
        if key not in self.docs or self.docs[key][1] != version:
            raise PreconditionFailed(key)
        new = self._version()
        self.docs[key] = (json.dumps(doc, default=str), new)
        return new

    async def keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.docs if k.startswith(prefix))

    async def delete(self, key: str) -> None:
        self.docs.pop(key, None)


class DocumentStore(Generic[M]):
    """A collection of ``model`` documents named by a resource name."""

    def __init__(self, backend: StoreBackend, collection: str, model: type[M], kind: str) -> None:
        self.backend = backend
        self.collection = collection
        self.model = model
        self.kind = kind  # for error messages: "Training job"

    def key(self, name: str) -> str:
        """The backend key of document ``name``."""
        return f"{self.collection}/{name}.json"

    async def create(self, name: str, doc: M) -> M:
        """Store a new document; :class:`ResourceInUse` if the name is taken."""
        try:
            await self.backend.create(self.key(name), doc.model_dump(by_alias=True, exclude_none=True, mode="json"))
        except PreconditionFailed as err:
            raise ResourceInUse(f"{self.kind} {name} already exists") from err
        return doc

    async def get(self, name: str) -> M | None:
        """The document, or ``None``."""
        found = await self.backend.read(self.key(name))
        return None if found is None else self.model.model_validate(found[0])

    async def find(self, name: str, name_of: Callable[[M], str]) -> M | None:
        """The document ``name``, else the one whose name matches it case-insensitively (ARNs carry
        names lower-cased), else ``None``."""
        doc = await self.get(name)
        if doc is None:
            doc = next((d for d in await self.list() if name_of(d).lower() == name.lower()), None)
        return doc

    async def require(self, name: str) -> M:
        """The document, or :class:`ResourceNotFound`."""
        doc = await self.get(name)
        if doc is None:
            raise ResourceNotFound(f"Requested resource not found: {self.kind} {name} does not exist")
        return doc

    async def update(self, name: str, mutate: Callable[[M], Any]) -> tuple[M, M]:
        """Read-modify-write with optimistic concurrency.

        ``mutate`` receives a fresh copy and returns the new document (or
        ``None`` to leave it unchanged); it may be re-run on conflict, so it
        must be a pure function of its input. Returns ``(before, after)``.
        """
        for _ in range(_MAX_CONFLICT_RETRIES):
            found = await self.backend.read(self.key(name))
            if found is None:
                raise ResourceNotFound(f"Requested resource not found: {self.kind} {name} does not exist")
            before = self.model.model_validate(found[0])
            result = mutate(before.model_copy(deep=True))
            if asyncio.iscoroutine(result):
                result = await result
            if result is None:
                return before, before
            try:
                await self.backend.replace(
                    self.key(name), result.model_dump(by_alias=True, exclude_none=True, mode="json"), found[1]
                )
            except PreconditionFailed:
                await asyncio.sleep(0.01)
                continue
            return before, result
        raise PlatformError(f"{self.kind} {name}: too many concurrent updates")

    async def delete(self, name: str) -> None:
        """Remove the document (absent is fine)."""
        await self.backend.delete(self.key(name))

    async def list(self, prefix: str = "") -> list[M]:
        """Every document in the collection, or those whose name starts with ``prefix`` (a listing of
        that prefix only: names built as ``<group>/<item>`` make a group readable without the rest)."""
        keys = await self.backend.keys(f"{self.collection}/{prefix}")
        docs = await asyncio.gather(*(self.backend.read(k) for k in keys))
        return [self.model.model_validate(d[0]) for d in docs if d is not None]
