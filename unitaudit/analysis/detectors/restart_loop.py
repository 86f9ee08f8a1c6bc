"""restart-loop: a unit that systemd keeps restarting on its own.

Fires on a burst of "Scheduled restart job" lines (or a smaller one within 10 s), on restarts at a constant
interval (RestartSec), on a single restart counter high enough to prove one (the
seed's `restart counter is at 394`), on automatic restarts that systemd ended by
its start limit (a loop it stopped: reported here, not as start-limit-hit), or
live on sub-state auto-restart with a high NRestarts or a failing ExecStartPre.  A manual `systemctl restart`
never logs "Scheduled restart job", so it cannot fire this.
"""
from typing import List, Mapping, Optional

from unitaudit.analysis.detectors.causes import exec_failure, live_exec_failure
from unitaudit.analysis.detectors.finding_parts import evidence_lines, finding_id
from unitaudit.analysis.detectors.timing import has_burst, hourly, is_periodic, period, rate_per_hour, span
from unitaudit.analysis.evidence import Evidence
from unitaudit.model import Cause, Finding, FindingKind, Kind, Thresholds, UnitState

ID = "restart-loop"
QUICK_WINDOW = 10.0  # seconds: systemd's default StartLimitIntervalSec (restart_quick_burst counts in it)


def detect(ev: Evidence, units: Mapping[str, UnitState], now: float, th: Thresholds) -> List[Finding]:
    out = []
    scheduled = {s.unit: s for s in ev.of_kind(Kind.RESTART_SCHEDULED)}
    for s in ev.of_kind(Kind.RESTART_TIMER_EXPIRED):
        scheduled.setdefault(s.unit, s)  # systemd < 235 logs only this line per restart
    for unit in sorted(u for u in scheduled if u):
        s = scheduled[unit]
        burst = (has_burst(s.times, th.restart_window, th.restart_burst) or s.undated >= th.restart_burst
                 or has_burst(s.times, QUICK_WINDOW, th.restart_quick_burst))
        periodic = is_periodic(s.times, th.periodic_repeats)
        counter = s.highest("N_RESTARTS") or 0
        live = units.get(unit)
        live_loop = live is not None and _looping_now(live, th)
        stopped = stopped_by_start_limit(ev, unit)
        if not (burst or periodic or stopped or live_loop) and counter < th.restart_counter:
            continue
        first, last = span(s.times)
        rate = rate_per_hour(s.times)
        summary = "restarted %d times" % s.count
        if rate is not None:
            summary += " (%.0f/h)" % rate
        if counter:
            summary += ", restart counter reached %d" % counter
        if stopped:
            summary += "; then systemd stopped it: start limit hit"
        out.append(Finding(
            id=finding_id(ID, unit), kind=FindingKind.RESTART_LOOP, unit=unit, count=s.count,
            rate_per_hour=rate, first_seen=first, last_seen=last, trusted=s.all_trusted,
            evidence=evidence_lines([s, ev.get(unit, Kind.START_LIMIT_HIT), ev.get(unit, Kind.CONTROL_EXITED),
                                     ev.get(unit, Kind.PROGRAM_LINE)]),
            cause=exec_failure(ev, unit) or live_exec_failure(live), detector=ID, summary=summary,
            period_seconds=period(s.times),
            facts=(("restart_counter", counter or None), ("burst", burst), ("periodic", periodic),
                   ("stopped_by_start_limit", stopped), ("undated", s.undated)) + _live_facts(live),
            hourly=hourly(s.times),
        ))
    out.extend(_live_only(units, set(scheduled), th))
    return out


def stopped_by_start_limit(ev: Evidence, unit: str) -> bool:
    """Did systemd restart the unit on its own and then give up on it (start-limit-hit)?"""
    restarts = ev.get(unit, Kind.RESTART_SCHEDULED) or ev.get(unit, Kind.RESTART_TIMER_EXPIRED)
    return restarts is not None and restarts.count > 0 and ev.get(unit, Kind.START_LIMIT_HIT) is not None


def _looping_now(u: UnitState, th: Thresholds) -> bool:
    """Restarting on its own and not settled: waiting to restart (auto-restart) or somewhere in
    the next start attempt (activating/deactivating), after restart_burst automatic restarts
    or, waiting to restart, after a failed ExecStartPre.  That command fails the same way at
    every start, before the main process ever runs: each restart ends as the last one did."""
    waiting = u.sub_state.startswith("auto-restart")
    if not (waiting or u.active_state in ("activating", "deactivating")):
        return False
    if (u.n_restarts or 0) >= th.restart_burst:
        return True
    return waiting and any(ex.failed and not ex.ignore_errors for ex in u.exec_start_pre)


def _live_facts(live: Optional[UnitState]) -> tuple:
    if live is None:
        return ()
    return (("live_sub_state", live.sub_state), ("live_n_restarts", live.n_restarts))


def _live_only(units: Mapping[str, UnitState], seen: set, th: Thresholds) -> List[Finding]:
    """A loop the journal does not show (rotated, volatile, filtered by --since) but PID 1 does:
    sub-state auto-restart and NRestarts at the burst threshold or above."""
    out = []
    for name in sorted(units):
        u = units[name]
        if name in seen or not _looping_now(u, th):
            continue
        cause: Optional[Cause] = live_exec_failure(u)
        if u.n_restarts is not None:
            summary = "restarted %d times since it was last started by hand (NRestarts), now waiting " \
                      "to restart again" % u.n_restarts
        else:  # a pasted `systemctl status` does not show the counter
            summary = "waiting to restart again after its ExecStartPre failed (%s)" % u.seen_in
        out.append(Finding(
            id=finding_id(ID, name), kind=FindingKind.RESTART_LOOP, unit=name, count=u.n_restarts or 0,
            rate_per_hour=None, first_seen=None, last_seen=None, trusted=u.trusted,
            evidence=("%s: SubState=%s NRestarts=%s Result=%s"
                      % ("live" if u.trusted else u.seen_in, u.sub_state, u.n_restarts, u.result),),
            cause=cause, detector=ID, summary=summary,
            facts=(("restart_counter", u.n_restarts), ("burst", False), ("undated", 0)) + _live_facts(u),
        ))
    return out
