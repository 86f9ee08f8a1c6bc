"""Text logs: rsyslog files, `journalctl` output, lines pasted into bug reports.

The entry point is `TextLogSource`.  Formats and time rules: lines.py (README
"Reading text logs").  Only lines containing one of the hit strings can be
evidence: grep -F (or Python) finds them (filters.py) and one parser reads
them, with a fast path for lines whose timestamp form, minute and text were
seen before (fastpath.py): traditional, short-precise, RFC 3339 and short-iso
lines.  Text logs carry no trusted fields: every event from them is
untrusted.

Bounds (issue 13): memory is bounded by a constant and time is linear in the
input, whatever it holds.  A line is read up to `MAX_LINE` bytes (2 MiB); the
rest of a longer line is skipped, and the source's counts (`lines_cut`) and
warnings say how many lines were cut (bounded.py).  Of a line that matched, the
first `PARSE_MAX` bytes (8 KiB) are parsed and kept as evidence: a block of
sightings and the parser's caches stay small whatever the lines hold.  A
stream, and a gzip file (decompressing costs more than filtering), is read
once, in one pass: the request lines are sampled as they come (opening.py).

  source.py    TextLogSource: the passes
  fastpath.py  the hot loop: a line read by the layout of the last one the parser read
  opening.py   the file or stream checked and opened
  bounded.py   the bounded reader
  filters.py   the hit strings; grep -F, or Python when grep is absent
  lines.py     LineParser: the grammar of one line
  notes.py     the counts and warnings of a read
"""
from unitaudit.sources.textlog.source import TextLogSource

__all__ = ["TextLogSource"]
