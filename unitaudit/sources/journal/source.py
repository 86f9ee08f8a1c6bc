"""JournalSource: what a scan reads from the systemd journal, one machine at a time."""
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple

from unitaudit.model import Progress, SourceStats, Sightings
from unitaudit.sources.journal.export import ExportJournal
from unitaudit.sources.journal.files import (JournalFiles, check_damage, check_journal_files, find_journal_files,
                                             make_room)
from unitaudit.sources.journal import parallel
from unitaudit.sources.journal.parallel import Child, estimate_entries
from unitaudit.sources.journal.passes import Passes, Scope, bus_sightings
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
        self._journal.paths = [f for f, _header in self._files]
        make_room(self._files, self.path, self._warnings)
        self._damage_checked = False
        self._reading = False

    def events(self) -> Iterator[Sightings]:
        self._reading = True
        children: List[Child] = []  # each reaped at the end, also on an error or Ctrl-C
        try:
            yield from self._read(children)
        finally:
            for child in children:
                child.stop()
            self._reading = False
            self._journal.close()  # the read's one reader (reader.Journal.reader)

    def _read(self, children: List[Child]) -> Iterator[Sightings]:
        # A big read of journal files: the bus daemon's pass is read by a child (parallel.py),
        # started first so that the damage check runs beside it too.
        early, machines = None, None
        if not self.incremental and not self.boot and self._big(1):
            machines = self._journal.machines()
            scope = self._scope(machines[0], len(machines), None)
            early = (scope, self._fork(scope, children)) if len(machines) == 1 else None
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
        if machines is None:
            machines = self._journal.machines()
        self._machines = tuple((host, m.decode("ascii", "replace")) for m, host in machines if m is not None)
        for machine in machines:
            scope = self._scope(machine, len(machines), boot_id)
            if early is not None and early[0] == scope:
                child, early = early[1], None
            else:
                child = self._fork(scope, children) if self._big(len(machines)) else None
            passes = Passes(self._journal, scope, self._counts, self._warnings, self.record, self.progress, span,
                            child)
            yield from passes.read()

    def _scope(self, machine: Tuple[Optional[bytes], str], machines: int, boot_id: Optional[bytes]) -> Scope:
        # one machine: no match to add (every entry is its own)
        return Scope(since=self.since, until=self.until, skip=self._skip, boot_id=boot_id,
                     machine_id=machine[0] if machines > 1 else None, host=machine[1])

    def _big(self, machines: int) -> bool:
        """Does a child reading the bus daemon's pass pay?  Only for journal files read whole (not
        an export, nor collect's recording read), of more entries per machine than MIN_ENTRIES."""
        if self.record is not None or not self._files or isinstance(self._journal, ExportJournal):
            return False
        # an incremental run reads from its cursor, whose time bounds the read as --since does
        starts = [t for t in (self.since, self.after_cursor[1] if self.after_cursor else None) if t is not None]
        since = max(starts) if starts else None
        return estimate_entries(self._files, since, self.until) >= parallel.MIN_ENTRIES * machines

    def _fork(self, scope: Scope, children: List[Child]) -> Optional[Child]:
        """A child reading `scope`'s bus daemon pass with a journal of its own, opened in it."""
        directory, files, label, paths = self.directory, self.files, self.path, list(self._journal.paths)

        def work():
            journal = Journal(directory, files, label, [])
            journal.paths = paths
            return bus_sightings(journal, scope)
        child = parallel.start(work)
        if child is not None:
            children.append(child)
        return child

    def unique(self, field: str) -> Set[bytes]:
        """Every value `field` takes in the journal read (collect records MESSAGE_ID's)."""
        try:
            return self._journal.unique(field)
        finally:
            if not self._reading:
                self._journal.close()

    def _check_damage(self) -> None:
        """Once, for the files of --journal-dir/--journal-file (files/check_damage).  The local
        journal (files journald is writing) is not checked."""
        if self._damage_checked or not self._files:
            return
        self._damage_checked = True
        starts = [t for t in (self.since, self.after_cursor[1] if self.after_cursor else None) if t is not None]
        problems = check_damage(self._files, self.directory, max(starts) if starts else None)
        self._warnings.extend(problems)
        self._journal.share = not problems  # reader.Journal: one reader for all passes, files intact only

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
