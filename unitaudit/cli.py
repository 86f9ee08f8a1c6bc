"""The command line.  Thin: parse options, build sources, call scan, print.

Errors become one line on stderr and an ExitStatus (errors.py); a traceback
only with --debug.
"""
import functools
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
_debug = {"on": False}


def _error(message: object) -> None:
    """The one error line on stderr.  A path or log text inside it is shown escaped, like every
    human output (a file named with an escape sequence must not drive the terminal)."""
    from unitaudit.report.safe_text import safe

    line = "unitaudit: error: %s" % safe(str(message))
    if sys.stderr.isatty():  # a person reads it: fit the terminal; a log or a pipe keeps one line
        import shutil
        import textwrap

        width = min(shutil.get_terminal_size().columns, 100)
        line = "\n".join(textwrap.wrap(line, width=width, subsequent_indent="  ", break_long_words=False,
                                        break_on_hyphens=False)) or line
    typer.echo(line, err=True)


def _fail(message: str, status: ExitStatus) -> "typer.Exit":
    _error(message)
    return typer.Exit(code=int(status))


def guarded(command: Callable) -> Callable:
    """Map every failure of a command to one line and an exit status."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            raise _fail("interrupted", ExitStatus.INCOMPLETE) from None
        except BrokenPipeError:
            sys.stderr.close()  # the reader went away (| head): nothing left to say
            raise typer.Exit(code=int(ExitStatus.OK))
        except Exception as e:  # noqa: BLE001 - the last line of defence; errors.describe words it
            if _debug["on"]:
                raise
            message, status = describe(e)
            raise _fail(message, status) from None

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
    _debug["on"] = debug


@app.command()
@guarded
def scan(
    journal_dir: Optional[str] = typer.Option(None, "--journal-dir", metavar="DIR",
                                              help="A journal directory copied from a machine (/var/log/journal)."),
    journal_file: Optional[List[str]] = typer.Option(None, "--journal-file", metavar="FILE",
                                                     help="A journal file; repeatable."),
    syslog: Optional[List[str]] = typer.Option(None, "--syslog", metavar="FILE",
                                               help="A text log (syslog, journalctl output, .gz); repeatable."),
    since: Optional[str] = typer.Option(None, "--since", metavar="WHEN", help="Start of the window: -2h, 24h, 7d, today, 2024-01-16 05:45."),
    until: Optional[str] = typer.Option(None, "--until", metavar="WHEN", help="End of the window, same forms as --since."),
    boot: bool = typer.Option(False, "--boot", help="Only the latest boot in the journal."),
    json_out: bool = typer.Option(False, "--json", help="Write one JSON document instead of the table."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show evidence lines under each finding."),
    threshold: Optional[List[str]] = typer.Option(None, "--threshold", metavar="NAME=VALUE",
                                                  help="Override a detector threshold; repeatable (see README)."),
    bus_address: Optional[str] = typer.Option(None, "--bus-address", metavar="ADDR",
                                              help="Read unit states from this D-Bus address instead of the system bus."),
    root: str = typer.Option("/", "--root", metavar="DIR",
                             help="The scanned machine's root file system, for the diagnosis (a container: /proc/PID/root)."),
    incremental: bool = typer.Option(False, "--incremental", help="Read only the journal entries after the last "
                                     "incremental run, and record this run in the history."),
    prometheus: Optional[str] = typer.Option(None, "--prometheus", metavar="FILE",
                                             help="Also write the findings as a node_exporter textfile (atomically)."),
    journal_summary: bool = typer.Option(False, "--journal-summary", help="Also log one structured summary entry to the journal."),
) -> None:
    """Report restart loops, activation loops and units failing on every run.

    Without --journal-dir/--journal-file/--syslog it audits this machine: the local journal plus
    unit states over D-Bus, and checks each cause on the live system.

    Exit status: 0 nothing found, 1 findings, 2 usage error, 3 could not complete."""
    started = time.time()
    if incremental and (journal_file or syslog or boot):
        raise UsageError("--incremental reads a journal by its cursor: not with --journal-file, --syslog or --boot")
    if prometheus:  # a device, FIFO or symlink there is refused (exit 2) before anything is scanned
        from unitaudit.hourly.outputs import check_textfile_path

        check_textfile_path(prometheus)
    info = pending = None
    if incremental:  # recorded only once every output below is written (incremental.PendingRun)
        pending = _incremental(journal_dir, since, until, threshold, bus_address, root)
        result, info = pending.result, pending.info
    else:
        result = _scan(journal_dir, journal_file, syslog, since, until, boot, threshold, bus_address, root)
    from unitaudit.hourly.round import NOT_RECORDED

    unrecorded = NOT_RECORDED if pending is not None else ""
    try:
        try:
            if json_out:
                from unitaudit.report import json_report

                json_report.write(result, sys.stdout, incremental=info)
            else:
                from unitaudit.report import table

                table.write(result, verbose=verbose, incremental=info)
            sys.stdout.flush()
        except BrokenPipeError:
            raise
        except OSError as e:
            raise UnitauditError("cannot write the report to stdout: %s%s" % (e.strerror or e, unrecorded)) from None
        if prometheus or journal_summary:
            from unitaudit.hourly.outputs import run_summary, write_outputs

            errors = write_outputs(result, run_summary(result, info, started, None), prometheus, journal_summary)
            if errors:
                raise UnitauditError("; ".join(errors) + unrecorded)
        if pending is not None:
            pending.commit()
    finally:
        if pending is not None:
            pending.abort()  # nothing when committed
    raise typer.Exit(code=int(ExitStatus.FINDINGS if result.findings else ExitStatus.OK))


@functools.lru_cache(maxsize=1)
def _config():
    """The configuration file, read once per command (fix reads thresholds and protected units)."""
    from unitaudit.config import load_config

    return load_config()


def _window(since, until):
    from unitaudit.util.times import parse_time

    now = time.time()
    t_since = parse_time(since, now, "--since") if since else None
    t_until = parse_time(until, now, "--until") if until else None
    if t_since is not None and t_until is not None and t_since > t_until:
        raise UsageError("--since is after --until")
    return now, t_since, t_until


def _scan(journal_dir, journal_file, syslog, since, until, boot, threshold, bus_address, root):
    from unitaudit.model import Thresholds
    from unitaudit.services.scan import scan as run_scan

    now, t_since, t_until = _window(since, until)
    thresholds = Thresholds.parse(threshold or [], base=_config().thresholds)
    sources = _sources(journal_dir, journal_file or [], syslog or [], t_since, t_until, boot)
    live_source = diagnose = kernel = None
    if bus_address or not (journal_dir or journal_file or syslog):  # this machine, or one whose bus we were given
        from unitaudit.services.live import live_parts

        live_source, diagnose, kernel = live_parts(bus_address, root)
    return run_scan(sources, thresholds, now=t_until if t_until is not None else now,
                    since=t_since, until=t_until, live_source=live_source, diagnose=diagnose, kernel=kernel)


def _incremental(journal_dir, since, until, threshold, bus_address, root):
    from unitaudit.model import Thresholds
    from unitaudit.hourly.incremental import prepare_incremental

    config = _config()
    now, t_since, t_until = _window(since, until)
    live_source = diagnose = kernel = None
    if bus_address or not journal_dir:
        from unitaudit.services.live import live_parts

        live_source, diagnose, kernel = live_parts(bus_address, root)
    return prepare_incremental(Thresholds.parse(threshold or [], base=config.thresholds), now, config.window,
                               config.retention, journal_dir=journal_dir, since=t_since, until=t_until,
                               live_source=live_source, diagnose=diagnose, kernel=kernel)


@app.command()
@guarded
def fix(
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan: every action, its exact call, the diff of every file; change nothing."),
    finding: Optional[List[str]] = typer.Option(None, "--finding", metavar="ID", help="Only this finding; repeatable."),
    recipe: Optional[List[str]] = typer.Option(None, "--recipe", metavar="ID", help="Only this recipe; repeatable."),
    unit: Optional[List[str]] = typer.Option(None, "--unit", metavar="UNIT",
                                             help="Only this unit; also allows acting on it when it is protected. Repeatable."),
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
    import os

    from unitaudit.services.fix import plan_fix
    from unitaudit.report import plan as plan_report

    if not dry_run and os.geteuid() != 0:
        raise UnitauditError("fix changes the system and needs root (sudo unitaudit fix); "
                             "`unitaudit fix --dry-run` shows the plan as any user")
    result = _scan(journal_dir, None, syslog, since, None, False, None, bus_address, root)
    # the recording backend's run is the dry run, and what a real run is asked to confirm
    plan, recording = plan_fix(result.findings, root, named_units=unit or (), finding_ids=finding or (),
                                recipe_ids=recipe or (), protected_extra=_config().protected)
    if dry_run or not plan.steps:
        if json_out:
            plan_report.write_json(plan, recording.performed, sys.stdout)
        else:
            plan_report.write_text(plan, result.findings, recording.performed, sys.stdout)
        raise typer.Exit(code=int(ExitStatus.FINDINGS if plan.steps or plan.refusals else ExitStatus.OK))
    if root != "/":
        raise UsageError("--root is for --dry-run: a fix acts on the machine it runs on")
    if not yes:
        plan_report.write_text(plan, result.findings, recording.performed, sys.stderr)
        if not sys.stdin.isatty():
            raise UsageError("not a terminal: add --yes to apply this plan")
        if not typer.confirm("Apply this plan?", default=False, err=True):
            raise typer.Exit(code=int(ExitStatus.OK))
    from unitaudit.services.fix import run_fix

    outcome = run_fix(plan, result, bus_address, " ".join(sys.argv))
    from unitaudit.report import fix_report

    (fix_report.write_json if json_out else fix_report.write_text)(outcome, sys.stdout)
    raise typer.Exit(code=int(ExitStatus.OK if outcome.all_fixed else ExitStatus.FIX_FAILED))


_MAX_RUN = (1 << 63) - 1


@app.command()
@guarded
def undo(
    run: Optional[int] = typer.Argument(None, metavar="[RUN]", help="The fix run to undo (default: the last one not undone)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask."),
    bus_address: Optional[str] = typer.Option(None, "--bus-address", metavar="ADDR", help="As for scan."),
) -> None:
    """Revert what a fix run changed: files byte-identical, drop-ins removed, links restored.

    Exit status: 0 undone, 2 usage error, 3 could not complete, 4 partly undone."""
    import os

    if run is not None and not 1 <= run <= _MAX_RUN:  # SQLite's integers end there
        raise UsageError("RUN %d: no such fix run: a run number is 1 to %d" % (run, _MAX_RUN))
    if os.geteuid() != 0:
        raise UnitauditError("undo changes the system and needs root")
    from unitaudit.services.fix import run_undo

    report = run_undo(run, yes, bus_address)
    from unitaudit.report.safe_text import safe

    for line in report.lines:
        typer.echo(safe(line))
    raise typer.Exit(code=int(ExitStatus.OK if report.complete else ExitStatus.FIX_FAILED))


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
    from unitaudit.report import churn_report

    if measure is not None:
        from unitaudit.util.names import is_unit_name
        from unitaudit.sources.dbus import DBusSource
        from unitaudit.sources.kernel import KernelSource
        from unitaudit.sources import cgroup_watch

        if not is_unit_name(measure) or seconds <= 0:
            raise UsageError("--measure needs a unit name and --seconds a positive number")
        result = _scan(None, None, None, since, None, False, None, bus_address, root)
        found = [f for f in result.findings if f.unit == measure and f.churn is not None]
        m = cgroup_watch.measure(measure, seconds, DBusSource(bus_address), KernelSource(root))
        churn_report.write_measurement(m, found[0].churn if found else None, sys.stdout, json_out)
        raise typer.Exit(code=int(ExitStatus.FINDINGS if found else ExitStatus.OK))
    try:
        result = _scan(None, None, None, since, None, False, None, bus_address, root)
    except SourceError as e:  # a plain machine without a journal: the kernel's figures still mean something
        from unitaudit.services.scan import kernel_only

        result = kernel_only(root, "no loops: %s" % e)
    (churn_report.write_json if json_out else churn_report.write_text)(result, sys.stdout, unit)
    churning = [f for f in result.findings if f.churn and f.churn.cgroups_per_hour and (unit is None or f.unit == unit)]
    raise typer.Exit(code=int(ExitStatus.FINDINGS if churning else ExitStatus.OK))


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
    from unitaudit.hourly.round import run_round

    from unitaudit.report import round_report

    def emit(outcome) -> None:  # before the run is recorded (run_round)
        (round_report.write_json if json_out else round_report.write_text)(outcome, sys.stdout)
        sys.stdout.flush()

    outcome = run_round(_config(), bus_address, emit=emit)
    from unitaudit.report.safe_text import safe

    for line in outcome.refusals:
        typer.echo("auto-apply refused: %s" % safe(line), err=True)
    for line in outcome.output_errors:
        _error(line)
    if outcome.error is not None:
        raise _fail(outcome.error, ExitStatus.INCOMPLETE)
    if outcome.fixes is not None and not outcome.fixes.all_fixed:
        raise typer.Exit(code=int(ExitStatus.FIX_FAILED))
    if outcome.output_errors:
        raise typer.Exit(code=int(ExitStatus.INCOMPLETE))
    raise typer.Exit(code=int(ExitStatus.FINDINGS if outcome.result.findings else ExitStatus.OK))


@app.command()
@guarded
def history(
    unit: Optional[str] = typer.Option(None, "--unit", metavar="UNIT", help="Only this unit's loops."),
    since: str = typer.Option("7d", "--since", metavar="WHEN", help="How far back, as for scan (default 7d)."),
    json_out: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """The trend of every loop from the hourly runs: sightings per hour, rate and churn.

    Exit status: 0 shown, 2 usage error, 3 no history or it cannot be read."""
    from unitaudit.hourly.history import HistoryStore
    from unitaudit.report import history_report

    now, t_since, _ = _window(since, None)
    store = HistoryStore(readonly=True)
    try:
        scans, hours = store.scans(t_since), store.hours(t_since, unit)
    finally:
        store.close()
    (history_report.write_json if json_out else history_report.write_text)(scans, hours, t_since, now, sys.stdout)


config_app = typer.Typer(help="The configuration file (/etc/unitaudit/unitaudit.toml, or $UNITAUDIT_CONFIG).",
                         no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("check")
@guarded
def config_check(path: Optional[str] = typer.Argument(None, metavar="[FILE]", help="The file to check (default: the one in use).")) -> None:
    """Validate the configuration: every error names the file and the key.

    Exit status: 0 valid, 2 invalid, 3 the recipes it names cannot be loaded."""
    from unitaudit.config import check_config, load_config
    from unitaudit.remediation.recipes import load_recipes

    config = load_config(path)
    problems = check_config(config, [r.id for r in load_recipes()])
    for p in problems:
        _error(p)
    if problems:
        raise typer.Exit(code=int(ExitStatus.USAGE))
    typer.echo("%s: valid%s" % (config.path or "no configuration file", "" if config.path else " (all defaults)"))
    typer.echo("  window %g h, retention %g days, prometheus %s, auto-apply %s, %d protected addition(s)" % (
        config.window / 3600, config.retention / 86400, config.prometheus_path or "(off)",
        " ".join(config.auto_apply) or "(none)", len(config.protected)))


@app.command()
@guarded
def recipes(json_out: bool = typer.Option(False, "--json", help="One JSON document.")) -> None:
    """List the recipes found, where each came from and what it fixes."""
    from unitaudit.remediation.recipes import load_recipes

    found = load_recipes()
    if json_out:
        import json

        json.dump({"schema": "unitaudit.recipes/1", "recipes": [{
            "id": r.id, "title": r.title, "source": r.source, "priority": r.priority,
            "findings": list(r.applies.findings), "cause": r.applies.cause, "verdicts": list(r.applies.verdicts),
            "actions": [s.action.value for s in r.steps], "verify": r.verify.check.value} for r in found]},
            sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    for r in found:
        typer.echo("%s  (%s)\n    %s\n    for %s%s%s; steps: %s; verify: %s" % (
            r.id, r.source, r.title, "/".join(r.applies.findings),
            " caused by " + r.applies.cause if r.applies.cause else "",
            " when " + "/".join(r.applies.verdicts) if r.applies.verdicts else "",
            ", ".join(s.action.value for s in r.steps), r.verify.check.value))


def _sources(journal_dir, journal_files, syslogs, since, until, boot) -> list:
    from unitaudit.sources.journal import JournalSource
    from unitaudit.sources.textlog import TextLogSource

    if boot and syslogs and not (journal_dir or journal_files):
        raise UsageError("--boot needs a journal: text logs do not record boots")
    sources: list = []
    if journal_dir:
        sources.append(JournalSource(directory=journal_dir, since=since, until=until, boot=boot))
    if journal_files:
        sources.append(JournalSource(files=journal_files, since=since, until=until, boot=boot))
    sources.extend(TextLogSource(p, since=since, until=until) for p in syslogs)
    if not sources:
        sources.append(JournalSource(since=since, until=until, boot=boot))
    return sources


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
