"""`unitaudit churn`, `watch`, `history`, `config check` and `recipes`."""
import sys
from typing import Optional

import typer

from unitaudit.cli import completion
from unitaudit.cli.common import _config, _error, _exit, _scan, _write, app, guarded
from unitaudit.errors import ExitStatus, SourceError, UsageError


@app.command(short_help="What each loop costs the kernel in cgroups and kernfs nodes.")
@guarded
def churn(
    unit: Optional[str] = typer.Argument(None, metavar="[UNIT]", autocompletion=completion.units, help="Only this unit's loop."),
    measure: Optional[str] = typer.Option(None, "--measure", metavar="UNIT", autocompletion=completion.units, help="Watch this unit live and count what its starts create."),
    seconds: float = typer.Option(60.0, "--seconds", metavar="N", show_default=False, help="How long --measure watches (default 60)."),
    json_out: bool = typer.Option(False, "--json", help="One JSON document."),
    since: Optional[str] = typer.Option(None, "--since", metavar="WHEN", autocompletion=completion.when, help="Evidence window, as for scan."),
    bus_address: Optional[str] = typer.Option(None, "--bus-address", metavar="ADDR", help="As for scan."),
    root: str = typer.Option("/", "--root", metavar="DIR", show_default=False, help="As for scan (default /)."),
    bundle: Optional[str] = typer.Option(None, "--bundle", metavar="FILE|DIR", help="The loops of a bundle, with its machine's kernel figures."),
) -> None:
    """What each loop costs the kernel: cgroup directories and kernfs nodes per hour, beside the
    live slab and cgroup figures.

    Exit status: 0 no loop churns, 1 loops shown, 2 usage error, 3 could not complete."""
    from unitaudit.report import churn_report  # start-up time
    from unitaudit.services.scan import ScanRequest, kernel_only  # start-up time
    request = ScanRequest(since=since, bus_address=bus_address, root=root, bundle=bundle)
    if measure is not None and bundle:
        raise UsageError("--measure watches this machine: not with --bundle")
    if measure is not None:
        from unitaudit.services.live import check_measure, measure_churn  # start-up time (dbus-next)
        check_measure(measure, seconds)
        found = [f for f in _scan(request).findings if f.unit == measure and f.churn is not None]
        m = measure_churn(measure, seconds, bus_address, root)
        churn_report.write_measurement(m, found[0].churn if found else None, sys.stdout, json_out)
        raise _exit(ExitStatus.FINDINGS if found else ExitStatus.OK)
    try:
        result = _scan(request, for_people=not json_out)
    except SourceError as e:  # a plain machine without a journal: the kernel's figures still mean something
        if bundle:
            raise
        result = kernel_only(root, "no loops: %s" % e)
    _write(churn_report, json_out, result, unit=unit)
    churning = [f for f in result.findings if f.churn and f.churn.cgroups_per_hour and (unit is None or f.unit == unit)]
    raise _exit(ExitStatus.FINDINGS if churning else ExitStatus.OK)


@app.command(short_help="One round of the hourly timer (unitaudit.timer).")
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


@app.command(short_help="The trend of every loop from the hourly runs.")
@guarded
def history(
    unit: Optional[str] = typer.Option(None, "--unit", metavar="UNIT", autocompletion=completion.units, help="Only this unit's loops."),
    since: str = typer.Option("7d", "--since", metavar="WHEN", show_default=False, autocompletion=completion.when, help="How far back, as for scan (default 7d)."),
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
app.add_typer(config_app, name="config", short_help="Check the configuration file.")


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


@app.command(short_help="List the recipes, where each came from and what it fixes.")
@guarded
def recipes(json_out: bool = typer.Option(False, "--json", help="One JSON document.")) -> None:
    """List the recipes found, where each came from and what it fixes."""
    from unitaudit.remediation.recipes import load_recipes  # start-up time
    from unitaudit.report import recipes_report  # start-up time
    _write(recipes_report, json_out, load_recipes())


