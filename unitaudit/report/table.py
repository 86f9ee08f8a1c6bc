"""The table for people (rich).  Honours NO_COLOR and plain output when piped."""
import os
from typing import IO, Optional

from rich.console import Console
from rich.table import Table
from rich.text import Text

from unitaudit.report.safe_text import safe
from unitaudit.model import ReadFrom, ScanResult, SourceStats
from unitaudit.util.times import iso_utc


def console_for(out: Optional[IO[str]]) -> Console:
    console = Console(file=out, highlight=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(file=out, highlight=False, width=160)  # a log file or a pipe: do not squeeze to 80
    return console


def fmt_rate(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return "%.0f" % value if value >= 10 else "%.2g" % value


def fmt_when(t: Optional[float]) -> str:
    s = iso_utc(t)
    return s.replace("T", " ")[:16] if s else "unknown"  # to the minute; --json has the seconds


def _churn(f) -> str:
    """cgroup directories per hour (kernfs nodes per hour): what the loop costs the kernel."""
    c = f.churn
    if c is None:
        return "-"
    if not c.cgroups_per_hour:
        return "0 cg"
    return "%s cg, %s nodes" % (fmt_rate(c.cgroups_per_hour), fmt_rate(c.kernfs_nodes_per_hour))


def _unparsed(console: Console, source: SourceStats, verbose: bool) -> None:
    """Lines that looked like evidence but could not be read: said, so that "No loops" is not
    taken to mean that everything was read; `--verbose` shows the first few."""
    n = dict(source.counts).get("unparsed", 0)
    if not n:
        return
    kept = len(source.unparsed_lines)
    shown = source.unparsed_lines if verbose else ()
    if shown:
        more = ":" if kept == n else "; the first %d:" % kept
    else:
        more = " (--verbose: the first %d)" % kept if kept else ""
    console.print(Text("  %d line(s) looked like evidence but were not read%s" % (n, more), style="yellow"))
    for line in shown:  # folded at the console's width: a long log line stays whole
        console.print(Text("    " + safe(line), overflow="fold"))


def write(result: ScanResult, out: Optional[IO[str]] = None, verbose: bool = False, incremental=None) -> None:
    console = console_for(out)
    if incremental is not None:
        i = incremental
        read_from = ReadFrom(i.read_from)
        since = {ReadFrom.CURSOR: "after the last run's cursor", ReadFrom.TIME: "from the last run's time (its cursor is gone)",
                 ReadFrom.WINDOW: "over the configured window (first incremental run)"}.get(read_from, read_from.value)
        console.print(Text("incremental: %d journal entries read %s, up to %s; %d sightings carried from the last run"
                           % (i.entries, safe(since), fmt_when(i.end), i.carried), style="dim"))
    for s in result.sources:
        if s.kind == "carried" and not any(v for _k, v in s.counts):
            continue  # a first incremental run: nothing carried, nothing to say
        counts = ", ".join("%s %d" % (k.replace("_", " "), v) for k, v in s.counts if v)
        console.print(Text("%s %s: %s" % (s.kind, safe(s.path), safe(counts) or "nothing read"), style="dim"))
        _unparsed(console, s, verbose)
    if result.live is not None:
        console.print(Text("dbus %s: %d units, %d unit files in %.2f s" % (
            safe(result.live.address), len(result.live.units), len(result.live.unit_files), result.live.seconds), style="dim"))
    for w in result.warnings:
        console.print(Text("warning: " + safe(w), style="yellow"))
    if not result.findings:
        console.print("No loops or recurring failures found.")
        return
    table = Table(title="unitaudit: %d finding(s), times in UTC" % len(result.findings), title_justify="left")
    hosts = {f.host for f in result.findings}
    several = len(hosts) > 1
    if several:
        table.add_column("Host", overflow="fold", max_width=22)
    table.add_column("Kind", no_wrap=True)
    table.add_column("Unit", overflow="fold", max_width=34)
    table.add_column("Count", justify="right")
    table.add_column("Rate/h", justify="right")
    table.add_column("First seen")
    table.add_column("Last seen")
    table.add_column("Churn/h", justify="right")
    table.add_column("Cause", overflow="fold", ratio=1)
    diagnosed = any(f.diagnosis for f in result.findings)
    if diagnosed:
        table.add_column("Diagnosis (live)", overflow="fold", ratio=1)
    for f in result.findings:
        cause = safe(f.cause.summary if f.cause else f.summary)
        if not f.trusted:
            cause += " [untrusted evidence]"
        # log text goes to rich only as Text: never read as markup
        cells = [f.kind.value, Text(safe(f.unit)), str(f.count), fmt_rate(f.rate_per_hour), fmt_when(f.first_seen),
                 fmt_when(f.last_seen), _churn(f), Text(cause)]
        if diagnosed:
            cells.append(Text(safe(f.diagnosis.summary) if f.diagnosis else "-"))
        table.add_row(*([Text(safe(f.host) or "-")] if several else []) + cells)
    console.print(table)
    if verbose:
        for f in result.findings:
            where = " on %s" % safe(f.host) if several and f.host else ""
            console.print(Text("\n%s  %s%s  %s (id %s)" % (f.kind.value, safe(f.unit), where, safe(f.summary), f.id),
                               style="bold"))
            for line in f.evidence:
                console.print(Text("    " + safe(line)), soft_wrap=True)
