"""A progress display on a terminal for a read that takes a while: a scan of a large journal or
text log, or of a bundle.  On stderr, and only when stderr is a terminal and the report is for
people: a pipe, a log or `--json` never gets it.  It appears only once the read has taken
`DELAY` seconds (a scan of a day's journal ends before a bar would be worth drawing), and is
gone (transient) before the report is written.
"""
import contextlib
import time
from typing import IO, Dict, Iterator, Optional

from rich.console import Console
from rich.progress import BarColumn, Progress as Bar, TextColumn
from rich.table import Column

from unitaudit.model import Progress

DELAY = 1.0  # seconds


@contextlib.contextmanager
def progress_display(stream: IO[str], wanted: bool = True) -> Iterator[Optional[Progress]]:
    """Yields the callback sources call with (what, done, total), or None when no display is
    wanted or `stream` is not a terminal.  `total` None: an amount without an end (a
    compressed log read through gzip); else the bar's fraction."""
    if not wanted or not stream.isatty():
        yield None
        return
    console = Console(file=stream)
    bar = Bar(TextColumn("{task.description}", table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
              BarColumn(bar_width=30), TextColumn("{task.fields[shown]:>4}"), console=console, transient=True)
    tasks: Dict[str, int] = {}
    began = time.monotonic()
    state = {"showing": False}

    def step(what: str, done: int, total: Optional[int]) -> None:
        if not state["showing"]:
            if time.monotonic() - began < DELAY:
                return
            bar.start()
            state["showing"] = True
        shown = "%d%%" % min(100, done * 100 // total) if total else ""
        if what not in tasks:
            for earlier in tasks.values():  # one read at a time: the earlier ones are done
                bar.update(earlier, visible=False)
            tasks[what] = bar.add_task(what, total=total, shown=shown)
        bar.update(tasks[what], completed=min(done, total) if total else done, total=total, shown=shown)

    try:
        yield step
    finally:
        if state["showing"]:
            bar.stop()
