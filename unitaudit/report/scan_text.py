"""`unitaudit scan` for people: what was read, one summary line per finding, then one block per
finding with the facts first, as `systemctl status` shows a unit and a compiler a diagnostic:

    ● deepin-anything-monitor.service: restart-loop
           Loop: restarted 69 times (1628/h), restart counter reached 69
           Seen: 2026-12-07 17:33 to 17:36 UTC, every 2.2 s
          Cause: ExecStartPre failed (exited, status=1/FAILURE): modprobe: ...
      Diagnosis: module-missing: ...
           Cost: 1,628 starts an hour, 3,256 cgroup directories and ...
            Fix: unitaudit fix --finding ba69773062db --dry-run

Everything is folded between words at the console's width (80 on a pipe): a unit name, a path or
the fix command is never cut.  Log text reaches rich only as Text (never parsed as markup), and
only through safe() (no escape sequence reaches the terminal).
"""
import shlex
from collections import OrderedDict
from typing import IO, List, Optional, Sequence

from rich.console import Console
from rich.padding import Padding
from rich.text import Text

from unitaudit.model import Finding, FindingKind, ReadFrom, ScanResult, SourceStats
from unitaudit.report.safe_text import safe
from unitaudit.report.text_layout import (
    LABEL_WIDTH, READABLE_WIDTH, bullet, command_lines, console_for, fmt_bytes, fmt_rate, fmt_seconds, fmt_when, print_field,
    print_folded)

# a loop repeats until someone acts: red; a unit that failed, or was stopped by its start limit: yellow
_LOOPS = (FindingKind.RESTART_LOOP, FindingKind.ACTIVATION_LOOP, FindingKind.REPEATED_FAILURE)
_KIND_WIDTH = max(len(k.value) for k in FindingKind)
_FIGURES = "%7s %7s %10s"
_FIGURES_WIDTH = len(_FIGURES % ("", "", ""))


def write(result: ScanResult, out: Optional[IO[str]] = None, verbose: bool = False, incremental=None,
          fix_argv: Optional[Sequence[str]] = None, fix_here: Optional[str] = None) -> None:
    """`fix_argv`: the arguments of `unitaudit fix` that read the same evidence as this scan
    (ScanRequest.fix_arguments); None when fix cannot, and then no fix command is shown.
    `fix_here`: the id of the machine that fix would act on (ScanRequest.fix_machine_id): another
    machine's loop (a central journal host's) gets the command to run on that machine instead."""
    console = console_for(out)
    console.width = min(console.width, READABLE_WIDTH)
    _what_was_read(console, result, incremental, verbose)
    if not result.findings:
        console.print("No loops or recurring failures found.")
        return
    several_hosts = len({f.host for f in result.findings}) > 1
    _summary(console, result.findings, several_hosts)
    for f in result.findings:
        _block(console, f, several_hosts, fix_argv, fix_here, verbose)
    console.print()
    if fix_argv is not None and not all(_elsewhere(f, fix_here) for f in result.findings):
        _command(console, "Every fix", ["--dry-run"] + list(fix_argv))
    if not verbose:
        print_field(console, "Evidence", "add --verbose to the scan", "dim")


def _elsewhere(f: Finding, here: Optional[str]) -> bool:
    """Logged by another machine than the one fix would act on (fix refuses it)."""
    return bool(here and f.machine_id and f.machine_id != here)


def _command(console: Console, label: str, fix_argv: List[str], lead: str = "") -> None:
    """`unitaudit fix ARGS` under `label`, quoted for a shell; an option and its value stay on
    one line.  `lead`: words before the command (where to run it)."""
    words, i = ([lead] if lead else []) + ["unitaudit fix"], 0
    while i < len(fix_argv):
        word = shlex.quote(safe(fix_argv[i]))
        if fix_argv[i].startswith("--") and i + 1 < len(fix_argv) and not fix_argv[i + 1].startswith("--"):
            i += 1
            value = shlex.quote(safe(fix_argv[i]))
            if LABEL_WIDTH + 2 + 2 + len(word) + 1 + len(value) + 2 <= console.width:
                word += " " + value
            else:  # too long for one line together: the value gets a line of its own
                words.append(word)
                word = value
        words.append(word)
        i += 1
    lines = command_lines(words, console.width, " " * (LABEL_WIDTH + 2))
    lines[0] = "%*s: " % (LABEL_WIDTH, label) + lines[0].lstrip()
    for n, line in enumerate(lines):
        console.print(Text(line, style="bold cyan" if n == 0 else "cyan"), soft_wrap=True)


def _what_was_read(console: Console, result: ScanResult, incremental, verbose: bool) -> None:
    if incremental is not None:
        i = incremental
        read_from = ReadFrom(i.read_from)
        since = {ReadFrom.CURSOR: "after the last run's cursor", ReadFrom.TIME: "from the last run's time (its cursor is gone)",
                 ReadFrom.WINDOW: "over the configured window (first incremental run)"}.get(read_from, read_from.value)
        print_folded(console, "incremental: %d journal entries read %s, up to %s; %d sightings carried from the last run"
                     % (i.entries, safe(since), fmt_when(i.end), i.carried), later="  ", style="dim")
    for s in result.sources:
        if s.kind == "carried" and not any(v for _k, v in s.counts):
            continue  # a first incremental run: nothing carried, nothing to say
        counts = ", ".join("%s %d" % (k.replace("_", " "), v) for k, v in s.counts if v)
        print_folded(console, "%s %s: %s" % (s.kind, safe(s.path), safe(counts) or "nothing read"), later="  ", style="dim")
        _unparsed(console, s, verbose)
    if result.live is not None:
        print_folded(console, "dbus %s: %d units, %d unit files in %.2f s" % (
            safe(result.live.address), len(result.live.units), len(result.live.unit_files), result.live.seconds),
            later="  ", style="dim")
    for w in result.warnings:
        print_folded(console, "warning: " + safe(w), later="  ", style="yellow")


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
    print_folded(console, "%d line(s) looked like evidence but were not read%s" % (n, more), "  ", "    ", "yellow")
    for line in shown:  # folded at the console's width, every character kept (a line may be one long token)
        console.print(Padding(Text(safe(line), overflow="fold"), (0, 0, 0, 4)))


def _summary(console: Console, findings: Sequence[Finding], several_hosts: bool) -> None:
    """One line per finding: kind, unit, count, rate, and what it costs the kernel a day.  A unit
    too long for its column gets the line to itself, its figures on the next."""
    console.print()
    print_folded(console, "unitaudit: %d finding(s), times in UTC" % len(findings), style="bold")
    room = max(8, console.width - 2 - _KIND_WIDTH - 1 - 1 - _FIGURES_WIDTH)
    unit_width = min(room, max(len(safe(f.unit)) for f in findings))
    header = "  %-*s %-*s " % (_KIND_WIDTH, "KIND", unit_width, "UNIT") + _FIGURES % ("COUNT", "RATE/H", "KERNFS/DAY")
    console.print(Text(header, style="dim"), soft_wrap=True)
    for host, group in _by_host(findings).items():
        if several_hosts:
            console.print(Text("  on %s" % (safe(host) or "a machine the evidence does not name"), style="dim"),
                          soft_wrap=True)
        for f in group:
            figures = _FIGURES % ("{:,}".format(f.count), fmt_rate(f.rate_per_hour), _cost_a_day(f))
            unit = safe(f.unit)
            line = Text("  ")
            line.append("%-*s" % (_KIND_WIDTH, f.kind.value), style=_severity(f))
            if len(unit) <= unit_width:
                line.append(" %-*s %s" % (unit_width, unit, figures))
            else:
                line.append(" " + unit)
                console.print(line, soft_wrap=True)
                line = Text(" " * (2 + _KIND_WIDTH + 1 + unit_width + 1) + figures)
            console.print(line, soft_wrap=True)


def _by_host(findings: Sequence[Finding]) -> "OrderedDict[str, List[Finding]]":
    out: "OrderedDict[str, List[Finding]]" = OrderedDict()
    for f in findings:
        out.setdefault(f.host, []).append(f)
    return out


def _severity(f: Finding) -> str:
    return "bold red" if f.kind in _LOOPS else "bold yellow"


def _cost_a_day(f: Finding) -> str:
    """kernfs_node_cache bytes a day: what the seed's machine lost to the loops."""
    c = f.churn
    if c is None:
        return "-"
    if not c.cgroups_per_hour:
        return "none"
    return fmt_bytes(c.bytes_per_day) if c.bytes_per_day is not None else "?"


def _block(console: Console, f: Finding, several_hosts: bool, fix_argv: Optional[Sequence[str]],
           fix_here: Optional[str], verbose: bool) -> None:
    console.print()
    head = Text(bullet(console) + " ", style=_severity(f))
    head.append(safe(f.unit), style="bold")
    head.append(": %s%s" % (f.kind.value, " on %s" % safe(f.host) if several_hosts and f.host else ""))
    if len(head.plain) <= console.width:
        console.print(head, soft_wrap=True)
    else:  # folded between words: the unit name stays whole
        print_folded(console, head.plain, "", "  ", "bold")
    print_field(console, "Loop", safe(f.summary))
    print_field(console, "Seen", _seen(f))
    cause = safe(f.cause.summary) if f.cause else "not shown by the evidence"
    print_field(console, "Cause", cause)
    if not f.trusted:
        print_field(console, "Trust", "from text any local user could have logged: fix only recommends", "yellow")
    if f.diagnosis is not None:
        print_field(console, "Diagnosis", "%s: %s" % (safe(f.diagnosis.verdict), safe(f.diagnosis.summary)))
    cost = _cost(f)
    if cost:
        print_field(console, "Cost", cost)
    if fix_argv is not None and _elsewhere(f, fix_here):  # its own journal there names it by unit, not by id
        _command(console, "Fix", ["--unit", f.unit, "--dry-run"], lead="on %s:" % safe(f.host or f.machine_id))
    elif fix_argv is not None:
        _command(console, "Fix", list(fix_argv) + ["--finding", f.id, "--dry-run"])
    if verbose:
        print_field(console, "Evidence", "%d line(s), the first and the last (finding %s):" % (len(f.evidence), f.id))
        for line in f.evidence:  # whole, one line each, as `journalctl --no-pager` shows them: the terminal wraps
            console.print(Text("    " + safe(line), style="dim"), soft_wrap=True)


def _seen(f: Finding) -> str:
    first, last = fmt_when(f.first_seen), fmt_when(f.last_seen)
    if first == last:
        out = first + " UTC"
    elif first[:10] == last[:10]:
        out = "%s to %s UTC" % (first, last[11:])
    else:
        out = "%s to %s UTC" % (first, last)
    if f.period_seconds:
        out += ", every %s" % fmt_seconds(f.period_seconds)
    return out


def _cost(f: Finding) -> str:
    c = f.churn
    if c is None:
        return ""
    if not c.cgroups_per_hour:
        why = dict(c.basis).get("starts_per_hour")
        return "no cgroup churn" + (": %s" % safe(why) if why else "")
    out = "%s starts an hour: %s cgroup directories and %s kernfs nodes an hour" % (
        fmt_rate(c.starts_per_hour), fmt_rate(c.cgroups_per_hour), fmt_rate(c.kernfs_nodes_per_hour))
    if c.bytes_per_day is not None:
        out += ", %s a day through kernfs_node_cache" % fmt_bytes(c.bytes_per_day)
    return out
