"""The bounded reader: a text log as pieces of whole lines, none longer than MAX_LINE.

Memory is bounded by a constant and time is linear in the input, whatever it
holds (issue 13): a line is read up to `MAX_LINE` bytes (2 MiB) and the rest of
a longer line is skipped and counted.  grep never sees the file itself: a
thread feeds it the file through this reader, since grep holds a line without a
newline in memory whole.
"""
import os
from typing import Iterator

MAX_LINE = 2 << 20  # bytes of a line read (2 MiB); the rest of a longer line is skipped and counted
CHUNK = 1 << 20  # bytes asked of the input at a time


class LineCut:
    """How many lines `bounded_chunks` cut (shared with the thread that feeds grep)."""

    n = 0


def bounded_chunks(readinto, cut: LineCut, limit: int = MAX_LINE) -> Iterator[memoryview]:
    """What `readinto(buffer)` reads, as pieces of whole lines each at most `limit`
    bytes before its newline: a longer line keeps its first `limit` bytes and the
    rest is skipped (counted in `cut.n`).  The last piece may lack its newline.
    One buffer of CHUNK + `limit` bytes, reused: a piece is valid until the next
    one is asked for.  Each byte is looked at O(1) times."""
    buf = bytearray(CHUNK + limit)
    mv = memoryview(buf)
    have = 0  # buf[:have]: an unfinished line, at most `limit` bytes
    skipping = False  # inside an over-long line, past what is kept of it
    while True:
        got = readinto(mv[have:have + CHUNK])
        if not got:
            break
        n = have + got
        start = pos = 0  # buf[start:pos] is whole lines not yet handed over
        if skipping:  # have == 0
            nl = buf.find(b"\n", 0, n)
            if nl < 0:
                continue
            start = pos = nl + 1
            skipping = False
        pieces = []
        while n - pos > limit:
            q = buf.rfind(b"\n", pos, pos + limit + 1)
            if q >= 0:
                pos = q + 1
                continue
            pieces += [mv[start:pos + limit], b"\n"]  # the line at pos is too long: keep its head
            cut.n += 1
            nl = buf.find(b"\n", pos + limit, n)
            if nl < 0:
                skipping = True
                start = pos = n
                break
            start = pos = nl + 1
        if not skipping:
            q = buf.rfind(b"\n", pos, n)
            if q >= 0:
                pos = q + 1
        if start < pos:
            pieces.append(mv[start:pos])
        for piece in pieces:
            yield piece
        del pieces
        have = n - pos
        if have:
            buf[:have] = bytes(mv[pos:n])
    if have:
        yield mv[:have]


class Prepended:
    """A stream whose first bytes were already read (to sniff the format)."""

    def __init__(self, head: bytes, fd: int) -> None:
        self.head, self.fd = head, fd

    def readinto(self, b) -> int:
        if self.head:
            n = len(self.head)
            b[:n] = self.head
            self.head = b""
            return n
        return os.readv(self.fd, [b])

    def read(self, n: int = -1) -> bytes:  # for GzipFile
        n = n if n is not None and n > 0 else CHUNK
        if self.head:
            out, self.head = self.head[:n], self.head[n:]
            return out
        return os.read(self.fd, n)


def readinto_of(read1):
    """readinto from a read1 (GzipFile: what came before damaged data is kept)."""
    def readinto(b) -> int:
        data = read1(len(b))
        b[:len(data)] = data
        return len(data)
    return readinto
