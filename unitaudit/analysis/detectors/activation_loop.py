"""activation-loop: dbus-daemon asking systemd, again and again, for a unit that
does not load (the seed's missing `dbus-org.freedesktop.Avahi.service` alias): a burst of
failures, or failures at a constant interval (a client retrying on a clock: the seed's
write-up shows four, 5 s apart).

dbus-daemon logs every failed activation, so the loop is counted.  dbus-broker
logs a missing unit once per name: that is reported as a `failure` with a
missing-unit cause, never as a counted loop.
"""
from typing import List, Mapping

from unitaudit.analysis.detectors.causes import missing_unit
from unitaudit.analysis.detectors.finding_parts import evidence_lines, finding_id
from unitaudit.analysis.detectors.timing import has_burst, hourly, is_periodic, period, rate_per_hour, span
from unitaudit.analysis.evidence import Evidence
from unitaudit.model import Finding, FindingKind, Kind, Thresholds, UnitState

ID = "activation-loop"


def detect(ev: Evidence, units: Mapping[str, UnitState], now: float, th: Thresholds) -> List[Finding]:
    out = []
    for s in ev.of_kind(Kind.ACTIVATION_FAILED):
        unit = s.unit or ""
        first, last = span(s.times)
        lines = evidence_lines([s, ev.get(unit, Kind.ACTIVATION_REQUESTED)])
        if s.top("daemon") == "dbus-broker":
            out.append(Finding(
                id=finding_id(FindingKind.FAILURE.value, unit), kind=FindingKind.FAILURE, unit=unit, count=s.count,
                rate_per_hour=None, first_seen=first, last_seen=last, trusted=s.all_trusted, evidence=lines,
                cause=missing_unit(ev, unit), detector=ID,
                summary="missing activation target (dbus-broker logs it once per name: retries are not counted)",
                facts=(("countable", False),), hourly=hourly(s.times),
            ))
            continue
        burst = has_burst(s.times, th.activation_window, th.activation_burst) or s.undated >= th.activation_burst
        periodic = is_periodic(s.times, th.periodic_repeats)
        if not (burst or periodic):
            continue
        rate = rate_per_hour(s.times)
        summary = "activation failed %d times" % s.count + (" (%.0f/h)" % rate if rate is not None else "")
        out.append(Finding(
            id=finding_id(ID, unit), kind=FindingKind.ACTIVATION_LOOP, unit=unit, count=s.count,
            rate_per_hour=rate, first_seen=first, last_seen=last, trusted=s.all_trusted, evidence=lines,
            cause=missing_unit(ev, unit), detector=ID, summary=summary, period_seconds=period(s.times),
            facts=(("undated", s.undated), ("burst", burst), ("periodic", periodic)), hourly=hourly(s.times),
        ))
    return out
