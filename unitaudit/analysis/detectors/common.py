"""Arithmetic shared by the detectors: bursts, rates, periods, finding ids."""
import hashlib
from statistics import median
from typing import Iterable, List, Optional, Sequence, Tuple

from unitaudit.analysis.evidence import Series
from unitaudit.model import Event
from unitaudit.util.times import iso_utc

EVIDENCE_LINES = 6


def has_burst(times: Sequence[float], window: float, count: int) -> bool:
    """Do `count` of the sorted `times` fall within `window` seconds of each other?
    Stops at the first such run: a week of a 5-second loop answers at once."""
    k = count - 1
    if k <= 0:
        return len(times) >= count
    return any(times[i + k] - times[i] <= window for i in range(len(times) - k))


def rate_per_hour(times: Sequence[float]) -> Optional[float]:
    """Intervals per hour between the first and last sighting (None below two)."""
    if len(times) < 2 or times[-1] <= times[0]:
        return None
    return round((len(times) - 1) * 3600.0 / (times[-1] - times[0]), 2)


def period(times: Sequence[float]) -> Optional[float]:
    """The median gap between sightings; from at most ~10,000 evenly spread gaps,
    so a week of a 5-second loop does not cost a sorted copy of every gap."""
    n = len(times)
    if n < 2:
        return None
    step = max(1, (n - 1) // 10000)
    return round(median(times[i + 1] - times[i] for i in range(0, n - 1, step)), 1)


def hourly(times: Sequence[float]) -> Tuple[Tuple[int, int], ...]:
    """Sightings per clock hour (UTC hour start in epoch seconds), oldest first."""
    out: List[List[int]] = []
    for t in times:  # sorted: one pass, no dict
        h = int(t // 3600) * 3600
        if out and out[-1][0] == h:
            out[-1][1] += 1
        else:
            out.append([h, 1])
    return tuple((h, n) for h, n in out)


def span(times: Sequence[float]) -> Tuple[Optional[float], Optional[float]]:
    return (times[0], times[-1]) if times else (None, None)


def finding_id(kind: str, unit: str, host: str = "") -> str:
    """Stable across runs: the same loop on the same machine keeps its id."""
    key = "%s\0%s" % (kind, unit) + ("\0" + host if host else "")
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def format_event(ev: Event) -> str:
    if ev.raw is not None:
        raw = ev.raw.decode("utf-8", "replace") if isinstance(ev.raw, bytes) else ev.raw
        return raw.rstrip("\n")[:1000]
    pid = "[%d]" % ev.pid if ev.pid is not None else ""
    when = iso_utc(ev.time) or "-"
    return "%s %s%s: %s" % (when, ev.message.program, pid, ev.message.text[:1000])


def evidence_lines(series: Iterable[Optional[Series]]) -> Tuple[str, ...]:
    """A few raw lines: the first and last two of the loop itself, then the
    latest line of each piece of context (the failing command, its output)."""
    events: List[Event] = []
    for i, s in enumerate(x for x in series if x is not None):
        samples = list(s.samples)
        events.extend(samples[:2] + samples[-2:] if i == 0 else samples[-1:])
    events.sort(key=lambda e: (e.time is None, e.time or 0.0))
    lines: List[str] = []
    for ev in events:
        line = format_event(ev)
        if line not in lines:
            lines.append(line)
    return tuple(lines[:EVIDENCE_LINES + 2])
