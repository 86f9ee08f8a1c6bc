"""Opening one --syslog argument: a regular file (plain or gzip), or a stream read once.

Input may be a regular file (plain or gzip), a FIFO, a pipe or socket, or
standard input (`-`); other devices (/dev/zero) are refused as not a log.  A
FIFO is opened without blocking; the reader then waits up to `FIFO_WAIT`
seconds (10) for a writer to write or hang up, and without one reads nothing
and says so in a warning.
"""
import gzip
import os
import select
import stat
import time
from typing import Optional

from unitaudit.errors import SourceError
from unitaudit.sources.file_errors import worded_file_errors
from unitaudit.sources.textlog.bounded import Prepended, readinto_of
from unitaudit.sources.textlog.notes import ReadNotes

FIFO_WAIT = 10.0  # seconds a FIFO may take to get a writer before it is read as empty
_JOURNAL_MAGIC = b"LPKSHHRH"
_GZIP_MAGIC = b"\x1f\x8b"
_READ = -1  # stream_fd of a stream already read


class LogInput:
    """One text log, checked when named (a SourceError says why it cannot be read).  A regular
    file is read by path, as often as asked; a stream (`stream_fd`) once."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.gz = False
        self.reference = 0.0  # its mtime (a stream's: now): picks the year of year-less lines
        self.stream_fd: Optional[int] = None  # a FIFO, pipe, socket or stdin: read once
        self.fifo = False
        self.size: Optional[int] = None  # a regular file's, for a progress display
        self.reading = None  # the file being read now (its tell() is how far): set by the filters
        self._read_to: Optional[int] = None  # where the last read ended
        if path == "-":
            self.stream_fd = os.dup(0)
            self.reference = time.time()
            return
        if os.path.isdir(path):
            raise SourceError("%s is a directory, not a log file (a journal directory? use --journal-dir)" % path)
        with worded_file_errors(path, denied="permission denied (run as root or copy the file)", other=True):
            st = os.stat(path)
            self.reference = st.st_mtime
            self.size = st.st_size
            if not stat.S_ISREG(st.st_mode):
                self._open_stream(st)
                return
            with open(path, "rb") as f:
                head = f.read(8)
        self._sniff(head)

    def position(self) -> Optional[int]:
        """How far into the file the read is (bytes of the file, compressed when it is); None
        when that cannot be told (a stream, or gzip decompressing in a process of its own)."""
        try:
            return self.reading.tell() if self.reading is not None else self._read_to
        except (OSError, ValueError):  # closed meanwhile
            return self._read_to

    def read_ended(self) -> None:
        """The filters are done with `reading`: its position is kept, the file no longer."""
        self._read_to = self.position()
        self.reading = None

    @property
    def was_read(self) -> bool:
        """A stream already read: there is nothing more."""
        return self.stream_fd == _READ

    def close_stream(self) -> None:
        if self.stream_fd is not None and self.stream_fd != _READ:
            os.close(self.stream_fd)
            self.stream_fd = _READ

    def _open_stream(self, st: os.stat_result) -> None:
        """A FIFO is opened without blocking (no writer yet must not hang); a device
        that is not a terminal (/dev/zero) is not a log."""
        p = self.path
        fifo = stat.S_ISFIFO(st.st_mode)
        if not (fifo or stat.S_ISSOCK(st.st_mode) or stat.S_ISCHR(st.st_mode)):
            raise SourceError("%s is not a regular file, FIFO or terminal: not a log file" % p)
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
        if stat.S_ISCHR(st.st_mode) and not os.isatty(fd):
            os.close(fd)
            raise SourceError("%s is a character device, not a log file (to read a stream, pipe it: --syslog -)" % p)
        os.set_blocking(fd, True)
        self.stream_fd, self.fifo = fd, fifo
        self.reference = time.time()

    def _sniff(self, head: bytes) -> None:
        if head.startswith(_JOURNAL_MAGIC):
            raise SourceError("%s is a journal file, not text: use --journal-file" % self.path)
        self.gz = head.startswith(_GZIP_MAGIC)

    def stream_readinto(self, notes: ReadNotes):
        """A readinto of the stream's bytes (decompressed when gzip); None when a FIFO got no
        writer within FIFO_WAIT seconds (a warning says so)."""
        fd = self.stream_fd
        assert fd is not None
        if self.fifo:
            poller = select.poll()
            poller.register(fd, select.POLLIN | select.POLLHUP)
            if not poller.poll(int(FIFO_WAIT * 1000)):
                notes.warnings.append("%s: a FIFO with no writer for %g s: nothing read" % (self.path, FIFO_WAIT))
                return None
        head = b""
        while len(head) < 8:
            more = os.read(fd, 8 - len(head))
            if not more:
                break
            head += more
        self._sniff(head)
        stream = Prepended(head, fd)
        if self.gz:
            return readinto_of(gzip.GzipFile(fileobj=stream, mode="rb").read1)  # type: ignore[arg-type]
        return stream.readinto
