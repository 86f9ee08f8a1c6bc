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
from unitaudit.model import Event, Kind, Message
from unitaudit.sources.stats import SourceStats

HIT_STRINGS = (
    "Activation via systemd failed",
    "Activating via systemd",
    "Activation request for",
    "restart counter is at",
    "hold-off time over",
    "expired, scheduling restart",
    "Failed with result",
    "Control process exited",
    "Main process exited",
    "Start request repeated",
    "Failed at step",
    "Succeeded.",
    "Deactivated successfully",
    "logrotate",
    ": FATAL: ",
    ": ERROR: ",
)
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
_SKEW = 2 * 86400  # how far after the file's mtime a year-less line may be


class LineParser:
    """Turns one text line into an Event.  No I/O; caches by minute and by message."""

    def __init__(self, reference: float) -> None:
        self.reference = reference  # the file's mtime: picks the year of year-less lines
        self._minutes: Dict[Tuple[bytes, bytes], float] = {}
        self._messages: Dict[Tuple[bytes, bool, bytes], Optional[Message]] = {}

    # -- timestamps ------------------------------------------------------
    def _minute(self, key: bytes, tz: bytes, fields: Tuple[int, int, int, int, int]) -> float:
        y, mo, d, h, mi = fields
        if tz == b"Z":
            base = calendar.timegm((y, mo, d, h, mi, 0, 0, 0, 0))
        elif tz:
            sign = -1 if tz[:1] == b"-" else 1
            digits = tz[1:].replace(b":", b"")
            offset = sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)
            base = calendar.timegm((y, mo, d, h, mi, 0, 0, 0, 0)) - offset
        elif y == 0:
            ref_year = time.localtime(self.reference).tm_year
            base = time.mktime((ref_year, mo, d, h, mi, 0, 0, 0, -1))
            if base > self.reference + _SKEW:
                base = time.mktime((ref_year - 1, mo, d, h, mi, 0, 0, 0, -1))
        else:
            base = time.mktime((y, mo, d, h, mi, 0, 0, 0, -1))
        self._minutes[(key, tz)] = base
        return base

    def header(self, line: bytes) -> Tuple[Optional[float], int]:
        """(time, offset of the host field), or (None, 0) when the line has no timestamp."""
        c = line[:1]
        if b"A" <= c <= b"Z":
            mon = _MONTHS.get(line[:3])
            if mon is None or line[3:4] != b" " or line[9:10] != b":" or line[12:13] != b":":
                return None, 0
            key = line[:12]
            base = self._minutes.get((key, b""))
            if base is None:
                try:
                    base = self._minute(key, b"", (0, mon, int(line[4:6]), int(line[7:9]), int(line[10:12])))
                except (ValueError, OverflowError):
                    return None, 0
            try:
                t = base + int(line[13:15])
            except ValueError:
                return None, 0
            pos = 15
            if line[15:16] == b".":
                end = line.find(b" ", 16)
                if end < 0:
                    return None, 0
                t += _fraction(line[16:end])
                pos = end
            return t, pos + 1
        if b"0" <= c <= b"9":
            if line[4:5] == b"-" and line[7:8] == b"-" and line[10:11] in (b"T", b" ") and line[13:14] == b":":
                pos = 19
                frac = 0.0
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
                key = line[:16]
                base = self._minutes.get((key, tz))
                try:
                    if base is None:
                        base = self._minute(key, tz, (int(line[:4]), int(line[5:7]), int(line[8:10]),
                                                      int(line[11:13]), int(line[14:16])))
                    t = base + int(line[17:19]) + frac
                except (ValueError, OverflowError):
                    return None, 0
                return t, m.end()
            m = _CN.match(line)
            if m is not None:
                key = line[:m.start(5)]
                base = self._minutes.get((key, b""))
                try:
                    if base is None:
                        base = self._minute(key, b"", (0, int(m.group(1)), int(m.group(2)),
                                                       int(m.group(3)), int(m.group(4))))
                    t = base + int(m.group(5)) + (_fraction(m.group(6)) if m.group(6) else 0.0)
                except (ValueError, OverflowError):
                    return None, 0
                return t, m.end()
        return None, 0

    # -- the line ----------------------------------------------------------
    def parse(self, line: bytes) -> Optional[Event]:
        line = line.rstrip(b"\r\n")
        t, pos = self.header(line)
        if t is not None:
            sp = line.find(b" ", pos)  # skip the host
            if sp < 0:
                return None
            rest = line[sp + 1:]
        else:
            rest = line.lstrip()
        colon = rest.find(b": ")
        if colon < 0:
            return None
        head, msg = rest[:colon], rest[colon + 2:].lstrip(b" ")
        pid: Optional[int] = None
        m = _IDENT.match(head)
        if m is None:
            return None
        ident = m.group(1)
        if m.group(2) is not None:
            pid = int(m.group(2))
        elif t is None and UNIT_RE.fullmatch(head.decode("ascii", "replace")):
            # "unit.service: Scheduled restart job ..." pasted without its "systemd[1]: "
            ident, msg = b"systemd", rest
        message = self._message(ident, pid, msg)
        if message is None:
            return None
        return Event(t, message, pid, line)

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
        if len(self._messages) < 20000:
            self._messages[key] = message
        return message


_MISSING = object()


def _fraction(digits: bytes) -> float:
    return int(digits) / (10 ** len(digits)) if digits.isdigit() else 0.0


def _is_noise(line: bytes) -> bool:
    """A line that matched a hit string only by accident, not evidence that failed to parse."""
    return b"logrotate" in line and b"logrotate[" not in line and b"logrotate:" not in line


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

    def events(self) -> Iterator[Event]:
        parser = LineParser(self._reference)
        counts = self._counts
        since, until = self.since, self.until
        lines = self._grep_lines() if self.use_grep else self._python_lines()
        for line in lines:
            counts["matched"] += 1
            ev = parser.parse(line)
            if ev is None:
                if not _is_noise(line) and b"FATAL" not in line and b"ERROR" not in line:
                    counts["unparsed"] += 1
                continue
            t = ev.time
            if t is None:
                counts["undated"] += 1
            elif (since is not None and t < since) or (until is not None and t > until):
                counts["outside_window"] += 1
                continue
            counts["events"] += 1
            yield ev

    def _python_lines(self) -> Iterator[bytes]:
        opener = gzip.open if self._gz else open
        try:
            with opener(self.path, "rb") as f:  # type: ignore[operator]
                for line in f:
                    if _HIT_RE.search(line):
                        yield line
        except (OSError, EOFError, gzip.BadGzipFile) as e:  # type: ignore[attr-defined]
            self._warnings.append("%s: stopped reading at damaged data (%s); lines before it were read" % (self.path, e))

    def _grep_lines(self) -> Iterator[bytes]:
        argv = ["grep", "-a", "-h", "-F"] + ["-e" + s for s in HIT_STRINGS]
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
        try:
            for line in grep.stdout:
                yield line
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
            if unzip is not None and unzip.wait() not in (0, -15):
                self._warnings.append("%s: compressed data is damaged or truncated; lines before the damage were read" % self.path)

    def stats(self) -> SourceStats:
        return SourceStats(kind=self.kind, path=self.path, counts=tuple(self._counts.items()),
                           warnings=tuple(self._warnings))
