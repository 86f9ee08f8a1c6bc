"""`unitaudit scan`: its options, the scan, the report and the fleet outputs."""
import contextlib
import sys
import time
from typing import List, Optional

import typer

from unitaudit.cli import completion
from unitaudit.cli.common import _config, _exit, _live_parts, _scan, app, guarded
from unitaudit.errors import ExitStatus, UnitauditError, UsageError


@app.command(short_help="Report restart loops, activation loops and failing units.")
@guarded
def scan(
    journal_dir: Optional[str] = typer.Option(None, "--journal-dir", metavar="DIR", help="A journal directory copied from a machine (/var/log/journal)."),
    journal_file: Optional[List[str]] = typer.Option(None, "--journal-file", metavar="FILE", help="A journal file; repeatable."),
    syslog: Optional[List[str]] = typer.Option(None, "--syslog", metavar="FILE", help="A text log (syslog, journalctl output, .gz); repeatable."),
    since: Optional[str] = typer.Option(None, "--since", metavar="WHEN", autocompletion=completion.when, help="Start of the window: -2h, 24h, 7d, today, 2024-01-16 05:45."),
    until: Optional[str] = typer.Option(None, "--until", metavar="WHEN", autocompletion=completion.when, help="End of the window, same forms as --since."),
    boot: bool = typer.Option(False, "--boot", help="Only the latest boot in the journal."),
    json_out: bool = typer.Option(False, "--json", help="Write one JSON document instead of the table."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show evidence lines under each finding."),
    threshold: Optional[List[str]] = typer.Option(None, "--threshold", metavar="NAME=VALUE", autocompletion=completion.thresholds, help="Override a detector threshold; repeatable (see README)."),
    bus_address: Optional[str] = typer.Option(None, "--bus-address", metavar="ADDR", help="Read unit states from this D-Bus address instead of the system bus."),
    root: str = typer.Option("/", "--root", metavar="DIR", show_default=False, help="The scanned machine's root file system, for the diagnosis (a container: /proc/PID/root; default /)."),
    incremental: bool = typer.Option(False, "--incremental", help="Read only the journal entries after the last "
                                     "incremental run, and record this run in the history."),
    prometheus: Optional[str] = typer.Option(None, "--prometheus", metavar="FILE", help="Also write the findings as a node_exporter textfile (atomically)."),
    journal_summary: bool = typer.Option(False, "--journal-summary", help="Also log one structured summary entry to the journal."),
    bundle: Optional[str] = typer.Option(None, "--bundle", metavar="FILE|DIR", help="A bundle (unitaudit collect) or a sos report, read as the machine it came from."),
) -> None:
    """Report restart loops, activation loops and units failing on every run.

    Without --journal-dir/--journal-file/--syslog/--bundle it audits this machine: the local
    journal plus unit states over D-Bus, and checks each cause on the live system.

    Exit status: 0 nothing found, 1 findings, 2 usage error, 3 could not complete."""
    from unitaudit.services.scan import ScanRequest  # start-up time: the scan's modules load for a scan only
    started = time.time()
    if incremental and (journal_file or syslog or boot or bundle):
        raise UsageError("--incremental reads a journal by its cursor: not with --journal-file, --syslog, --boot or --bundle")
    if prometheus:  # a device, FIFO or symlink there is refused (exit 2) before anything is scanned
        from unitaudit.hourly.outputs import check_textfile_path  # start-up time: the journal's bindings
        check_textfile_path(prometheus)
    request = ScanRequest(journal_dir=journal_dir, journal_files=tuple(journal_file or ()), syslogs=tuple(syslog or ()),
                          since=since, until=until, boot=boot, thresholds=tuple(threshold or ()),
                          bus_address=bus_address, root=root, bundle=bundle)
    pending = _prepare_incremental(request) if incremental else None
    result = pending.result if pending is not None else _scan(request, for_people=not json_out)
    _report_scan(result, pending, started, json_out=json_out, verbose=verbose, prometheus=prometheus,
                 journal_summary=journal_summary, fix_argv=request.fix_arguments(),
                 fix_here=None if json_out else request.fix_machine_id())
    raise _exit(ExitStatus.FINDINGS if result.findings else ExitStatus.OK)




def _prepare_incremental(request):
    from unitaudit.hourly.incremental import IncrementalRequest, prepare_incremental  # start-up time (the history)
    return prepare_incremental(IncrementalRequest.from_scan(request, _config(), live=_live_parts(request)))


def _report_scan(result, pending, started: float, json_out: bool, verbose: bool, prometheus: Optional[str],
                 journal_summary: bool, fix_argv: Optional[List[str]], fix_here: Optional[str] = None) -> None:
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
                from unitaudit.report import scan_text  # start-up time: rich, the heaviest of all
                scan_text.write(result, verbose=verbose, incremental=info, fix_argv=fix_argv, fix_here=fix_here)
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


