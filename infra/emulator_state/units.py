"""moto's in-memory state, cut into units that can be saved one by one and put back.

moto keeps every service's state in Python objects: one backend per service,
account and region (``s3_backends["123456789012"]["aws"]``). A unit is one of
those backends, or, where a backend holds many things that change one at a
time, one of its children: an S3 bucket, the versions of one S3 key, a log
group, a log stream. A unit is saved with :mod:`pickle`, except that

- an S3 object's bytes go to a blob file of their own, written once, and the
  unit keeps only the blob's name (:class:`PendingBlob` lists what a snapshot
  must write before it commits);
- a reference from a child to an object of an enclosing unit (a log stream's
  group) is saved as that unit's path and resolved to the restored object;
- locks are saved as new, unlocked locks.

Children are told apart from their parent by :data:`SPLITS`; a child with a
cheap fingerprint (an S3 key's versions, a log stream's length) is pickled
only when its fingerprint changes, every other unit is pickled on each
snapshot and written only when its bytes change. An S3 bucket is looked at
only when a request named it since the last snapshot (the request gate
tells which; anything it cannot place makes the scan look at every bucket),
so a snapshot's cost follows what was written, not what is stored. This
module knows moto's
objects; :mod:`infra.emulator_state.persistence` decides when to snapshot and
where the bytes go.
"""

from __future__ import annotations

import _thread
import datetime
import hashlib
import importlib
import io
import pickle
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from moto.core.base_backend import BackendDict
from moto.s3.models import FakeKey

from infra.emulator_state.blobs import BlobStore

UnitKey = tuple[str, ...]  # (module, attribute, account, region, [attr, name]...)

_VALUE_TYPES = (str, bytes, int, float, bool, type(None), datetime.datetime)


def _key_versions(versions: list[FakeKey]) -> tuple[Any, ...]:
    # What a request can change on a stored object without replacing it.
    return tuple(x for k in versions for x in (
        k, k.acl, k.lock_mode, k.lock_legal_status, k.lock_until, k._expiry, k._storage_class,
        len(k._metadata), getattr(k, "_status", None)))


def _log_stream(stream: Any) -> tuple[Any, ...]:
    # Events are only appended (or expired from the front), never edited in place.
    events = stream.events
    return (stream, len(events), events[0] if events else None, events[-1] if events else None,
            stream.upload_sequence_token)


@dataclass(frozen=True)
class Split:
    """A dict attribute whose entries are units of their own."""

    attr: str
    fingerprint: Callable[[Any], tuple[Any, ...]] | None = None  # leaves only; None: compare pickled bytes
    children: Split | None = None
    # Entries are looked at only when a request named them since the last snapshot (S3 buckets: a
    # node may hold many objects, and a snapshot must not cost more as they grow).
    touched_only: bool = False


SPLITS: dict[str, Split] = {
    "s3": Split("buckets", children=Split("keys", fingerprint=_key_versions), touched_only=True),
    "logs": Split("groups", children=Split("streams", fingerprint=_log_stream)),
}


def same_fingerprint(a: tuple[Any, ...] | None, b: tuple[Any, ...]) -> bool:
    """Whether two fingerprints say "unchanged": the same objects and equal plain values."""
    if a is None or len(a) != len(b):
        return False
    return all(x is y or (type(x) in _VALUE_TYPES and x == y) for x, y in zip(a, b, strict=True))


@dataclass
class PendingBlob:
    """An S3 object's bytes that a snapshot refers to and must write first."""

    name: str
    key: FakeKey
    disposed: bool = False  # moto had already dropped the bytes (the parts of a completed upload)

    def chunks(self, size: int = 4 << 20) -> Iterator[bytes]:
        """The bytes, read under the key's own lock; ``ValueError`` if the key was deleted meanwhile."""
        if self.disposed:
            return
        with self.key.lock:
            buf = self.key._value_buffer
            buf.seek(0)
            while chunk := buf.read(size):
                yield chunk


# --- pickling -----------------------------------------------------------------

_BLOB_ATTR = "_headwater_blob"  # the blob name on a live FakeKey, so its bytes are written once


def _new_rlock() -> Any:
    return threading.RLock()


def _new_lock() -> Any:
    return threading.Lock()


class _Restore(threading.local):
    objects: dict[UnitKey, Any]
    blobs: BlobStore | None = None
    blob_names: set[str]


_RESTORE = _Restore()


def _enclosing(path: UnitKey) -> Any:
    return _RESTORE.objects[path]


def _rebuild_key(state: dict[str, Any], blob: str) -> FakeKey:
    key = FakeKey.__new__(FakeKey)
    key.__dict__.update(state)
    buf = tempfile.SpooledTemporaryFile(max_size=key._max_buffer_size)
    assert _RESTORE.blobs is not None
    with _RESTORE.blobs.open(blob) as f:
        while chunk := f.read(4 << 20):
            buf.write(chunk)
    key._value_buffer = buf
    key.lock = threading.Lock()
    setattr(key, _BLOB_ATTR, blob)
    _RESTORE.blob_names.add(blob)
    return key


class _UnitPickler(pickle.Pickler):
    def __init__(self, out: io.BytesIO, enclosing: dict[int, UnitKey], durable: set[str]) -> None:
        super().__init__(out, protocol=pickle.HIGHEST_PROTOCOL)
        self.enclosing = enclosing
        self.durable = durable
        self.blobs: set[str] = set()
        self.pending: list[PendingBlob] = []

    def reducer_override(self, obj: Any) -> Any:
        path = self.enclosing.get(id(obj))
        if path is not None:
            return _enclosing, (path,)
        t = type(obj)
        if t is _thread.RLock:
            return _new_rlock, ()
        if t is _thread.LockType:
            return _new_lock, ()
        if t is FakeKey:
            name = getattr(obj, _BLOB_ATTR, None)
            if name is None:
                name = BlobStore.new_name()
                setattr(obj, _BLOB_ATTR, name)
            if name not in self.durable:
                self.pending.append(PendingBlob(name, obj, disposed=obj.disposed or obj._value_buffer.closed))
            self.blobs.add(name)
            state = {k: v for k, v in obj.__dict__.items() if k not in ("_value_buffer", "lock", _BLOB_ATTR)}
            return _rebuild_key, (state, name)
        return NotImplemented


def _shell(obj: Any, attr: str) -> Any:
    """A copy of ``obj`` whose ``attr`` is empty: the unit without its children."""
    shell = object.__new__(type(obj))
    shell.__dict__.update(obj.__dict__)
    setattr(shell, attr, type(getattr(obj, attr))())
    return shell


@dataclass
class Unit:
    """One unit as pickled now."""

    data: bytes
    blobs: frozenset[str]


@dataclass
class Scan:
    """What changed since the last scan that was committed."""

    puts: dict[UnitKey, Unit] = field(default_factory=dict)
    deletes: set[UnitKey] = field(default_factory=set)
    pending: list[PendingBlob] = field(default_factory=list)
    digests: dict[UnitKey, bytes] = field(default_factory=dict)
    fingerprints: dict[UnitKey, tuple[Any, ...]] = field(default_factory=dict)
    subtrees: dict[UnitKey, set[UnitKey]] = field(default_factory=dict)  # a touched_only entry's units


def _backend_roots() -> Iterator[tuple[UnitKey, str, Any]]:
    """(root key, service, backend) for every backend moto has created."""
    for bd in list(BackendDict._instances):
        module, attr = _where(bd)
        for account, per_account in list(dict.items(bd)):
            for region, backend in list(dict.items(per_account)):
                yield (module, attr, account, region), bd.service_name, backend


_WHERE: dict[int, tuple[str, str]] = {}


def _where(bd: BackendDict[Any]) -> tuple[str, str]:
    """The module attribute that holds ``bd``, so a restore finds the same dict again."""
    if (hit := _WHERE.get(id(bd))) is not None:
        return hit
    modules = [sys.modules.get(bd.backend.__module__)] + [m for n, m in list(sys.modules.items())
                                                          if n.startswith("moto.")]
    for mod in modules:
        for name, value in list(vars(mod or object).items()):
            if value is bd:
                _WHERE[id(bd)] = (mod.__name__, name)  # type: ignore[union-attr]
                return _WHERE[id(bd)]
    raise LookupError(f"moto's {bd.service_name} backends are not held by any module attribute")


class UnitScanner:
    """Pickles moto's state unit by unit, remembering what the last committed snapshot held."""

    def __init__(self) -> None:
        self.digests: dict[UnitKey, bytes] = {}
        self.fingerprints: dict[UnitKey, tuple[Any, ...]] = {}
        self.subtrees: dict[UnitKey, set[UnitKey]] = {}
        self.durable: set[str] = set()  # blobs on disk

    def scan(self, touched: set[str] | None = None) -> Scan:
        """Pickle what changed; call with no request in flight. Commit with :meth:`commit`.

        ``touched``: the names of the ``touched_only`` entries that requests named since the last
        committed scan (``None``: look at everything)."""
        out = Scan(digests=dict(self.digests), fingerprints=dict(self.fingerprints))
        seen: set[UnitKey] = set()
        for key, service, backend in _backend_roots():
            self._scan_node(out, seen, key, backend, SPLITS.get(service), {}, touched)
        out.deletes = (set(self.digests) | set(self.fingerprints)) - seen
        for key in out.deletes:
            out.digests.pop(key, None)
            out.fingerprints.pop(key, None)
        return out

    def _pickle(self, out: Scan, key: UnitKey, obj: Any, enclosing: dict[int, UnitKey]) -> Unit:
        buf = io.BytesIO()
        p = _UnitPickler(buf, enclosing, self.durable)
        p.dump(obj)
        out.pending.extend(p.pending)
        return Unit(buf.getvalue(), frozenset(p.blobs))

    def _scan_node(self, out: Scan, seen: set[UnitKey], key: UnitKey, obj: Any, split: Split | None,
                   enclosing: dict[int, UnitKey], touched: set[str] | None) -> None:
        seen.add(key)
        unit = self._pickle(out, key, obj if split is None else _shell(obj, split.attr), enclosing)
        digest = hashlib.blake2b(unit.data, digest_size=16).digest()
        out.digests[key] = digest
        if self.digests.get(key) != digest:
            out.puts[key] = unit
        if split is None:
            return
        inner = {**enclosing, id(obj): key}
        entries = list(dict.items(getattr(obj, split.attr)))
        if split.touched_only and touched is not None:
            known = {k[-1] for k in self.subtrees if k[:-1] == (*key, split.attr)} | {name for name, _ in entries}
            if touched - known:
                touched = None  # a request named something this scan cannot place: look at everything
        for name, child in entries:
            child_key = (*key, split.attr, name)
            if split.touched_only:
                previous = self.subtrees.get(child_key)
                if touched is not None and name not in touched and previous is not None:
                    seen |= previous  # untouched since the last snapshot: as it was
                    out.subtrees[child_key] = previous
                    continue
                subtree: set[UnitKey] = set()
                self._scan_node(out, subtree, child_key, child, split.children, inner, touched)
                seen |= subtree
                out.subtrees[child_key] = subtree
                continue
            if split.children is not None:
                self._scan_node(out, seen, child_key, child, split.children, inner, touched)
                continue
            assert split.fingerprint is not None, "a leaf split needs a fingerprint"
            seen.add(child_key)
            fp = split.fingerprint(child)
            out.fingerprints[child_key] = fp
            if not same_fingerprint(self.fingerprints.get(child_key), fp):
                out.puts[child_key] = self._pickle(out, child_key, child, inner)

    def commit(self, scan: Scan) -> None:
        """The snapshot of ``scan`` is on disk: remember it as the base of the next one."""
        self.durable.update(p.name for p in scan.pending)
        self.digests = scan.digests
        self.fingerprints = scan.fingerprints
        self.subtrees = scan.subtrees

    def forget_blobs(self, names: set[str]) -> None:
        """Blobs deleted from disk: a key that still names one must write it again."""
        self.durable -= names


def restore_units(units: dict[UnitKey, bytes], blobs: BlobStore) -> dict[UnitKey, frozenset[str]]:
    """Put ``units`` back into moto's backends; return the blobs each unit names."""
    refs: dict[UnitKey, frozenset[str]] = {}
    _RESTORE.objects = {}
    _RESTORE.blobs = blobs
    try:
        # Parents first: a child is attached to (and may refer to) its restored parent.
        for key in sorted(units, key=len):
            _RESTORE.blob_names = set()
            obj = pickle.loads(units[key])
            refs[key] = frozenset(_RESTORE.blob_names)
            _RESTORE.objects[key] = obj
            if len(key) == 4:
                module, attr, account, region = key
                bd = getattr(importlib.import_module(module), attr)
                dict.__setitem__(bd[account], region, obj)
            else:
                parent, (split_attr, name) = _RESTORE.objects[key[:-2]], key[-2:]
                dict.__setitem__(getattr(parent, split_attr), name, obj)
        return refs
    finally:
        _RESTORE.objects = {}
        _RESTORE.blobs = None
