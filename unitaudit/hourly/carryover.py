"""The carryover: what an incremental run hands to the next, the last hour of evidence, so loop
windows stay right across runs.

An hourly run reads only the journal entries after the last run's cursor.  Alone, that would
cut every loop at the hour: five restarts split three and two between two runs would be no
burst, and logrotate failing once an hour would never fail "three times in a row".  So each run
keeps the sightings of the detectors' longest window (plus the last few of every message,
whatever their age: the failure streaks) and the next run folds them in before its new entries.
A loop spanning two runs is then one loop, seen whole.

  CarryoverTap.dump  the carryover of a run, as the JSON the state database keeps (positions.carry)
  load               that JSON read back: the sightings carried over (none from an unreadable one)
  CarriedSource      the carried sightings as a source of the next run's scan
"""
import binascii
import json
from array import array
from bisect import bisect_left
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

from unitaudit.model import Event, Kind, Message, Sightings
from unitaudit.model import SourceStats

KEEP_LAST = 8  # sightings of each run outcome kept beyond the window: streaks of failed runs
KEEP_LAST_KINDS = frozenset((Kind.UNIT_FAILED, Kind.UNIT_SUCCEEDED, Kind.LOGROTATE_ERROR, Kind.CONTROL_EXITED,
                             Kind.MAIN_EXITED, Kind.SPAWN_FAILED))
KINDS = {k.value: k for k in Kind}  # what Kind(value) answers, without its call (a KeyError for no kind)
MAX_AGE = 7 * 86400.0  # ... but not older than a week: a streak that old is over
MAX_PER_MESSAGE = 100_000  # a bound on a runaway loop: 28/s for an hour
SAMPLES = 3
VERSION = 3  # 2: times as base64 of float64s (a loop carries thousands); 3: columns (dump)


class CarryoverTap:
    """Passes a source's sightings through unchanged, remembering their times per message: what
    the run will carry over."""

    def __init__(self, source) -> None:
        self.source = source
        self.kind = source.kind
        self._times: Dict[Tuple[Message, str], array] = {}
        self._samples: Dict[Tuple[Message, str], List[Event]] = {}

    def events(self) -> Iterator[Sightings]:
        for s in self.source.events():
            self.remember(s)
            yield s

    def remember(self, s: Sightings) -> None:
        if not s.times:
            return  # undated lines have no place in a time window
        key = (s.message, s.host)
        times = self._times.get(key)
        if times is None:
            times = self._times[key] = array("d")
            self._samples[key] = []
        times.extend(s.times)
        samples = self._samples[key]
        samples.extend(e for e in s.samples if e.time is not None)
        del samples[:-SAMPLES]

    def stats(self) -> SourceStats:
        return self.source.stats()

    def dump(self, end: Optional[float], seconds: float) -> str:
        """The carryover as the JSON the next run loads: sightings at or after `end - seconds`, and
        the last KEEP_LAST of each run outcome.  Version 3: columns, one entry per message in each
        ("m" the message, "h" its host, "n" how many of "t" are its times, "s" its samples), and
        every time in one base64 blob of float64s: a restart loop carries a message per restart
        (the counter is in the text), and an object per message cost a third more to write and read."""
        if end is None:  # no journal position: the newest sighting stands for it
            end = max((max(t) for t in self._times.values() if t), default=0.0)
        msgs, hosts, counts, samples, blob = [], [], [], [], array("d")
        for (m, host), times in self._times.items():
            ordered = sorted(times)
            cut = bisect_left(ordered, end - seconds)  # the first in the window
            if m.kind in KEEP_LAST_KINDS:
                cut = min(cut, max(len(ordered) - KEEP_LAST, bisect_left(ordered, end - MAX_AGE)))
            kept = ordered[max(cut, len(ordered) - MAX_PER_MESSAGE):]
            if not kept:
                continue
            seen = self._samples[(m, host)]
            msgs.append([m.kind.value, m.unit, m.text, m.program, m.trusted, m.facts])  # tuples: JSON lists
            hosts.append(host)
            counts.append(len(kept))
            blob.extend(kept)
            samples.append([[e.time, e.pid, e.raw] for e in seen if e.time >= kept[0]] if seen else [])
        return json.dumps({"version": VERSION, "m": msgs, "h": hosts, "n": counts, "s": samples,
                           "t": binascii.b2a_base64(blob.tobytes(), newline=False).decode("ascii")},
                          separators=(",", ":"), check_circular=False)


def load(text: Optional[str]) -> List[Sightings]:
    """The sightings an earlier run carried over; a carryover this version cannot read is dropped
    (the next run then starts its windows afresh, as on a first run).  Version 2 (an object per
    message: what the run before an upgrade wrote) is read too."""
    if not text:
        return []
    try:
        doc = json.loads(text)
        if doc.get("version") == 2:
            return [_sightings(i["m"], i["h"], array("d", binascii.a2b_base64(i["t"])), i["s"])
                    for i in doc["sightings"]]
        if doc.get("version") != VERSION:
            return []
        columns = doc["m"], doc["h"], doc["n"], doc["s"]
        times = array("d", binascii.a2b_base64(doc["t"]))
        if len({len(c) for c in columns}) > 1 or sum(doc["n"]) != len(times):
            return []  # damaged: the columns do not line up
        out, pos = [], 0
        for m, host, n, samples in zip(*columns):
            out.append(_sightings(m, host, times[pos:pos + n], samples))
            pos += n
        return out
    except (ValueError, KeyError, TypeError, binascii.Error):
        return []


def _sightings(m, host: str, times: array, samples: list) -> Sightings:
    """One message's carried sightings from its JSON parts."""
    kind, unit, msg_text, program, trusted, facts = m
    message = Message(KINDS[kind], unit, msg_text, program, bool(trusted),
                      tuple((str(k), str(v)) for k, v in facts) if facts else ())
    return Sightings(message, tuple(times), 0,
                     tuple(Event(t, message, pid, raw) for t, pid, raw in samples) if samples else (), host)


class CarriedSource:
    """The carried sightings as a source of their own, so the report counts them apart."""

    kind = "carried"

    def __init__(self, sightings: Iterable[Sightings], path: str = "the last run's final hour") -> None:
        self.sightings = list(sightings)
        self.path = path

    def events(self) -> Iterator[Sightings]:
        return iter(self.sightings)

    def stats(self) -> SourceStats:
        n = sum(len(s.times) for s in self.sightings)
        return SourceStats(kind=self.kind, path=self.path, counts=(("events", n),), warnings=())
