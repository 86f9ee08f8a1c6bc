"""failure: a unit that failed without looping, reported only when the evidence
shows a cause that will make it fail again (a logrotate config error fails every
run; so does an ExecStartPre that cannot succeed).  One failure with no known
cause is not a finding.  A pasted `systemctl status` of a failed unit whose ExecStartPre
failed is such a cause too, with no log line needed: the block's header says it."""
from typing import Collection, List, Mapping

from unitaudit.analysis.detectors.causes import exec_failure, live_exec_failure, logrotate_config
from unitaudit.analysis.detectors.finding_parts import evidence_lines, finding_id
from unitaudit.analysis.detectors.timing import hourly, rate_per_hour, span
from unitaudit.analysis.evidence import Evidence
from unitaudit.model import Finding, FindingKind, Kind, Thresholds, UnitState

ID = "failure"


def detect(ev: Evidence, units: Mapping[str, UnitState], now: float, th: Thresholds,
           looping: Collection[str] = ()) -> List[Finding]:
    candidates = {s.unit for k in (Kind.UNIT_FAILED, Kind.LOGROTATE_ERROR, Kind.CONTROL_EXITED, Kind.SPAWN_FAILED)
                  for s in ev.of_kind(k)}
    out = []
    for unit in sorted(u for u in candidates if u and u not in looping):
        cause = logrotate_config(ev, unit) or exec_failure(ev, unit)
        if cause is None:
            continue
        failed = ev.get(unit, Kind.UNIT_FAILED)
        basis = failed or ev.get(unit, Kind.LOGROTATE_ERROR) or ev.get(unit, Kind.CONTROL_EXITED) or ev.get(unit, Kind.SPAWN_FAILED)
        assert basis is not None
        count = failed.count if failed is not None else _runs(ev, unit)
        first, last = span(basis.times)
        out.append(Finding(
            id=finding_id(ID, unit), kind=FindingKind.FAILURE, unit=unit, count=count,
            rate_per_hour=rate_per_hour(failed.times) if failed is not None else None,
            first_seen=first, last_seen=last, trusted=basis.all_trusted,
            evidence=evidence_lines([failed, ev.get(unit, Kind.LOGROTATE_ERROR), ev.get(unit, Kind.CONTROL_EXITED),
                                     ev.get(unit, Kind.PROGRAM_LINE)]),
            cause=cause, detector=ID, summary="failed %d time(s); the cause will fail it again" % count,
            hourly=hourly(failed.times if failed is not None else basis.times),
        ))
    reported = set(looping) | {f.unit for f in out}
    out.extend(_pasted_failures(units, reported))
    return out


def _pasted_failures(units: Mapping[str, UnitState], reported: Collection[str]) -> List[Finding]:
    """Units a pasted `systemctl status` shows failed by their ExecStartPre.  Live states are
    left out: a live scan reads the same failure from the journal, with its times."""
    out = []
    for name in sorted(units):
        u = units[name]
        cause = live_exec_failure(u)
        if u.trusted or name in reported or u.active_state != "failed" or cause is None:
            continue
        out.append(Finding(
            id=finding_id(ID, name), kind=FindingKind.FAILURE, unit=name, count=1, rate_per_hour=None,
            first_seen=None, last_seen=None, trusted=False,
            evidence=("%s: ActiveState=failed Result=%s" % (u.seen_in, u.result or "unknown"),),
            cause=cause, detector=ID, summary="failed (%s); the cause will fail it again" % u.seen_in,
        ))
    return out


def _runs(ev: Evidence, unit: str) -> int:
    """Runs that logged errors, when no "Failed with result" line was captured: one
    run's errors come within seconds, so a quiet minute separates two runs."""
    s = ev.get(unit, Kind.LOGROTATE_ERROR) or ev.get(unit, Kind.CONTROL_EXITED)
    if s is None:
        return 0
    times = s.times
    runs = sum(1 for a, b in zip(times, times[1:]) if b - a > 60) + (1 if len(times) else 0)
    return max(1, runs)
