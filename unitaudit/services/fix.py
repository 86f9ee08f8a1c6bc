"""`unitaudit fix` and `unitaudit undo` on the real system: the lock, the state store, the
backend, the verification, the reload after an undo.  The CLI only words the result."""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from unitaudit.errors import StateError, UnitauditError
from unitaudit.remediation.executor import Outcome, apply
from unitaudit.model import FixOutcome, Plan


@dataclass(frozen=True)
class UndoOutcome:
    lines: Tuple[str, ...]
    complete: bool


def plan_fix(findings, root: str, named_units=(), finding_ids=(), recipe_ids=(),
              protected_extra: Sequence[Tuple[str, str]] = ()):
    """The plan for these findings, worked out on the system under `root`, and what a dry run of
    it performs (the recording backend): `fix --dry-run`, `fix` and the timer's auto-apply."""
    from unitaudit.remediation.backends import RecordingBackend, execute, expand
    from unitaudit.remediation.planner import make_plan
    from unitaudit.remediation.protected import load_protected
    from unitaudit.remediation.recipes import load_recipes
    from unitaudit.sources.probe import SystemProbe

    protected = load_protected()
    protected.update(dict(protected_extra))  # the admin's additions never remove a packaged entry
    plan = expand(make_plan(findings, load_recipes(), protected, named_units=named_units, finding_ids=finding_ids,
                       recipe_ids=recipe_ids), SystemProbe(root))
    recording = RecordingBackend()
    execute(plan, recording)
    return plan, recording


def run_fix(plan: Plan, result, bus_address: Optional[str], command: str) -> FixOutcome:
    from unitaudit.remediation.system_backend import SystemBackend
    from unitaudit.remediation.verify import verify
    from unitaudit.report import json_report, plan as plan_report
    from unitaudit.sources.dbus import DBusSource
    from unitaudit.store.state import StateStore

    store = StateStore()
    bus = DBusSource(bus_address)
    with store.lock():
        # The evidence first: the findings as scanned (reset-failed and restarts erase NRestarts).
        run = store.begin_run(command, plan_report.to_document(plan, [], dry_run=False), json_report.to_document(result))
        status = "failed"
        outcomes: List[Outcome] = []
        try:
            backend = SystemBackend(store, run, bus_address)
            outcomes = apply(plan, result.findings, backend, lambda v, f, t: verify(v, f, bus, t))
            fixed = [o.status == "fixed" for o in outcomes]
            status = "fixed" if all(fixed) else "partial" if any(fixed) else "not-fixed"
        finally:
            store.finish_run(run, status, {"outcomes": [o.__dict__ for o in outcomes]})
    return FixOutcome(run, tuple(outcomes), store.directory)


def run_undo(run: Optional[int], yes: bool, bus_address: Optional[str]) -> UndoOutcome:
    from unitaudit.remediation.systemd_bus import SystemdManager
    from unitaudit.store.state import StateStore

    store = StateStore()
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
        lines = ["undo of fix run %d:" % target]
        lines += ["  restored %s" % p for p in report.restored]
        lines += ["  removed %s" % p for p in report.removed]
        lines += ["  moved back %s" % p for p in report.moved_back]
        lines += ["  link restored %s" % p for p in report.links_restored]
        lines += ["  cannot undo: %s" % w for w in report.cannot_undo]
        lines += ["  error: %s" % e for e in report.errors]
        try:  # unit files and drop-ins came back: systemd must re-read them
            SystemdManager(bus_address).call("Reload", [])
            lines.append("  systemd reloaded")
        except UnitauditError as e:
            lines.append("  error: daemon-reload failed (%s): run systemctl daemon-reload" % e)
            return UndoOutcome(tuple(lines), False)
    return UndoOutcome(tuple(lines), not report.errors)
