"""What `unitaudit collect` wrote, for people and for programs, and its progress on a terminal."""
import contextlib
from typing import IO, Iterator, Optional

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from unitaudit.report import json_out
from unitaudit.report.safe_text import safe
from unitaudit.report.text_layout import fold
from unitaudit.util.times import iso_utc

SCHEMA = "unitaudit.collect/1"
_SHOWN_LEFT_OUT = 5
_WIDTH = 80


def _size(n: int) -> str:
    for unit, factor in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= factor:
            return "%.1f %s" % (n / factor, unit)
    return "%d bytes" % n


def write_text(collected, out: IO[str]) -> None:
    """`collected`: collect.run.Collected."""
    out.write("bundle written: %s (%s)\n" % (safe(collected.path), _size(collected.size)))
    cut = (", cut before %s to fit --max-size" % iso_utc(collected.journal_cut_before)
           if collected.journal_cut_before is not None else "")
    out.write("  journal    %d entries the scan reads%s\n" % (collected.journal_entries, cut))
    out.write("  findings   %d at collect time\n" % collected.findings)
    out.write("  files      %d copied (unit files, D-Bus services, logrotate, /proc)\n" % collected.files)
    if collected.left_out:
        out.write("  left out   %d:\n" % len(collected.left_out))
        for what, why in collected.left_out[:_SHOWN_LEFT_OUT]:  # folded at 80 columns, never cut
            out.write("\n".join(fold("%s: %s" % (safe(what), safe(why)), _WIDTH, "    ", "      ")) + "\n")
        if len(collected.left_out) > _SHOWN_LEFT_OUT:
            out.write("    ... %d more in the bundle's manifest.json\n" % (len(collected.left_out) - _SHOWN_LEFT_OUT))
    if collected.mapping:
        out.write("  redacted   the mapping stays here: %s\n" % safe(collected.mapping))
    out.write("read it anywhere with:\n  unitaudit scan --bundle %s\n" % safe(collected.path))


def write_json(collected, out: IO[str]) -> None:
    json_out.write({"schema": SCHEMA, "path": collected.path, "size": collected.size, "findings": collected.findings,
                    "journal_entries": collected.journal_entries, "journal_cut_before": collected.journal_cut_before,
                    "files": collected.files, "left_out": [{"what": w, "why": y} for w, y in collected.left_out],
                    "redaction_mapping": collected.mapping}, out)


@contextlib.contextmanager
def progress(stream) -> Iterator[Optional[object]]:
    """A progress display on `stream` (a terminal) for collect's steps; yields the callback
    (step, done, total)."""
    bar = Progress(TextColumn("{task.description:<20}"), BarColumn(bar_width=30), TextColumn("{task.fields[shown]}"),
                   console=Console(file=stream), transient=True)
    tasks = {}

    def step(name: str, done: int, total: Optional[int]) -> None:
        shown = ("%s of %s" % (_size(done), _size(total)) if name == "compressing" and total else
                 "%d of %d" % (done, total) if total else "%d" % done)
        if name not in tasks:
            tasks[name] = bar.add_task(name, total=total, shown=shown)
        bar.update(tasks[name], completed=done, total=total, shown=shown)

    with bar:
        yield step
