"""Fold a stream of events into per-unit series, in bounded memory.

Detectors need, per unit and event kind: how many, when (to find bursts and
rates), which facts (exit status, result, restart counter, config line) and a
few raw lines to show.  They never need the stream itself, so the scan keeps
this summary and lets the events go: a week of syslog folds into a few MB.
"""
from array import array
from collections import Counter, deque
from dataclasses import dataclass
from typing import Deque, Dict, Iterable, List, Mapping, Optional, Tuple

from unitaudit.model import Event, Kind, Message

SAMPLES = 3  # raw lines kept from the start and from the end of each series
MAX_DISTINCT = 256  # distinct messages counted per series before facts are pooled
# A program's line is tied to the unit whose control process failed right after
# it (text logs only: the journal names the unit in _SYSTEMD_UNIT).
PROGRAM_LINE_LEAD = 3.0  # seconds
_FAILURE_KINDS = (Kind.CONTROL_EXITED, Kind.MAIN_EXITED, Kind.SPAWN_FAILED)


@dataclass(frozen=True)
class Series:
    """Every sighting of one kind of event for one unit."""

    unit: Optional[str]
    kind: Kind
    count: int
    undated: int  # sightings whose line had no timestamp
    times: Tuple[float, ...]  # sorted, dated sightings only
    trusted: int  # sightings journald vouches for
    facts: Tuple[Tuple[Tuple[str, str], int], ...]  # ((key, value), count), most common first
    numbers: Tuple[Tuple[str, int, int], ...]  # (key, lowest, highest) of numeric facts
    samples: Tuple[Event, ...]  # first and last few sightings
    messages: Tuple[Tuple[Message, int], ...] = ()  # distinct messages (up to MAX_DISTINCT), most common first

    @property
    def all_trusted(self) -> bool:
        return self.count > 0 and self.trusted == self.count

    def values(self, key: str) -> List[Tuple[str, int]]:
        """Values of one fact with how often each was seen, most common first."""
        return [(v, n) for (k, v), n in self.facts if k == key]

    def top(self, key: str) -> Optional[str]:
        vals = self.values(key)
        return vals[0][0] if vals else None

    def highest(self, key: str) -> Optional[int]:
        for k, _lo, hi in self.numbers:
            if k == key:
                return hi
        return None


@dataclass(frozen=True)
class Evidence:
    series: Mapping[Tuple[Optional[str], Kind], Series]
    start: Optional[float]
    end: Optional[float]

    def get(self, unit: Optional[str], kind: Kind) -> Optional[Series]:
        return self.series.get((unit, kind))

    def of_kind(self, kind: Kind) -> List[Series]:
        return sorted(
            (s for (u, k), s in self.series.items() if k is kind and u is not None),
            key=lambda s: s.unit or "",
        )


_NUMERIC = {"N_RESTARTS"}


class _Acc:
    __slots__ = ("count", "undated", "times", "trusted", "messages", "pooled", "numbers", "first", "ring")

    def __init__(self) -> None:
        self.count = 0
        self.undated = 0
        self.times = array("d")
        self.trusted = 0
        self.messages: Dict[Message, List[int]] = {}  # message -> [count]
        self.pooled: Counter = Counter()
        self.numbers: Dict[str, List[int]] = {}
        self.first: List[Event] = []
        self.ring: List[Optional[Event]] = [None] * SAMPLES  # the last sightings

    def last(self) -> List[Event]:
        if self.count <= SAMPLES:
            return []
        start = self.count % SAMPLES
        ordered = self.ring[start:] + self.ring[:start]
        return [e for e in ordered[-min(SAMPLES, self.count - SAMPLES):] if e is not None]


class EvidenceBuilder:
    """Accumulates events; `build()` returns the frozen `Evidence`."""

    def __init__(self) -> None:
        self._acc: Dict[Tuple[Optional[str], Kind], _Acc] = {}
        self._by_message: Dict[Message, Tuple[_Acc, List[int]]] = {}
        self._unattributed: Deque[Event] = deque(maxlen=16)

    def add_all(self, events: Iterable[Event]) -> None:
        for ev in events:
            self.add(ev)

    def add(self, ev: Event) -> None:
        m = ev.message
        known = self._by_message.get(m)
        if known is not None:  # the common case: a message seen before
            acc, tally = known
            tally[0] += 1
        else:
            if m.kind is Kind.PROGRAM_LINE and m.unit is None:
                self._unattributed.append(ev)
                return
            acc = self._acc.get((m.unit, m.kind))
            if acc is None:
                acc = self._acc[(m.unit, m.kind)] = _Acc()
            if m.kind is Kind.RESTART_SCHEDULED or len(acc.messages) >= MAX_DISTINCT:
                self._pool(acc, m)  # restart lines differ by counter: pool their facts
            else:
                tally = acc.messages[m] = [1]
                self._by_message[m] = (acc, tally)
        n = acc.count = acc.count + 1
        t = ev.time
        if t is None:
            acc.undated += 1
        else:
            acc.times.append(t)
        if m.trusted:
            acc.trusted += 1
        if n <= SAMPLES:
            acc.first.append(ev)
        else:
            acc.ring[n % SAMPLES] = ev
        if self._unattributed and m.kind in _FAILURE_KINDS and m.unit is not None:
            self._attribute(ev)

    @staticmethod
    def _pool(acc: _Acc, m: Message) -> None:
        for k, v in m.facts:
            if k in _NUMERIC:
                n = int(v)
                lohi = acc.numbers.get(k)
                if lohi is None:
                    acc.numbers[k] = [n, n]
                elif n < lohi[0]:
                    lohi[0] = n
                elif n > lohi[1]:
                    lohi[1] = n
            else:
                acc.pooled[(k, v)] += 1
        if m.kind is Kind.PROGRAM_LINE:
            acc.pooled[("text", m.text)] += 1

    def _attribute(self, failure: Event) -> None:
        """Text logs: lines a program printed just before a unit's process failed are that unit's."""
        t = failure.time
        keep: Deque[Event] = deque(maxlen=16)
        for ev in self._unattributed:
            if t is None or ev.time is None or 0 <= t - ev.time <= PROGRAM_LINE_LEAD:
                m = ev.message
                owned = Message(m.kind, failure.message.unit, m.text, m.program, m.trusted, m.facts)
                self.add(Event(ev.time, owned, ev.pid, ev.raw))
            elif t - ev.time < 0:
                keep.append(ev)  # later than this failure: may belong to the next one
        self._unattributed = keep

    def build(self) -> Evidence:
        series = {}
        start = end = None
        for key, acc in self._acc.items():
            facts: Counter = Counter(acc.pooled)
            numbers = {k: list(v) for k, v in acc.numbers.items()}
            for m, (n,) in acc.messages.items():
                for k, v in m.facts:
                    if k in _NUMERIC:
                        lohi = numbers.setdefault(k, [int(v), int(v)])
                        lohi[0], lohi[1] = min(lohi[0], int(v)), max(lohi[1], int(v))
                    else:
                        facts[(k, v)] += n
                if m.kind is Kind.PROGRAM_LINE:
                    facts[("text", m.text)] += n
            times = tuple(sorted(acc.times))
            if times:
                start = times[0] if start is None else min(start, times[0])
                end = times[-1] if end is None else max(end, times[-1])
            series[key] = Series(
                unit=key[0],
                kind=key[1],
                count=acc.count,
                undated=acc.undated,
                times=times,
                trusted=acc.trusted,
                facts=tuple(facts.most_common()),
                numbers=tuple((k, lo, hi) for k, (lo, hi) in sorted(numbers.items())),
                samples=tuple(acc.first) + tuple(acc.last()),
                messages=tuple(sorted(((m, n) for m, (n,) in acc.messages.items()), key=lambda mn: -mn[1])),
            )
        return Evidence(series=series, start=start, end=end)


def fold(events: Iterable[Event]) -> Evidence:
    builder = EvidenceBuilder()
    builder.add_all(events)
    return builder.build()
