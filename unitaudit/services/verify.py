"""After a fix: did the loop stop?  Watched on the live system over a short window, through the
sources (the journal, the bus) and the evidence fold, so it lives with the services, not in
remediation (which may read the system but not analyse it).

  activation-succeeds  no new activation failure of the unit over the window
  no-new-restarts      NRestarts stays put over the window, or the unit settles in `failed`
                       (a rate-limit drop-in: the start limit stopped it, left for the admin)
  unit-run-succeeds    one more run of the unit ends in success (logrotate.service)
  no-new-failures      no new failure of the unit over the window
"""
import subprocess
import time
from typing import Callable, Optional, Tuple

from unitaudit.analysis.evidence import fold
from unitaudit.model import Check, Finding, Kind, Verify
from unitaudit.sources.dbus import DBusSource
from unitaudit.sources.journal import JournalSource

POLL = 1.0
_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8"}  # systemctl from the system, as the backend runs it


def journal_count(unit: str, kind: Kind, since: float) -> int:
    series = fold(JournalSource(since=since).events()).get(unit, kind)
    return series.count if series is not None else 0


def _why(unit: str, since: float) -> Optional[str]:
    """The unit's own error line of that run (logrotate's "error: ..."), when the journal has one."""
    series = fold(JournalSource(since=since).events()).get(unit, Kind.LOGROTATE_ERROR)
    return series.messages[0][0].text if series is not None and series.messages else None


def _unit(bus: DBusSource, name: str):
    return bus.read().by_name().get(name)


def verify(check: Verify, finding: Finding, bus: DBusSource, started: float,
           sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time) -> Tuple[bool, str]:
    """(fixed, what was seen).  `started`: when the fix finished; only what came after counts."""
    unit = finding.unit
    if check.check is Check.UNIT_RUN_SUCCEEDS:
        before = clock()
        r = subprocess.run(["systemctl", "start", unit], capture_output=True, text=True, timeout=300, env=_ENV)
        if r.returncode == 0:
            return True, "%s ran again and succeeded" % unit
        return False, "%s ran again and failed: %s" % (unit, _why(unit, before) or (
            r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1])
    if check.check is Check.NO_NEW_RESTARTS:
        return _restarts_settle(check, unit, bus, sleep, clock)
    sleep(check.seconds)
    kind = Kind.ACTIVATION_FAILED if check.check is Check.ACTIVATION_SUCCEEDS else Kind.UNIT_FAILED
    n = journal_count(unit, kind, started)
    what = "activation failures" if kind is Kind.ACTIVATION_FAILED else "failures"
    return n == 0, "%d new %s of %s in %g s" % (n, what, unit, check.seconds)


def _restarts_settle(check: Verify, unit: str, bus: DBusSource, sleep, clock) -> Tuple[bool, str]:
    first = _unit(bus, unit)
    if first is None:
        return True, "%s is no longer loaded" % unit
    restart_sec = (first.restart_usec or 0) / 1e6
    # A rate limit acts at the next starts: allow the limit's burst of restarts to happen first.
    deadline = clock() + check.seconds + 6 * max(restart_sec, 1.0)
    stable_since, last_n = clock(), first.n_restarts
    state: Optional[object] = first
    while clock() < deadline:
        state = _unit(bus, unit)
        if state is None:
            return True, "%s is no longer loaded" % unit
        if state.active_state == "failed":
            return True, "%s stopped restarting: failed (%s) after %s restarts, left for the admin" % (
                unit, state.result or "?", state.n_restarts)
        if state.active_state == "active" and state.sub_state == "running" and clock() - stable_since >= check.seconds:
            return True, "%s is running, NRestarts %s" % (unit, state.n_restarts)
        if state.n_restarts != last_n:
            stable_since, last_n = clock(), state.n_restarts
        elif clock() - stable_since >= check.seconds and not state.sub_state.startswith("auto-restart"):
            return True, "NRestarts of %s stayed at %s for %g s" % (unit, last_n, check.seconds)
        sleep(POLL)
    return False, "%s still restarting: NRestarts %s, %s/%s" % (
        unit, getattr(state, "n_restarts", "?"), getattr(state, "active_state", "?"), getattr(state, "sub_state", "?"))
