"""The text scan's fast path (textlog/fastpath.py) gives exactly what the parser gives, line by line.

Every captured line (tests/fixtures/captured, tests/fixtures/seed: SOURCES.md there says where each
comes from) is read twice, once with the fast path and once with it never fitting, and the two
reads must hand over the same sightings in the same order, with the same counts.  The lines come
as captured, then again (a text seen before: the fast path's own case), then with one byte of
their timestamp changed (what the fast path checks before it trusts a cached minute)."""
import re
import time
from pathlib import Path

import pytest

from builders import FIXTURES
from unitaudit.sources.textlog import TextLogSource, fastpath
from unitaudit.sources.textlog.lines import LineParser, NOTHING

_FILES = sorted(p for d in ("captured", "seed") for p in (FIXTURES / d).rglob("*")
                if p.is_file() and p.suffix in (".txt", ".log"))
# the bytes a timestamp's layout is checked at: traditional, short-precise, RFC 3339, short-iso
_AT = (3, 9, 12, 13, 15, 16, 17, 19, 20, 22, 24, 25, 26, 32)
_INTO = (b"X", b" ", b".", b"7")
_MUTATED = 40  # lines of each file changed byte by byte


def _read(path: Path, fast: bool, monkeypatch, window=(None, None)):
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(fastpath, "layout", lambda line, pos: fastpath.NO_LAYOUT)
        src = TextLogSource(str(path), since=window[0], until=window[1], use_grep=False)
        items = list(src.events())
        stats = src.stats()
    return items, stats.counts, stats.unparsed_lines, src.unit_states()


def _variants(lines):
    """Each line with one byte of its timestamp's layout changed."""
    for line in lines[:_MUTATED]:
        for at in _AT:
            for into in _INTO:
                if at < len(line) and line[at:at + 1] != into:
                    yield line[:at] + into + line[at + 1:]


@pytest.mark.parametrize("path", _FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fast_path_reads_every_captured_line_as_the_parser_does(path, tmp_path, monkeypatch):
    lines = path.read_bytes().splitlines()
    data = tmp_path / "log"
    data.write_bytes(b"\n".join(lines + lines + list(_variants(lines))) + b"\n")
    fast = _read(data, True, monkeypatch)
    slow = _read(data, False, monkeypatch)
    assert fast == slow
    # with a window (2021-06-01 to 2024-06-01 UTC: some lines of the captures fall outside)
    assert _read(data, True, monkeypatch, (1622505600.0, 1717200000.0)) == \
        _read(data, False, monkeypatch, (1622505600.0, 1717200000.0))
    for items in (fast[0], slow[0]):
        assert all(type(t) is float for s in items for t in s.times)


def test_the_fast_path_is_taken_for_each_form_with_one():
    """Lab lines of each form with a fast path: every line after the first of its minute is read
    without the parser's timestamp() (the parser's caches are the fast path's)."""
    lab = FIXTURES / "captured" / "lab-forms" / "debian12-252"
    for name in ("rsyslog-traditional.log", "rsyslog-rfc3339.log", "journalctl-short.txt",
                 "journalctl-short-iso.txt", "journalctl-short-iso-precise.txt", "journalctl-short-precise.txt"):
        src = TextLogSource(str(lab / name), use_grep=False)
        calls = []
        parser_stamp = LineParser.timestamp

        def counted(self, line, calls=calls):
            calls.append(line)
            return parser_stamp(self, line)
        LineParser.timestamp = counted
        try:
            n = sum(len(s.times) for s in src.events())
        finally:
            LineParser.timestamp = parser_stamp
        minutes = {_minute(line) for line in calls}
        assert n > 10 and len(calls) <= len(minutes) + 2, (name, n, len(calls))


def _minute(line: bytes) -> bytes:
    m = re.match(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d|\w{3} [ \d]\d \d\d:\d\d)", line)
    return m.group(1) if m else line


_COUNTER = re.compile(rb"(.*restart counter is at )(\d+)\.\s*$")


def _counter_rests():
    """The text after the timestamp of every captured restart-counter line."""
    parser = LineParser(time.time())
    for path in _FILES:
        for line in path.read_bytes().splitlines():
            if _COUNTER.match(line):
                t, pos = parser.timestamp(line)
                yield line[pos:] if t is not None else line.lstrip()


@pytest.mark.parametrize("number", [b"1", b"7", b"0", b"007", b"65536", b"4294967295", b"123456789012"])
def test_a_restart_counter_read_from_the_one_before_is_read_as_in_full(number):
    """The parser reads a counter line's text once and gives the next ones that reading with
    their own number: the same Message as reading them in full."""
    rests = sorted(set(_counter_rests()))
    assert len(rests) > 20
    for rest in rests:
        m = _COUNTER.match(rest)
        other = m.group(1) + number + b"." + rest[m.end(2) + 1:]
        for has_timestamp in (True, False):
            warm = LineParser(0.0)
            warm.read_body(rest, has_timestamp)
            got = warm.read_body(other, has_timestamp)
            want = LineParser(0.0)._body(other, has_timestamp)
            assert got == want, (rest, other)
            if got is not NOTHING:
                assert got[0].fact("N_RESTARTS") == number.decode()
