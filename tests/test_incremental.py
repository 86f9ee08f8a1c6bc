"""Incremental runs on the recorded seed journal (examples/seed-loops/journal, captured in the
lab): the cursor, the carried hour, the history they write."""
import base64
import json
import os
import sqlite3
import subprocess
import sys
from array import array

import pytest

from builders import ROOT, example, export_entries, write_journal

from unitaudit.errors import ExitStatus
from unitaudit.hourly import carryover
from unitaudit.hourly.history import HistoryStore
from unitaudit.hourly.incremental import IncrementalRequest, run_incremental
from unitaudit.model import Kind, ReadFrom, Thresholds
from unitaudit.services.scan import scan
from unitaudit.sources.journal import JournalSource

SEED = str(example("seed-loops", "journal"))
NOW = 2e9  # after the recording; a first run reads everything (window below)
WINDOW = 1e9
RETENTION = 90 * 86400.0


def _times(kind_unit):
    """Sorted times of one kind of sighting for one unit in the whole seed journal."""
    kind, unit = kind_unit
    out = []
    for s in JournalSource(directory=SEED).events():
        if s.message.kind is kind and s.message.unit == unit:
            out.extend(s.times)
    return sorted(out)


RESTARTS = (Kind.RESTART_SCHEDULED, "deepin-anything-monitor.service")


def _run(store, th=Thresholds(), directory=SEED, **kw):
    return run_incremental(IncrementalRequest(thresholds=th, now=NOW, window=WINDOW, retention=RETENTION,
                                              journal_dir=directory, **kw), store=store)


def _counts(result):
    return {(f.kind.value, f.unit): f.count for f in result.findings}


@pytest.fixture()
def store(tmp_path):
    s = HistoryStore(str(tmp_path / "state"))
    yield s
    s.close()


def test_two_runs_add_up_to_one_full_scan(store):
    full = scan([JournalSource(directory=SEED)], Thresholds(), now=NOW)
    restarts = _times(RESTARTS)
    middle = restarts[len(restarts) // 2]
    first, info1 = _run(store, until=middle)
    second, info2 = _run(store)
    assert info1.read_from is ReadFrom.WINDOW
    assert info2.read_from is ReadFrom.CURSOR
    full_entries = dict(full.sources[0].counts)["entries"]
    assert info1.entries + info2.entries == full_entries  # no entry read twice, none skipped
    assert 0 < info2.entries < full_entries
    # one loop across both runs: the same ids, and the history counts each sighting once
    assert {f.id for f in first.findings} == {f.id for f in second.findings} == {f.id for f in full.findings}
    assert store.totals() == {f.id: f.count for f in full.findings}
    assert sum(n for _f, n in info1.added) + sum(n for _f, n in info2.added) == sum(f.count for f in full.findings)
    assert [s.read_from for s in store.scans()] == ["window", "cursor"]


def test_a_run_with_nothing_new_reads_nothing_and_reports_nothing(store):
    _run(store)
    before = store.totals()
    again, info = _run(store)
    assert info.entries == 0
    assert again.findings == ()
    assert info.carried > 0  # the last hour is still carried for the next run's windows
    assert store.totals() == before
    assert dict(info.added) == {}


def test_a_burst_split_between_two_runs_is_one_loop(store):
    """Neither half holds a burst of 30 restarts (22 and 23); both runs together do."""
    restarts = _times(RESTARTS)
    middle = restarts[len(restarts) // 2 - 1]
    # the restarts come every RestartSec: a period would make each half a loop on its own
    th = Thresholds(restart_burst=30, restart_counter=10_000, activation_burst=30, periodic_repeats=10_000)
    first, _ = _run(store, th=th, until=middle)
    assert not [f for f in first.findings if f.kind.value == "restart-loop"]
    # the new entries alone do not fire: the carried hour is what makes the loop whole
    alone = scan([JournalSource(directory=SEED, since=middle + 0.001)], th, now=NOW)
    assert not [f for f in alone.findings if f.kind.value == "restart-loop"]
    second, info = _run(store, th=th)
    loops = [f for f in second.findings if f.kind.value == "restart-loop"]
    assert len(loops) == 1
    assert loops[0].count == len(restarts)
    assert info.carried >= len(restarts) // 2


def test_a_cursor_the_journal_no_longer_holds_falls_back_to_its_time(store, tmp_path):
    entries = export_entries(str(example("seed-loops", "journal.export")))
    half = len(entries) // 2
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    write_journal(entries[:half], old / "system.journal")
    _r, first = _run(store, directory=str(old))
    # the same machine's journal after a vacuum: a new file from the second half only
    write_journal(entries[half - 5:], new / "system.journal")
    old_key = first.source
    db = sqlite3.connect(os.path.join(store.directory, "state.db"))  # as if it had always been read there
    with db:
        db.execute("UPDATE positions SET source=? WHERE source=?", (str(new), old_key))
    db.close()
    result, info = _run(store, directory=str(new))
    assert info.read_from is ReadFrom.TIME
    assert any("cursor is gone" in w for w in result.warnings)
    # read from the cursor's time: the five overlapping entries before it are not read again
    # (entries at the cursor's exact time are: the time bound includes its second)
    assert info.entries <= len(entries) - half + 1


def test_a_loop_the_timer_fixed_is_judged_from_its_fix_time(store):
    restarts = _times(RESTARTS)
    middle = restarts[len(restarts) // 2]
    first, info = _run(store, until=middle)
    avahi = [f for f in first.findings if f.kind.value == "activation-loop"][0]
    store.mark_fixed(info.source, {avahi.id: 4e9})  # "fixed" after every entry of the recording
    second, _ = _run(store)
    assert avahi.id not in {f.id for f in second.findings}
    assert {"restart-loop", "repeated-failure"} <= {f.kind.value for f in second.findings}


def test_history_merge_is_idempotent_and_pruned_by_retention(store):
    result = scan([JournalSource(directory=SEED)], Thresholds(), now=NOW)
    from unitaudit.hourly.history import ScanRow

    row = ScanRow(0, "x", 1.0, 0.1, "window", 1, len(result.findings), None, ())
    end = max(f.last_seen for f in result.findings)
    first = store.record("x", None, "", {}, row, result.findings, RETENTION, end)
    assert sum(first.values()) == sum(f.count for f in result.findings)
    again = store.record("x", None, "", {}, row, result.findings, RETENTION, end)
    assert sum(again.values()) == 0  # the same hours seen again add nothing
    assert len(store.hours()) == sum(len(f.hourly) for f in result.findings)
    store.record("x", None, "", {}, row, (), RETENTION, end + RETENTION + 7200)
    assert store.hours() == []
    assert store.totals() == {}


def test_the_carryover_keeps_the_window_and_the_last_run_outcomes_only():
    restarts = _times(RESTARTS)
    tap = carryover.CarryoverTap(JournalSource(directory=SEED))
    list(tap.events())
    end = restarts[-1]
    kept = carryover.load(tap.dump(end, 60.0))
    assert kept, "the last minute of the loops is carried"
    for s in kept:
        if s.message.kind in carryover.KEEP_LAST_KINDS:
            assert len(s.times) <= max(carryover.KEEP_LAST, sum(1 for t in s.times if t >= end - 60))
        else:
            assert min(s.times) >= end - 60
    assert carryover.load("not json") == []
    assert carryover.load(json.dumps({"version": 99})) == []


def test_the_carryover_reads_back_what_it_wrote_and_what_version_2_wrote():
    """Version 3 (columns) gives back the sightings as version 2 (an object per message, what the
    run before an upgrade left) did; columns that do not line up are a damaged carryover."""
    tap = carryover.CarryoverTap(JournalSource(directory=SEED))
    list(tap.events())
    end = _times(RESTARTS)[-1]
    text = tap.dump(end, 3600.0)
    kept = carryover.load(text)
    assert kept and json.loads(text)["version"] == carryover.VERSION == 3
    v2 = {"version": 2, "sightings": [
        {"m": [s.message.kind.value, s.message.unit, s.message.text, s.message.program, s.message.trusted,
               [list(f) for f in s.message.facts]], "h": s.host,
         "t": base64.b64encode(array("d", s.times).tobytes()).decode("ascii"),
         "s": [[e.time, e.pid, e.raw] for e in s.samples]} for s in kept]}
    assert carryover.load(json.dumps(v2)) == kept
    doc = json.loads(text)
    doc["n"][0] += 1
    assert carryover.load(json.dumps(doc)) == []
    doc["n"][0] -= 1
    doc["h"].append("another")
    assert carryover.load(json.dumps(doc)) == []


def _cli(*args, env):
    return subprocess.run([sys.executable, "-m", "unitaudit", *args], capture_output=True, text=True,
                          cwd=str(ROOT), env=env)


def test_cli_incremental_history_and_errors(tmp_path):
    import os

    env = dict(os.environ, UNITAUDIT_STATE_DIR=str(tmp_path / "state"), UNITAUDIT_CONFIG=str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("[scan]\nwindow = \"3650d\"\n")
    r = _cli("history", env=env)
    assert r.returncode == ExitStatus.INCOMPLETE
    assert "no history" in r.stderr
    assert len(r.stderr.splitlines()) == 1
    r = _cli("scan", "--incremental", "--syslog", str(example("seed-loops", "journal.short.txt")), env=env)
    assert r.returncode == ExitStatus.USAGE
    assert "--incremental" in r.stderr
    r = _cli("scan", "--incremental", "--journal-dir", SEED, "--json", env=env)
    assert r.returncode == ExitStatus.FINDINGS, r.stderr
    doc = json.loads(r.stdout)
    assert doc["incremental"]["read_from"] == "window"
    assert len(doc["findings"]) == 3
    r = _cli("scan", "--incremental", "--journal-dir", SEED, "--json", env=env)
    assert r.returncode == ExitStatus.OK
    assert json.loads(r.stdout)["incremental"]["entries_read"] == 0
    r = _cli("history", "--since", "3650d", "--json", env=env)
    assert r.returncode == ExitStatus.OK, r.stderr
    hist = json.loads(r.stdout)
    assert [run["read_from"] for run in hist["runs"]] == ["window", "cursor"]
    assert sorted(loop["sightings"] for loop in hist["loops"]) == [9, 45, 48]
    r = _cli("history", "--since", "3650d", "--unit", "logrotate.service", env=env)
    assert r.returncode == ExitStatus.OK
    assert "logrotate.service" in r.stdout
    assert "Avahi" not in r.stdout


def test_sparkline_scales_to_the_busiest_bar_and_marks_empty_hours():
    from unitaudit.report.history_report import sparkline

    h = 1_000 * 3600
    assert sparkline({h: 10, h + 3600: 5, h + 3 * 3600: 1}, h, h + 3 * 3600) == "█▄·▁"  # 5 of 10 is half the bars; 1 of 10 the lowest
    # a week in at most WIDTH characters: several hours per bar, summed
    line = sparkline({h + i * 3600: 1 for i in range(168)}, h, h + 167 * 3600)
    assert len(line) <= 28
    assert set(line) == {"█"}


def test_two_incremental_runs_never_read_from_the_same_cursor(store):
    from unitaudit.errors import LockBusy

    other = HistoryStore(store.directory)
    with store.lock():
        with pytest.raises(LockBusy, match=r"another incremental unitaudit run is running \(pid %d\)" % os.getpid()):
            _run(other)
    other.close()
    _r, info = _run(store)  # released: the next run goes ahead
    assert info.read_from is ReadFrom.WINDOW


def test_the_carried_hour_is_carried_on_through_every_run(store):
    """Three runs over thirds of the recording: the third sees the first run's sightings too
    (they are still inside the hour), so its restart loop is all 45 restarts."""
    restarts = _times(RESTARTS)
    thirds = [restarts[len(restarts) // 3], restarts[2 * len(restarts) // 3]]
    th = Thresholds(restart_burst=40, restart_counter=10_000)
    _run(store, th=th, until=thirds[0])
    _run(store, th=th, until=thirds[1])
    third, info = _run(store, th=th)
    loops = [f for f in third.findings if f.kind.value == "restart-loop"]
    assert len(loops) == 1, [f.count for f in loops]
    assert loops[0].count == len(restarts), [f.count for f in loops]
