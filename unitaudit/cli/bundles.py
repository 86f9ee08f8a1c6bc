"""`unitaudit collect`: the bundle a support engineer reads elsewhere with `scan --bundle`."""
import sys
from typing import Optional

import typer

from unitaudit.cli import completion
from unitaudit.cli.common import _config, _exit, _write, app, guarded
from unitaudit.errors import ExitStatus


@app.command(short_help="Write a bundle of this machine's evidence for scan --bundle.")
@guarded
def collect(
    output: Optional[str] = typer.Option(None, "-o", "--output", metavar="FILE", help="Where to write the bundle (default: ./unitaudit-bundle-HOST-TIME.tar.xz)."),
    since: str = typer.Option("7d", "--since", metavar="WHEN", show_default=False, autocompletion=completion.when, help="Start of the journal window, as for scan (default 7d)."),
    until: Optional[str] = typer.Option(None, "--until", metavar="WHEN", autocompletion=completion.when, help="End of the window, as for scan."),
    max_size: str = typer.Option("50M", "--max-size", metavar="SIZE", show_default=False, help="Largest bundle: the journal is cut oldest-first to fit (default 50M)."),
    redact: bool = typer.Option(False, "--redact", help="Replace host names, user names and IP addresses; the mapping stays here."),
    json_out: bool = typer.Option(False, "--json", help="Say what was written as one JSON document."),
    bus_address: Optional[str] = typer.Option(None, "--bus-address", metavar="ADDR", help="As for scan."),
    root: str = typer.Option("/", "--root", metavar="DIR", show_default=False, help="As for scan (default /)."),
) -> None:
    """Write a bundle of this machine's evidence for `scan --bundle` elsewhere.

    One .tar.xz with everything a scan and its diagnosis read here: the journal entries, unit
    states, unit and configuration files, probe answers, kernel figures, and a manifest.
    Read-only, like scan.  `unitaudit scan --bundle FILE` reads it on any machine.

    Exit status: 0 written, 2 usage error, 3 could not complete."""
    from unitaudit.collect.run import CollectRequest, collect as run_collect, parse_size  # start-up time (dbus-next)
    from unitaudit.report import collect_report  # start-up time (rich)
    request = CollectRequest(output=output, since=since, until=until, max_size=parse_size(max_size), redact=redact,
                             bus_address=bus_address, root=root)
    if sys.stderr.isatty() and not json_out:
        with collect_report.progress(sys.stderr) as step:
            collected = run_collect(request, _config().thresholds, step)
    else:
        collected = run_collect(request, _config().thresholds)
    _write(collect_report, json_out, collected)
    raise _exit(ExitStatus.OK)
