"""The state store: JSON documents with optimistic concurrency.

``DocumentStore`` holds the logic (create-once, read-modify-write with retry
on conflict, listing); a backend implements four primitives, and a fifth,
:meth:`StoreBackend.listing`, where it can list keys with their version tags. The S3 backend
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
from services.core.store_index import StoreIndex, Summary

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

    async def listing(self, prefix: str) -> list[tuple[str, str | None]]:
        """Every key under ``prefix`` with its version tag as :meth:`read` reports it, in one call where
        the backend can (S3's ``ListObjectsV2`` carries each object's ETag); ``None`` where it cannot say,
        so the document is read again."""
        return [(key, None) for key in await self.keys(prefix)]

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

    async def listing(self, prefix: str) -> list[tuple[str, str | None]]:
        return [(k, self.docs[k][1]) for k in await self.keys(prefix)]

    async def delete(self, key: str) -> None:
        self.docs.pop(key, None)


class DocumentStore(Generic[M]):
    """A collection of ``model`` documents named by a resource name.

    :meth:`list` is one listing call plus reads of the documents that changed
    since this store last saw them: it holds each document it read or wrote
    under the version tag the backend gave it, and a listing that reports the
    same tag is served from there. What it holds is the document's JSON text,
    so every caller gets a fresh model of its own.

    Given ``summarize``, the store keeps an index of its documents' summaries
    (:class:`services.core.store_index.StoreIndex`) through every write, and
    :meth:`summaries`, :meth:`find` and :meth:`get_many` answer from it what
    would otherwise read the whole collection.
    """

    def __init__(self, backend: StoreBackend, collection: str, model: type[M], kind: str,
                 summarize: Callable[[M], Summary] | None = None) -> None:
        self.backend = backend
        self.collection = collection
        self.model = model
        self.kind = kind  # for error messages: "Training job"
        self._held: dict[str, tuple[str, str]] = {}  # key -> (version tag, JSON text)
        self.summarize = summarize
        self.index = StoreIndex(backend, collection, self._stored_summary) if summarize else None

    async def _stored_summary(self, name: str) -> Summary | None:
        """The summary of the document as stored now (the index verifies pending entries with it)."""
        assert self.summarize is not None
        doc = await self.get(name)
        return None if doc is None else self.summarize(doc)

    def _hold(self, key: str, version: str | None, doc: Any) -> None:
        if version:
            self._held[key] = (version, json.dumps(doc, default=str))

    def key(self, name: str) -> str:
        """The backend key of document ``name``."""
        return f"{self.collection}/{name}.json"

    async def create(self, name: str, doc: M) -> M:
        """Store a new document; :class:`ResourceInUse` if the name is taken."""
        data = doc.model_dump(by_alias=True, exclude_none=True, mode="json")
        # Index first (pending), then the document, then the settled entry: see StoreIndex.
        token = await self.index.begin(name) if self.index else None
        try:
            version = await self.backend.create(self.key(name), data)
        except PreconditionFailed as err:
            if self.index and token:
                await self.index.settle(name, token, await self._stored_summary(name))
            raise ResourceInUse(f"{self.kind} {name} already exists") from err
        self._hold(self.key(name), version, data)
        if self.index and token and self.summarize:
            await self.index.settle(name, token, self.summarize(doc))
        return doc

    async def get_many(self, names: list[str]) -> list[M]:
        """The documents ``names`` that exist, in that order (read at once)."""
        found = await asyncio.gather(*(self.get(n) for n in names))
        return [d for d in found if d is not None]

    async def summaries(self) -> dict[str, Summary]:
        """Every document's summary by name, from the index (reading no document but those a writer is
        changing); only for a store given ``summarize``."""
        if self.index is None:
            raise TypeError(f"{self.kind} documents are not indexed")
        return await self.index.summaries()

    async def get(self, name: str) -> M | None:
        """The document, or ``None``."""
        found = await self.backend.read(self.key(name))
        if found is None:
            return None
        self._hold(self.key(name), found[1], found[0])  # an update that follows writes against it unread
        return self.model.model_validate(found[0])

    async def find(self, name: str, name_of: Callable[[M], str]) -> M | None:
        """The document ``name``, else the one whose name matches it case-insensitively (ARNs carry
        names lower-cased), else ``None``."""
        doc = await self.get(name)
        if doc is None and self.index is not None:
            match = next((n for n in await self.index.summaries() if n.lower() == name.lower()), None)
            doc = None if match is None else await self.get(match)
        elif doc is None:
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
        The first try starts from the version this store last wrote or read, unread; the conditional
        write refuses it if the document changed since, and the next try reads the document.
        """
        token: str | None = None  # this writer's pending mark on the index entry, once a summary changes
        key = self.key(name)
        try:
            for attempt in range(_MAX_CONFLICT_RETRIES):
                held = self._held.get(key) if attempt == 0 else None
                if held is not None:
                    # The version this store last wrote or read: written against it with If-Match, the write
                    # succeeds only if the document is still that version, so it costs no read while this
                    # store is the document's only writer (a worker running its job). Anything but a
                    # successful write (a conflict, no change, an error) is decided again on a fresh read.
                    found: tuple[Any, str] | None = (json.loads(held[1]), held[0])
                else:
                    found = await self.backend.read(key)
                if found is None:
                    raise ResourceNotFound(f"Requested resource not found: {self.kind} {name} does not exist")
                before = self.model.model_validate(found[0])
                try:
                    result = mutate(before.model_copy(deep=True))
                    if asyncio.iscoroutine(result):
                        result = await result
                except Exception:
                    if held is None:
                        raise
                    continue  # perhaps only true of the held version: decide on the stored one
                if result is None:
                    if held is not None:
                        continue
                    return before, before
                data = result.model_dump(by_alias=True, exclude_none=True, mode="json")
                if self.index and self.summarize and token is None \
                        and self.summarize(result) != self.summarize(before):
                    token = await self.index.begin(name)
                try:
                    version = await self.backend.replace(key, data, found[1])
                except PreconditionFailed:
                    self._held.pop(key, None)
                    if held is None:
                        await asyncio.sleep(0.01)
                    continue
                self._hold(key, version, data)
                if self.index and self.summarize and token:
                    await self.index.settle(name, token, self.summarize(result))
                    token = None
                return before, result
            raise PlatformError(f"{self.kind} {name}: too many concurrent updates")
        finally:
            if self.index and token:  # the write did not happen (or not by us): the entry is what is stored
                await self.index.settle(name, token, await self._stored_summary(name))

    async def delete(self, name: str) -> None:
        """Remove the document (absent is fine)."""
        token = await self.index.begin(name) if self.index else None
        await self.backend.delete(self.key(name))
        self._held.pop(self.key(name), None)
        if self.index and token:
            await self.index.settle(name, token, None)

    async def list(self, prefix: str = "") -> list[M]:
        """Every document in the collection, or those whose name starts with ``prefix`` (a listing of
        that prefix only: names built as ``<group>/<item>`` make a group readable without the rest).

        One listing, then reads of the documents not held at the version listed (new, changed by any
        writer, or of a backend that lists no versions)."""
        under = f"{self.collection}/{prefix}"
        listed = await self.backend.listing(under)
        stale = [key for key, version in listed if version is None or self._held.get(key, ("",))[0] != version]
        found = await asyncio.gather(*(self.backend.read(k) for k in stale))
        fresh: dict[str, Any] = {}
        for key, doc in zip(stale, found, strict=True):
            if doc is None:  # deleted since it was listed
                self._held.pop(key, None)
                continue
            fresh[key] = doc[0]
            self._hold(key, doc[1], doc[0])
        present = {key for key, _ in listed}
        for key in [k for k in self._held if k.startswith(under) and k not in present]:
            del self._held[key]  # gone: deleted by any writer
        docs: list[M] = []
        for key, _ in listed:
            if key in fresh:
                docs.append(self.model.model_validate(fresh[key]))
            elif key in self._held:
                docs.append(self.model.model_validate_json(self._held[key][1]))
        return docs
