"""Is every entry a journal file's header lists reachable?  Read from the file's own bytes.

files.check_damage must know whether sd_journal can reach every entry of a copied file.  Walking
the file entry by entry through sd_journal costs ~0.3 us an entry (0.3 s for the bench's 1M
entries, and 0.1 s of an hourly run's 0.13 s: the active file is walked whole for its last hour).
Here the file's entry arrays are read (systemd's docs/JOURNAL_FILE_FORMAT.md) and the object each
of their items points at must be an entry, which is what sd_journal stops or skips at; only the
entries from the read's start on are looked at (sd_journal bisects to the start, it never walks
the earlier ones).  That costs a fifth of the walk, and nothing before the start.

The answer is only ever "intact" or "not sure": anything this reading does not understand, or
finds wrong, sends the caller to the walk through sd_journal, so a damaged file's warning still
carries sd_journal's own count.  The file is looked at in windows of WINDOW bytes: the memory this
costs does not grow with the file.
"""
import mmap
import os
import struct
import sys
from array import array
from bisect import bisect_left
from typing import Optional

OBJECT_ENTRY = 3
OBJECT_ENTRY_ARRAY = 6
INCOMPATIBLE_COMPACT = 16  # entry array items are 32-bit offsets
INCOMPATIBLE_KNOWN = 31  # xz, lz4, keyed hash, zstd, compact: sd_journal refuses a file with any other
ENTRY_HEAD = 64  # an entry object's bytes before its items: header, seqnum, realtime, monotonic, boot, hash
ARRAY_HEAD = 24  # an entry array's: header, the next array's offset
HEADER_BYTES = 200  # every header field read here (up to tail_entry_realtime)
WINDOW = 1 << 24
_LITTLE = sys.byteorder == "little"


class _Unsure(Exception):
    """Something this reading does not understand or finds wrong: walk the file instead."""


def entries_intact(path: str, start_us: Optional[int] = None) -> bool:
    """True when every entry the header of `path` lists from `start_us` on (realtime, us; None:
    all) is an entry object sd_journal can step onto; False when not sure."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return _Layout(fd).intact(start_us)
    except (_Unsure, OSError, ValueError, OverflowError, struct.error):
        return False
    finally:
        os.close(fd)


class _Layout:
    """One open journal file: its header, read once."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        size = os.fstat(fd).st_size
        header = os.pread(fd, HEADER_BYTES, 0)
        if len(header) < HEADER_BYTES or header[:8] != b"LPKSHHRH":
            raise _Unsure()
        incompatible = struct.unpack_from("<I", header, 12)[0]
        if incompatible & ~INCOMPATIBLE_KNOWN:
            raise _Unsure()
        self.item = 4 if incompatible & INCOMPATIBLE_COMPACT else 8
        self.header_size, arena = struct.unpack_from("<QQ", header, 88)
        self.end = self.header_size + arena
        if self.end > size or self.header_size < HEADER_BYTES:
            raise _Unsure()  # cut short: sd_journal refuses to open it
        self.listed, = struct.unpack_from("<Q", header, 152)
        self.first_array, = struct.unpack_from("<Q", header, 176)

    def intact(self, start_us: Optional[int]) -> bool:
        seen, offset, previous = 0, self.first_array, 0
        while seen < self.listed:
            if not previous < offset <= self.end - ARRAY_HEAD or offset < self.header_size or offset % 8:
                raise _Unsure()  # a broken chain (each array is written after the one before)
            head = os.pread(self.fd, ARRAY_HEAD, offset)
            size, following = struct.unpack_from("<QQ", head, 8)
            if head[0] != OBJECT_ENTRY_ARRAY or size < ARRAY_HEAD + self.item or offset + size > self.end:
                raise _Unsure()
            take = min((size - ARRAY_HEAD) // self.item, self.listed - seen)
            if start_us is None or self._realtime(self._item(offset, take - 1)) >= start_us:
                items = self._items(offset, take)
                self._check(items, self._first_at(items, start_us) if start_us is not None else 0)
            seen += take
            previous, offset = offset, following
        return True

    def _item(self, array_offset: int, i: int) -> int:
        raw = os.pread(self.fd, self.item, array_offset + ARRAY_HEAD + i * self.item)
        return struct.unpack("<I" if self.item == 4 else "<Q", raw)[0]

    def _items(self, array_offset: int, n: int) -> array:
        items = array("I" if self.item == 4 else "Q")
        if items.itemsize != self.item:
            raise _Unsure()  # a platform whose C types differ: not read here
        items.frombytes(os.pread(self.fd, n * self.item, array_offset + ARRAY_HEAD))
        if len(items) != n:
            raise _Unsure()
        if not _LITTLE:
            items.byteswap()
        return items

    def _realtime(self, entry: int) -> int:
        if entry % 8 or entry < self.header_size or entry + ENTRY_HEAD > self.end:
            raise _Unsure()
        raw = os.pread(self.fd, 32, entry)
        if raw[0] != OBJECT_ENTRY:
            raise _Unsure()
        return struct.unpack_from("<Q", raw, 24)[0]

    def _first_at(self, items: array, start_us: int) -> int:
        """The index of the first item whose entry is at or after `start_us` (entries are in time order)."""
        lo, hi = 0, len(items)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._realtime(items[mid]) < start_us:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _check(self, items: array, i: int) -> None:
        """Each item from `i` on points at an entry object: the first byte of each, its type, is
        gathered in C (map over the mapping), a Python loop would cost what the walk costs.  Each
        mapping starts at 0, so the items index it as they are, but only its last WINDOW bytes are
        touched (and so resident) before it is closed."""
        n = len(items)
        while i < n:
            first = items[i]
            stop = min(self.end, first - first % mmap.ALLOCATIONGRANULARITY + WINDOW)
            j = max(bisect_left(items, stop - ENTRY_HEAD + 1, i), i + 1)
            part = items[i:j]
            if min(part) < self.header_size:
                raise _Unsure()
            with mmap.mmap(self.fd, stop, access=mmap.ACCESS_READ) as window:
                try:
                    types = bytes(map(window.__getitem__, part))
                except IndexError:
                    raise _Unsure() from None  # past the arena (or out of order)
            if types.count(OBJECT_ENTRY) != len(types):
                raise _Unsure()
            i = j
