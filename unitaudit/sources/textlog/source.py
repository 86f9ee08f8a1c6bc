"""TextLogSource: what a scan reads from a text log, in one or two passes over its matching lines."""
import os
import shutil
from typing import Callable, Iterator, Optional, Tuple

from unitaudit.model import Progress, Sightings, SourceStats, UnitState
from unitaudit.sources.textlog.bounded import LineCut
from unitaudit.sources.textlog.fastpath import Pass, window
from unitaudit.sources.textlog.filters import (
    HIT_STRINGS, LINE_STARTS, REQUEST_SAMPLE, REQUEST_STRING, Wanted, is_noise, line_pattern, matching_lines)
from unitaudit.sources.textlog.lines import PARSE_MAX, LineParser
from unitaudit.sources.textlog.notes import UNREAD_KEPT, ReadNotes, unread_sample
from unitaudit.sources.textlog.opening import LogInput
from unitaudit.sources.textlog.stamps import ENTRY_TIME_STRINGS
from unitaudit.sources.textlog.status import STATUS_STRINGS, StatusReader

# The main pass also picks the lines of pasted `systemctl status` blocks (status.py) and those
# that date a journal export/verbose entry (stamps.py); of the lines it picks, those with a hit
# string are the ones that count as unread when nothing reads them.
_MAIN = HIT_STRINGS + STATUS_STRINGS + ENTRY_TIME_STRINGS
_HIT = line_pattern(HIT_STRINGS + (REQUEST_STRING,), LINE_STARTS).search
ReadLine = Callable[[bytes], bool]


class TextLogSource:
    kind = "syslog"

    def __init__(self, path: str, since: Optional[float] = None, until: Optional[float] = None,
                 use_grep: Optional[bool] = None, progress: Optional[Progress] = None) -> None:
        """`progress`: a display told how many bytes of the file each pass has read."""
        self.path = path
        self.progress = progress
        self.since = since
        self.until = until
        self.use_grep = (shutil.which("grep") is not None) if use_grep is None else use_grep
        self._notes = ReadNotes(path)
        self._log = LogInput(path)
        self._status = StatusReader()

    def events(self) -> Iterator[Sightings]:
        log = self._log
        parser = LineParser(log.reference)
        if log.was_read:
            return  # a stream already read
        if log.stream_fd is not None:
            try:
                yield from self._read(parser, Wanted(_MAIN + (REQUEST_STRING,), starts=LINE_STARTS), self._status.read)
            finally:
                log.close_stream()  # read once: a second call reads nothing
            return
        if log.gz:  # decompressing costs more than the filter: one pass, as a stream
            yield from self._read(parser, Wanted(_MAIN + (REQUEST_STRING,), starts=LINE_STARTS), self._status.read)
            return
        yield from self._read(parser, Wanted(_MAIN, starts=LINE_STARTS), self._status.read)
        # "Activating via systemd" repeats every failed activation; the requesters
        # (deepin-system-m in the seed) show in the first lines as well as in all.
        yield from self._read(parser, Wanted((REQUEST_STRING,), REQUEST_SAMPLE))

    def _read(self, parser: LineParser, wanted: Wanted, read_status: Optional[ReadLine] = None) -> Iterator[Sightings]:
        """The matching lines, read by the hot loop (fastpath.py); lines that say the same thing
        are handed over together, once per block.  `read_status` reads pasted `systemctl status` lines."""
        run = Pass(parser, window(self.since, self.until), read_status, self._unread)
        try:
            for block in self._lines(wanted, 1 if read_status is not None else 2):
                yield from run.read(block)
            yield from run.flush()
        finally:
            self._notes.add_read(run.matched, run.matched - run.missed, run.unparsed, run.undated, run.outside)
            if wanted.max_count is not None:
                self._notes.counts["requests_sampled"] = run.matched

    def _unread(self, line: bytes, with_status: bool) -> int:
        """1 when a line nothing could read looked like evidence (kept among the first few), else 0.
        With the status strings in the filter, only a line with a hit string can be evidence; a
        line cut at PARSE_MAX may have lost its hit string: it was picked for one, most likely."""
        if is_noise(line) or b"FATAL" in line or b"ERROR" in line:
            return 0
        if with_status and len(line) < PARSE_MAX and not _HIT(line):
            return 0
        unread = self._notes.unread
        if len(unread) < UNREAD_KEPT:
            unread.append(unread_sample(line))
        return 1

    def _lines(self, wanted: Wanted, number: int):
        """The matching lines in blocks.  The request pass rereads lines the first pass read
        whole: its cuts are not counted again.  A progress display hears how far pass `number`
        is at every block (up to 1 MiB of grep's output): it costs nothing."""
        cut = LineCut() if wanted.max_count is not None else self._notes.cut
        blocks = matching_lines(self._log, wanted, self.use_grep, cut, self._notes)
        if self.progress is None:
            return blocks
        return self._told(blocks, "%s, pass %d" % (os.path.basename(self.path), number))  # a line of a narrow display

    def _told(self, blocks, what: str):
        log, progress = self._log, self.progress
        for block in blocks:
            at = log.position()
            progress(what, at or 0, log.size if at is not None else None)  # type: ignore[misc]
            yield block

    def unit_states(self) -> Tuple[UnitState, ...]:
        """The units pasted `systemctl status` blocks show (seen_in "systemctl status"), once read."""
        return self._status.unit_states()

    def stats(self) -> SourceStats:
        notes = self._notes
        counts = dict(notes.counts)
        counts["status_blocks"] = len(self._status.unit_states())
        return SourceStats(kind=self.kind, path=self.path, counts=tuple(counts.items()),
                           warnings=tuple(notes.warnings), unparsed_lines=tuple(notes.unread))
