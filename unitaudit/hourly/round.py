"""`unitaudit watch`: one round of the hourly timer.

An incremental scan of this machine (history recorded), then the recipes the configuration
allows applied on their own (`[auto_apply] recipes`: none by default) with the same lock,
backups and verification as `fix`, then the fleet outputs: the Prometheus textfile at the
configured path and one structured journal entry.  A failed scan still writes both outputs
(saying it failed): a fleet must see a machine whose audit broke, not stale figures.  The
incremental run is recorded (cursor, carryover, history) only after both outputs were written:
a round whose textfile or journal entry failed leaves the next round to report the same loops.
"""
import time
from typing import Callable, Dict, List, Optional, Tuple

from unitaudit.errors import UnitauditError
from unitaudit.hourly import incremental
from unitaudit.hourly.incremental import NOT_RECORDED, IncrementalRequest, PendingRun
from unitaudit.hourly.outputs import run_summary, write_outputs
from unitaudit.model import FixOutcome, FixStatus, RoundOutcome, RunOrigin, ScanResult
from unitaudit.services.fix import plan_fix, run_fix
from unitaudit.services.live import live_parts
from unitaudit.store.fixruns import FixRunStore
from unitaudit.util.times import iso_utc

# The command a round's fix run records (its origin, RunOrigin.AUTO_APPLY, is what tells it apart)
AUTO_COMMAND = "unitaudit watch (auto-apply: %s)"


def run_round(config, bus_address: Optional[str] = None, root: str = "/",
              clock: Callable[[], float] = time.time,
              emit: Optional[Callable[[RoundOutcome], None]] = None) -> RoundOutcome:
    """`emit` writes the round's own report (the `watch` command's stdout) before the run is
    recorded: when it cannot be written, the run is not recorded, as for the other outputs."""
    started = clock()
    result = info = fixes = pending = None
    error: Optional[str] = None
    refusals: Tuple[str, ...] = ()
    fixed: Dict[str, float] = {}
    try:
        try:
            pending = incremental.prepare_incremental(IncrementalRequest(
                thresholds=config.thresholds, now=started, window=config.window, retention=config.retention,
                live=live_parts(bus_address, root)))
            result, info = pending.result, pending.info
        except UnitauditError as e:
            error = str(e)
        if result is not None and result.findings and config.auto_apply:
            fixes, refusals = auto_apply(config, result, bus_address, root, clock)
            if fixes is not None:  # recorded with the run (incremental.PendingRun), which holds the scan lock
                fixed = incremental.fixed_loops(result.findings, fixes, clock())
        summary = run_summary(result, info, started, error, clock, _fix_failures(result, config.retention, clock))
        errors = write_outputs(result, summary, config.prometheus_path, True, _fix_fields(fixes))
        if emit is not None and result is not None:
            errors += _emit(emit, RoundOutcome(result, info, error, fixes, refusals, tuple(errors)))
        if pending is not None:
            errors = _commit(pending, fixed, errors)
    finally:
        if pending is not None:
            pending.abort(fixed)  # nothing when committed
    return RoundOutcome(result, info, error, fixes, refusals, tuple(errors))


def _fix_failures(result: Optional[ScanResult], retention: float,
                  clock: Callable[[], float]) -> Optional[Tuple[Tuple[str, float, str], ...]]:
    """The loops this round still found whose newest fix within the retention (an admin's or
    this timer's) did not stop them: what the fleet alerts on as a fix that failed.  None when
    the scan failed or the fix runs cannot be read (the textfile then says nothing of fixes)."""
    if result is None:
        return None
    try:
        store = FixRunStore()
    except UnitauditError:
        return None
    try:
        attempts = store.last_attempts_since(clock() - retention)
    finally:
        store.close()
    return tuple((f.id, attempts[f.id][0], attempts[f.id][2].value) for f in result.findings
                 if f.id in attempts and attempts[f.id][1] is not FixStatus.FIXED)


def _fix_fields(fixes: Optional[FixOutcome]) -> Dict[str, str]:
    """The journal entry's fields that say what the round fixed."""
    if fixes is None:
        return {}
    return {"UNITAUDIT_AUTO_APPLIED": " ".join("%s:%s" % (o.unit, o.status.value) for o in fixes.outcomes),
            "UNITAUDIT_FIX_RUN": str(fixes.run)}


def _emit(emit: Callable[[RoundOutcome], None], outcome: RoundOutcome) -> List[str]:
    try:
        emit(outcome)
    except BrokenPipeError:
        raise
    except OSError as e:
        return ["cannot write the report to stdout: %s" % (e.strerror or e)]
    return []


def _commit(pending: PendingRun, fixed: Dict[str, float], errors: List[str]) -> List[str]:
    """Record the run when every output was written: the round's errors, then with what the
    recording says."""
    if errors:
        return errors[:-1] + [errors[-1] + NOT_RECORDED]
    try:
        pending.commit(fixed)
    except UnitauditError as e:
        return [str(e)]
    return []


def auto_apply(config, result: ScanResult, bus_address: Optional[str] = None, root: str = "/",
               clock: Callable[[], float] = time.time) -> Tuple[Optional[FixOutcome], Tuple[str, ...]]:
    """The allowed recipes only; protected units are refused as in `fix` (no --unit here).  A
    loop an earlier round tried and did not fix is not tried again within the retention: an
    hourly retry would change the system every hour for nothing (`unitaudit fix` still can).
    (the fix run, or None when nothing was applied; the refusals)"""
    store = FixRunStore()
    try:
        tried = store.unfixed_since(clock() - config.retention, RunOrigin.AUTO_APPLY)
    finally:
        store.close()
    findings = [f for f in result.findings if f.id not in tried]
    refusals = tuple("%s: auto-apply did not fix it at %s; left for the admin (unitaudit fix --dry-run)"
                     % (f.unit, iso_utc(tried[f.id])) for f in result.findings if f.id in tried)
    plan, _recording = plan_fix(findings, root, recipe_ids=config.auto_apply, protected_extra=config.protected)
    refusals += tuple("%s: %s" % (r.unit, r.reason) for r in plan.refusals)
    if not plan.steps:
        return None, refusals
    command = AUTO_COMMAND % " ".join(config.auto_apply)
    return run_fix(plan, result, bus_address, command, origin=RunOrigin.AUTO_APPLY), refusals
