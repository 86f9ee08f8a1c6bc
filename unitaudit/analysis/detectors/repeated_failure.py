"""repeated-failure: a unit that fails on every run without restarting itself,
i.e. whatever starts it (a timer: the seed's hourly logrotate) starts it into
the same failure each time.  A success in between resets the streak; a unit
already in a restart loop is reported there instead.
"""
from bisect import bisect_right
from typing import List, Mapping

from unitaudit.analysis.detectors.causes import exec_failure, logrotate_config
from unitaudit.analysis.detectors.finding_parts import evidence_lines, finding_id
from unitaudit.analysis.detectors.timing import hourly, period, rate_per_hour, span
from unitaudit.analysis.evidence import Evidence
from unitaudit.model import Finding, FindingKind, Kind, Thresholds, UnitState

ID = "repeated-failure"


def detect(ev: Evidence, units: Mapping[str, UnitState], now: float, th: Thresholds) -> List[Finding]:
    out = []
    for s in ev.of_kind(Kind.UNIT_FAILED):
        unit = s.unit or ""
        restarts = ev.get(unit, Kind.RESTART_SCHEDULED) or ev.get(unit, Kind.RESTART_TIMER_EXPIRED)
        if restarts is not None and restarts.count * 2 >= s.count:
            continue  # failures followed by automatic restarts: restart-loop's business
        ok = ev.get(unit, Kind.UNIT_SUCCEEDED)
        if ok is not None and ok.times and s.times:
            streak = len(s.times) - bisect_right(s.times, ok.times[-1])
        elif ok is not None:
            streak = 0 if ok.count else s.count
        else:
            streak = s.count
        if streak < th.repeated_failures:
            continue
        first, last = span(s.times)
        rate = rate_per_hour(s.times)
        every = period(s.times)
        summary = "failed %d times in a row" % streak
        if every:
            summary += ", every %s" % _human(every)
        out.append(Finding(
            id=finding_id(ID, unit), kind=FindingKind.REPEATED_FAILURE, unit=unit, count=s.count,
            rate_per_hour=rate, first_seen=first, last_seen=last, trusted=s.all_trusted,
            evidence=evidence_lines([s, ev.get(unit, Kind.LOGROTATE_ERROR), ev.get(unit, Kind.CONTROL_EXITED)]),
            cause=logrotate_config(ev, unit) or exec_failure(ev, unit), detector=ID, summary=summary,
            period_seconds=every, facts=(("failures_in_a_row", streak), ("result", s.top("UNIT_RESULT"))), hourly=hourly(s.times),
        ))
    return out


def _human(seconds: float) -> str:
    if seconds >= 3300:
        return "%.1f h" % (seconds / 3600)
    if seconds >= 90:
        return "%.0f min" % (seconds / 60)
    return "%.0f s" % seconds
