"""What every finding carries besides its counts: a stable id, and the few raw log lines shown
as its evidence.  Shared by the detectors (and the scan, which ids a finding per machine)."""
import hashlib
from typing import Iterable, List, Optional, Tuple

from unitaudit.analysis.evidence import Series
from unitaudit.model import Event
from unitaudit.util.times import iso_utc

EVIDENCE_LINES = 6


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
