"""JournalSource: what a scan reads from the systemd journal, one machine at a time."""
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple

from unitaudit.model import Progress, SourceStats, Sightings
from unitaudit.sources.journal.export import ExportJournal
from unitaudit.sources.journal.files import (JournalFiles, check_damage, check_journal_files, find_journal_files,
                                             make_room)
from unitaudit.sources.journal.passes import Passes, Scope
from unitaudit.sources.journal.reader import Journal, Position
from unitaudit.util.times import iso_utc


class JournalSource:
    kind = "journal"

    def __init__(self, directory: Optional[str] = None, files: Sequence[str] = (),
                 since: Optional[float] = None, until: Optional[float] = None, boot: bool = False,
                 incremental: bool = False, after_cursor: Optional[Position] = None,
                 export: Optional[str] = None, export_unique: Optional[Dict[str, Set[bytes]]] = None,
                 record: Optional[Callable[[object], None]] = None, progress: Optional[Progress] = None) -> None:
        """`incremental`: note where this read ends (`end`) for the next run.  `after_cursor`: (cursor,
        its realtime) of the last entry an earlier run read; only the entries after it are read
        (incremental runs).  `progress`: a display told how far each pass has read.  A cursor the journal no longer holds (rotated, vacuumed) falls back to
        its time, and a warning says so.  `export`: a journal in export format instead (a bundle's;
        `export_unique`: what its journal held, export.ExportJournal).  `record`: given the reader at
        each entry read (collect)."""
        self.directory = directory
        self.files = list(files)
        self.since = since
        self.until = until
        self.boot = boot
        self.incremental = incremental or after_cursor is not None
        self.after_cursor = after_cursor
        self.read_from = "full" if after_cursor is None else "cursor"
        # where this read ended: (cursor, realtime) of the last entry it covered, for the next run
        self.end: Optional[Position] = None
        self._skip: Optional[Tuple[str, int]] = None  # the cursor entry itself, read last time
        self.path = export or directory or (", ".join(self.files) if self.files else "local system journal")
        self._counts = {"entries": 0, "events": 0, "text_fallback": 0, "program_lines": 0, "damaged": 0}
        self._warnings: List[str] = []
        self._machines: Tuple[Tuple[str, str], ...] = ()  # (host, machine id) when several
        self.record = record
        self.progress = progress
        self._journal = Journal(directory, self.files, self.path, self._warnings) if export is None else \
            ExportJournal(export, self.path, self._warnings, export_unique)
        self._files: JournalFiles = []  # (file, its header) of --journal-dir/--journal-file
        if directory is not None:
            self._files += find_journal_files(directory, self._warnings)
        self._files += check_journal_files(self.files)
        make_room(self._files, self.path, self._warnings)
        self._damage_checked = False

    def events(self) -> Iterator[Sightings]:
        self._check_damage()
        if self.incremental:
            self._fix_window()
        boot_id = None
        if self.boot:
            boot_id = self._journal.latest_boot()
            if boot_id is None:
                self._warnings.append("--boot: no boot found in the journal")
                return
        span = self._journal.span() if self.progress is not None else None
        # A journal directory may hold several machines (journal-remote): each
        # machine's evidence stays its own, labelled by its hostname.
        machines = self._journal.machines()
        self._machines = tuple((host, m.decode("ascii", "replace")) for m, host in machines if m is not None)
        for machine, host in machines:
            # one machine: no match to add (every entry is its own)
            scope = Scope(since=self.since, until=self.until, skip=self._skip, boot_id=boot_id,
                          machine_id=machine if len(machines) > 1 else None, host=host)
            passes = Passes(self._journal, scope, self._counts, self._warnings, self.record, self.progress, span)
            yield from passes.read()

    def unique(self, field: str) -> Set[bytes]:
        """Every value `field` takes in the journal read (collect records MESSAGE_ID's)."""
        return self._journal.unique(field)

    def _check_damage(self) -> None:
        """Once, for the files of --journal-dir/--journal-file (files/check_damage).  The local
        journal (files journald is writing) is not checked."""
        if self._damage_checked or not self._files:
            return
        self._damage_checked = True
        starts = [t for t in (self.since, self.after_cursor[1] if self.after_cursor else None) if t is not None]
        self._warnings.extend(check_damage(self._files, self.directory, max(starts) if starts else None))

    def _fix_window(self) -> None:
        """Fix this read's end before reading (entries logged meanwhile are the next run's), and
        check that the earlier run's cursor still names an entry."""
        cursor = self.after_cursor[0] if self.after_cursor is not None else None
        end, cursor_us = self._journal.locate(self.until, cursor)
        self.end = end
        if self.after_cursor is not None:
            cursor, when = self.after_cursor
            if cursor_us is not None:
                self._skip = (cursor, cursor_us)
            else:
                self.read_from = "time"
                self.since = max(self.since or when, when)
                self._warnings.append("the last run's journal cursor is gone (journal rotated or vacuumed): "
                                      "read from its time, %s, instead" % iso_utc(when))
        if self.end is not None:
            self.until = self.end[1] if self.until is None else min(self.until, self.end[1])
        elif self.after_cursor is not None:
            self.end = self.after_cursor  # an empty journal: keep the old position

    def stats(self) -> SourceStats:
        warnings = tuple(self._warnings)
        if self._counts["damaged"]:
            warnings += ("%s: %d damaged entries skipped (a field missing or unreadable)"
                         % (self.path, self._counts["damaged"]),)
        return SourceStats(kind=self.kind, path=self.path, counts=tuple(self._counts.items()),
                           warnings=warnings, machines=self._machines)
