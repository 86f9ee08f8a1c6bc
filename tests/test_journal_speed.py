"""Issue 19's journal speed-ups give what the plain reads gave: the damage screen (structure.py),
the exact-text pass of the bus daemon (texts.py), the one reader of a read (reader.py)."""
import random

import pytest

from builders import example, export_entries, unbatch, write_journal
from unitaudit.model import Kind, Message
from unitaudit.sources.grouping import SightingGroups
from unitaudit.sources.journal import JournalSource, passes, texts
from unitaudit.sources.journal.structure import entries_intact

SEED = example("seed-loops", "journal", "system.journal")


def test_the_recorded_journal_is_intact_and_its_damaged_copies_are_not(tmp_path):
    data = SEED.read_bytes()
    assert entries_intact(str(SEED))
    assert entries_intact(str(SEED), start_us=1 << 62)  # nothing after the start: nothing to look at
    middle = bytearray(data)
    middle[len(data) // 2:len(data) // 2 + 4096] = b"\xff" * 4096
    (tmp_path / "mid.journal").write_bytes(bytes(middle))
    (tmp_path / "cut.journal").write_bytes(data[:len(data) // 2])
    (tmp_path / "text.journal").write_bytes(b"not a journal\n" * 40)
    for name in ("mid", "cut", "text"):
        assert not entries_intact(str(tmp_path / ("%s.journal" % name))), name


def _groups(stream):
    """What the usual pass hands over for these (message, realtime) sightings, in time order."""
    g = SightingGroups()
    for m, t_us in stream:
        if g.add(id(m), m, t_us / 1e6, None, None, "h"):
            yield from g.flush()
    yield from g.flush()


def _shape(sightings):
    return [(s.message.text, s.times, [e.time for e in s.samples]) for s in sightings]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_text_by_text_hands_over_what_the_usual_pass_does(seed, monkeypatch):
    monkeypatch.setattr(texts, "STRIDE", 64)  # several merge slices, and blocks across them
    rng = random.Random(seed)
    messages = [Message(Kind.ACTIVATION_FAILED, "u%d.service" % i, "text %d" % i, "dbus-daemon", True)
                for i in range(40)]
    weights = [1000] + [rng.randrange(1, 50) for _ in messages[1:]]
    t, stream = 1700000000000000, []
    for _ in range(30000):
        t += rng.randrange(1, 5000)
        stream.append((rng.choices(messages, weights)[0], t))
    streams = [(m, [t_us for mm, t_us in stream if mm is m]) for m in messages]
    assert _shape(texts.handed_over([s for s in streams if s[1]], "h")) == _shape(_groups(stream))


def test_a_long_bus_pass_read_text_by_text_finds_what_it_found_entry_by_entry(tmp_path, monkeypatch):
    entries = export_entries(example("seed-loops", "journal.export"))
    (tmp_path / "j").mkdir()
    path = write_journal(entries, tmp_path / "j" / "system.journal")
    usual = unbatch(JournalSource(directory=str(tmp_path / "j")).events())
    monkeypatch.setattr(passes, "PROBE", 8)  # the seed's bus pass is short: probe it early
    monkeypatch.setattr(texts, "PROBE", 8)
    monkeypatch.setattr(texts, "MIN_REPEAT", 1)  # its first lines: five texts
    monkeypatch.setattr(texts, "MIN_ENTRIES", 1)
    started = []
    real = passes.Passes._exact_streams
    monkeypatch.setattr(passes.Passes, "_exact_streams", lambda self, *a: started.append(1) or real(self, *a))
    src = JournalSource(directory=str(tmp_path / "j"))
    exact = unbatch(src.events())
    assert started, "the probe did not start the exact-text pass"
    key = lambda e: (e.time, e.message.kind.value, e.message.unit or "", e.message.text)  # noqa: E731
    assert sorted(map(key, exact)) == sorted(map(key, usual))
    assert path


def test_a_pass_of_distinct_texts_is_read_as_usual(tmp_path, monkeypatch):
    monkeypatch.setattr(passes, "PROBE", 8)
    monkeypatch.setattr(texts, "PROBE", 8)
    monkeypatch.setattr(texts, "MIN_ENTRIES", 1)
    called = []
    monkeypatch.setattr(passes.Passes, "_exact_streams", lambda self, *a: called.append(1))
    entries = export_entries(example("seed-loops", "journal.export"))
    bus = [e for e in entries if e.get("_SYSTEMD_UNIT") == b"dbus.service"]
    distinct = [dict(e, MESSAGE=e["MESSAGE"] + b" #%d" % i) for i, e in enumerate(bus)]
    (tmp_path / "j").mkdir()
    write_journal(distinct, tmp_path / "j" / "system.journal")
    list(JournalSource(directory=str(tmp_path / "j")).events())
    assert called == []
