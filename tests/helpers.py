"""Shared by the tests: run the text source over a file and fold it."""
import time
from typing import List, Optional

from unitaudit.detectors import Thresholds, run_all
from unitaudit.evidence import Evidence, fold
from unitaudit.model import Event, Finding
from unitaudit.sources.textlog import LineParser, TextLogSource


def text_events(path, use_grep: Optional[bool] = None, **kw) -> List[Event]:
    return list(TextLogSource(str(path), use_grep=use_grep, **kw).events())


def text_evidence(*paths) -> Evidence:
    events: List[Event] = []
    for p in paths:
        events.extend(text_events(p))
    return fold(events)


def parse_lines(lines, reference: float = 0.0) -> List[Event]:
    parser = LineParser(reference or time.time())
    out = []
    for line in lines:
        ev = parser.parse(line.encode() if isinstance(line, str) else line)
        if ev is not None:
            out.append(ev)
    return out


def findings(evidence: Evidence, th: Thresholds = Thresholds(), units=None, now: float = 0.0) -> List[Finding]:
    return run_all(evidence, units or {}, now or (evidence.end or time.time()), th)


def by_kind(found: List[Finding], kind: str) -> List[Finding]:
    return [f for f in found if f.kind.value == kind]
