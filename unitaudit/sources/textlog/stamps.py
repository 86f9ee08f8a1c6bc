"""Timestamps other than the English traditional and RFC 3339 ones (lines.py reads those first).

Each is tried only when the line does not start like the common forms, so the
common forms pay nothing for them:
  mai 25 11:53:25 / 11月 25 / 1월 25 / يوليو 05    journalctl -o short under any glibc locale (months.py)
  <30>Jan 27 20:17:10 ... / <30>1 2024-...          a syslog priority, RFC 5424 (its body: bodies.py)
  [Sat Oct 22 06:02:04 2016]                         dmesg -T
  Wed Feb  3 08:59:13 2016 user.err ident: msg       busybox syslogd / OpenWrt logread (no host)
  Thu 2024-01-04 17:30:14 CST                        journalctl -o short-full, with-unit, verbose
  1704360614.123456                                  journalctl -o short-unix (seconds since the epoch, UTC)
  » 15 Sep 2015 16:32:00.001 Sep 15 23:31:59 host    an aggregator's prefix (Papertrail) before a traditional stamp
  {"__REALTIME_TIMESTAMP" : "1704360614123456", ...} journalctl -o json, one object per line
A `journalctl -o export|verbose` entry is read only when the lines giving its
time (`__REALTIME_TIMESTAMP=`, the verbose header `Mon 2024-... UTC [s=...]`)
reach the parser: its MESSAGE= line then takes that time; alone it is undated.
A kernel "[  201.452633]" prefix (dmesg, journalctl -o short-monotonic) counts
time since boot, not a wall clock: such a line is read as undated.  A zone
abbreviation ("CST" is three zones) is read as local time, like a timestamp with
no zone; only UTC/GMT and numeric offsets are taken as written.
"""
import json
import re
from typing import Dict, Optional, Tuple

from unitaudit.sources.textlog.months import FileMonths

# The lines that give a `journalctl -o export|verbose` entry its time: the text scan's filter
# lets them through (they hold no evidence, so they never count as unread).
ENTRY_TIME_STRINGS = ("__REALTIME_TIMESTAMP=", " [s=")
ENGLISH_MONTHS = {m.encode(): i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_LOCAL = re.compile(rb"( ?\S+(?: \S+)??) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?: |$)")
_PRIORITY = re.compile(rb"<(\d{1,3})>")
_CTIME = re.compile(rb"\[?(\S+) +(\S+) +(\d{1,2}) (\d\d):(\d\d):(\d\d) (\d{4})\]?(?: |$)")
_FULL = re.compile(rb"[A-Za-z]{2,3} (\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d+))? (\S+)(?: |$)")
_UNIX = re.compile(rb"(\d{9,11})\.(\d{1,9})(?: |$)")
_EMBEDDED = re.compile(rb" (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ \d]\d \d\d:\d\d:\d\d ")
# Lines starting like a word or an identifier are messages, not an aggregator's prefix.
_WORD_START = frozenset(bytes([c]) for c in b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-([{\"'")
_UTC = (b"UTC", b"GMT", b"Z")
_WEEKDAYS = frozenset((b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"))
Stamp = Tuple[Optional[float], int]


def fraction(digits: Optional[bytes]) -> float:
    """The seconds that ".123456" says, from its digits."""
    if not digits:
        return 0.0
    digits = digits[:9]  # nanoseconds at most: past them a float cannot hold more, and int() has a digit limit
    return int(digits) / (10 ** len(digits)) if digits.isdigit() else 0.0


class OtherStamps:
    """The rarer timestamp grammars, mixed into LineParser (which provides `_minute`,
    `minutes`, `_aware` and `timestamp`)."""

    minutes: Dict[bytes, float]
    _aware: Dict[bytes, float]

    def _init_other(self) -> None:
        self.file_months = FileMonths()
        self._resets = 0
        self.last_json: Tuple[bytes, Optional[dict]] = (b"", None)
        # The time of the journal entry being read (export's __REALTIME_TIMESTAMP=, verbose's header):
        # its MESSAGE= line comes later, and takes it.
        self.entry_time: Optional[float] = None

    def other_stamp(self, line: bytes) -> Stamp:
        """A timestamp in one of the rarer forms, or (None, 0)."""
        c = line[:1]
        if c in (b" ", b"\t", b">"):  # indented or quoted when pasted (Markdown, mail: ">", "> > "); ja_JP's " 1月"
            stripped = line.lstrip(b" \t>")
            t, pos = self.timestamp(stripped)  # type: ignore[attr-defined]
            return (t, pos + len(line) - len(stripped)) if t is not None else (None, 0)
        if c == b"M" and line[:8] == b"MESSAGE=":
            return self._entry_message()
        if c == b"_" and line[:21] == b"__REALTIME_TIMESTAMP=":
            stamp = line[21:].strip()
            self.entry_time = int(stamp) / 1e6 if stamp.isdigit() and len(stamp) <= 20 else None
            return None, 0
        if c == b"<":
            return self._priority(line)
        if c == b"[":
            return self._ctime(line)
        if c == b"{":
            return self._json_stamp(line)
        if 48 <= line[0] <= 57:
            m = _UNIX.match(line)
            if m is not None:
                return int(m.group(1)) + fraction(m.group(2)), m.end()
        elif line[3:4] == b" ":
            if line[8:9] == b"-":
                m = _FULL.match(line)
                if m is not None:
                    return self._full(line, m)
            elif line[7:8] == b" " and line[:3] in _WEEKDAYS:
                return self._ctime(line)
        t, pos = self._localized(line)
        if t is None and line[:1] not in _WORD_START:
            return self._embedded(line)
        return t, pos

    def _embedded(self, line: bytes) -> Stamp:
        """A traditional timestamp after a log aggregator's own prefix
        (`» 15 Sep 2015 16:32:00.001 Sep 15 23:31:59 host ...`, Papertrail): read from there.
        Only before any ": ", so a date quoted inside a message is not taken for the line's."""
        m = _EMBEDDED.search(line, 0, 96)
        if m is None or b": " in line[:m.start()]:
            return None, 0
        t, pos = self.timestamp(line[m.start():])  # type: ignore[attr-defined]
        return (t, m.start() + pos) if t is not None else (None, 0)

    def _localized(self, line: bytes) -> Stamp:
        """A month as some locale abbreviates it, the day, the time (journalctl -o short)."""
        m = _LOCAL.match(line)
        if m is None:
            return None, 0
        key = line[:m.start(5) - 1]  # "mai 25 11:53": 12 bytes like an English minute, read as fast
        base = self.minutes.get(key)
        if base is None:
            token = m.group(1)
            month = ENGLISH_MONTHS.get(token.strip())
            settled = True
            if month is None:
                month, settled = self.file_months.month(token)
                if month is None:
                    return None, 0
                self._forget_other_locales()
            try:
                base = self._minute(b"", (0, month, int(m.group(2)), int(m.group(3)), int(m.group(4))))
            except (ValueError, OverflowError):
                return None, 0
            if settled:  # an ambiguous month may read otherwise once more lines are seen
                self.minutes[key] = base
        return base + int(m.group(5)) + fraction(m.group(6)), m.end()

    def _forget_other_locales(self) -> None:
        """A paste from another locale began: its months may read otherwise than the cached ones."""
        if self.file_months.resets != self._resets:
            self._resets = self.file_months.resets
            for key in [k for k in self.minutes if k[:3] not in ENGLISH_MONTHS]:
                del self.minutes[key]

    def _priority(self, line: bytes) -> Stamp:
        """<30>: a syslog priority before the timestamp; <30>1 begins RFC 5424."""
        m = _PRIORITY.match(line)
        if m is None:
            return None, 0
        start = m.end()
        if line[start:start + 2] == b"1 ":
            start += 2
        if line[start:start + 1] in (b"<", b" ", b"\t"):  # a timestamp follows at once: "<1><1>..." is none
            return None, 0
        t, pos = self.timestamp(line[start:])  # type: ignore[attr-defined]
        return (t, start + pos) if t is not None else (None, 0)

    def _ctime(self, line: bytes) -> Stamp:
        """[Sat Oct 22 06:02:04 2016] (dmesg -T), Wed Feb  3 08:59:13 2016 (busybox logread): local time."""
        m = _CTIME.match(line)
        if m is None:
            return None, 0
        month = ENGLISH_MONTHS.get(m.group(2))
        if month is None:
            month = self.file_months.month(m.group(2))[0]
            if month is None:
                return None, 0
        try:
            base = self._minute(b"", (int(m.group(7)), month, int(m.group(3)), int(m.group(4)), int(m.group(5))))
        except (ValueError, OverflowError):
            return None, 0
        return base + int(m.group(6)), m.end()

    def _full(self, line: bytes, m) -> Stamp:
        """Thu 2024-01-04 17:30:14[.123456] CST (journalctl -o short-full)."""
        zone = m.group(8)
        if zone in _UTC:
            tz = b"Z"
        elif zone[:1] in (b"+", b"-") and zone[1:].replace(b":", b"").isdigit():
            tz = zone
        else:
            tz = b""  # an abbreviation: the local zone, as TZ says
        key = line[:m.start(6)] + tz
        base = self._aware.get(key)
        try:
            if base is None:
                base = self._minute(tz, tuple(int(m.group(i)) for i in range(1, 6)))  # type: ignore[arg-type]
                self._aware[key] = base
        except (ValueError, OverflowError):
            return None, 0
        t = base + int(m.group(6)) + fraction(m.group(7))
        if line[m.end():m.end() + 3] == b"[s=":  # the header of a `journalctl -o verbose` entry
            self.entry_time = t
        return t, m.end()

    def _entry_message(self) -> Stamp:
        """A MESSAGE= field: the time of its entry's header, when that was read (else undated)."""
        t, self.entry_time = self.entry_time, None
        return (t, 0) if t is not None else (None, 0)

    def parsed_json(self, line: bytes) -> Optional[dict]:
        """The object of a `journalctl -o json` line (the last one is kept: timestamp and body both read it)."""
        if self.last_json[0] is not line and self.last_json[0] != line:
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested past the parser's depth
                obj = None
            self.last_json = (line, obj if isinstance(obj, dict) else None)
        return self.last_json[1]

    def _json_stamp(self, line: bytes) -> Stamp:
        """__REALTIME_TIMESTAMP: microseconds since the epoch.  The body is the whole line."""
        obj = self.parsed_json(line)
        stamp = obj.get("__REALTIME_TIMESTAMP") if obj is not None else None
        if not (isinstance(stamp, str) and stamp.isdecimal() and len(stamp) <= 20):
            return None, 0
        return int(stamp) / 1e6, 0

    def _minute(self, tz: bytes, fields: Tuple[int, int, int, int, int]) -> float:
        raise NotImplementedError
