"""A journal in export format (`journalctl -o export`, a bundle's journal.export), read in pure
Python behind the same reader interface as systemd-python's, so that the passes (passes.py) and
their classifiers read a bundle exactly as they read a journal: one implementation of the
evidence, and no libsystemd needed on the machine that reads the bundle.

Only what the passes and reader.Journal ask of a reader is here: matches (same field ORed,
different fields ANDed, conjunctions ANDed), seeking to the head, a time, the tail or a cursor,
stepping forwards (and back once, to find the last entry), and the raw field getters.  The file
is streamed on every pass, never loaded: an export must be in time order (collect writes it so).

Export format (systemd's JOURNAL_EXPORT_FORMATS): entries separated by an empty line; a field
is `NAME=value\\n`, or, for a value holding newlines or binary data, `NAME\\n`, its length as a
little-endian 64-bit integer, the bytes, `\\n`.
"""
import bisect
import io
import struct
from array import array
from typing import BinaryIO, Dict, Iterator, List, Optional, Set, Tuple

from unitaudit.errors import SourceError
from unitaudit.sources.journal.reader import Journal

_MAX_FIELD = 64 << 20  # journald's own DATA_SIZE_MAX is 64 MiB: a longer length is damage
Entry = Dict[bytes, List[bytes]]


def entries(f: BinaryIO, label: str) -> Iterator[Entry]:
    """The entries of an export stream, each field name with its values (a field may repeat)."""
    for _offset, entry in placed_entries(f, label):
        yield entry


def placed_entries(f: BinaryIO, label: str, one: bool = False) -> Iterator[Tuple[int, Entry]]:
    """(offset of its first field, entry) of each entry from where `f` is; `one`: the first only."""
    entry: Entry = {}
    start = f.tell()
    while True:
        line = f.readline()
        if not line:
            break
        if line == b"\n":
            if entry:
                yield start, entry
                if one:
                    return
                entry = {}
            start = f.tell()
            continue
        name, eq, value = line.partition(b"=")
        if eq:
            entry.setdefault(name, []).append(value[:-1] if value.endswith(b"\n") else value)
            continue
        size_bytes = f.read(8)  # a binary field: NAME\n, length, data, \n
        if len(size_bytes) != 8:
            raise SourceError("%s: export cut short in field %r" % (label, name[:40]))
        (size,) = struct.unpack("<Q", size_bytes)
        if size > _MAX_FIELD:
            raise SourceError("%s: damaged export: a field of %d bytes" % (label, size))
        data = f.read(size)
        if len(data) != size or f.read(1) != b"\n":
            raise SourceError("%s: export cut short in field %r" % (label, name.rstrip(b"\n")[:40]))
        entry.setdefault(name.rstrip(b"\n"), []).append(data)
    if entry:
        yield start, entry


def realtime_of(entry: Entry) -> int:
    return int(entry[b"__REALTIME_TIMESTAMP"][0])


# The fields the passes match on (passes.py, reader.py): indexed as sd_journal indexes every
# field, so that a pass reads only its entries instead of the whole export (8 passes over a
# week's export: 28 s streamed, a few seconds indexed).  A match on another field streams.
INDEXED = frozenset((b"MESSAGE_ID", b"_PID", b"_UID", b"_COMM", b"_SYSTEMD_UNIT", b"SYSLOG_IDENTIFIER",
                     b"_MACHINE_ID", b"_BOOT_ID", b"_HOSTNAME"))


class ExportIndex:
    """Where each entry starts, its time, and for each indexed field=value the entries holding it
    (ascending entry numbers): a few integers per entry, never the entries themselves."""

    def __init__(self, path: str, label: str) -> None:
        self.offsets = array("q")
        self.realtimes = array("q")
        self.postings: Dict[bytes, array] = {}
        try:
            with open(path, "rb") as f:
                for n, (offset, entry) in enumerate(placed_entries(f, label)):
                    self.offsets.append(offset)
                    self.realtimes.append(realtime_of(entry))
                    for name in INDEXED.intersection(entry):
                        for value in set(entry[name]):
                            self.postings.setdefault(name + b"=" + value, array("l")).append(n)
        except OSError as e:
            raise SourceError("%s: cannot read: %s" % (label, e.strerror or e)) from None
        except (KeyError, ValueError):
            raise SourceError("%s: damaged export: an entry without a valid __REALTIME_TIMESTAMP" % label) from None
        if any(a > b for a, b in zip(self.realtimes, self.realtimes[1:])):
            raise SourceError("%s: the export is not in time order" % label)

    def selected(self, terms: List[Dict[bytes, Set[bytes]]]) -> Optional[List[int]]:
        """The entry numbers every term matches, ascending; None when a term names a field that
        is not indexed (the reader streams instead)."""
        chosen: Optional[Set[int]] = None
        for term in terms:
            for name, values in term.items():
                if name not in INDEXED:
                    return None
                union: Set[int] = set()
                for v in values:
                    union.update(self.postings.get(name + b"=" + v, ()))
                chosen = union if chosen is None else chosen & union
        if chosen is None:
            return list(range(len(self.offsets)))
        return sorted(chosen)

    def values(self, field: bytes) -> Set[bytes]:
        prefix = field + b"="
        return {k[len(prefix):] for k in self.postings if k.startswith(prefix)}


class ExportReader:
    """One reader over an export file, with systemd-python's raw reader methods."""

    def __init__(self, path: str, label: str, index: Optional[ExportIndex] = None) -> None:
        self.path = path
        self.label = label
        self.index = index
        self._terms: List[Dict[bytes, Set[bytes]]] = [{}]
        self._from_us: Optional[int] = None  # seek_realtime's bound
        self._from_cursor: Optional[bytes] = None
        self._stream: Optional[Iterator[Entry]] = None
        self._file: Optional[BinaryIO] = None
        self._at_tail = False
        self._current: Optional[Entry] = None

    # -- matches ------------------------------------------------------------------------------
    def add_match(self, match: bytes) -> None:
        name, _eq, value = match.partition(b"=")
        self._terms[-1].setdefault(name, set()).add(value)

    def add_conjunction(self) -> None:
        self._terms.append({})

    def _matches(self, entry: Entry) -> bool:
        for term in self._terms:
            for name, wanted in term.items():
                if not wanted.intersection(entry.get(name, ())):
                    return False
        return True

    # -- position -----------------------------------------------------------------------------
    def seek_head(self) -> None:
        self._restart(None, None)

    def seek_realtime(self, us: int) -> None:
        self._restart(int(us), None)

    def seek_cursor(self, cursor: str) -> None:
        self._restart(None, cursor.encode())

    def seek_tail(self) -> None:
        self._restart(None, None)
        self._at_tail = True

    def _restart(self, from_us: Optional[int], cursor: Optional[bytes]) -> None:
        self.close()
        self._from_us, self._from_cursor, self._at_tail, self._current = from_us, cursor, False, None

    def _all(self) -> Iterator[Entry]:
        self._close_file()
        try:
            self._file = open(self.path, "rb")
        except OSError as e:
            raise SourceError("%s: cannot read: %s" % (self.label, e.strerror or e)) from None
        return entries(self._file, self.label)

    def _next(self) -> bool:
        if self._stream is None:
            if self._at_tail:
                return False
            self._stream = self._selected()
        self._current = next(self._stream, None)
        return self._current is not None

    def _indexed(self) -> Optional[List[int]]:
        """The entry numbers this reader goes over, from the index; None: stream the file."""
        if self.index is None or self._from_cursor is not None:
            return None
        chosen = self.index.selected(self._terms)
        if chosen is None or self._from_us is None:
            return chosen
        first = bisect.bisect_left(self.index.realtimes, self._from_us)
        return chosen[bisect.bisect_left(chosen, first):]

    def _at(self, numbers: List[int]) -> Iterator[Entry]:
        """The entries numbered, each read as one block and split (a block with a binary field
        is parsed field by field)."""
        self._close_file()
        self._file = f = open(self.path, "rb")
        offsets = self.index.offsets  # type: ignore[union-attr]
        last = len(offsets) - 1
        for n in numbers:
            f.seek(offsets[n])
            block = f.read(offsets[n + 1] - offsets[n]) if n < last else f.read()
            entry: Entry = {}
            for line in block.split(b"\n"):
                if not line:
                    continue
                name, eq, value = line.partition(b"=")
                if not eq:  # a binary field: its data may hold newlines
                    entry = next(entries(io.BytesIO(block), self.label), {})
                    break
                entry.setdefault(name, []).append(value)
            yield entry

    def _selected(self) -> Iterator[Entry]:
        numbers = self._indexed()
        if numbers is not None:
            yield from self._at(numbers)
            return
        cursor = self._from_cursor
        for entry in self._all():
            if cursor is not None:
                if entry.get(b"__CURSOR", [b""])[0] == cursor:
                    cursor = None  # sd_journal: seek_cursor then next() lands on that entry
                else:
                    continue
            if self._from_us is not None and realtime_of(entry) < self._from_us:
                continue
            if self._matches(entry):
                yield entry

    def _previous(self) -> bool:
        """The last matching entry before the seek position (the tail, or a time)."""
        numbers = self._indexed_before()
        if numbers is not None:
            self._current = next(self._at(numbers[-1:]), None)
            self.close()
            return self._current is not None
        last = None
        for entry in self._all():
            if self._from_us is not None and not self._at_tail and realtime_of(entry) >= self._from_us:
                break
            if self._matches(entry):
                last = entry
        self.close()
        self._current = last
        return last is not None

    def _indexed_before(self) -> Optional[List[int]]:
        if self.index is None or self._from_cursor is not None:
            return None
        chosen = self.index.selected(self._terms)
        if chosen is None or self._at_tail or self._from_us is None:
            return chosen
        end = bisect.bisect_left(self.index.realtimes, self._from_us)
        return chosen[:bisect.bisect_left(chosen, end)]

    # -- the current entry ----------------------------------------------------------------------
    def _get(self, field: str) -> bytes:
        if self._current is None:
            raise KeyError(field)
        return self._current[field.encode()][0]

    def _get_all(self) -> Entry:
        return dict(self._current or {})

    def _get_realtime(self) -> int:
        return realtime_of(self._current or {})

    def _get_cursor(self) -> str:
        return self._get("__CURSOR").decode()

    def test_cursor(self, cursor: str) -> bool:
        return self._current is not None and self._get("__CURSOR") == cursor.encode()

    def query_unique(self, field: str) -> Set[bytes]:
        name = field.encode()
        if self.index is not None and name in INDEXED:
            return self.index.values(name)
        found: Set[bytes] = set()
        for entry in self._all():
            found.update(entry.get(name, ()))
        self.close()
        return found

    def close(self) -> None:
        self._stream = None
        self._close_file()

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class ExportRaw:
    """The unbound raw methods reader.Journal and the passes call (as on systemd-python's _Reader)."""

    @staticmethod
    def seek_realtime(r: ExportReader, us: int) -> None:
        r.seek_realtime(us)

    @staticmethod
    def seek_cursor(r: ExportReader, cursor: str) -> None:
        r.seek_cursor(cursor)

    @staticmethod
    def test_cursor(r: ExportReader, cursor: str) -> bool:
        return r.test_cursor(cursor)

    @staticmethod
    def query_unique(r: ExportReader, field: str) -> Set[bytes]:
        return r.query_unique(field)


class ExportJournal(Journal):
    """reader.Journal over an export file.  `unique`: values the journal it came from held for a
    field (a bundle records MESSAGE_ID's, which decide which passes run), over the export's own."""

    raw = ExportRaw

    def __init__(self, path: str, label: str, warnings: List[str],
                 unique: Optional[Dict[str, Set[bytes]]] = None) -> None:
        super().__init__(None, [], label, warnings)
        self.path = path
        self._recorded_unique = unique or {}
        self._index: Optional[ExportIndex] = None

    def reader(self) -> ExportReader:
        """A reader of its own for each pass (an export reader takes no match back); `done` closes it."""
        return self.open()

    def open(self) -> ExportReader:
        if self._index is None:  # one read of the file, shared by every pass's reader
            self._index = ExportIndex(self.path, self.label)
        return ExportReader(self.path, self.label, self._index)

    def span(self) -> Optional[Tuple[int, int]]:
        """From the index: the export's tail costs no second read."""
        self.open().close()
        times = self._index.realtimes if self._index is not None else None
        return (times[0], times[-1]) if times else None  # in time order: the index refuses an export that is not

    def unique(self, field: str) -> Set[bytes]:
        if field in self._recorded_unique:
            return set(self._recorded_unique[field])
        return super().unique(field)
