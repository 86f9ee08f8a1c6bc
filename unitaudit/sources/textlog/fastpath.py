"""The hot loop: one pass over the matching lines, most of them read by a fast path.

A file writes one timestamp form, and a loop writes one text again and again.
So the loop reads each line's timestamp by the layout of the last line the
parser read in full (`layout`: where its seconds, fraction, UTC offset and text
are), with one dict lookup for its minute, and looks its text up among the
texts seen before: a line that fits both costs a few operations.  Any other
line goes to the parser (`LineParser.timestamp`, `read_body`), which is what
decides: the fast path reads only minutes the parser read and checked before
(its caches), and checks every byte the parser would, so that it gives exactly
what the parser gives or gives up on the line.  Forms with a fast path:

  Jan  4 17:30:14 host ...                   rsyslog traditional, journalctl -o short
  Jan  4 17:30:14.123456 host ...            journalctl -o short-precise
  2024-01-04T17:30:14.123456+08:00 host ...  rsyslog RFC 3339 (RSYSLOG_FileFormat)
  2024-01-04T17:30:14+0800 host ...          journalctl -o short-iso (and -precise; Z, no offset)
  2024-01-01 00:00:12 host ...               the seed machine's syslog
and the same with a month of another locale (its minute is cached the same way).
"""
from typing import Callable, Iterator, List, Optional, Tuple

from unitaudit.model import Event, Sightings
from unitaudit.sources.grouping import BLOCK, FIRST, LAST_RAW, LAST_TIME, MESSAGE, PID, SAMPLES, TIMES, SightingGroups
from unitaudit.sources.textlog.lines import NOTHING, PARSE_MAX, SECONDS, LineParser

# (skip, iso, k1, v1, k2, v2, f0, f1, scale, tz0, tz): the text starts at `skip`, after a space;
# line[k1] == v1 and line[k2] == v2; the fraction's digits are line[f0:f1] (f1 0: none), worth
# 1/scale each; an RFC 3339 line has the UTC offset `tz` at line[tz0:skip - 1].  NO_LAYOUT never
# fits (no byte is 256).
Layout = Tuple[int, bool, int, int, int, int, int, int, int, int, bytes]
NO_LAYOUT: Layout = (1, False, 0, 256, 0, 256, 0, 0, 1, 0, b"")
_SPACE, _COLON, _DOT, _COMMA = 32, 58, 46, 44


def layout(line: bytes, pos: int) -> Layout:
    """The layout of `line`, whose timestamp the parser read up to `pos`; NO_LAYOUT for a form
    the fast path does not read (it only saves work: the checks decide, line by line)."""
    if pos < 16 or line[pos - 1] != _SPACE:
        return NO_LAYOUT
    if line[9] == _COLON and line[12] == _COLON:  # Jan  4 17:30:14[.123456], or a month of another locale
        if pos == 16:
            return (16, False, 12, _COLON, 15, _SPACE, 0, 0, 1, 0, b"")
        if line[15] == _DOT and 18 <= pos <= 26 and line[16:pos - 1].isdigit():
            return (pos, False, 12, _COLON, 15, _DOT, 16, pos - 1, 10 ** (pos - 17), 0, b"")
        return NO_LAYOUT
    if pos < 20 or not (48 <= line[0] <= 57 and line[4] == 45):  # 2024-01-04T17:30:14[.123456][+08:00]
        return NO_LAYOUT
    if line[19] not in (_DOT, _COMMA):  # the offset, or the space, is at line[19]
        return (pos, True, pos - 1, _SPACE, pos - 1, _SPACE, 0, 0, 1, 19, line[19:pos - 1])
    end = 20
    while end < pos and 48 <= line[end] <= 57:
        end += 1
    if not 21 <= end <= 29:  # 1 to 9 digits: the parser reads no more (stamps.fraction)
        return NO_LAYOUT
    return (pos, True, 19, line[19], 19, line[19], 20, end, 10 ** (end - 20), end, line[end:pos - 1])


class Pass:
    """One read of the matching lines: the groups of sightings, the counts, the fast path's
    layout.  `read_status` reads the lines of a pasted `systemctl status`; `unread(line,
    with_status)` is 1 when a line nothing read looked like evidence."""

    def __init__(self, parser: LineParser, window: Tuple[float, float],
                 read_status: Optional[Callable[[bytes], bool]], unread: Callable[[bytes, bool], int]) -> None:
        self.parser = parser
        self.since, self.until = window
        self.open = window == (float("-inf"), float("inf"))
        self.read_status = read_status
        self.unread = unread
        self.grouped = SightingGroups()
        self.left = BLOCK  # sightings before the groups are handed over
        self.layout = NO_LAYOUT
        # lines read; of them: no sighting (a status line, nothing read, outside the window), ...
        self.matched = self.missed = self.unparsed = self.undated = self.outside = 0

    def read(self, block: List[bytes]) -> Iterator[Sightings]:
        """The lines of one block; the groups are handed over every BLOCK sightings."""
        p, grouped, slow = self.parser, self.grouped, self._slow
        minutes, isos, bodies, read_body = p.minutes, p.iso, p.bodies, p.read_body
        since, until = self.since, self.until
        groups, add, left = grouped.groups, grouped.add, self.left
        skip, iso, k1, v1, k2, v2, f0, f1, scale, tz0, tz = self.layout
        space, zone = skip - 1, isos.get(tz, {})
        self.matched += len(block)
        # no window to check and no line for the parser to cut: two checks a line saved
        plain = self.open and max(map(len, block), default=0) <= PARSE_MAX
        for line in block:
            t = None
            if line[space:skip] == b" ":  # also: the line is long enough for what follows
                if iso:  # the minute cached for this offset, when the line has it
                    base = zone.get(line[:16]) if line[tz0:space] == tz else None
                    sec = SECONDS.get(line[17:19])
                else:
                    base = minutes.get(line[:12])
                    sec = SECONDS.get(line[13:15])
                if base is not None and sec is not None and line[k1] == v1 and line[k2] == v2:
                    if not f1:
                        t = base + sec  # base is a float: as the parser adds it
                    else:
                        digits = line[f0:f1]
                        if digits.isdigit():
                            t = base + sec + int(digits) / scale
            if t is not None and (plain or (since <= t <= until and len(line) <= PARSE_MAX)):
                rest = line[skip:]
                g = groups.get(rest)
                if g is not None:  # a text seen in this block: a few operations
                    g[TIMES].append(t)
                    if len(g[FIRST]) < SAMPLES:
                        g[FIRST].append(Event(t, g[MESSAGE], g[PID], line))
                    else:
                        g[LAST_RAW], g[LAST_TIME] = line, t
                else:
                    known = bodies.get(rest)
                    if known is None:
                        known = read_body(rest, True)
                    if known is NOTHING:
                        self.missed += 1
                        self.unparsed += self.unread(line, self.read_status is not None)
                        continue
                    add(rest, known[0], t, known[1], line, known[2])
            else:
                pos = slow(line)
                if pos < 0:
                    continue
                if pos != skip and pos > 0:
                    self.layout = layout(line, pos)
                    skip, iso, k1, v1, k2, v2, f0, f1, scale, tz0, tz = self.layout
                    space, zone = skip - 1, isos.get(tz, {})
            left -= 1
            if not left:
                yield from grouped.flush()
                groups, left = grouped.groups, BLOCK
        self.left = left

    def _slow(self, line: bytes) -> int:
        """The parser's reading of a line, added to the groups: the end of its timestamp (0:
        undated), or -1 when it gave no sighting."""
        p = self.parser
        if len(line) > PARSE_MAX:  # evidence keeps a long line's head (grep saw MAX_LINE)
            line = line[:PARSE_MAX]
        t, pos = p.timestamp(line)
        if t is None and self.read_status is not None and self.read_status(line):
            self.missed += 1
            return -1  # a line of a pasted `systemctl status` block
        rest = line[pos:] if t is not None else line.lstrip()
        known = p.bodies.get(rest)
        if known is None:
            known = p.read_body(rest, t is not None)
        if known is NOTHING:
            self.missed += 1
            self.unparsed += self.unread(line, self.read_status is not None)
            return -1
        if t is None:
            self.undated += 1
        elif t < self.since or t > self.until:
            self.missed += 1
            self.outside += 1
            return -1
        self.grouped.add(rest, known[0], t, known[1], line, known[2])
        return pos

    def flush(self) -> Iterator[Sightings]:
        """The groups not handed over yet."""
        return self.grouped.flush()


def window(since: Optional[float], until: Optional[float]) -> Tuple[float, float]:
    """The --since/--until window, open where not given."""
    return (since if since is not None else float("-inf"), until if until is not None else float("inf"))
