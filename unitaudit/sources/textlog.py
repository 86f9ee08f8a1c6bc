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
"""
import calendar
import gzip
import os
import re
import shutil
import subprocess
import time
from typing import Dict, Iterator, List, Optional, Tuple

from unitaudit.errors import SourceError
from unitaudit.messages import UNIT_RE, classify_bus, classify_logrotate, classify_pid1, program_line
from unitaudit.model import Event, Kind, Message, Sightings
from unitaudit.sources.batch import BLOCK, FIRST, LAST_RAW, LAST_TIME, MESSAGE, PID, SAMPLES, TIMES, Batcher
from unitaudit.sources.stats import SourceStats

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
        if len(self._messages) < 4096 and (message is None or message.kind is not Kind.RESTART_SCHEDULED):
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
    return int(digits) / (10 ** len(digits)) if digits.isdigit() else 0.0


def _is_noise(line: bytes) -> bool:
    """A line that matched a hit string only by accident, not evidence that failed to parse."""
    return b"logrotate[" in line and b"error: " not in line


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
        self._open_check()

    def _open_check(self) -> None:
        p = self.path
        if os.path.isdir(p):
            raise SourceError("%s is a directory, not a log file (a journal directory? use --journal-dir)" % p)
        try:
            with open(p, "rb") as f:
                head = f.read(8)
            self._reference = os.stat(p).st_mtime
        except FileNotFoundError:
            raise SourceError("%s: no such file" % p) from None
        except PermissionError:
            raise SourceError("%s: permission denied (run as root or copy the file)" % p) from None
        except OSError as e:
            raise SourceError("%s: cannot read: %s" % (p, e.strerror or e)) from None
        if head.startswith(_JOURNAL_MAGIC):
            raise SourceError("%s is a journal file, not text: use --journal-file" % p)
        self._gz = head.startswith(_GZIP_MAGIC)

    def events(self) -> Iterator[Sightings]:
        parser = LineParser(self._reference)
        yield from self._read(parser, HIT_STRINGS, None)
        # "Activating via systemd" repeats every failed activation; the requesters
        # (deepin-system-m in the seed) show in the first lines as well as in all.
        yield from self._read(parser, (REQUEST_STRING,), REQUEST_SAMPLE)

    def _read(self, parser: "LineParser", strings: Tuple[str, ...],
              max_count: Optional[int]) -> Iterator[Sightings]:
        """The hot loop: one header read and one dict lookup per line; lines that
        say the same thing are handed over together, once per block."""
        header, bodies, remember = parser.header, parser._bodies, parser.remember
        since = self.since if self.since is not None else float("-inf")
        until = self.until if self.until is not None else float("inf")
        matched = unparsed = undated = outside = events = 0
        blocks = self._grep_lines(strings, max_count) if self.use_grep else self._python_lines(strings, max_count)
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

    def _python_lines(self, strings: Tuple[str, ...], max_count: Optional[int]) -> Iterator[List[bytes]]:
        """Matching lines in blocks, when grep is not there."""
        pattern = _HIT_RE if strings is HIT_STRINGS else re.compile(b"|".join(re.escape(x.encode()) for x in strings))
        opener = gzip.open if self._gz else open
        found: List[bytes] = []
        total = 0
        try:
            with opener(self.path, "rb") as f:  # type: ignore[operator]
                for line in f:
                    if pattern.search(line):
                        found.append(line.rstrip(b"\n"))
                        total += 1
                        if max_count is not None and total >= max_count:
                            break
                        if len(found) >= 4096:
                            yield found
                            found = []
        except (OSError, EOFError) as e:
            self._warnings.append("%s: stopped reading at damaged data (%s); lines before it were read" % (self.path, e))
        yield found

    def _grep_lines(self, strings: Tuple[str, ...], max_count: Optional[int]) -> Iterator[List[bytes]]:
        """Matching lines from grep, in blocks: one split per read, not one call per line."""
        argv = ["grep", "-a", "-h", "-F"] + ["-e" + x for x in strings]
        if max_count is not None:
            argv.append("--max-count=%d" % max_count)
        env = {"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        unzip = None
        if self._gz:
            unzip = subprocess.Popen(["gzip", "-dc", "--", self.path], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env)
            grep = subprocess.Popen(argv + ["-"], stdin=unzip.stdout, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=env)
            assert unzip.stdout is not None
            unzip.stdout.close()  # grep owns it now
        else:
            grep = subprocess.Popen(argv + ["--", self.path], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=env)
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
                tail = lines.pop()
                yield lines
            if tail:
                yield [tail]
        finally:
            grep.stdout.close()
            for proc in (grep, unzip):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
            rc = grep.wait()
            err = grep.stderr.read().decode("utf-8", "replace").strip() if grep.stderr else ""
            if grep.stderr:
                grep.stderr.close()
            if rc > 1 and rc != -15:
                self._warnings.append("%s: grep failed (%s)" % (self.path, err.splitlines()[0] if err else rc))
            if unzip is not None and unzip.wait() not in (0, -15, -13) and max_count is None:
                self._warnings.append("%s: compressed data is damaged or truncated; lines before the damage were read" % self.path)

    def stats(self) -> SourceStats:
        return SourceStats(kind=self.kind, path=self.path, counts=tuple(self._counts.items()),
                           warnings=tuple(self._warnings))
