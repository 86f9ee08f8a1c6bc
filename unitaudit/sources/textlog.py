"""Text logs: rsyslog files, `journalctl` output, lines pasted into bug reports.

Formats read (one file may mix them):
  Jan  4 17:30:14 host ident[pid]: msg           rsyslog traditional, journalctl -o short
  Jan  4 17:30:14.123456 host ident[pid]: msg    journalctl -o short-precise
  11月 25 12:18:56 host ident[pid]: msg           journalctl -o short under a Chinese locale
  2024-01-04T17:30:14.123456+08:00 host ...      rsyslog RFC 3339, journalctl -o short-iso(-precise)
  2024-01-01 00:00:12 host ident[pid]: msg       the seed machine's syslog
  ident[pid]: msg  /  unit.service: msg          pasted without a timestamp: counted, time unknown

Time rules (README "Reading text logs"): a timestamp without a UTC offset is
local time as the TZ environment variable says (`TZ=Asia/Shanghai unitaudit
scan ...` for a machine in China).  A timestamp without a year takes the year
of the file's modification time, or the year before when that would put it
more than two days after the file was last written (a December line in a file
written in January).

Only lines containing one of `HIT_STRINGS` can be evidence, so the file is
filtered by `grep -F` (C speed, running on another core) when grep exists, and
by Python otherwise; the same parser reads the lines either way.  Text logs
carry no trusted fields: every event from them is untrusted.

Bounds (issue 13): memory is bounded by a constant and time is linear in the
input, whatever it holds.  A line is read up to `MAX_LINE` bytes (2 MiB); the
rest of a longer line is skipped, and the source's counts (`lines_cut`) and
warnings say how many lines were cut.  Of a line that matched, the first
`_PARSE_MAX` bytes (8 KiB) are parsed and kept as evidence: a batch of
sightings and the parser's caches stay small whatever the lines hold.
grep never sees the file itself: a
thread feeds it the file through that bounded reader (`_bounded_chunks`), since
grep holds a line without a newline in memory whole.  Input may be a regular
file (plain or gzip), a FIFO, a pipe or socket, or standard input (`-`); other
devices (/dev/zero) are refused as not a log.  A stream, and a gzip file
(decompressing costs more than filtering), is read once, in one pass: the
request lines are sampled as they come.  A FIFO is opened without
blocking; the reader then waits up to `FIFO_WAIT` seconds (10) for a writer to
write or hang up, and without one reads nothing and says so in a warning.
"""
import calendar
import gzip
import os
import re
import select
import shutil
import stat
import subprocess
import threading
import time
import zlib
from typing import Dict, Iterator, List, Optional, Tuple

from unitaudit.errors import SourceError
from unitaudit.sources.wordings import classify_bus, classify_logrotate, classify_pid1, program_line
from unitaudit.util.names import UNIT_RE
from unitaudit.model import Event, Kind, Message, Sightings
from unitaudit.sources.batch import BLOCK, FIRST, LAST_RAW, LAST_TIME, MESSAGE, PID, SAMPLES, TIMES, Batcher
from unitaudit.model import SourceStats

HIT_STRINGS = (  # fewer and longer strings keep grep fast: each one here is needed
    "Activation via systemd failed",  # dbus-daemon
    "Activation request for",  # dbus-broker
    "restart counter is at",
    "hold-off time over",  # systemd < 239 restart
    "expired, scheduling restart",  # systemd 239-253 restart
    "Failed with result",  # also start-limit-hit (the result line exists since 232)
    "process exited",  # Control / Main process exited
    "Failed at step",
    "Succeeded.",  # systemd < 248 success
    "Deactivated successfully",  # systemd 248+ success
    "logrotate[",
    ": FATAL: ",  # kmod's own lines (modprobe, rmmod)
    ": ERROR: ",
)
REQUEST_STRING = "Activating via systemd"
REQUEST_SAMPLE = 1000  # request lines read per file: enough to name who keeps asking
_HIT_RE = re.compile(b"|".join(re.escape(s.encode()) for s in HIT_STRINGS))
_MONTHS = {m.encode(): i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_YUE = "月".encode()
_CN = re.compile(rb"(\d{1,2})" + _YUE + rb" {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.(\d+))? ")
_ISO_TZ = re.compile(rb"(Z|[+-]\d\d:?\d\d)?(?: |$)")
_IDENT = re.compile(rb"([^\s\[\]:]{1,64})(?:\[(\d{1,10})\])?$")
_BUS_IDENTS = {b"dbus-daemon", b"dbus", b"dbus-broker-launch", b"dbus-broker"}
_JOURNAL_MAGIC = b"LPKSHHRH"
_GZIP_MAGIC = b"\x1f\x8b"
_SECONDS = {b"%02d" % i: i for i in range(61)}  # b"00".."60" -> int, cheaper than int()
_SKEW = 2 * 86400  # how far after the file's mtime a year-less line may be
MAX_LINE = 2 << 20  # bytes of a line read (2 MiB); the rest of a longer line is skipped and counted
_CHUNK = 1 << 20
_PARSE_MAX = 8 * 1024  # bytes of a matched line parsed and kept as evidence
FIFO_WAIT = 10.0  # seconds a FIFO may take to get a writer before it is read as empty


class LineParser:
    """Turns one text line into an Event.  No I/O; caches by minute and by message."""

    def __init__(self, reference: float) -> None:
        self.reference = reference  # the file's mtime: picks the year of year-less lines
        self._naive: Dict[bytes, float] = {}  # minute prefix -> epoch, local time
        self._aware: Dict[bytes, float] = {}  # minute prefix + UTC offset -> epoch
        self._messages: Dict[Tuple[bytes, bool, bytes], Optional[Message]] = {}
        self._bodies: Dict[bytes, object] = {}
        self._pidless: Dict[bytes, object] = {}

    # -- timestamps ------------------------------------------------------
    def _minute(self, tz: bytes, fields: Tuple[int, int, int, int, int]) -> float:
        """Seconds since the epoch at the start of that minute (year 0: pick it by the year rule)."""
        y, mo, d, h, mi = fields
        if tz == b"Z":
            return calendar.timegm((y, mo, d, h, mi, 0, 0, 0, 0))
        if tz:
            sign = -1 if tz[:1] == b"-" else 1
            digits = tz[1:].replace(b":", b"")
            offset = sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)
            return calendar.timegm((y, mo, d, h, mi, 0, 0, 0, 0)) - offset
        if y == 0:
            ref_year = time.localtime(self.reference).tm_year
            base = time.mktime((ref_year, mo, d, h, mi, 0, 0, 0, -1))
            if base > self.reference + _SKEW:
                base = time.mktime((ref_year - 1, mo, d, h, mi, 0, 0, 0, -1))
            return base
        return time.mktime((y, mo, d, h, mi, 0, 0, 0, -1))

    def header(self, line: bytes) -> Tuple[Optional[float], int]:
        """(time, offset just after the timestamp), or (None, 0) when the line has none.

        The hot path: byte comparisons on fixed offsets and one dict lookup per
        line; everything else is cached per minute."""
        if len(line) < 17:
            return None, 0
        mon = _MONTHS.get(line[:3])
        if mon is not None:  # "Jan  4 17:30:14" (rsyslog, journalctl short)
            if line[3] != 32 or line[9] != 58 or line[12] != 58:
                return None, 0
            base = self._naive.get(line[:12])
            if base is None:
                try:
                    base = self._minute(b"", (0, mon, int(line[4:6]), int(line[7:9]), int(line[10:12])))
                except (ValueError, OverflowError):
                    return None, 0
                self._naive[line[:12]] = base
            s1, s2 = line[13] - 48, line[14] - 48
            if not (0 <= s1 <= 9 and 0 <= s2 <= 9):
                return None, 0
            if line[15] == 46:  # ".123456": short-precise
                end = line.find(b" ", 16)
                if end < 0:
                    return None, 0
                return base + s1 * 10 + s2 + _fraction(line[16:end]), end + 1
            return base + s1 * 10 + s2, 16
        c = line[0]
        if 48 <= c <= 57:
            if line[4] == 45 and line[7] == 45 and line[10] in (84, 32) and line[13] == 58:
                return self._iso(line)
            return self._chinese(line)
        return None, 0

    def _iso(self, line: bytes) -> Tuple[Optional[float], int]:
        """2024-01-04T17:30:14[.123456][Z|+08:00|+0800] and the seed's 2024-01-01 00:00:12."""
        pos, frac = 19, 0.0
        if line[19:20] in (b".", b","):
            j = 20
            while line[j:j + 1].isdigit():
                j += 1
            frac = _fraction(line[20:j])
            pos = j
        m = _ISO_TZ.match(line, pos)
        if m is None:
            return None, 0
        tz = m.group(1) or b""
        key = line[:16] + tz
        base = self._aware.get(key)
        try:
            if base is None:
                base = self._minute(tz, (int(line[:4]), int(line[5:7]), int(line[8:10]),
                                         int(line[11:13]), int(line[14:16])))
                self._aware[key] = base
            return base + int(line[17:19]) + frac, m.end()
        except (ValueError, OverflowError):
            return None, 0

    def _chinese(self, line: bytes) -> Tuple[Optional[float], int]:
        """11月 25 12:18:56 (journalctl short under a Chinese locale)."""
        m = _CN.match(line)
        if m is None:
            return None, 0
        key = line[:m.start(5)]
        base = self._naive.get(key)
        try:
            if base is None:
                base = self._minute(b"", (0, int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4))))
                self._naive[key] = base
            return base + int(m.group(5)) + (_fraction(m.group(6)) if m.group(6) else 0.0), m.end()
        except (ValueError, OverflowError):
            return None, 0

    # -- the line ----------------------------------------------------------
    def parse(self, line: bytes) -> Optional[Event]:
        """One line to an Event (None: not evidence).  TextLogSource._read inlines this."""
        t, pos = self.header(line)
        rest = line[pos:] if t is not None else line.lstrip()
        known = self._bodies.get(rest)
        if known is None:
            known = self.remember(rest, t is not None)
        if known is _NOTHING:
            return None
        return Event(t, known[0], known[1], line)

    def remember(self, rest: bytes, has_host: bool):
        """Everything after the timestamp repeats (the seed's activation failure:
        same host, daemon, pid and text 143,146 times): read it once.  A program
        started anew each time (modprobe in an ExecStartPre loop) repeats all but
        its pid: that is read once too."""
        lb = rest.find(b"[")
        rb = rest.find(b"]: ", lb) if lb > 0 else -1
        pidless = None
        if rb > lb + 1 and rest[lb + 1:rb] != b"1" and rest[lb + 1:rb].isdigit():
            pidless = rest[:lb] + rest[rb:]
            seen = self._pidless.get(pidless)
            if seen is not None:
                return seen if seen is _NOTHING else (seen[0], int(rest[lb + 1:rb]), seen[2])
        known = self._body(rest, has_host)
        # Only what can repeat is worth keeping: a restart line carries its counter.
        if len(rest) < 512 and (known is _NOTHING or known[0].kind is not Kind.RESTART_SCHEDULED):
            if pidless is not None:
                if len(self._pidless) < 4096:
                    self._pidless[pidless] = known
            elif len(self._bodies) < 4096:
                self._bodies[rest] = known
        return known

    def _body(self, rest: bytes, has_host: bool):
        """(message, pid, host) of the text after a timestamp, or _NOTHING."""
        host = ""
        if has_host:
            sp = rest.find(b" ")
            if sp < 0:
                return _NOTHING
            host = rest[:sp].decode("utf-8", "replace")
            rest = rest[sp + 1:]
        colon = rest.find(b": ")
        if colon < 0:
            return _NOTHING
        head, msg = rest[:colon], rest[colon + 2:].strip(b" \r\n")
        pid: Optional[int] = None
        m = _IDENT.match(head)
        if m is None:
            return _NOTHING
        ident = m.group(1)
        if m.group(2) is not None:
            pid = int(m.group(2))
        elif not has_host and UNIT_RE.fullmatch(head.decode("ascii", "replace")):
            # "unit.service: Scheduled restart job ..." pasted without its "systemd[1]: "
            ident, msg = b"systemd", rest
        message = self._message(ident, pid, msg)
        return _NOTHING if message is None else (message, pid, host)

    def _message(self, ident: bytes, pid: Optional[int], msg: bytes) -> Optional[Message]:
        pid1 = pid == 1 or (pid is None and ident == b"systemd")
        key = (ident, pid1, msg)
        cached = self._messages.get(key, _MISSING)
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        text = msg.decode("utf-8", "replace")
        program = ident.decode("utf-8", "replace")
        message: Optional[Message]
        if ident == b"systemd":
            message = classify_pid1(text, False)
            if not pid1 and message is not None and message.kind is not Kind.SPAWN_FAILED:
                message = None  # a user manager's units, or a forked child's other lines
        elif ident in _BUS_IDENTS:
            message = classify_bus(text, program, False)
        elif ident == b"logrotate":
            message = classify_logrotate(text, None, False)
        elif b"FATAL" in msg or b"ERROR" in msg:
            message = program_line(text, program, None, False)
        else:
            message = None
        if len(self._messages) < 4096 and len(msg) < 512 and (message is None or message.kind is not Kind.RESTART_SCHEDULED):
            self._messages[key] = message
        return message


_MISSING = object()
_NOTHING = ()  # a line that says nothing unitaudit reads


def _widen_pipe(fd: int) -> None:
    """Let grep run up to 1 MiB ahead of the parser instead of the default 64 KiB,
    so the two overlap on two cores instead of taking turns (Linux only)."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (OSError, ImportError):
        pass


def _fraction(digits: bytes) -> float:
    digits = digits[:9]  # nanoseconds at most: past them a float cannot hold more, and int() has a digit limit
    return int(digits) / (10 ** len(digits)) if digits.isdigit() else 0.0


def _is_noise(line: bytes) -> bool:
    """A line that matched a hit string only by accident, not evidence that failed to parse."""
    return b"logrotate[" in line and b"error: " not in line


class _Cut:
    """How many lines `_bounded_chunks` cut (shared with the thread that feeds grep)."""
    n = 0


def _bounded_chunks(readinto, cut: _Cut, limit: int = MAX_LINE) -> Iterator[memoryview]:
    """What `readinto(buffer)` reads, as pieces of whole lines each at most `limit`
    bytes before its newline: a longer line keeps its first `limit` bytes and the
    rest is skipped (counted in `cut.n`).  The last piece may lack its newline.
    One buffer of _CHUNK + `limit` bytes, reused: a piece is valid until the next
    one is asked for.  Each byte is looked at O(1) times."""
    buf = bytearray(_CHUNK + limit)
    mv = memoryview(buf)
    have = 0  # buf[:have]: an unfinished line, at most `limit` bytes
    skipping = False  # inside an over-long line, past what is kept of it
    while True:
        got = readinto(mv[have:have + _CHUNK])
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


class _Prepended:
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
        n = n if n is not None and n > 0 else _CHUNK
        if self.head:
            out, self.head = self.head[:n], self.head[n:]
            return out
        return os.read(self.fd, n)


def _readinto1(read1):
    """readinto from a read1 (GzipFile: what came before damaged data is kept)."""
    def readinto(b) -> int:
        data = read1(len(b))
        b[:len(data)] = data
        return len(data)
    return readinto


def _write_all(fd: int, data) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class TextLogSource:
    kind = "syslog"

    def __init__(self, path: str, since: Optional[float] = None, until: Optional[float] = None,
                 use_grep: Optional[bool] = None) -> None:
        self.path = path
        self.since = since
        self.until = until
        self.use_grep = (shutil.which("grep") is not None) if use_grep is None else use_grep
        self._counts = {"matched": 0, "events": 0, "unparsed": 0, "undated": 0, "outside_window": 0}
        self._warnings: List[str] = []
        self._gz = False
        self._reference = 0.0
        self._cut = _Cut()
        self._stream_fd: Optional[int] = None  # a FIFO, pipe, socket or stdin: read once
        self._fifo = False
        self._open_check()

    def _open_check(self) -> None:
        p = self.path
        if p == "-":
            self._stream_fd = os.dup(0)
            self._reference = time.time()
            return
        if os.path.isdir(p):
            raise SourceError("%s is a directory, not a log file (a journal directory? use --journal-dir)" % p)
        try:
            st = os.stat(p)
            self._reference = st.st_mtime
            if not stat.S_ISREG(st.st_mode):
                self._open_stream(p, st)
                return
            with open(p, "rb") as f:
                head = f.read(8)
        except FileNotFoundError:
            raise SourceError("%s: no such file" % p) from None
        except PermissionError:
            raise SourceError("%s: permission denied (run as root or copy the file)" % p) from None
        except OSError as e:
            raise SourceError("%s: cannot read: %s" % (p, e.strerror or e)) from None
        self._sniff(head)

    def _open_stream(self, p: str, st: os.stat_result) -> None:
        """A FIFO is opened without blocking (no writer yet must not hang); a device
        that is not a terminal (/dev/zero) is not a log."""
        fifo = stat.S_ISFIFO(st.st_mode)
        if not (fifo or stat.S_ISSOCK(st.st_mode) or stat.S_ISCHR(st.st_mode)):
            raise SourceError("%s is not a regular file, FIFO or terminal: not a log file" % p)
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
        if stat.S_ISCHR(st.st_mode) and not os.isatty(fd):
            os.close(fd)
            raise SourceError("%s is a character device, not a log file (to read a stream, pipe it: --syslog -)" % p)
        os.set_blocking(fd, True)
        self._stream_fd, self._fifo = fd, fifo
        self._reference = time.time()

    def _sniff(self, head: bytes) -> None:
        if head.startswith(_JOURNAL_MAGIC):
            raise SourceError("%s is a journal file, not text: use --journal-file" % self.path)
        self._gz = head.startswith(_GZIP_MAGIC)

    def events(self) -> Iterator[Sightings]:
        parser = LineParser(self._reference)
        if self._stream_fd == -1:
            return  # a stream already read
        if self._stream_fd is not None:
            try:
                yield from self._read(parser, HIT_STRINGS + (REQUEST_STRING,), None)
            finally:
                os.close(self._stream_fd)
                self._stream_fd = -1  # read once: a second call reads nothing
            return
        if self._gz:  # decompressing costs more than the filter: one pass, as a stream
            yield from self._read(parser, HIT_STRINGS + (REQUEST_STRING,), None)
            return
        yield from self._read(parser, HIT_STRINGS, None)
        # "Activating via systemd" repeats every failed activation; the requesters
        # (deepin-system-m in the seed) show in the first lines as well as in all.
        yield from self._read(parser, (REQUEST_STRING,), REQUEST_SAMPLE)

    def _stream_reader(self):
        """The stream's bytes (decompressed when gzip), read once; None when a FIFO
        got no writer within FIFO_WAIT seconds."""
        fd = self._stream_fd
        assert fd is not None
        if self._fifo:
            poller = select.poll()
            poller.register(fd, select.POLLIN | select.POLLHUP)
            if not poller.poll(int(FIFO_WAIT * 1000)):
                self._warnings.append("%s: a FIFO with no writer for %g s: nothing read" % (self.path, FIFO_WAIT))
                return None
        head = b""
        while len(head) < 8:
            more = os.read(fd, 8 - len(head))
            if not more:
                break
            head += more
        self._sniff(head)
        stream = _Prepended(head, fd)
        if self._gz:
            return _readinto1(gzip.GzipFile(fileobj=stream, mode="rb").read1)  # type: ignore[arg-type]
        return stream.readinto

    def _read(self, parser: "LineParser", strings: Tuple[str, ...],
              max_count: Optional[int]) -> Iterator[Sightings]:
        """The hot loop: one header read and one dict lookup per line; lines that
        say the same thing are handed over together, once per block."""
        header, bodies, remember = parser.header, parser._bodies, parser.remember
        since = self.since if self.since is not None else float("-inf")
        until = self.until if self.until is not None else float("inf")
        matched = unparsed = undated = outside = events = 0
        blocks = self._lines(strings, max_count)
        batch = Batcher()
        add = batch.add
        naive = parser._naive
        try:
            for block in blocks:
                groups = batch.groups
                for line in block:
                    # Fast path: a traditional-format line ("Jan  4 17:30:14 ") whose
                    # minute and whose text after the timestamp were both seen before.
                    rest = line[16:]
                    g = groups.get(rest)
                    if g is not None and line[15] == 32:  # found by line[16:], so line is long enough
                        base = naive.get(line[:12])
                        if base is not None:
                            t = base + _SECONDS.get(line[13:15], -1e18)
                            if since <= t <= until:
                                matched += 1
                                events += 1
                                g[TIMES].append(t)
                                if len(g[FIRST]) < SAMPLES:
                                    g[FIRST].append(Event(t, g[MESSAGE], g[PID], line))
                                else:
                                    g[LAST_RAW], g[LAST_TIME] = line, t
                                batch.n += 1
                                if batch.n % BLOCK == 0:
                                    yield from batch.flush()
                                    groups = batch.groups
                                continue
                    matched += 1
                    if len(line) > _PARSE_MAX:  # evidence keeps a long line's head (grep saw MAX_LINE)
                        line = line[:_PARSE_MAX]
                    t, pos = header(line)
                    rest = line[pos:] if t is not None else line.lstrip()
                    known = bodies.get(rest)
                    if known is None:
                        known = remember(rest, t is not None)
                    if known is _NOTHING:
                        if not _is_noise(line) and b"FATAL" not in line and b"ERROR" not in line:
                            unparsed += 1
                        continue
                    if t is None:
                        undated += 1
                    elif t < since or t > until:
                        outside += 1
                        continue
                    events += 1
                    if add(rest, known[0], t, known[1], line, known[2]):
                        yield from batch.flush()
                        groups = batch.groups
            yield from batch.flush()
        finally:
            c = self._counts
            c["matched"] += matched
            c["events"] += events
            c["unparsed"] += unparsed
            c["undated"] += undated
            c["outside_window"] += outside
            if max_count is not None:
                c["requests_sampled"] = matched

    def _sampled(self, blocks: Iterator[List[bytes]]) -> Iterator[List[bytes]]:
        """One pass over a stream: the request lines past the first REQUEST_SAMPLE are dropped."""
        kept = 0
        needle = REQUEST_STRING.encode()
        for block in blocks:
            out = []
            for line in block:
                if needle in line and not _HIT_RE.search(line):
                    if kept >= REQUEST_SAMPLE:
                        continue
                    kept += 1
                out.append(line)
            self._counts["requests_sampled"] = kept
            yield out

    def _damaged(self, e: BaseException) -> None:
        self._warnings.append("%s: stopped reading at damaged data (%s); lines before it were read" % (self.path, e))

    def _lines(self, strings: Tuple[str, ...], max_count: Optional[int]) -> Iterator[List[bytes]]:
        blocks = self._grep_lines(strings, max_count) if self.use_grep else self._python_lines(strings, max_count)
        if REQUEST_STRING in strings and len(strings) > 1:  # one pass: a stream, or gzip
            blocks = self._sampled(blocks)
        return blocks

    def _note_cut(self) -> None:
        n = self._cut.n
        if n and self._counts.get("lines_cut") != n:
            self._counts["lines_cut"] = n
            self._warnings[:] = [w for w in self._warnings if " longer than " not in w]
            self._warnings.append("%s: %d line(s) longer than %d KiB: only their first %d KiB were read"
                                  % (self.path, n, MAX_LINE >> 10, MAX_LINE >> 10))

    def _python_lines(self, strings: Tuple[str, ...], max_count: Optional[int]) -> Iterator[List[bytes]]:
        """Matching lines in blocks, when grep is not there."""
        pattern = _HIT_RE if strings is HIT_STRINGS else re.compile(b"|".join(re.escape(x.encode()) for x in strings))
        search = pattern.search
        found: List[bytes] = []
        total = 0
        cut = _Cut() if max_count is not None else self._cut  # the second pass rereads the same lines
        f = None
        try:
            if self._stream_fd is not None:
                read = self._stream_reader()
                if read is None:
                    return
            else:
                f = gzip.open(self.path, "rb") if self._gz else open(self.path, "rb", buffering=0)
                read = _readinto1(f.read1) if self._gz else f.readinto  # type: ignore[union-attr]
            limit = max_count if max_count is not None else -1
            for piece in _bounded_chunks(read, cut):
                lines = bytes(piece).split(b"\n")
                if not lines[-1]:
                    lines.pop()
                for line in lines:
                    if search(line):
                        found.append(line[:_PARSE_MAX])  # all the parser reads of it
                        total += 1
                        if total == limit:
                            break
                if total == limit:
                    break
                if len(found) >= 4096:
                    yield found
                    found = []
        except (OSError, EOFError, zlib.error) as e:
            self._damaged(e)
        finally:
            if f is not None:
                f.close()
            self._note_cut()
        yield found

    def _grep_lines(self, strings: Tuple[str, ...], max_count: Optional[int]) -> Iterator[List[bytes]]:
        """Matching lines from grep, in blocks: one split per read, not one call per line.
        grep reads what a thread feeds it through `_bounded_chunks`: no line it holds
        is longer than MAX_LINE."""
        argv = ["grep", "-a", "-h", "-F"] + ["-e" + x for x in strings]
        if max_count is not None:
            argv.append("--max-count=%d" % max_count)
        env = {"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        cut = _Cut() if max_count is not None else self._cut
        f = unzip = None
        if self._stream_fd is not None:
            read = self._stream_reader()
            if read is None:
                return
        elif self._gz:  # gzip on a core of its own, through a wide pipe
            unzip = subprocess.Popen(["gzip", "-dc", "--", self.path], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env)
            assert unzip.stdout is not None
            f = unzip.stdout
            zfd = f.fileno()
            _widen_pipe(zfd)
            read = lambda b: os.readv(zfd, [b])  # noqa: E731
        else:
            f = open(self.path, "rb", buffering=0)
            read = f.readinto
        rfd, wfd = os.pipe()
        _widen_pipe(wfd)
        try:
            grep = subprocess.Popen(argv + ["-"], stdin=rfd, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=env)
        except BaseException:
            os.close(wfd)
            raise
        finally:
            os.close(rfd)

        def feed() -> None:
            try:
                for piece in _bounded_chunks(read, cut):
                    _write_all(wfd, piece)
            except BrokenPipeError:
                pass  # grep stopped at --max-count, or was stopped
            except (OSError, EOFError, zlib.error) as e:
                self._damaged(e)
            finally:
                os.close(wfd)

        feeder = threading.Thread(target=feed, name="unitaudit-grep-feed", daemon=True)
        feeder.start()
        assert grep.stdout is not None
        fd = grep.stdout.fileno()
        _widen_pipe(fd)
        try:
            tail = b""
            while True:
                chunk = os.read(fd, 1 << 20)  # whatever grep has written, without waiting for more
                if not chunk:
                    break
                lines = (tail + chunk).split(b"\n")
                tail = lines.pop()[:MAX_LINE + 1]  # grep's lines are bounded already; never hold more
                yield lines
            if tail:
                yield [tail]
        finally:
            grep.stdout.close()
            for proc in (grep, unzip):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
            rc = grep.wait()
            feeder.join(5.0)
            if f is not None:
                f.close()
            err = grep.stderr.read().decode("utf-8", "replace").strip() if grep.stderr else ""
            if grep.stderr:
                grep.stderr.close()
            if rc > 1 and rc != -15:
                self._warnings.append("%s: grep failed (%s)" % (self.path, err.splitlines()[0] if err else rc))
            if unzip is not None and unzip.wait() not in (0, -15, -13):
                self._warnings.append("%s: compressed data is damaged or truncated; lines before the damage were read" % self.path)
            self._note_cut()

    def stats(self) -> SourceStats:
        return SourceStats(kind=self.kind, path=self.path, counts=tuple(self._counts.items()),
                           warnings=tuple(self._warnings))
