"""The bundle's journal: the entries the scan's passes read, whole, in export format.

Collect runs the scan itself with a recorder on its journal source (sources/journal/passes.py
calls it at every entry a pass reads), so the bundle holds exactly the entries a scan of this
machine reads, with every field, journald's trusted ones included.  Each pass reads in time
order; the passes are written to runs on disk as they come and merged by time afterwards
(streamed: a week of a looping unit is never held in memory).  Entries two passes both read are
written once.

Cut oldest-first: when the compressed export would not fit its budget, the entries before a
chosen time are dropped, and the manifest says from when the journal is complete.
"""
import heapq
import lzma
import os
import struct
from typing import BinaryIO, Callable, Iterator, List, Optional, Tuple

from unitaudit.sources.journal.export import Entry, entries, realtime_of

_CHECKPOINT_EVERY = 100  # entries between two size checkpoints of the cut
_TRUSTED_ORDER = (b"__CURSOR", b"__REALTIME_TIMESTAMP", b"__MONOTONIC_TIMESTAMP", b"_BOOT_ID")


def _text_safe(value: bytes) -> bool:
    """A value journalctl writes as NAME=value: printable, no newline (else the binary form)."""
    return b"\n" not in value and all(b >= 0x20 or b == 0x09 for b in value)


def write_entry(out: BinaryIO, entry: Entry) -> int:
    """One entry in export format; the bytes written."""
    parts = []
    for name, values in entry.items():
        for value in values:
            if _text_safe(value):
                parts.append(name + b"=" + value + b"\n")
            else:
                parts.append(name + b"\n" + struct.pack("<Q", len(value)) + value + b"\n")
    parts.append(b"\n")
    data = b"".join(parts)
    out.write(data)
    return len(data)


class EntryRecorder:
    """The passes' `record` hook: each entry read, whole, into a run file of `workdir`; a new run
    whenever time goes back (the next pass).  `redact`: applied to every value but the cursor's."""

    def __init__(self, workdir: str, redact: Optional[Callable[[bytes], bytes]] = None) -> None:
        self.workdir = workdir
        self.redact = redact
        self.runs: List[str] = []
        self._out: Optional[BinaryIO] = None
        self._last_us = -1
        self.read = 0

    def __call__(self, reader) -> None:
        t_us = reader._get_realtime()
        if self._out is None or t_us < self._last_us:
            self._new_run()
        self._last_us = t_us
        mono = reader._get_monotonic()
        entry: Entry = {
            b"__CURSOR": [reader._get_cursor().encode()],
            b"__REALTIME_TIMESTAMP": [str(t_us).encode()],
            b"__MONOTONIC_TIMESTAMP": [str(mono[0]).encode()],
        }
        redact = self.redact
        for name, value in reader._get_all().items():
            values = value if isinstance(value, list) else [value]
            key = name.encode()
            entry[key] = [redact(v) if redact is not None else v for v in values]
        write_entry(self._out, entry)  # type: ignore[arg-type]
        self.read += 1

    def _new_run(self) -> None:
        self.close()
        path = os.path.join(self.workdir, "run-%04d.export" % len(self.runs))
        self.runs.append(path)
        self._out = open(path, "xb")

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


def _keyed(path: str) -> Iterator[Tuple[int, bytes, Entry]]:
    with open(path, "rb") as f:
        for e in entries(f, path):
            yield realtime_of(e), e[b"__CURSOR"][0], e


def merged(runs: List[str]) -> Iterator[Entry]:
    """The runs' entries in time order, each entry once."""
    last: Optional[bytes] = None
    for _t, cursor, entry in heapq.merge(*(_keyed(r) for r in runs), key=lambda k: (k[0], k[1])):
        if cursor == last:
            continue
        last = cursor
        yield entry


class Written:
    """What write_export wrote: entries, bytes, and the cut (None: nothing dropped)."""

    def __init__(self) -> None:
        self.entries = 0
        self.bytes = 0
        self.first_us: Optional[int] = None
        self.last_us: Optional[int] = None
        self.cut_before_us: Optional[int] = None
        self.dropped = 0


def write_export(runs: List[str], path: str, budget: Optional[int]) -> Written:
    """The merged runs into `path`.  `budget`: the most xz-compressed bytes the journal may take;
    over it, the oldest entries are dropped.  One pass writes and measures at once; only a journal
    over its budget is written a second time, from the cut."""
    measure = budget is not None and sum(os.path.getsize(r) for r in runs) > budget
    # (xz never makes a journal larger: under the budget uncompressed, nothing is measured)
    done, checkpoints, size = _write(runs, path, None, measure)
    cut = _cut_point(checkpoints, size, budget) if measure and budget is not None else None
    if cut is not None:
        os.unlink(path)
        done, _c, _s = _write(runs, path, cut, False)
        done.cut_before_us = cut
    return done


def _write(runs: List[str], path: str, cut: Optional[int], measure: bool) -> Tuple[Written, List[Tuple[int, int]], int]:
    """The merged runs from `cut` on into `path`; with `measure`, also their xz size (preset 1:
    4x faster than the bundle's preset 6 and a little larger, so the cut errs on the small side)
    at a checkpoint every _CHECKPOINT_EVERY entries: (time of the entry there, bytes before it)."""
    done = Written()
    compressor = lzma.LZMACompressor(preset=1) if measure else None
    checkpoints: List[Tuple[int, int]] = []
    size = 0
    with open(path, "xb") as out:
        for entry in merged(runs):
            t = realtime_of(entry)
            if cut is not None and t < cut:
                done.dropped += 1
                continue
            if compressor is not None:
                if done.entries % _CHECKPOINT_EVERY == 0:
                    checkpoints.append((t, size))
                block = _entry_bytes(entry)
                out.write(block)
                size += len(compressor.compress(block))
                done.bytes += len(block)
            else:
                done.bytes += write_entry(out, entry)
            done.entries += 1
            done.first_us = t if done.first_us is None else done.first_us
            done.last_us = t
    if compressor is not None:
        size += len(compressor.flush())
    return done, checkpoints, size


def _cut_point(checkpoints: List[Tuple[int, int]], size: int, budget: int) -> Optional[int]:
    """The time before which entries must go for the rest to compress into `budget` bytes (the
    compressed size after a checkpoint is about the total less the size at it); None: all fits."""
    if size <= budget:
        return None
    for t, before in checkpoints:
        if size - before <= budget:
            return t
    return checkpoints[-1][0] if checkpoints else None


def _entry_bytes(entry: Entry) -> bytes:
    sink = _Counter()
    write_entry(sink, entry)
    return sink.take()


class _Counter:
    """A write target that hands back what was written since the last take()."""

    def __init__(self) -> None:
        self._parts: List[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(data)
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts = []
        return data
