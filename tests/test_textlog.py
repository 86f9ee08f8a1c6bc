"""Text logs: every timestamp format, the year rule, bad input.  Lines from the
seed and from public pastes (tests/fixtures/*/SOURCES.md)."""
import calendar
import gzip
import os
import time

import pytest

from builders import fixture, parse_lines, text_events, unbatch
from unitaudit.errors import SourceError
from unitaudit.model import Kind
from unitaudit.sources.textlog import TextLogSource
from unitaudit.sources.textlog.lines import LineParser

UTC = calendar.timegm


def test_seed_iso_like_lines_keep_time_unit_and_facts():
    evs = text_events(fixture("seed", "logrotate-hourly.txt"))
    assert [e.message.kind for e in evs] == [Kind.UNIT_FAILED] * 5
    assert {e.message.unit for e in evs} == {"logrotate.service"}
    assert evs[0].time == UTC((2024, 1, 1, 0, 0, 12))  # TZ=UTC in tests
    assert evs[0].message.fact("UNIT_RESULT") == "exit-code"
    assert not any(e.message.trusted for e in evs)  # text logs are never trusted


def test_chinese_month_lines_take_the_year_of_the_file():
    p = fixture("seed", "logrotate-status.txt")
    evs = text_events(p)
    year = time.gmtime(os.stat(p).st_mtime).tm_year
    expected_year = year if UTC((year, 1, 25, 9, 0, 4)) <= os.stat(p).st_mtime + 2 * 86400 else year - 1
    assert evs[0].time == UTC((expected_year, 1, 25, 9, 0, 4))
    kinds = [e.message.kind for e in evs]
    assert kinds.count(Kind.LOGROTATE_ERROR) == 7
    first = evs[0].message
    assert (first.fact("class"), first.fact("file"), first.fact("line")) == ("unexpected-text-after-brace", "clink-agent", "8")
    assert first.fact("config_path") == "/etc/logrotate.d/clink-agent"
    # the seed's insecure-permission lines are cut at the terminal width: still read
    paths = [e.message.fact("path") for e in evs if e.message.fact("class") == "insecure-parent-directory"]
    assert "/var/log/cups/access_log" in paths
    assert len(paths) == 6


def test_year_rule_december_line_in_a_january_file():
    jan_2025 = UTC((2025, 1, 3, 10, 0, 0))
    dec, jan = parse_lines([
        "Dec 31 23:59:58 host systemd[1]: a.service: Failed with result 'exit-code'.",
        "Jan  2 00:00:01 host systemd[1]: a.service: Failed with result 'exit-code'.",
    ], reference=jan_2025)
    assert dec.time == UTC((2024, 12, 31, 23, 59, 58))
    assert jan.time == UTC((2025, 1, 2, 0, 0, 1))


@pytest.mark.parametrize("line, expected", [
    ("Jan  4 17:30:14 uos-pc systemd[1]: x.service: Scheduled restart job, restart counter is at 394.", (2024, 1, 4, 17, 30, 14)),
    ("Jan 14 17:30:14.250000 uos-pc systemd[1]: x.service: Scheduled restart job, restart counter is at 394.", (2024, 1, 14, 17, 30, 14.25)),
    ("2024-01-04T17:30:14.5+08:00 uos-pc systemd[1]: x.service: Scheduled restart job, restart counter is at 394.", (2024, 1, 4, 9, 30, 14.5)),
    ("2024-01-04T17:30:14+0800 uos-pc systemd[1]: x.service: Scheduled restart job, restart counter is at 394.", (2024, 1, 4, 9, 30, 14)),
    ("2024-01-04T17:30:14Z uos-pc systemd[1]: x.service: Scheduled restart job, restart counter is at 394.", (2024, 1, 4, 17, 30, 14)),
    ("11月 25 12:18:56 uos-pc systemd[1]: x.service: Scheduled restart job, restart counter is at 394.", (2024, 11, 25, 12, 18, 56)),
])
def test_timestamp_formats(line, expected):
    ref = UTC((2024, 12, 1, 0, 0, 0))
    (ev,) = parse_lines([line], reference=ref)
    y, mo, d, h, mi, s = expected
    assert ev.time == pytest.approx(UTC((y, mo, d, h, mi, 0)) + s)
    assert ev.message.unit == "x.service"
    assert ev.message.fact("N_RESTARTS") == "394"


def test_local_time_follows_tz(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    (ev,) = parse_lines(["2024-01-01 00:00:12 h systemd[1]: logrotate.service: Failed with result 'exit-code'."])
    assert ev.time == UTC((2023, 12, 31, 16, 0, 12))


def test_lines_without_timestamp_count_with_unknown_time():
    evs = parse_lines([
        "deepin-anything-monitor.service: Scheduled restart job, restart counter is at 394.",
        "systemd[1]: deepin-anything-monitor.service: Control process exited, code=exited, status=1/FAILURE",
    ])
    assert [e.time for e in evs] == [None, None]
    assert [e.message.kind for e in evs] == [Kind.RESTART_SCHEDULED, Kind.CONTROL_EXITED]


def test_grep_and_python_filters_read_the_same_events():
    """Every captured excerpt, the corpus and the lab's recordings included: grep's patterns
    (escaped for -G, one anchored) pick the lines the Python filter picks."""
    files = sorted(fixture("captured").rglob("*.txt")) + sorted(fixture("seed").glob("*.txt"))
    assert len(files) >= 300
    for f in files:
        a = [(e.time, e.message, e.pid) for e in text_events(f, use_grep=True)]
        b = [(e.time, e.message, e.pid) for e in text_events(f, use_grep=False)]
        assert a == b, f


def test_logrotate_output_mailed_by_cron_is_read_by_its_line_starts():
    """No prefix at all: "error: wokd.in:8 unexpected }" starts the line (the filter anchors it)."""
    for use_grep in (True, False):
        evs = text_events(fixture("captured", "logrotate-ubuntu1604-cron-mail-unexpected-brace.txt"), use_grep=use_grep)
        assert [(e.message.fact("file"), e.message.fact("line")) for e in evs] == [
            ("wokd.in", "1"), ("wokd.in", "8"), ("wokd.in", None)]


# -- bad input: a clear one-line error, or every good line still counted ----

GOOD = b"Jan  4 17:30:14 h systemd[1]: a.service: Scheduled restart job, restart counter is at 7.\n"


def _write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize("use_grep", [True, False])
def test_garbage_truncation_gbk_and_huge_lines_do_not_hide_good_lines(tmp_path, use_grep):
    data = (
        os.urandom(4096).replace(b"\n", b"") + b"\n"  # binary garbage
        + GOOD
        + "Jan  4 17:30:15 h 系统[3]: 中文 ".encode("gbk") + b"\xff\xfe Scheduled restart\n"  # GBK, no structure
        + b"Jan  4 17:30:16 h systemd[1]: a.service: Failed with result 'exit-c\n"  # cut: read as far as it goes
        + b"Jan  4 17:30:17 h app[9]: " + b"x" * (1 << 20) + b" Scheduled restart\n"  # 1 MB line
        + GOOD.replace(b"7.", b"8.")
        + GOOD.rstrip(b"\n")  # last line without newline
    )
    src = TextLogSource(str(_write(tmp_path, "mixed.log", data)), use_grep=use_grep)
    evs = unbatch(src.events())
    assert sorted(e.message.fact("N_RESTARTS") for e in evs if e.message.kind is Kind.RESTART_SCHEDULED) == ["7", "7", "8"]
    (cut,) = [e.message for e in evs if e.message.kind is Kind.UNIT_FAILED]
    assert cut.fact("cut") == "yes"
    counts = dict(src.stats().counts)
    assert counts["events"] == 4
    assert counts["unparsed"] == 2


def test_gzip_is_read_transparently(tmp_path):
    p = tmp_path / "syslog.1.gz"
    with gzip.open(p, "wb") as f:
        f.write(GOOD * 3)
    assert len(text_events(p, use_grep=True)) == 3
    assert len(text_events(p, use_grep=False)) == 3


@pytest.mark.parametrize("use_grep", [True, False])
def test_truncated_gzip_keeps_what_was_read_and_warns(tmp_path, use_grep):
    p = tmp_path / "syslog.2.gz"
    p.write_bytes(gzip.compress(GOOD * 2000)[:-200])
    src = TextLogSource(str(p), use_grep=use_grep)
    evs = unbatch(src.events())
    assert 0 < len(evs) <= 2000
    assert any("damaged" in w or "truncated" in w for w in src.stats().warnings)


def test_empty_file_is_fine(tmp_path):
    assert text_events(_write(tmp_path, "empty.log", b"")) == []


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "nope.log", "no such file"),
    (lambda d: d, "is a directory"),
    (lambda d: _write(d, "x.journal", b"LPKSHHRH" + b"\0" * 64), "is a journal file"),
])
def test_unusable_paths_raise_one_clear_error(tmp_path, make, message):
    with pytest.raises(SourceError, match=message):
        TextLogSource(str(make(tmp_path)))


def test_window_drops_dated_events_outside_and_keeps_undated(tmp_path):
    p = _write(tmp_path, "w.log", GOOD + b"a.service: Scheduled restart job, restart counter is at 9.\n")
    t = LineParser(os.stat(p).st_mtime).parse(GOOD).time
    src = TextLogSource(str(p), since=t + 1)
    evs = unbatch(src.events())
    assert [e.time for e in evs] == [None]
    assert dict(src.stats().counts)["outside_window"] == 1
