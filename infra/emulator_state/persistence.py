"""The embedded emulator's state, kept on disk: restored at start, snapshotted every second.

Layout under the state folder (``<state dir>/emulator``)::

    journal        framed snapshot records (infra.emulator_state.journal)
    blobs/<name>   S3 object bodies, one file each, written once

A snapshot closes the request gate for as long as it takes to pickle the
units that changed (milliseconds), opens it, writes the new object bodies
(``fsync``), then appends one record holding the changed units and the
removed ones (``fsync``): the record is the commit point, so a SIGKILL at any
moment leaves the last committed snapshot whole and loses at most the
requests of the last interval. Bodies no committed unit refers to any more
are deleted after the commit; the journal is rewritten as one record when it
grows to several times the live state.
"""

from __future__ import annotations

import collections
import logging
import pickle
import threading
import time
from pathlib import Path
from typing import Any

import moto

from infra.emulator_state.blobs import BlobStore
from infra.emulator_state.gate import RequestGate
from infra.emulator_state.journal import Journal
from infra.emulator_state.units import Scan, UnitKey, UnitScanner, restore_units

log = logging.getLogger(__name__)

_COMPACT_MIN_BYTES = 16 << 20
_COMPACT_RATIO = 4


class EmulatorStateError(RuntimeError):
    """The saved state cannot be read back."""


def _record(puts: dict[UnitKey, bytes], deletes: set[UnitKey]) -> bytes:
    return pickle.dumps({"moto": moto.__version__, "put": puts, "delete": sorted(deletes)},
                        protocol=pickle.HIGHEST_PROTOCOL)


class EmulatorState:
    """Restores moto's state from ``root`` and keeps ``root`` up to date while the emulator serves."""

    def __init__(self, root: Path, gate: RequestGate, *, interval: float = 1.0, gate_timeout: float = 0.5) -> None:
        self.root = root
        self.gate = gate
        self.interval = interval
        self.gate_timeout = gate_timeout
        self.journal = Journal(root / "journal")
        self.blobs = BlobStore(root / "blobs")
        self._scanner = UnitScanner()
        self._refs: dict[UnitKey, frozenset[str]] = {}
        self._blob_counts: collections.Counter[str] = collections.Counter()
        self._sizes: dict[UnitKey, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one snapshot at a time (the loop, and the last one at stop)
        self.snapshots = 0  # committed, for tests and the benchmark
        self.held_s: collections.deque[float] = collections.deque(maxlen=1000)  # gate held per scan

    # --- restore ----------------------------------------------------------

    def _read_units(self) -> tuple[dict[UnitKey, bytes], set[str]]:
        units: dict[UnitKey, bytes] = {}
        versions: set[str] = set()
        for payload in self.journal.records():
            record: dict[str, Any] = pickle.loads(payload)
            versions.add(record["moto"])
            units.update(record["put"])
            for key in record["delete"]:
                units.pop(key, None)
        return units, versions

    def restore(self) -> int:
        """Load the saved state into moto (call before the emulator serves); return the units restored."""
        self.root.mkdir(parents=True, exist_ok=True)
        units: dict[UnitKey, bytes] = {}
        versions: set[str] = set()
        try:
            units, versions = self._read_units()
            refs = restore_units(units, self.blobs)
        except Exception as exc:
            saved_by = ", ".join(sorted(versions)) or "?"
            raise EmulatorStateError(
                f"cannot restore the embedded emulator's state from {self.root} (saved by moto {saved_by}, "
                f"running {moto.__version__}): {type(exc).__name__}: {exc}. Move that folder aside to "
                f"start empty, or start with --ephemeral.") from exc
        self._refs = dict(refs)
        self._blob_counts = collections.Counter(name for names in refs.values() for name in names)
        self._scanner.durable = set(self._blob_counts)
        for orphan in self.blobs.names() - set(self._blob_counts):
            self.blobs.delete(orphan)  # written by a snapshot that never committed
        # Start from one record that holds exactly what was restored.
        scan = self._scanner.scan()
        self.journal.rewrite([_record({k: u.data for k, u in scan.puts.items()}, set())])
        self._apply(scan)
        if units:
            log.info("restored the embedded emulator's state: %d units from %s", len(units), self.root)
        return len(units)

    # --- snapshots ----------------------------------------------------------

    def snapshot(self) -> bool:
        """Save what changed since the last snapshot; ``False`` if it must be tried again."""
        with self._lock:
            with self.gate.closed(self.gate_timeout) as held:
                if not held:
                    return False
                started = time.perf_counter()
                scan = self._scanner.scan(self.gate.take_touched())
                self.held_s.append(time.perf_counter() - started)
            if not scan.puts and not scan.deletes:
                self._scanner.commit(scan)
                return True
            try:
                for blob in scan.pending:
                    self.blobs.write(blob.name, blob.chunks())
            except ValueError:
                # The object was deleted after the scan: the next scan will not refer to it.
                self.gate.touch_all()
                return False
            except BaseException:
                self.gate.touch_all()
                raise
            if scan.pending:
                self.blobs.sync()
            self.journal.append(_record({k: u.data for k, u in scan.puts.items()}, scan.deletes))
            self._apply(scan)
            self.snapshots += 1
            self._compact_if_large()
            return True

    def _apply(self, scan: Scan) -> None:
        """``scan`` is committed: move the base, and delete the bodies nothing refers to any more."""
        self._scanner.commit(scan)
        released: list[str] = []
        for key, unit in scan.puts.items():
            self._blob_counts.update(unit.blobs)
            old = self._refs.get(key, frozenset())
            self._blob_counts.subtract(old)
            released.extend(old)
            self._refs[key] = unit.blobs
            self._sizes[key] = len(unit.data)
        for key in scan.deletes:
            old = self._refs.pop(key, frozenset())
            self._blob_counts.subtract(old)
            released.extend(old)
            self._sizes.pop(key, None)
        gone = {name for name in released if self._blob_counts[name] <= 0}
        for name in gone:
            del self._blob_counts[name]
            self.blobs.delete(name)
        self._scanner.forget_blobs(gone)

    def _compact_if_large(self) -> None:
        live = sum(self._sizes.values())
        if self.journal.size < max(_COMPACT_MIN_BYTES, _COMPACT_RATIO * live):
            return
        units, _ = self._read_units()
        self.journal.rewrite([_record(units, set())])
        log.debug("emulator journal compacted to %d bytes", self.journal.size)

    # --- the loop -------------------------------------------------------------

    def start(self) -> None:
        """Snapshot every ``interval`` seconds while requests change state, in a thread of its own."""
        self._thread = threading.Thread(target=self._run, name="emulator-snapshots", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        saved = self.gate.writes
        missed = 0
        while not self._stop.wait(self.interval):
            writes = self.gate.writes
            if writes == saved:
                continue
            try:
                if self.snapshot():
                    saved, missed = writes, 0
                    continue
            except Exception:  # a full disk, say: keep serving, say so, try again next round
                log.exception("snapshot of the embedded emulator's state failed; retrying")
            missed += 1
            if missed % 10 == 0:
                log.warning("no snapshot of the embedded emulator's state for %d rounds", missed)

    def stop(self) -> None:
        """Stop the loop and take a last snapshot (the server must have stopped serving)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        deadline = time.monotonic() + 10
        while not self.snapshot():
            if time.monotonic() > deadline:
                log.error("the last changes to the embedded emulator's state could not be saved")
                return
            time.sleep(0.05)  # a request still leaving the gate
