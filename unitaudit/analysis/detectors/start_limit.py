"""start-limit-hit: systemd gave up on a unit (StartLimitBurst starts within
StartLimitIntervalSec).  240+ logs both "Start request repeated too quickly."
and "Failed with result 'start-limit-hit'" for one event: count the larger.
A start limit hit after automatic restarts ends a restart loop: restart-loop reports
that one; this reports the units started again and again by something else."""
from typing import List, Mapping

from unitaudit.analysis.detectors.causes import exec_failure
from unitaudit.analysis.detectors.finding_parts import evidence_lines, finding_id
from unitaudit.analysis.detectors.restart_loop import stopped_by_start_limit
from unitaudit.analysis.detectors.timing import hourly, rate_per_hour, span
from unitaudit.analysis.evidence import Evidence
from unitaudit.model import Finding, FindingKind, Kind, Thresholds, UnitState

ID = "start-limit-hit"


def detect(ev: Evidence, units: Mapping[str, UnitState], now: float, th: Thresholds) -> List[Finding]:
    out = []
    for s in ev.of_kind(Kind.START_LIMIT_HIT):
        unit = s.unit or ""
        if stopped_by_start_limit(ev, unit):
            continue
        by_message = sum(n for v, n in s.values("via") if v == "message")
        count = max(by_message, s.count - by_message)
        first, last = span(s.times)
        out.append(Finding(
            id=finding_id(ID, unit), kind=FindingKind.START_LIMIT_HIT, unit=unit, count=count,
            rate_per_hour=rate_per_hour(s.times) if by_message in (0, s.count) else None,
            first_seen=first, last_seen=last, trusted=s.all_trusted,
            evidence=evidence_lines([s, ev.get(unit, Kind.CONTROL_EXITED)]), cause=exec_failure(ev, unit),
            detector=ID, summary="start limit hit %d time(s): systemd stopped restarting it" % count,
            hourly=hourly(s.times),
        ))
    return out
