"""What was not read is shown: lines that looked like evidence (a hit string) but that nothing
could read are counted (`unparsed`), the first few kept (`unparsed_lines` in the JSON), and
`--verbose` prints them escaped, so "No loops" never hides what was skipped."""
import json
import subprocess
import sys

import pytest

from builders import ROOT, fixture
from unitaudit.sources.textlog import TextLogSource
from unitaudit.sources.textlog.filters import HIT_STRINGS
from unitaudit.sources.textlog.notes import UNREAD_CHARS, UNREAD_KEPT

# A real paste whose lines the reader may not take whole: tab-indented, cut at the terminal's width.
CUT = fixture("captured", "status", "xo-server-229-tab-indented-cut.txt")
# Garbage around a hit string, as a damaged file gives it: no timestamp, no "ident: " to read.
HIT = HIT_STRINGS[0].encode()
GARBAGE = b"\x1b[2J\xff\xfe " + HIT + b" " + b"\x00x" * 400 + b"\n"


def _stats(path, use_grep=None):
    source = TextLogSource(str(path), use_grep=use_grep)
    list(source.events())
    return source.stats()


def _cli(*args, columns="200"):
    out = subprocess.run([sys.executable, "-m", "unitaudit", "scan"] + list(args), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=str(ROOT), env={"PATH": "/usr/bin:/bin", "COLUMNS": columns})
    return out.stdout.decode("utf-8")


@pytest.mark.parametrize("use_grep", [True, False])
def test_the_lines_kept_are_the_files_own_unread_lines(use_grep):
    stats = _stats(CUT, use_grep)
    unparsed = dict(stats.counts)["unparsed"]
    file_lines = CUT.read_text("utf-8").splitlines()
    assert len(stats.unparsed_lines) == min(unparsed, UNREAD_KEPT)
    assert all(line in file_lines for line in stats.unparsed_lines)
    assert stats.to_dict()["unparsed_lines"] == list(stats.unparsed_lines)


@pytest.mark.parametrize("use_grep", [True, False])
def test_many_unread_lines_are_counted_all_and_kept_few_and_short(tmp_path, use_grep):
    p = tmp_path / "damaged.log"
    p.write_bytes(CUT.read_bytes() + GARBAGE * 12)
    stats = _stats(p, use_grep)
    assert dict(stats.counts)["unparsed"] >= 12
    assert len(stats.unparsed_lines) == UNREAD_KEPT
    assert all(len(line) <= UNREAD_CHARS + 3 for line in stats.unparsed_lines)


def test_status_block_lines_are_not_unread_lines():
    """A status block's lines are read by the status reader, its cut log lines may not be."""
    stats = _stats(fixture("captured", "status", "seed-uos-241-anything-monitor-auto-restart.txt"))
    assert dict(stats.counts)["unparsed"] == 0 and stats.unparsed_lines == ()


def test_the_report_says_how_many_and_verbose_shows_them_escaped(tmp_path):
    p = tmp_path / "damaged.log"
    p.write_bytes(GARBAGE * 7)
    plain = _cli("--syslog", str(p))
    assert "7 line(s) looked like evidence but were not read (--verbose: the first 5)" in plain
    assert HIT_STRINGS[0] not in plain
    verbose = _cli("--verbose", "--syslog", str(p))
    assert "7 line(s) looked like evidence but were not read; the first 5:" in verbose
    shown = [line for line in verbose.splitlines() if HIT_STRINGS[0] in line]
    assert len(shown) == 5
    narrow = _cli("--verbose", "--syslog", str(p), columns="80")
    said = narrow[narrow.index("7 line(s)"):narrow.index("No loops")].splitlines()
    assert max(len(line) for line in said) <= 80  # each line folded, none cut
    kept = json.loads(_cli("--json", "--syslog", str(p)))["sources"][0]["unparsed_lines"]
    joined = "".join(line[4:].rstrip() for line in said[1:])  # each line's folds, one after the other
    assert joined.count("\\x00") == sum(line.count("\x00") for line in kept)
    assert all("\\x1b[2J" in line and "\x1b" not in line and "\x00" not in line for line in shown)
    doc = json.loads(_cli("--json", "--syslog", str(p)))
    (source,) = doc["sources"]
    assert source["unparsed"] == 7 and len(source["unparsed_lines"]) == 5
    assert source["unparsed_lines"][0].startswith("\x1b[2J")  # JSON keeps the text as logged


def test_a_clean_file_says_nothing_of_unread_lines():
    out = _cli("--syslog", str(fixture("captured", "status", "seed-uos-241-anything-monitor-auto-restart.txt")))
    assert "were not read" not in out
