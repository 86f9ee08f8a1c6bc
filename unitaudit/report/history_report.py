"""`unitaudit history`: the trend of every loop from the recorded runs, for people (a sparkline
per loop) and for programs (`--json`)."""
import math
from collections import OrderedDict
from typing import IO, Dict, Sequence, Tuple

from rich.text import Text

from unitaudit.report import json_out
from unitaudit.report.safe_text import safe
from unitaudit.report.text_layout import console_for, fmt_rate, fmt_when, print_folded
from unitaudit.util.times import iso_utc

SCHEMA = "unitaudit.history/1"
BARS = "·▁▂▃▄▅▆▇█"  # · no sighting in that bar's hours
WIDTH = 28  # sparkline characters at most: a week (168 hours) is one character per 6 hours


def _loops(hours) -> "OrderedDict[Tuple[str, str, str, str], list]":
    out: "OrderedDict[Tuple[str, str, str, str], list]" = OrderedDict()
    for h in hours:
        out.setdefault((h.finding, h.unit, h.kind, h.host), []).append(h)
    return out


def sparkline(counts: Dict[int, int], start_hour: int, end_hour: int, width: int = WIDTH) -> str:
    """One character per `step` hours from start to end; the height is the busiest bucket's share."""
    n_hours = max(1, (end_hour - start_hour) // 3600 + 1)
    step = max(1, math.ceil(n_hours / width))
    buckets = [0] * math.ceil(n_hours / step)
    for hour, n in counts.items():
        i = (hour - start_hour) // 3600 // step
        if 0 <= i < len(buckets):
            buckets[i] += n
    top = max(buckets) or 1
    return "".join(BARS[0] if not n else BARS[max(1, round(n * (len(BARS) - 1) / top))] for n in buckets)


def to_document(scans: Sequence, hours: Sequence, since: float, now: float) -> dict:
    loops = []
    for (finding, unit, kind, host), rows in _loops(hours).items():
        loops.append({"id": finding, "unit": unit, "kind": kind, "host": host or None,
                      "sightings": sum(r.count for r in rows), "hours_seen": len(rows),
                      "hours": [{"hour": iso_utc(r.hour), "count": r.count, "rate_per_hour": r.rate,
                                 "cgroups_per_hour": r.cgroups_per_hour,
                                 "kernfs_nodes_per_hour": r.kernfs_nodes_per_hour} for r in rows]})
    return {"schema": SCHEMA, "since": iso_utc(since), "generated_at": iso_utc(now),
            "runs": [{"id": s.id, "source": s.source, "started": iso_utc(s.started), "seconds": s.seconds,
                      "read_from": s.read_from, "entries_read": s.entries, "findings": s.findings,
                      "error": s.error} for s in scans],
            "loops": loops}


def write_json(scans, hours, since: float, now: float, out: IO[str]) -> None:
    json_out.write(to_document(scans, hours, since, now), out)


def write_text(scans, hours, since: float, now: float, out: IO[str]) -> None:
    console = console_for(out)
    if scans:
        last = scans[-1]
        print_folded(console, "%d run(s) since %s; the last at %s read %d journal entries in %.2f s (%s)" % (
            len(scans), fmt_when(since), fmt_when(last.started), last.entries, last.seconds, safe(last.read_from)),
            later="  ", style="dim")
    else:
        console.print(Text("no runs recorded since %s" % fmt_when(since), style="dim"))
    loops = _loops(hours)
    if not loops:
        console.print("No loops recorded in this period.")
        return
    start = int(since // 3600 * 3600)
    end = max(int(now // 3600 * 3600), max(h.hour for h in hours))
    step = max(1, math.ceil(((end - start) // 3600 + 1) / WIDTH))
    print_folded(console, "Loops since %s UTC (trend: one bar = %d h, the last bar is the hour of %s)" % (
        fmt_when(since), step, fmt_when(end)[5:]), later="  ")
    several = len({k[3] for k in loops}) > 1
    for (finding, unit, kind, host), rows in loops.items():
        latest = rows[-1]
        console.print()
        print_folded(console, "%-17s %s%s" % (safe(kind), safe(unit), " on %s" % safe(host) if several and host else ""),
                     later="  ", style="bold")
        print_folded(console, "%s  %d sightings in %d h, %s/h, churn %s cgroups/h" % (
            sparkline({r.hour: r.count for r in rows}, start, end), sum(r.count for r in rows), len(rows),
            fmt_rate(latest.rate), fmt_rate(latest.cgroups_per_hour)), "    ", "      ")

