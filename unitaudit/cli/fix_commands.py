"""`unitaudit fix` and `unitaudit undo`: plan, confirm, apply, verify; and revert."""
import os
import sys
import time
from typing import List, Optional

import typer

from unitaudit.cli import completion
from unitaudit.cli.common import _MAX_RUN, _config, _error, _exit, _fix_outcome, _scan, app, guarded
from unitaudit.errors import ExitStatus, UnitauditError, UsageError


@app.command(short_help="Fix each loop with the least invasive recipe, and verify.")
@guarded
def fix(
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan: every action, its exact call, the diff of every file; change nothing."),
    finding: Optional[List[str]] = typer.Option(None, "--finding", metavar="ID", help="Only this finding; repeatable."),
    recipe: Optional[List[str]] = typer.Option(None, "--recipe", metavar="ID", autocompletion=completion.recipes, help="Only this recipe; repeatable."),
    unit: Optional[List[str]] = typer.Option(None, "--unit", metavar="UNIT", autocompletion=completion.units, help="Only this unit; also allows acting on it when it is protected. Repeatable."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Apply without asking."),
    json_out: bool = typer.Option(False, "--json", help="Write the plan (or the outcome) as one JSON document."),
    journal_dir: Optional[str] = typer.Option(None, "--journal-dir", metavar="DIR", help="Plan from a copied journal (recommendations only unless trusted)."),
    syslog: Optional[List[str]] = typer.Option(None, "--syslog", metavar="FILE", help="Plan from text logs: recommendations only."),
    since: Optional[str] = typer.Option(None, "--since", metavar="WHEN", autocompletion=completion.when, help="Start of the evidence window, as for scan."),
    bus_address: Optional[str] = typer.Option(None, "--bus-address", metavar="ADDR", help="As for scan."),
    root: str = typer.Option("/", "--root", metavar="DIR", show_default=False, help="As for scan (default /)."),
    bundle: Optional[str] = typer.Option(None, "--bundle", metavar="FILE|DIR", help="With --dry-run: the plan fix would run on the machine a bundle came from."),
) -> None:
    """Fix each loop found with the least invasive recipe, verify it stopped, record it for undo.

    --dry-run shows the exact plan and changes nothing.  Exit status: 0 nothing to fix or all
    fixed, 1 (dry run) a plan or refusals shown, 2 usage error, 3 could not complete, 4 a fix
    failed or did not stop its loop."""
    from unitaudit.report import fix_report, plan as plan_report  # start-up time
    from unitaudit.services.fix import plan_fix, run_fix  # start-up time
    from unitaudit.services.scan import ScanRequest  # start-up time
    if bundle and not dry_run:
        raise UsageError("--bundle plans for the machine the bundle came from: add --dry-run")
    if not dry_run and os.geteuid() != 0:
        raise UnitauditError("fix changes the system and needs root (sudo unitaudit fix); "
                             "`unitaudit fix --dry-run` shows the plan as any user")
    request = ScanRequest(journal_dir=journal_dir, syslogs=tuple(syslog or ()), since=since,
                          bus_address=bus_address, root=root, bundle=bundle)
    selection = dict(named_units=unit or (), finding_ids=finding or (), recipe_ids=recipe or (),
                     protected_extra=_config().protected)
    if bundle:
        from unitaudit.services.bundle import plan_bundle  # start-up time
        request.check_bundle()
        result, plan, recording = plan_bundle(bundle, _config().thresholds, **selection)
    else:
        result = _scan(request, for_people=not json_out)
        # the recording backend's run is the dry run, and what a real run is asked to confirm
        plan, recording = plan_fix(result.findings, root, **selection)
    if dry_run or not plan.steps:
        plan_report.write(plan, result.findings, recording.performed, sys.stdout, as_json=json_out)
        raise _exit(ExitStatus.FINDINGS if plan.steps or plan.refusals else ExitStatus.OK)
    if root != "/":
        raise UsageError("--root is for --dry-run: a fix acts on the machine it runs on")
    if not yes:
        plan_report.write_text(plan, result.findings, recording.performed, sys.stderr)
        if not sys.stdin.isatty():
            raise UsageError("not a terminal: add --yes to apply this plan")
        if not typer.confirm("Apply this plan?", default=False, err=True):
            raise _exit(ExitStatus.OK)
    outcome = run_fix(plan, result, bus_address, " ".join(sys.argv))
    if not (journal_dir or syslog or bus_address):  # this machine's own journal: the timer's too
        from unitaudit.hourly.incremental import note_fixed_by_hand  # start-up time
        warning = note_fixed_by_hand(result.findings, outcome, time.time())
        if warning:
            _error("warning: " + warning)
    raise _fix_outcome(fix_report, json_out, outcome, done=outcome.all_fixed)


@app.command(short_help="Revert what a fix run changed.")
@guarded
def undo(
    run: Optional[int] = typer.Argument(None, metavar="[RUN]", help="The fix run to undo (default: the last one not undone)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
    json_out: bool = typer.Option(False, "--json", help="Write what was undone as one JSON document."),
    bus_address: Optional[str] = typer.Option(None, "--bus-address", metavar="ADDR", help="As for scan."),
) -> None:
    """Revert what a fix run changed: files byte-identical, drop-ins removed, links restored.

    Exit status: 0 undone, 2 usage error, 3 could not complete, 4 partly undone."""
    if run is not None and not 1 <= run <= _MAX_RUN:
        raise UsageError("RUN %d: no such fix run: a run number is 1 to %d" % (run, _MAX_RUN))
    if os.geteuid() != 0:
        raise UnitauditError("undo changes the system and needs root")
    from unitaudit.report import undo_report  # start-up time
    from unitaudit.services.fix import run_undo  # start-up time
    # as `fix`: a person at a terminal confirms; a script (no terminal) or --yes goes ahead
    if not yes and sys.stdin.isatty() and not typer.confirm(
            "Undo %s?" % ("fix run %d" % run if run is not None else "the last fix run"), default=False, err=True):
        raise _exit(ExitStatus.OK)
    outcome = run_undo(run, bus_address)
    raise _fix_outcome(undo_report, json_out, outcome, done=outcome.complete)


