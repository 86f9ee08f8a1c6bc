"""The grammar of one text log line: its timestamp, then host, program[pid] and message.

Forms read, detected line by line (one file may mix them):
  Jan  4 17:30:14 host ident[pid]: msg           rsyslog traditional, journalctl -o short
  Jan  4 17:30:14.123456 host ident[pid]: msg    journalctl -o short-precise
  2024-01-04T17:30:14.123456+08:00 host ...      rsyslog RFC 3339, journalctl -o short-iso(-precise)
  2024-01-01 00:00:12 host ident[pid]: msg       the seed machine's syslog
  ident[pid]: msg  /  unit.service: msg          pasted without a timestamp: counted, time unknown
and the rarer timestamps of stamps.py (other locales' months, dmesg -T,
short-full, short-unix, json, `<30>` priorities, RFC 5424) and bodies of
bodies.py (RFC 5424, json, kernel time prefixes, MESSAGE= fields).

The host is found per line: after a timestamp the first word is the host unless
it already ends with ":" (`Jun 30 09:20:28 systemd[1]: ...`, no host), and words
between host and ident are read as severity/facility fields when they say a
level (SONiC `host WARNING systemd[1]:`, `host daemon.info systemd[1]:`), else as
part of a host name with spaces (a poster's `(redacted host) systemd[1]:`).  A line
with no timestamp is told by its shape: `ident[pid]: msg`, `unit.service: msg`
(PID 1's), `[system] ...` (dbus-daemon's), `error: ...` (logrotate's): that is how
`journalctl -o cat` and lone MESSAGE= fields are read.  `journalctl -o with-unit`
names the unit instead of the program: `init.scope` is PID 1, `x.service` is x.

Time rules (README "Reading text logs"): a timestamp without a UTC offset is
local time as the TZ environment variable says.  A timestamp without a year
takes the year that puts it nearest the last line with a year read before it
(a paste mixing dated and year-less lines); with none, the year of the file's
modification time, or the year before when that would put it more than two
days after the file was last written (a December line in a file written in
January).  Text logs carry no trusted fields: every message from them is
untrusted.
"""
import calendar
import re
import time
from typing import Dict, Optional, Tuple

from unitaudit.model import Event, Kind, Message
from unitaudit.sources.textlog.bodies import (
    Fields, field_message, is_facility, is_severity, json_fields, rfc5424, undated_prefix)
from unitaudit.sources.textlog.stamps import OtherStamps, fraction as _fraction
from unitaudit.sources.wordings import classify_line
from unitaudit.util.names import UNIT_RE

_ISO_TZ = re.compile(rb"(Z|[+-]\d\d:?\d\d)?(?: |$)")
_IDENT = re.compile(rb"([^\s\[\]:]{1,64})(?:\[(\d{1,10})\])?$")
# English months, the hot path's first lookup.  Built here rather than imported from stamps.py:
# measured, a lookup in this module's own dict is faster (1M-line bench, timestamp() -8%).
_MONTHS = {m.encode(): i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_SIGNATURES = ((b"[system] ", b"dbus-daemon"), (b"[session ", b"dbus-daemon"), (b"error: ", b"logrotate"))
_WITH_UNIT = {b"init.scope": b"systemd"}  # units whose program logs under another name
_SKEW = 2 * 86400  # how far after the file's mtime a year-less line may be
SECONDS = {b"%02d" % i: i for i in range(61)}  # b"00".."60" -> int, cheaper than int()
PARSE_MAX = 8 * 1024  # bytes of a matched line parsed and kept as evidence

NOTHING = ()  # the body of a line that says nothing unitaudit reads
_MISSING = object()


class LineParser(OtherStamps):
    """Turns one text line into an Event.  No I/O; caches by minute and by message.

    `minutes` and `bodies` are its caches, read directly by the text source's
    hot loop: the minute prefix of a traditional timestamp ("Jan  4 17:30")
    to its epoch, and the text after a timestamp to what `read_body` made of it."""

    def __init__(self, reference: float) -> None:
        self.reference = reference  # the file's mtime: picks the year of year-less lines
        self.minutes: Dict[bytes, float] = {}  # minute prefix -> epoch, local time
        self.bodies: Dict[bytes, object] = {}
        self.iso: Dict[bytes, Dict[bytes, float]] = {}  # RFC 3339: UTC offset -> minute prefix -> epoch
        self._aware: Dict[bytes, float] = {}  # short-full's minute prefix + zone -> epoch
        self._counters: Dict[bytes, tuple] = {}  # a restart counter's text up to its number -> what it says
        self._messages: Dict[Tuple[bytes, bytes], Optional[Message]] = {}
        self._pidless: Dict[bytes, object] = {}
        self._dated_year = 0  # the year of the last dated line read (0: none yet)
        self._dated = 0.0
        self._ref_year = 0  # the year of `reference`, local time (0: not read yet)
        self._init_other()

    # -- timestamps ------------------------------------------------------
    def _minute(self, tz: bytes, fields: Tuple[int, int, int, int, int]) -> float:
        """Seconds since the epoch at the start of that minute (year 0: pick it by the year rule)."""
        y, mo, d, h, mi = fields
        if tz == b"Z":
            base = calendar.timegm((y, mo, d, h, mi, 0, 0, 0, 0))
            self._note_dated(y, base)
            return base
        if tz:
            sign = -1 if tz[:1] == b"-" else 1
            digits = tz[1:].replace(b":", b"")
            offset = sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)
            base = calendar.timegm((y, mo, d, h, mi, 0, 0, 0, 0)) - offset
            self._note_dated(y, base)
            return base
        if y == 0:
            if self._dated_year:  # the file's own dated lines say when it was written
                return min((time.mktime((year, mo, d, h, mi, 0, 0, 0, -1)) for year in
                            (self._dated_year - 1, self._dated_year, self._dated_year + 1)),
                           key=lambda t: abs(t - self._dated))
            ref_year = self._ref_year or self._reference_year()
            base = time.mktime((ref_year, mo, d, h, mi, 0, 0, 0, -1))
            if base > self.reference + _SKEW:
                base = time.mktime((ref_year - 1, mo, d, h, mi, 0, 0, 0, -1))
            return base
        base = time.mktime((y, mo, d, h, mi, 0, 0, 0, -1))
        self._note_dated(y, base)
        return base

    def _reference_year(self) -> int:
        """Read once: a year-less file's every minute asks it (10,080 a week)."""
        self._ref_year = time.localtime(self.reference).tm_year
        return self._ref_year

    def _note_dated(self, year: int, t: float) -> None:
        """A line with a year: year-less lines after it take the year nearest to it (a paste
        that mixes `2024-01-01 00:00:12` lines with `1月 25 09:00:04` ones is from 2024,
        whenever the file was saved).  The minutes read under another year are read again."""
        self._dated = t
        if year != self._dated_year:
            self._dated_year = year
            self.minutes.clear()  # cleared, not replaced: the text source's hot loop holds it

    def timestamp(self, line: bytes) -> Tuple[Optional[float], int]:
        """(time, offset just after the timestamp), or (None, 0) when the line has none.

        The hot path: byte comparisons on fixed offsets and one dict lookup per
        line; everything else is cached per minute."""
        if len(line) < 17:
            return None, 0
        mon = _MONTHS.get(line[:3])
        if mon is not None:  # "Jan  4 17:30:14" (rsyslog, journalctl short)
            if line[3] != 32 or line[9] != 58 or line[12] != 58:
                return self.other_stamp(line)  # "Jun 4 17:30:14" (spaces collapsed), "Mar" of "Mars"...
            base = self.minutes.get(line[:12])
            if base is None:
                try:
                    base = self._minute(b"", (0, mon, int(line[4:6]), int(line[7:9]), int(line[10:12])))
                except (ValueError, OverflowError):
                    return None, 0
                self.minutes[line[:12]] = base
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
        return self.other_stamp(line)

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
        zone = self.iso.get(tz)
        if zone is None:
            zone = self.iso[tz] = {}
        base = zone.get(line[:16])
        try:
            if base is None:
                base = float(self._minute(tz, (int(line[:4]), int(line[5:7]), int(line[8:10]),
                                               int(line[11:13]), int(line[14:16]))))
                zone[line[:16]] = base
            return base + int(line[17:19]) + frac, m.end()
        except (ValueError, OverflowError):
            return None, 0

    # -- the line ----------------------------------------------------------
    def parse(self, line: bytes) -> Optional[Event]:
        """One line to an Event (None: not evidence).  The text source's hot loop inlines this."""
        t, pos = self.timestamp(line)
        rest = line[pos:] if t is not None else line.lstrip()
        known = self.bodies.get(rest)
        if known is None:
            known = self.read_body(rest, t is not None)
        if known is NOTHING:
            return None
        return Event(t, known[0], known[1], line)

    def read_body(self, rest: bytes, has_timestamp: bool):
        """(message, pid, host) of the text after a timestamp, or NOTHING; cached.

        Everything after the timestamp repeats (the seed's activation failure:
        same host, daemon, pid and text 143,146 times): it is read once.  A program
        started anew each time (modprobe in an ExecStartPre loop) repeats all but
        its pid: that is read once too."""
        lb = rest.find(b"[")
        rb = rest.find(b"]: ", lb) if lb > 0 else -1
        pidless = None
        if rb > lb + 1 and rest[lb + 1:rb] != b"1" and rest[lb + 1:rb].isdigit():
            pidless = rest[:lb] + rest[rb:]
            seen = self._pidless.get(pidless)
            if seen is not None:
                return seen if seen is NOTHING else (seen[0], int(rest[lb + 1:rb]), seen[2])
        known = self._counted(rest, has_timestamp) if rest[-1:] == b"." else None
        if known is None:
            known = self._body(rest, has_timestamp)
        # Only what can repeat is worth keeping: a restart line carries its counter.
        if len(rest) < 512 and (known is NOTHING or known[0].kind is not Kind.RESTART_SCHEDULED):
            if pidless is not None:
                if len(self._pidless) < 4096:
                    self._pidless[pidless] = known
            elif len(self.bodies) < 4096:
                self.bodies[rest] = known
        return known

    def _counted(self, rest: bytes, has_timestamp: bool):
        """What a restart counter's line says ("... restart counter is at 8627."), or None when
        `rest` does not end like one.  Each differs from the last by its number only, so the line
        is read in full once per text before the number, and the others take that reading with
        their own number: the wordings read the number as `\\d+` and nothing else of the line
        depends on it (a test compares both readings on every captured counter line)."""
        at = rest.rfind(b" is at ", -19)  # " is at ", up to 11 digits, "."
        digits = rest[at + 7:-1]
        if at < 0 or not digits.isdigit():
            return None
        head, number = rest[:at + 7], digits.decode("ascii")
        seen = self._counters.get(head)
        if seen is not None:
            m, pid, host, text = seen
            return Message(m.kind, m.unit, text + number + ".", m.program, m.trusted, (("N_RESTARTS", number),)), pid, host
        known = self._body(rest, has_timestamp)
        if known is not NOTHING and len(self._counters) < 4096:
            m = known[0]
            if m.facts == (("N_RESTARTS", number),) and m.text.endswith(" is at %s." % number):
                self._counters[head] = (m, known[1], known[2], m.text[:-len(number) - 1])
        return known

    def _body(self, rest: bytes, has_timestamp: bool):
        """(message, pid, host) of the text after a timestamp, or NOTHING."""
        fields = self.split_body(rest, has_timestamp)
        if fields is None:
            return NOTHING
        ident, pid, msg, host = fields
        message = self._message(ident, pid, msg)
        return NOTHING if message is None else (message, pid, host)

    def split_body(self, rest: bytes, has_timestamp: bool) -> Optional[Fields]:
        """(ident, pid, message, host) of the text after a timestamp, or None."""
        if rest[:1] == b"{":
            obj = self.parsed_json(rest)
            return json_fields(obj) if obj is not None else None
        field = field_message(rest)
        if field is not None:
            return _bare(field)
        may_have_host = has_timestamp
        if not has_timestamp:
            rest, may_have_host = undated_prefix(rest)
            if not may_have_host and rest[:1] in b"[e":
                signed = _signed(rest)
                if signed is not None:
                    return signed
        colon = rest.find(b": ")
        if colon < 0:
            if has_timestamp:
                return rfc5424(rest)
            return _bare(rest) if not may_have_host else None
        head, msg = rest[:colon], rest[colon + 2:].strip(b" \r\n")
        words = head.split(b" ")
        if len(words) == 1 and not may_have_host:
            return _bare(rest)
        if is_facility(words[0]):  # "user.err ident: msg" (busybox/OpenWrt logread): no host
            words.insert(0, b"")
        if len(words) > 2 and not all(is_severity(word) for word in words[1:-1]):
            return self._spaced(rest, words, msg) if has_timestamp else None
        m = _IDENT.match(words[-1])
        if m is None:
            return None
        pid = int(m.group(2)) if m.group(2) is not None else None
        ident = m.group(1)
        if ident[-8:] == b".service" or ident == b"init.scope":
            ident = _WITH_UNIT.get(ident, ident[:-8])  # journalctl -o with-unit: the unit for the ident
        host = words[0] if len(words) > 1 else b""
        return ident, pid, msg, host.decode("utf-8", "replace")

    def _spaced(self, rest: bytes, words, msg: bytes) -> Optional[Fields]:
        """RFC 5424 (`host app procid msgid sd msg`), else a host name with spaces in it
        (`Dec 13 02:42:15 (nsfw system name) systemd[1]: ...`, redacted by the poster)."""
        fields = rfc5424(rest)
        if fields is not None:
            return fields
        m = _IDENT.match(words[-1])
        if m is None or m.group(2) is None:
            return None
        return m.group(1), int(m.group(2)), msg, b" ".join(words[:-1]).decode("utf-8", "replace")

    def _message(self, ident: bytes, pid: Optional[int], msg: bytes) -> Optional[Message]:
        key = (ident, msg)
        cached = self._messages.get(key, _MISSING)
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        message = classify_line(ident, msg)
        if len(self._messages) < 4096 and len(msg) < 512 and (message is None or message.kind is not Kind.RESTART_SCHEDULED):
            self._messages[key] = message
        return message


def _bare(rest: bytes) -> Optional[Fields]:
    """A line with no timestamp and no host: `ident[pid]: msg`, or a message alone
    (journalctl -o cat, a MESSAGE= field, a paste), whose program is told by its shape:
    PID 1 for `unit.service: ...` (pasted without its "systemd[1]: "), dbus-daemon for
    `[system] ...`/`[session uid=...] ...`, logrotate for `error: ...`."""
    signed = _signed(rest)
    if signed is not None:
        return signed
    colon = rest.find(b": ")
    if colon < 0 and _is_219_sentence(rest):
        return b"systemd", None, rest.strip(b" \r\n"), ""
    head = rest[:colon] if colon >= 0 else b""
    if head[-1:] != b"]" and UNIT_RE.fullmatch(head.decode("ascii", "replace")):
        return b"systemd", None, rest.strip(b" \r\n"), ""  # a unit's name may hold ":" (dbus-:1.2-x@0.service)
    m = _IDENT.match(head)
    if m is None:
        return None
    if m.group(2) is not None:
        return m.group(1), int(m.group(2)), rest[colon + 2:].strip(b" \r\n"), ""
    return m.group(1), None, rest[colon + 2:].strip(b" \r\n"), ""


def _is_219_sentence(rest: bytes) -> bool:
    """PID 1's sentences of systemd 219 pasted alone have no ": " to find: "x.service holdoff time
    over, scheduling restart.", "Unit x.service entered failed state.", "start request repeated
    too quickly for x.service" (wordings.py reads them; here only who said them)."""
    if rest[:5] == b"Unit " or rest[:22] == b"start request repeated":
        return True
    first = rest.split(b" ", 1)[0]
    return b"." in first and UNIT_RE.fullmatch(first.decode("ascii", "replace")) is not None


def _signed(rest: bytes) -> Optional[Fields]:
    """A message alone whose shape names its program (see `_bare`), or None."""
    for prefix, ident in _SIGNATURES:
        if rest[:len(prefix)] == prefix:
            return ident, None, rest.strip(b" \r\n"), ""
    return None
