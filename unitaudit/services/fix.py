"""`unitaudit fix` and `unitaudit undo` on the real system: the lock, the fix-run store, the
backend, the verification, the reload after an undo.  They return data; the reporters word it
(report/fix_report.py, report/undo_report.py)."""
from typing import List, Optional, Sequence, Tuple

from unitaudit.errors import StateError, UnitauditError
from unitaudit.model import FixOutcome, FixStatus, Outcome, Plan, RunOrigin, RunStatus, UndoOutcome
from unitaudit.remediation.actions import expand
from unitaudit.remediation.executor import RecordingBackend, apply, dry_run
from unitaudit.remediation.planner import make_plan
from unitaudit.remediation.protected import load_protected, merge_protected
from unitaudit.remediation.recipes import load_recipes
from unitaudit.remediation.system_backend import SystemBackend
from unitaudit.remediation.systemd_bus import SystemdManager
from unitaudit.report import fix_report, json_report, plan as plan_report
from unitaudit.services.verify import verify
from unitaudit.sources.dbus import DBusSource
from unitaudit.sources.probe import SystemProbe
from unitaudit.store.fixruns import FixRunStore


def plan_fix(findings, root: str, named_units=(), finding_ids=(), recipe_ids=(),
             protected_extra: Sequence[Tuple[str, str]] = (), probe: Optional[SystemProbe] = None
             ) -> Tuple[Plan, RecordingBackend]:
    """The plan for these findings, worked out on the system under `root`, and what a dry run of
    it performs (the recording backend): `fix --dry-run`, `fix` and the timer's auto-apply.
    `protected_extra`: the configuration's [protected] (glob, reason) pairs, added beside the
    packaged protected units (a packaged glob keeps its packaged reason).  `probe`: the system
    to plan on, when it is not the one under `root` (a bundle's, services/bundle.py)."""
    protected = merge_protected(load_protected(), protected_extra)
    system = probe if probe is not None else SystemProbe(root)
    plan = expand(make_plan(findings, load_recipes(), protected, named_units=named_units, finding_ids=finding_ids,
                            recipe_ids=recipe_ids, machine_id=system.machine_id()), system)
    return plan, dry_run(plan)


def run_fix(plan: Plan, result, bus_address: Optional[str], command: str,
            origin: RunOrigin = RunOrigin.FIX) -> FixOutcome:
    """Apply `plan` (from `result`, the scan) and verify each loop stopped, recorded as one fix run
    for undo.  `origin`: an admin's `fix`, or the hourly round's auto-apply."""
    store = FixRunStore()
    bus = DBusSource(bus_address)
    with store.lock():
        # The evidence first: the findings as scanned (reset-failed and restarts erase NRestarts).
        run = store.begin_run(command, plan_report.to_document(plan, [], dry_run=False), json_report.to_document(result),
                              origin=origin)
        status = RunStatus.FAILED
        outcomes: List[Outcome] = []
        try:
            backend = SystemBackend(store, run, bus_address)
            outcomes = apply(plan, result.findings, backend, lambda v, f, t: verify(v, f, bus, t))
            fixed = [o.status is FixStatus.FIXED for o in outcomes]
            status = RunStatus.FIXED if all(fixed) else RunStatus.PARTIAL if any(fixed) else RunStatus.NOT_FIXED
        finally:
            store.finish_run(run, status, {"outcomes": [fix_report.outcome_to_dict(o) for o in outcomes]})
    return FixOutcome(run, tuple(outcomes), store.directory)


def run_undo(run: Optional[int], bus_address: Optional[str]) -> UndoOutcome:
    """Undo fix run `run` (None: the last one not undone), then have systemd re-read the unit
    files."""
    store = FixRunStore()
    with store.lock():
        target = run if run is not None else store.last_run()
        if target is None:  # no command lists fix runs: say what the state directory holds
            runs = store.runs()
            if runs:
                raise StateError("nothing to undo: every fix run recorded in %s is undone already (the last, run %d, "
                                 "at %s)" % (store.directory, runs[-1].id, runs[-1].finished or runs[-1].started))
            raise StateError("nothing to undo: no fix run is recorded in %s (`unitaudit fix` records each run "
                             "it applies)" % store.directory)
        report = store.undo(target)
        try:  # unit files and drop-ins came back: systemd must re-read them
            SystemdManager(bus_address).call("Reload", [])
        except UnitauditError as e:
            return UndoOutcome(target, report, reload_error=str(e))
    return UndoOutcome(target, report)
