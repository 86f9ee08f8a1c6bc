"""The layout every human report shares: a console of the right width, lines folded between words
(a path, a unit name or a command is never cut), `Label: value` blocks as `systemctl status`
shows them, and the figures written the same way everywhere.

Colour comes from rich, which leaves it out on a pipe or a file and when NO_COLOR is set; the
width is the terminal's, or COLUMNS, else 80 (a pipe or a log file reads best at 80 too).
"""
import os
import textwrap
from typing import IO, List, Optional

from rich.console import Console
from rich.text import Text

from unitaudit.util.times import iso_utc

PIPE_WIDTH = 80
READABLE_WIDTH = 100  # prose folds here on a wider terminal too: longer lines are hard to follow
LABEL_WIDTH = 11  # "  Diagnosis": the longest label of a finding's block, right-aligned


def console_for(out: Optional[IO[str]]) -> Console:
    console = Console(file=out, highlight=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(file=out, highlight=False, width=PIPE_WIDTH)
    return console


def width_of(out: IO[str]) -> int:
    """The width a plain-text report (no rich console) folds at: COLUMNS, the terminal's, else 80;
    at most READABLE_WIDTH."""
    try:
        width = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        try:
            width = os.get_terminal_size(out.fileno()).columns if out.isatty() else PIPE_WIDTH
        except (AttributeError, OSError, ValueError):  # a StringIO
            width = PIPE_WIDTH
    return max(40, min(width, READABLE_WIDTH))


def bullet(console: Console) -> str:
    """systemctl's dot where the output can carry it (a C locale's ASCII stream cannot)."""
    return "\u25cf" if (console.encoding or "").lower().replace("-", "") == "utf8" else "*"


def fold(text: str, width: int, indent: str = "", later: Optional[str] = None) -> List[str]:
    """`text` as lines of at most `width` characters, broken between words only: a word too long
    for its indent (a path deep in the file system) gets a line of its own, moved left as far as it
    must; one longer than the whole width keeps its indent and overflows rather than being cut."""
    later = indent if later is None else later
    lines = textwrap.wrap(text, width=max(width, len(indent) + 1, len(later) + 1), initial_indent=indent,
                          subsequent_indent=later, break_long_words=False, break_on_hyphens=False) or [indent.rstrip()]
    return [_moved_left(line, width) for line in lines]


def _moved_left(line: str, width: int) -> str:
    """A line too wide only for its indent, with less indent; any other line as it is."""
    word = line.lstrip(" ")
    return " " * (width - len(word)) + word if len(line) > width >= len(word) else line


def print_folded(console: Console, text: str, indent: str = "", later: Optional[str] = None,
                 style: Optional[str] = None) -> None:
    """`text` folded at the console's width; printed as is, so rich never wraps it again."""
    for line in fold(text, console.width, indent, later):
        console.print(Text(line, style=style or ""), soft_wrap=True)


def print_field(console: Console, label: str, value: str, style: Optional[str] = None) -> None:
    """`      Label: value`, the value folded under itself (systemctl status's layout)."""
    head = ("%*s: " % (LABEL_WIDTH, label)) if label else " " * (LABEL_WIDTH + 2)
    print_folded(console, value, head, " " * len(head), style)


def command_lines(argv: List[str], width: int, indent: str) -> List[str]:
    """A command that may be copied from the report: whole words per line, and a line that goes
    on ends in ` \\` so the copy still runs in a shell."""
    lines: List[str] = []
    line = indent
    for word in argv:
        if line.strip() and len(line) + 1 + len(word) + 2 > width:
            lines.append(line + " \\")
            # a word too long for the continuation's indent (a bundle deep in a file system)
            # moves left as far as it must (fold's rule, the ` \\` counted)
            line = _moved_left(indent + "  " + word, width - 2)
        else:
            line = line + (" " if line.strip() else "") + word
    lines.append(line)
    return lines


def fmt_rate(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return "{:,.0f}".format(value) if value >= 10 else "%.2g" % value


def fmt_when(t: Optional[float]) -> str:
    s = iso_utc(t)
    return s.replace("T", " ")[:16] if s else "unknown"  # to the minute; --json has the seconds


def fmt_bytes(b: Optional[float]) -> str:
    """Decimal units, as the kernel's slab figures are usually quoted (128 MB)."""
    if b is None:
        return "?"
    for unit in ("B", "kB", "MB", "GB"):
        if b < 999.5:
            return "%.0f %s" % (b, unit)
        b /= 1000.0
    return "%.0f TB" % b


def fmt_seconds(s: float) -> str:
    if s < 60:
        return "%.2g s" % s if s < 10 else "%.0f s" % s
    if s < 3600:
        return "%.0f min" % (s / 60)
    return "%.1f h" % (s / 3600)
