"""Fold a stream of events into per-unit series, in bounded memory.

Detectors need, per unit and event kind: how many, when (to find bursts and
rates), which facts (exit status, result, restart counter, config line) and a
few raw lines to show.  They never need the stream itself, so the scan keeps
this summary and lets the events go: a week of syslog folds into a few MB.
"""
from array import array
from collections import Counter
from dataclasses import dataclass
from bisect import bisect_left
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from unitaudit.model import PROGRAM_LINE_LEAD, Event, Kind, Message, Sightings

SAMPLES = 3  # raw lines kept from the start and from the end of each series
MAX_DISTINCT = 256  # distinct messages counted per series before facts are pooled
MAX_LOOSE = 1024  # distinct program lines kept while waiting to be tied to a unit
# A program's line is tied to the unit whose control process failed right after
# it (text logs only: the journal names the unit in _SYSTEMD_UNIT).
_FAILURE_KINDS = (Kind.CONTROL_EXITED, Kind.MAIN_EXITED, Kind.SPAWN_FAILED)


@dataclass(frozen=True)
class Series:
    """Every sighting of one kind of event for one unit."""

    unit: Optional[str]
    kind: Kind
    count: int
    undated: int  # sightings whose line had no timestamp
    times: Sequence[float]  # sorted, dated sightings only (an array('d'))
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
    """Accumulates events per machine; `build_by_host()` returns the frozen `Evidence` of each.

    Machines stay apart: two desktops' logs scanned together must not make one
    machine's good run break the other's streak of failures."""

    def __init__(self) -> None:
        self._hosts: Dict[str, _HostFold] = {}

    def add_all(self, items: Iterable[Union[Event, Sightings]]) -> None:
        hosts = self._hosts
        for item in items:
            if type(item) is Sightings:
                fold_ = hosts.get(item.host)  # type: ignore[union-attr]
                if fold_ is None:
                    fold_ = hosts[item.host] = _HostFold()  # type: ignore[union-attr]
                fold_.add_sightings(item)  # type: ignore[arg-type]
            else:
                self.add(item)  # type: ignore[arg-type]

    def add(self, ev: Event, host: str = "") -> None:
        self.add_sightings(Sightings(ev.message, () if ev.time is None else (ev.time,),
                                     1 if ev.time is None else 0, (ev,), host))

    def add_sightings(self, s: Sightings) -> None:
        fold_ = self._hosts.get(s.host)
        if fold_ is None:
            fold_ = self._hosts[s.host] = _HostFold()
        fold_.add_sightings(s)

    def build_by_host(self) -> Dict[str, "Evidence"]:
        return {host: f.build() for host, f in sorted(self._hosts.items())}

    def build(self) -> "Evidence":
        """The evidence of the only machine seen (tests and single-machine callers)."""
        by_host = self.build_by_host()
        if len(by_host) > 1:
            raise ValueError("evidence from %d machines: use build_by_host()" % len(by_host))
        return next(iter(by_host.values()), Evidence(series={}, start=None, end=None))


class _HostFold:
    """The fold for one machine."""

    def __init__(self) -> None:
        self._acc: Dict[Tuple[Optional[str], Kind], _Acc] = {}
        self._by_message: Dict[Message, Tuple[_Acc, List[int]]] = {}
        # text logs: program lines not yet tied to a unit (message -> its times)
        self._loose: Dict[Message, Tuple[array, List[Event]]] = {}

    def _slot(self, m: Message) -> Optional[Tuple[_Acc, Optional[List[int]]]]:
        known = self._by_message.get(m)
        if known is not None:  # the common case: a message seen before
            return known
        if m.kind is Kind.PROGRAM_LINE and m.unit is None:
            return None
        acc = self._acc.get((m.unit, m.kind))
        if acc is None:
            acc = self._acc[(m.unit, m.kind)] = _Acc()
        if m.kind is Kind.RESTART_SCHEDULED or len(acc.messages) >= MAX_DISTINCT:
            return acc, None  # restart lines differ by counter: pool their facts
        tally = acc.messages[m] = [0]
        known = self._by_message[m] = (acc, tally)
        return known

    def add_sightings(self, s: Sightings) -> None:
        m = s.message
        n = len(s.times) + s.undated
        if not n:
            return
        slot = self._slot(m)
        if slot is None:
            if m not in self._loose and len(self._loose) >= MAX_LOOSE:
                return  # a chatty program's ERROR lines: bounded, and unlikely a unit's cause
            times, samples = self._loose.setdefault(m, (array("d"), []))
            times.extend(s.times)
            if len(samples) < SAMPLES:
                samples.extend(s.samples[:SAMPLES - len(samples)])
            return
        acc, tally = slot
        if tally is None:
            for _ in range(n):
                self._pool(acc, m)
        else:
            tally[0] += n
        acc.times.extend(s.times)
        acc.undated += s.undated
        if m.trusted:
            acc.trusted += n
        for ev in s.samples:
            acc.count += 1
            if acc.count <= SAMPLES:
                acc.first.append(ev)
            else:
                acc.ring[acc.count % SAMPLES] = ev
        acc.count += n - len(s.samples)

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

    def _attribute(self) -> None:
        """Text logs: a line a program printed just before a unit's process failed is that unit's.

        Done once at the end, by time, so sources may deliver in any order."""
        failures = {}
        for (unit, kind), acc in self._acc.items():
            if unit is not None and kind in _FAILURE_KINDS and acc.times:
                failures.setdefault(unit, []).extend(acc.times)
        for unit in failures:
            failures[unit].sort()
        for m, (times, samples) in self._loose.items():
            best, hits = None, 0
            for unit, fails in failures.items():
                n = sum(1 for t in times if _followed_by(fails, t))
                if n > hits:
                    best, hits = unit, n
            if best is None:
                continue
            owned = Message(m.kind, best, m.text, m.program, m.trusted, m.facts)
            kept = [Event(e.time, owned, e.pid, e.raw) for e in samples if e.time is None or _followed_by(failures[best], e.time)]
            self.add_sightings(Sightings(owned, tuple(t for t in times if _followed_by(failures[best], t)), 0,
                                         tuple(kept)))
        self._loose = {}

    def build(self) -> Evidence:
        if self._loose:
            self._attribute()
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
            times = array("d", sorted(acc.times))  # 8 bytes a time, not a float object each
            if times:
                start = times[0] if start is None else min(start, times[0])
                end = times[-1] if end is None else max(end, times[-1])
            samples = sorted(acc.first + acc.last(), key=lambda e: (e.time is None, e.time or 0.0))
            series[key] = Series(
                unit=key[0],
                kind=key[1],
                count=acc.count,
                undated=acc.undated,
                times=times,
                trusted=acc.trusted,
                facts=tuple(facts.most_common()),
                numbers=tuple((k, lo, hi) for k, (lo, hi) in sorted(numbers.items())),
                samples=tuple(samples),
                messages=tuple(sorted(((m, n) for m, (n,) in acc.messages.items()), key=lambda mn: -mn[1])),
            )
        return Evidence(series=series, start=start, end=end)


def _followed_by(sorted_failures: List[float], t: float) -> bool:
    """Does a failure come within PROGRAM_LINE_LEAD seconds after t?"""
    i = bisect_left(sorted_failures, t)
    return i < len(sorted_failures) and sorted_failures[i] - t <= PROGRAM_LINE_LEAD


def fold(events: Iterable[Union[Event, Sightings]]) -> Evidence:
    builder = EvidenceBuilder()
    builder.add_all(events)
    return builder.build()
