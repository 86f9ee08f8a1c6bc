"""restart-loop: a unit that systemd keeps restarting on its own.

Fires on a burst of "Scheduled restart job" lines, on a single restart counter
high enough to prove one (the seed's `restart counter is at 394`), or live on
sub-state auto-restart with a high NRestarts.  A manual `systemctl restart`
never logs "Scheduled restart job", so it cannot fire this.
"""
from typing import List, Mapping

from unitaudit.detectors import Thresholds
from unitaudit.detectors.causes import exec_failure
from unitaudit.detectors.common import evidence_lines, finding_id, has_burst, period, rate_per_hour, span
from unitaudit.evidence import Evidence
from unitaudit.model import Finding, FindingKind, Kind, UnitState

ID = "restart-loop"


def detect(ev: Evidence, units: Mapping[str, UnitState], now: float, th: Thresholds) -> List[Finding]:
    out = []
    scheduled = {s.unit: s for s in ev.of_kind(Kind.RESTART_SCHEDULED)}
    for s in ev.of_kind(Kind.RESTART_TIMER_EXPIRED):
        scheduled.setdefault(s.unit, s)  # systemd < 235 logs only this line per restart
    for unit in sorted(u for u in scheduled if u):
        s = scheduled[unit]
        burst = has_burst(s.times, th.restart_window, th.restart_burst) or s.undated >= th.restart_burst
        counter = s.highest("N_RESTARTS") or 0
        live = units.get(unit)
        live_loop = live is not None and live.sub_state.startswith("auto-restart") and (live.n_restarts or 0) >= th.restart_burst
        if not burst and counter < th.restart_counter and not live_loop:
            continue
        first, last = span(s.times)
        rate = rate_per_hour(s.times)
        summary = "restarted %d times" % s.count
        if rate is not None:
            summary += " (%.0f/h)" % rate
        if counter:
            summary += ", restart counter reached %d" % counter
        out.append(Finding(
            id=finding_id(ID, unit), kind=FindingKind.RESTART_LOOP, unit=unit, count=s.count,
            rate_per_hour=rate, first_seen=first, last_seen=last, trusted=s.all_trusted,
            evidence=evidence_lines([s, ev.get(unit, Kind.CONTROL_EXITED), ev.get(unit, Kind.PROGRAM_LINE)]),
            cause=exec_failure(ev, unit), detector=ID, summary=summary, period_seconds=period(s.times),
            facts=(("restart_counter", counter or None), ("burst", burst), ("undated", s.undated)),
        ))
    return out
