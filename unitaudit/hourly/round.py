"""`unitaudit watch`: one round of the hourly timer.

An incremental scan of this machine (history recorded), then the recipes the configuration
allows applied on their own (`[auto_apply] recipes`: none by default) with the same lock,
backups and verification as `fix`, then the fleet outputs: the Prometheus textfile at the
configured path and one structured journal entry.  A failed scan still writes both outputs
(saying it failed): a fleet must see a machine whose audit broke, not stale figures.  The
incremental run is recorded (cursor, carry, history) only after both outputs were written: a
round whose textfile or journal entry failed leaves the next round to report the same loops.
"""
import time
from typing import Callable, Optional, Tuple

from unitaudit.model import RoundOutcome
from unitaudit.errors import UnitauditError
from unitaudit.hourly.outputs import run_summary, write_outputs
from unitaudit.util.times import iso_utc


def run_round(config, bus_address: Optional[str] = None, root: str = "/",
                clock: Callable[[], float] = time.time,
                emit: Optional[Callable[[RoundOutcome], None]] = None) -> RoundOutcome:
    """`emit` writes the round's own report (the `watch` command's stdout) before the run is
    recorded: when it cannot be written, the run is not recorded, as for the other outputs."""
    from unitaudit.hourly import incremental
    from unitaudit.services.live import live_parts

    started = clock()
    result = info = fixes = pending = None
    error: Optional[str] = None
    refusals: Tuple[str, ...] = ()
    fixed: dict = {}
    try:
        try:
            live_source, diagnose, kernel = live_parts(bus_address, root)
            pending = incremental.run_incremental(config.thresholds, started, config.window, config.retention,
                                                  live_source=live_source, diagnose=diagnose, kernel=kernel,
                                                  defer=True)
            result, info = pending.result, pending.info
        except UnitauditError as e:
            error = str(e)
        if result is not None and result.findings and config.auto_apply:
            fixes, refusals = _auto_apply(config, result, info, bus_address, root, clock)
            if fixes is not None:  # recorded with the run (incremental.PendingRun), which holds the scan lock
                done = clock()
                fixed = {o.finding_id: done for o in fixes.outcomes if o.status == "fixed"}
        run = run_summary(result, info, started, error, clock)
        extra = {}
        if fixes is not None:
            extra["UNITAUDIT_AUTO_APPLIED"] = " ".join("%s:%s" % (o.unit, o.status) for o in fixes.outcomes)
            extra["UNITAUDIT_FIX_RUN"] = str(fixes.run)
        errors = write_outputs(result, run, config.prometheus_path, True, extra)
        if emit is not None and result is not None:
            try:
                emit(RoundOutcome(result, info, error, fixes, refusals, tuple(errors)))
            except BrokenPipeError:
                raise
            except OSError as e:
                errors.append("cannot write the report to stdout: %s" % (e.strerror or e))
        if pending is not None:
            if errors:
                errors[-1] += NOT_RECORDED
            else:
                try:
                    pending.commit(fixed)
                except UnitauditError as e:
                    errors.append(str(e))
    finally:
        if pending is not None:
            pending.abort(fixed)  # nothing when committed
    return RoundOutcome(result, info, error, fixes, refusals, tuple(errors))


NOT_RECORDED = "; this run was not recorded: the next run reports its loops again"


AUTO_COMMAND = "unitaudit watch (auto-apply"


def _auto_apply(config, result, info, bus_address, root, clock):
    """The allowed recipes only; protected units are refused as in `fix` (no --unit here).  A
    loop an earlier round tried and did not fix is not tried again within the retention: an
    hourly retry would change the system every hour for nothing (`unitaudit fix` still can)."""
    from unitaudit.services.fix import plan_fix, run_fix
    from unitaudit.store.state import StateStore

    store = StateStore()
    try:
        tried = store.unfixed_since(clock() - config.retention, AUTO_COMMAND)
    finally:
        store.close()
    findings = [f for f in result.findings if f.id not in tried]
    refusals = tuple("%s: auto-apply did not fix it at %s; left for the admin (unitaudit fix --dry-run)"
                     % (f.unit, iso_utc(tried[f.id])) for f in result.findings if f.id in tried)
    plan, _recording = plan_fix(findings, root, recipe_ids=config.auto_apply, protected_extra=config.protected)
    refusals += tuple("%s: %s" % (r.unit, r.reason) for r in plan.refusals)
    if not plan.steps:
        return None, refusals
    return run_fix(plan, result, bus_address, "%s: %s)" % (AUTO_COMMAND, " ".join(config.auto_apply))), refusals
