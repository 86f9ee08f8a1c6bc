"""The bus daemon's pass read by a forked child (parallel.py) gives what the serial read gives: the
same sightings in the same order, counts and warnings; a child that fails, crashes or cannot be
forked loses nothing (the parent reads the pass); no child is left behind; small reads, recording
reads and exported journals never fork."""
import os
import shutil

import pytest

from builders import example, export_entries, write_journal
from unitaudit.errors import SourceError
from unitaudit.sources.journal import JournalSource, parallel, passes
from unitaudit.sources.journal import source as source_module
from unitaudit.sources.journal.files import find_journal_files
from unitaudit.sources.journal.reader import Journal

SEED_DIR = example("seed-loops", "journal")


@pytest.fixture
def forks(monkeypatch):
    """Every read forks (the seed journal is small); the children started, by pid."""
    started = []
    start = parallel.start

    def counted(work):
        child = start(work)
        if child is not None:
            started.append(child.pid)
        return child
    monkeypatch.setattr(parallel, "MIN_ENTRIES", 0)
    monkeypatch.setattr(parallel, "start", counted)
    return started


def _shape(sightings):
    return [(s.message, s.times, s.undated, s.samples, s.host) for s in sightings]


def _read(directory, **kw):
    src = JournalSource(directory=str(directory), **kw)
    got = _shape(src.events())
    stats = src.stats()
    return got, stats.counts, stats.warnings


def _serial(directory, **kw):
    saved = parallel.MIN_ENTRIES
    parallel.MIN_ENTRIES = 1 << 62
    try:
        return _read(directory, **kw)
    finally:
        parallel.MIN_ENTRIES = saved


def _gone(pid):
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped: no zombie left


def test_the_forked_read_hands_over_what_the_serial_read_does(forks):
    serial = _serial(SEED_DIR)
    assert not forks
    assert _read(SEED_DIR) == serial
    assert len(forks) == 1
    _gone(forks[0])
    assert any(s[0].program == "dbus-daemon" for s in serial[0])  # the child's pass did find evidence


def test_each_machine_of_a_central_host_gets_its_child(forks, tmp_path):
    entries = export_entries(example("seed-loops", "journal.export"))
    for host, machine in (("uos-desk", "0a" * 16), ("deepin-pc", "2c" * 16)):
        e = [dict(x, _MACHINE_ID=machine.encode(), _HOSTNAME=host.encode()) for x in entries]
        write_journal(e, tmp_path / ("remote-%s.journal" % host))
    serial = _serial(tmp_path)
    assert _read(tmp_path) == serial
    assert len(forks) == 2
    assert {s[4] for s in serial[0]} == {"uos-desk", "deepin-pc"}


def _damaged_seed(tmp_path):
    data = bytearray((SEED_DIR / "system.journal").read_bytes())
    data[len(data) // 2:len(data) // 2 + 4096] = b"\xff" * 4096
    (tmp_path / "system.journal").write_bytes(bytes(data))


def test_a_damaged_copy_warns_and_counts_alike(forks, tmp_path):
    _damaged_seed(tmp_path)
    serial = _serial(tmp_path)
    assert serial[2] and dict(serial[1])["program_lines"]  # the damage is said; the passes read up to it
    assert _read(tmp_path) == serial


def test_a_damaged_copy_is_read_with_a_reader_for_each_pass(tmp_path, monkeypatch):
    """sd_journal drops a file from a reader at its first damaged object, silently: a reader shared
    by the passes read 39 of the 114 entries the passes reach in this copy.  Only files checked
    intact share one (reader.Journal.share)."""
    _damaged_seed(tmp_path)
    opened = []
    real_open = Journal.open
    monkeypatch.setattr(Journal, "open", lambda self: opened.append(1) or real_open(self))
    counts = dict(_serial(tmp_path)[1])
    assert counts["entries"] == 114 and counts["program_lines"] == 20
    assert len(opened) > 3
    del opened[:]
    intact = dict(_serial(SEED_DIR)[1])
    assert intact["entries"] > 114 and len(opened) <= 3  # intact: one reader (and one a pass asks beside it)


@pytest.mark.parametrize("how", ["raises", "crashes", "no fork"])
def test_a_child_that_fails_loses_nothing(forks, monkeypatch, how):
    serial = _serial(SEED_DIR)
    if how == "raises":
        def broken(*a, **kw):
            raise RuntimeError("the child's read failed")
        monkeypatch.setattr(source_module, "bus_sightings", broken)
    elif how == "crashes":
        monkeypatch.setattr(source_module, "bus_sightings", lambda *a, **kw: os._exit(3))
    else:
        def refused():
            raise OSError(11, "fork refused")
        monkeypatch.setattr(os, "fork", refused)
    assert _read(SEED_DIR) == serial
    for pid in forks:
        _gone(pid)


def test_an_error_the_child_met_is_raised_by_the_parents_read(forks, monkeypatch):
    def damaged(self, matches):
        raise SourceError("cannot read the bus daemon's entries")
        yield  # a generator, as the pass
    monkeypatch.setattr(passes.Passes, "_bus_pass", damaged)
    with pytest.raises(SourceError):
        _read(SEED_DIR)
    assert len(forks) == 1
    _gone(forks[0])


def test_a_read_stopped_early_reaps_its_child(forks):
    events = JournalSource(directory=str(SEED_DIR)).events()
    next(events)
    events.close()
    assert len(forks) == 1
    _gone(forks[0])


def test_recording_and_exported_reads_never_fork(forks, tmp_path):
    JournalSource(directory=str(SEED_DIR), record=lambda r: None).events().__next__()
    list(JournalSource(export=str(example("seed-loops", "journal.export"))).events())
    assert not forks


def test_the_estimate_follows_the_window_so_an_hourly_read_does_not_fork(tmp_path):
    shutil.copy(str(SEED_DIR / "system.journal"), str(tmp_path / "system.journal"))
    files = find_journal_files(str(tmp_path), [])
    header = files[0][1]
    n = int.from_bytes(header[152:160], "little")
    head, tail = (int.from_bytes(header[o:o + 8], "little") / 1e6 for o in (184, 192))
    assert parallel.estimate_entries(files, None, None) == n
    assert parallel.estimate_entries(files, tail + 1, None) == 0
    assert parallel.estimate_entries(files, None, head - 1) == 0
    half = parallel.estimate_entries(files, (head + tail) / 2, None)
    assert n // 2 - 1 <= half <= n // 2 + 1
    # an hour of a journal of a million entries a week: far below what pays
    week = 7 * 86400
    big = [(f, header[:152] + (1000000).to_bytes(8, "little") + header[160:184]
            + int(1e12).to_bytes(8, "little") + int(1e12 + week * 1e6).to_bytes(8, "little") + header[200:])
           for f, _h in files]
    assert parallel.estimate_entries(big, None, None) >= parallel.MIN_ENTRIES
    assert parallel.estimate_entries(big, 1e6 + week - 3600, None) < parallel.MIN_ENTRIES


def test_a_read_with_a_progress_display_forks_alike(forks, monkeypatch):
    monkeypatch.setattr(passes, "PROGRESS_EVERY", 1)
    shown = []

    def progress(what, done, total):
        shown.append(what)
    serial = _serial(SEED_DIR, progress=progress)
    serial_shown, shown[:] = list(shown), []
    assert _read(SEED_DIR, progress=progress) == serial
    assert len(forks) == 1
    # the child's pass shows nothing; the parent's passes still do
    assert shown and all(w.startswith("journal, pass ") for w in shown + serial_shown)


def test_an_incremental_read_from_a_cursor_is_estimated_from_the_cursor(forks, monkeypatch):
    first = JournalSource(directory=str(SEED_DIR), incremental=True)
    list(first.events())
    assert len(forks) == 1  # the first run reads the whole journal: as big as MIN_ENTRIES 0 allows
    monkeypatch.setattr(parallel, "MIN_ENTRIES", 1)
    later = JournalSource(directory=str(SEED_DIR), after_cursor=first.end)
    assert list(later.events()) == []
    assert len(forks) == 1  # nothing after the cursor: no child
