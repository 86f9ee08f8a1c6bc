"""The export-format journal (sources/journal/export.py) read by the same passes as a journal
file, and collect's recorder writing one (collect/journal.py).  Data: the lab recording of the
seed's loops, examples/seed-loops/ (its journal file and `journalctl -o export` of it)."""
import struct

import pytest

from unitaudit.collect.journal import EntryRecorder, write_entry, write_export
from unitaudit.errors import SourceError
from unitaudit.sources.journal import JournalSource
from unitaudit.sources.journal.export import ExportJournal, entries
from unitaudit.sources.journal.binding import available

SEED = "examples/seed-loops/"
needs_journal = pytest.mark.skipif(not available(), reason="systemd-python is not installed")


def _read(source):
    found = list(source.events())
    return found, dict(source.stats().counts)


@needs_journal
def test_an_export_gives_the_same_sightings_as_the_journal_it_came_from():
    from_file, counts_file = _read(JournalSource(directory=SEED + "journal"))
    from_export, counts_export = _read(JournalSource(export=SEED + "journal.export"))
    assert len(from_file) > 50
    assert from_export == from_file
    assert counts_export == counts_file


@needs_journal
def test_collect_records_what_the_passes_read_and_the_export_reads_back_identically(tmp_path):
    recorder = EntryRecorder(str(tmp_path))
    direct = list(JournalSource(directory=SEED + "journal", record=recorder).events())
    recorder.close()
    written = write_export(recorder.runs, str(tmp_path / "journal.export"), None)
    with open(SEED + "journal.export", "rb") as f:
        total = sum(1 for _ in entries(f, "seed"))
    assert len(recorder.runs) > 1  # one run per pass
    assert 0 < written.entries < total  # only the entries the passes read, each once
    again = list(JournalSource(export=str(tmp_path / "journal.export")).events())
    assert again == direct
    with open(str(tmp_path / "journal.export"), "rb") as f:
        times = [int(e[b"__REALTIME_TIMESTAMP"][0]) for e in entries(f, "x")]
    assert times == sorted(times)


@needs_journal
def test_a_budget_drops_the_oldest_entries_and_says_from_when(tmp_path):
    recorder = EntryRecorder(str(tmp_path))
    list(JournalSource(directory=SEED + "journal", record=recorder).events())
    recorder.close()
    whole = write_export(recorder.runs, str(tmp_path / "whole.export"), None)
    cut = write_export(recorder.runs, str(tmp_path / "cut.export"), 6000)
    assert cut.cut_before_us is not None and cut.dropped > 0
    assert cut.entries + cut.dropped == whole.entries
    assert cut.first_us >= cut.cut_before_us and cut.last_us == whole.last_us


def test_binary_and_repeated_fields_round_trip(tmp_path):
    entry = {b"__CURSOR": [b"s=1;i=1"], b"__REALTIME_TIMESTAMP": [b"1000"], b"MESSAGE": [b"two\nlines"],
             b"X": [b"a", b"b"], b"RAW": [b"\x00\xff"]}
    path = tmp_path / "e.export"
    with open(str(path), "wb") as f:
        write_entry(f, entry)
    with open(str(path), "rb") as f:
        assert list(entries(f, "e")) == [entry]


def test_a_cut_short_export_is_a_source_error(tmp_path):
    path = tmp_path / "cut.export"
    path.write_bytes(b"__CURSOR=a\n__REALTIME_TIMESTAMP=1\nMESSAGE\n" + struct.pack("<Q", 100) + b"short")
    with pytest.raises(SourceError, match="cut short"):
        list(JournalSource(export=str(path)).events())


def test_matches_and_recorded_unique_values():
    j = ExportJournal(SEED + "journal.export", "seed", [])
    r = j.open()
    r.add_match(b"_PID=1")
    r.add_match(b"_UID=0")
    r.add_match(b"_UID=0")
    n = 0
    while r._next():
        assert r._get("_PID") == b"1"
        n += 1
    assert n > 100
    assert b"bb6246daf350424185db1bc2d9033b73" in j.unique("_MACHINE_ID")
    assert ExportJournal(SEED + "journal.export", "seed", [], {"MESSAGE_ID": {b"x"}}).unique("MESSAGE_ID") == {b"x"}


def test_the_index_reads_entries_with_binary_fields_and_keeps_time_order(tmp_path):
    path = tmp_path / "two.export"
    first = {b"__CURSOR": [b"c1"], b"__REALTIME_TIMESTAMP": [b"1000"], b"_PID": [b"1"], b"MESSAGE": [b"plain"]}
    second = {b"__CURSOR": [b"c2"], b"__REALTIME_TIMESTAMP": [b"2000"], b"_PID": [b"1"],
              b"MESSAGE": [b"two\n\nlines"], b"X": [b"\x00"]}
    with open(str(path), "wb") as f:
        write_entry(f, first)
        write_entry(f, second)
    r = ExportJournal(str(path), "two", []).open()
    r.add_match(b"_PID=1")
    r.seek_realtime(1500)
    assert r._next() and r._get("MESSAGE") == b"two\n\nlines" and r._get_cursor() == "c2"
    assert not r._next()
    r.seek_tail()
    assert r._previous() and r._get_cursor() == "c2"
    with open(str(path), "wb") as f:
        write_entry(f, second)
        write_entry(f, first)
    with pytest.raises(SourceError, match="time order"):
        ExportJournal(str(path), "swapped", []).open()
