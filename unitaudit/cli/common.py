"""The command line.  Thin: parse the options, build a request, call a service, hand the result
to a reporter (unitaudit/report), map it to an exit status (errors.py; a traceback only with
--debug).  The package's modules are imported inside the commands that need them, for start-up
time: `unitaudit --help` must not load the scan, rich or dbus-next."""
import contextlib
import functools
import inspect
import os
import shutil
import sys
import time
from typing import Callable, List, Optional

import typer

from unitaudit import __version__
from unitaudit.errors import ExitStatus, SourceError, UnitauditError, UsageError, describe

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Find systemd restart loops, D-Bus activation loops and units that fail on every run, "
    "with their cause and rate.",
)
_MAX_RUN = (1 << 63) - 1  # SQLite's integers end there


def _error(message: object) -> None:
    """The one error line on stderr: fitted to a terminal, one line for a log or a pipe."""
    from unitaudit.report.safe_text import error_line  # start-up time: loaded only when there is an error
    typer.echo(error_line(message, shutil.get_terminal_size().columns if sys.stderr.isatty() else None), err=True)


def _exit(status: ExitStatus, error: Optional[str] = None) -> "typer.Exit":  # the error line first, if any
    if error is not None:
        _error(error)
    return typer.Exit(code=int(status))


def _fix_outcome(reporter, as_json: bool, outcome, done: bool) -> "typer.Exit":
    """What `fix` or `undo` did, reported; exit 0 when all of it was done, else 4."""
    _write(reporter, as_json, outcome)
    return _exit(ExitStatus.OK if done else ExitStatus.FIX_FAILED)


def _write(reporter, as_json: bool, *facts, **options) -> None:
    """Every command's report: the reporter's JSON document or its text, on stdout."""
    (reporter.write_json if as_json else reporter.write_text)(*facts, out=sys.stdout, **options)


def guarded(command: Callable) -> Callable:
    """Map every failure of a command to one line and an exit status; with --debug, the traceback.
    The command gets click's context as an extra first parameter (typer passes a parameter typed
    typer.Context), to read --debug from the root command's parameters."""

    @functools.wraps(command)
    def run(unitaudit_context: typer.Context, **kwargs):
        try:
            return command(**kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            raise _exit(ExitStatus.INCOMPLETE, "interrupted") from None
        except BrokenPipeError:
            sys.stderr.close()  # the reader went away (| head): nothing left to say
            raise _exit(ExitStatus.OK)
        except Exception as e:  # noqa: BLE001 - the last line of defence; errors.describe words it
            if unitaudit_context.find_root().params.get("debug"):
                raise
            from unitaudit.util.files import default_state_dir  # start-up time: loaded only when a command failed
            message, status = describe(e, state_dir=default_state_dir())
            raise _exit(status, message) from None

    own = inspect.signature(command)
    context = inspect.Parameter("unitaudit_context", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
    run.__signature__ = own.replace(parameters=[context, *own.parameters.values()])  # type: ignore[attr-defined]
    return run


def _version(value: bool) -> None:
    if value:
        typer.echo("unitaudit %s" % __version__)
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    pass  # guarded() reads --debug back from the root command's context


@app.command()
@guarded
def scan(
    journal_dir: Optional[str] = typer.Option(None, "--journal-dir", metavar="DIR", help="A journal directory copied from a machine (/var/log/journal)."),
    journal_file: Optional[List[str]] = typer.Option(None, "--journal-file", metavar="FILE", help="A journal file; repeatable."),
    syslog: Optional[List[str]] = typer.Option(None, "--syslog", metavar="FILE", help="A text log (syslog, journalctl output, .gz); repeatable."),
    since: Optional[str] = typer.Option(None, "--since", metavar="WHEN", help="Start of the window: -2h, 24h, 7d, today, 2024-01-16 05:45."),
    until: Optional[str] = typer.Option(None, "--until", metavar="WHEN", help="End of the window, same forms as --since."),
    boot: bool = typer.Option(False, "--boot", help="Only the latest boot in the journal."),
    json_out: bool = typer.Option(False, "--json", help="Write one JSON document instead of the table."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show evidence lines under each finding."),
    threshold: Optional[List[str]] = typer.Option(None, "--threshold", metavar="NAME=VALUE", help="Override a detector threshold; repeatable (see README)."),
    bus_address: Optional[str] = typer.Option(None, "--bus-address", metavar="ADDR", help="Read unit states from this D-Bus address instead of the system bus."),
    root: str = typer.Option("/", "--root", metavar="DIR", help="The scanned machine's root file system, for the diagnosis (a container: /proc/PID/root)."),
    incremental: bool = typer.Option(False, "--incremental", help="Read only the journal entries after the last "
                                     "incremental run, and record this run in the history."),
    prometheus: Optional[str] = typer.Option(None, "--prometheus", metavar="FILE", help="Also write the findings as a node_exporter textfile (atomically)."),
    journal_summary: bool = typer.Option(False, "--journal-summary", help="Also log one structured summary entry to the journal."),
) -> None:
    """Report restart loops, activation loops and units failing on every run.

    Without --journal-dir/--journal-file/--syslog it audits this machine: the local journal plus
    unit states over D-Bus, and checks each cause on the live system.

    Exit status: 0 nothing found, 1 findings, 2 usage error, 3 could not complete."""
    from unitaudit.services.scan import ScanRequest  # start-up time: the scan's modules load for a scan only
    started = time.time()
    if incremental and (journal_file or syslog or boot):
        raise UsageError("--incremental reads a journal by its cursor: not with --journal-file, --syslog or --boot")
    if prometheus:  # a device, FIFO or symlink there is refused (exit 2) before anything is scanned
        from unitaudit.hourly.outputs import check_textfile_path  # start-up time: the journal's bindings
        check_textfile_path(prometheus)
    request = ScanRequest(journal_dir=journal_dir, journal_files=tuple(journal_file or ()), syslogs=tuple(syslog or ()),
                          since=since, until=until, boot=boot, thresholds=tuple(threshold or ()),
                          bus_address=bus_address, root=root)
    pending = _prepare_incremental(request) if incremental else None
    result = pending.result if pending is not None else _scan(request)
    _report_scan(result, pending, started, json_out=json_out, verbose=verbose, prometheus=prometheus,
                 journal_summary=journal_summary)
    raise _exit(ExitStatus.FINDINGS if result.findings else ExitStatus.OK)


@functools.lru_cache(maxsize=1)
def _config():
    """The configuration file, read once per command (fix reads thresholds and protected units)."""
    from unitaudit.config import load_config  # start-up time (tomllib)
    return load_config()


def _live_parts(request):
    """The bus, the diagnosis and the kernel figures, for a live scan only (request.is_live)."""
    if not request.is_live:
        return None
    from unitaudit.services.live import live_parts  # dbus-next: an offline scan never loads it
    return live_parts(request.bus_address, request.root)


def _scan(request):
    from unitaudit.services.scan import run_scan  # start-up time
    return run_scan(request, _config().thresholds, live=_live_parts(request))


def _prepare_incremental(request):
    from unitaudit.hourly.incremental import IncrementalRequest, prepare_incremental  # start-up time (the history)
    return prepare_incremental(IncrementalRequest.from_scan(request, _config(), live=_live_parts(request)))


def _report_scan(result, pending, started: float, json_out: bool, verbose: bool, prometheus: Optional[str],
                 journal_summary: bool) -> None:
    """The report on stdout, then the fleet outputs asked for.  An incremental run (`pending`) is
    recorded only once all of them are written; else it is aborted (incremental.PendingRun)."""
    info, unrecorded = (pending.info if pending is not None else None), ""
    if pending is not None:
        from unitaudit.hourly.incremental import NOT_RECORDED  # start-up time: only an incremental run says it
        unrecorded = NOT_RECORDED
    with pending if pending is not None else contextlib.nullcontext():
        try:
            if json_out:
                from unitaudit.report import json_report  # start-up time: each output loads its own reporter
                json_report.write(result, sys.stdout, incremental=info)
            else:
                from unitaudit.report import table  # start-up time: rich, the heaviest of all
                table.write(result, verbose=verbose, incremental=info)
            sys.stdout.flush()
        except BrokenPipeError:
            raise
        except OSError as e:
            raise UnitauditError("cannot write the report to stdout: %s%s" % (e.strerror or e, unrecorded)) from None
        if prometheus or journal_summary:
            from unitaudit.hourly.outputs import run_summary, write_outputs  # start-up time: the journal's bindings
            errors = write_outputs(result, run_summary(result, info, started, None), prometheus, journal_summary)
            if errors:
                raise UnitauditError("; ".join(errors) + unrecorded)
        if pending is not None:
            pending.commit()


@app.command()
@guarded
def fix(
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan: every action, its exact call, the diff of every file; change nothing."),
    finding: Optional[List[str]] = typer.Option(None, "--finding", metavar="ID", help="Only this finding; repeatable."),
    recipe: Optional[List[str]] = typer.Option(None, "--recipe", metavar="ID", help="Only this recipe; repeatable."),
    unit: Optional[List[str]] = typer.Option(None, "--unit", metavar="UNIT", help="Only this unit; also allows acting on it when it is protected. Repeatable."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Apply without asking."),
    json_out: bool = typer.Option(False, "--json", help="Write the plan (or the outcome) as one JSON document."),
    journal_dir: Optional[str] = typer.Option(None, "--journal-dir", metavar="DIR", help="Plan from a copied journal (recommendations only unless trusted)."),
    syslog: Optional[List[str]] = typer.Option(None, "--syslog", metavar="FILE", help="Plan from text logs: recommendations only."),
    since: Optional[str] = typer.Option(None, "--since", metavar="WHEN", help="Start of the evidence window, as for scan."),
    bus_address: Optional[str] = typer.Option(None, "--bus-address", metavar="ADDR", help="As for scan."),
    root: str = typer.Option("/", "--root", metavar="DIR", help="As for scan."),
) -> None:
    """Fix each loop found with the least invasive recipe, verify it stopped, record it for undo.

    --dry-run shows the exact plan and changes nothing.  Exit status: 0 nothing to fix or all
    fixed, 1 (dry run) a plan or refusals shown, 2 usage error, 3 could not complete, 4 a fix
    failed or did not stop its loop."""
    from unitaudit.report import fix_report, plan as plan_report  # start-up time
    from unitaudit.services.fix import plan_fix, run_fix  # start-up time
    from unitaudit.services.scan import ScanRequest  # start-up time
    if not dry_run and os.geteuid() != 0:
        raise UnitauditError("fix changes the system and needs root (sudo unitaudit fix); "
                             "`unitaudit fix --dry-run` shows the plan as any user")
    result = _scan(ScanRequest(journal_dir=journal_dir, syslogs=tuple(syslog or ()), since=since,
                               bus_address=bus_address, root=root))
    # the recording backend's run is the dry run, and what a real run is asked to confirm
    plan, recording = plan_fix(result.findings, root, named_units=unit or (), finding_ids=finding or (),
                               recipe_ids=recipe or (), protected_extra=_config().protected)
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
    raise _fix_outcome(fix_report, json_out, outcome, done=outcome.all_fixed)


@app.command()
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


@app.command()
@guarded
def churn(
    unit: Optional[str] = typer.Argument(None, metavar="[UNIT]", help="Only this unit's loop."),
    measure: Optional[str] = typer.Option(None, "--measure", metavar="UNIT", help="Watch this unit live and count what its starts create."),
    seconds: float = typer.Option(60.0, "--seconds", metavar="N", help="How long --measure watches."),
    json_out: bool = typer.Option(False, "--json", help="One JSON document."),
    since: Optional[str] = typer.Option(None, "--since", metavar="WHEN", help="Evidence window, as for scan."),
    bus_address: Optional[str] = typer.Option(None, "--bus-address", metavar="ADDR", help="As for scan."),
    root: str = typer.Option("/", "--root", metavar="DIR", help="As for scan."),
) -> None:
    """What each loop costs the kernel: cgroup directories and kernfs nodes per hour, beside the
    live slab and cgroup figures.

    Exit status: 0 no loop churns, 1 loops shown, 2 usage error, 3 could not complete."""
    from unitaudit.report import churn_report  # start-up time
    from unitaudit.services.scan import ScanRequest, kernel_only  # start-up time
    request = ScanRequest(since=since, bus_address=bus_address, root=root)
    if measure is not None:
        from unitaudit.services.live import check_measure, measure_churn  # start-up time (dbus-next)
        check_measure(measure, seconds)
        found = [f for f in _scan(request).findings if f.unit == measure and f.churn is not None]
        m = measure_churn(measure, seconds, bus_address, root)
        churn_report.write_measurement(m, found[0].churn if found else None, sys.stdout, json_out)
        raise _exit(ExitStatus.FINDINGS if found else ExitStatus.OK)
    try:
        result = _scan(request)
    except SourceError as e:  # a plain machine without a journal: the kernel's figures still mean something
        result = kernel_only(root, "no loops: %s" % e)
    _write(churn_report, json_out, result, unit=unit)
    churning = [f for f in result.findings if f.churn and f.churn.cgroups_per_hour and (unit is None or f.unit == unit)]
    raise _exit(ExitStatus.FINDINGS if churning else ExitStatus.OK)


@app.command()
@guarded
def watch(
    json_out: bool = typer.Option(False, "--json", help="Write the scan (with the auto-applied fixes) as one JSON document."),
    bus_address: Optional[str] = typer.Option(None, "--bus-address", metavar="ADDR", help="As for scan."),
) -> None:
    """One round of the hourly timer (unitaudit.timer): an incremental scan recorded in the
    history, the recipes /etc/unitaudit/unitaudit.toml allows applied on their own (none by
    default), the Prometheus textfile, and one summary entry in the journal.

    Exit status: 0 nothing found, 1 findings, 3 the scan or an output failed, 4 an auto-applied fix failed."""
    from unitaudit.hourly.round import run_round  # start-up time
    from unitaudit.report import round_report  # start-up time

    def emit(outcome) -> None:  # before the run is recorded (run_round)
        _write(round_report, json_out, outcome)
        sys.stdout.flush()

    outcome = run_round(_config(), bus_address, emit=emit)
    round_report.write_refusals(outcome, sys.stderr)
    for line in outcome.output_errors:
        _error(line)
    if outcome.error is not None:
        raise _exit(ExitStatus.INCOMPLETE, outcome.error)
    if outcome.fixes is not None and not outcome.fixes.all_fixed:
        raise _exit(ExitStatus.FIX_FAILED)
    if outcome.output_errors:
        raise _exit(ExitStatus.INCOMPLETE)
    raise _exit(ExitStatus.FINDINGS if outcome.result.findings else ExitStatus.OK)


@app.command()
@guarded
def history(
    unit: Optional[str] = typer.Option(None, "--unit", metavar="UNIT", help="Only this unit's loops."),
    since: str = typer.Option("7d", "--since", metavar="WHEN", help="How far back, as for scan (default 7d)."),
    json_out: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """The trend of every loop from the hourly runs: sightings per hour, rate and churn.

    Exit status: 0 shown, 2 usage error, 3 no history or it cannot be read."""
    from unitaudit.hourly.history import HistoryStore  # start-up time
    from unitaudit.report import history_report  # start-up time
    from unitaudit.services.scan import window  # start-up time
    span = window(since, None)
    store = HistoryStore(readonly=True)
    try:
        scans, hours = store.scans(span.since), store.hours(span.since, unit)
    finally:
        store.close()
    _write(history_report, json_out, scans, hours, span.since, span.now)


config_app = typer.Typer(help="The configuration file (/etc/unitaudit/unitaudit.toml, or $UNITAUDIT_CONFIG).",
                         no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("check")
@guarded
def config_check(path: Optional[str] = typer.Argument(None, metavar="[FILE]", help="The file to check (default: the one in use).")) -> None:
    """Validate the configuration: every error names the file and the key.

    Exit status: 0 valid, 2 invalid, 3 the recipes it names cannot be loaded."""
    from unitaudit.config import check_config, load_config  # start-up time
    from unitaudit.remediation.recipes import load_recipes  # start-up time
    from unitaudit.report import config_report  # start-up time
    config = load_config(path)
    problems = check_config(config, [r.id for r in load_recipes()])
    for p in problems:
        _error(p)
    if problems:
        raise _exit(ExitStatus.USAGE)
    config_report.write_text(config, sys.stdout)


@app.command()
@guarded
def recipes(json_out: bool = typer.Option(False, "--json", help="One JSON document.")) -> None:
    """List the recipes found, where each came from and what it fixes."""
    from unitaudit.remediation.recipes import load_recipes  # start-up time
    from unitaudit.report import recipes_report  # start-up time
    _write(recipes_report, json_out, load_recipes())


def main() -> None:
    """The entry point.  click's own errors (an unknown option, a missing or bad value) are one line
    too, worded and given their status by errors.describe, not typer's boxed panel."""
    command = typer.main.get_command(app)
    try:
        code = command.main(prog_name="unitaudit", standalone_mode=False)
    except Exception as e:  # noqa: BLE001 - only click's errors get here: every command is guarded
        names = {c.__name__ for c in type(e).__mro__}
        if "ClickException" not in names and "Abort" not in names:
            raise
        if type(e).__name__ == "NoArgsIsHelpError":  # click 8.2+: the help, already printed by typer's rich
            if e.format_message().strip():  # type: ignore[attr-defined]
                e.show()  # type: ignore[attr-defined]
            sys.exit(e.exit_code)  # type: ignore[attr-defined]
        message, status = describe(e)
        _error(message)
        sys.exit(int(status))
    sys.exit(code if isinstance(code, int) else int(ExitStatus.OK))
