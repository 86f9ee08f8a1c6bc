"""The journal opened through systemd-python: a directory, files, or this system's own.

One reader serves every pass and question of a read (`reader`: its matches flushed, each pass
seeks anew): opening one maps the files' headers and windows anew, ~0.4 ms a time, which an
hourly run's dozen readers paid in full.  What is asked of the journal as a whole is here too:
its machines and their hostnames, the latest boot, where an incremental read starts and ends,
and the distinct messages of its files (passes.py's exact-text pass).
"""
import os
from typing import List, Optional, Sequence, Set, Tuple

from unitaudit.errors import SourceError
from unitaudit.sources.journal import binding
from unitaudit.sources.journal.files import system_journal_readable

RAW = binding.raw_reader()

# (cursor, realtime in seconds) of one entry
Position = Tuple[str, float]


class Journal:
    """The journal a source reads.  `warnings` is the source's list: opening may add to it.
    `raw`: the unbound reader methods for its readers (export.ExportJournal has its own)."""

    raw = RAW

    def __init__(self, directory: Optional[str], files: Sequence[str], label: str, warnings: List[str]) -> None:
        self.directory = directory
        self.files = list(files)
        self.label = label  # how messages name it
        self.warnings = warnings
        self.paths: List[str] = []  # its files, each readable alone (texts); none for this system's journal
        self._shared = None
        self._busy = False
        # Share one reader only among files checked intact (files.check_damage): sd_journal drops
        # a file from a reader at its first damaged object, without an error, so every later pass
        # on that reader would miss the file's entries before the damage too (a 4 KiB overwrite
        # in the seed's journal: 39 entries read instead of 114).  Unchecked (this system's
        # journal) or damaged: a reader per pass, each reading up to the damage.
        self.share = False

    def reader(self):
        """The read's one reader, its matches flushed: the caller adds its own and seeks.  Hand it
        back with `done`.  Asked while it is in use (a pass asks how long the read is), or when
        the files are not known intact (`share`), a new one."""
        if self._busy or not self.share:
            return self.open()
        if self._shared is None:
            self._shared = self.open()
        else:
            self._shared.flush_matches()
        self._busy = True
        return self._shared

    def done(self, r) -> None:
        """A reader from `reader` is no longer used (the shared one stays open until `close`)."""
        if r is self._shared:
            self._busy = False
        else:
            r.close()

    def close(self) -> None:
        if self._shared is not None:
            self._shared.close()
            self._shared = None
            self._busy = False

    def texts(self, budget: int) -> Optional[Set[bytes]]:
        """Every MESSAGE of the journal's files (from their field index, not their entries: ~1.5 us a
        distinct text), or None when they number more than `budget`, cannot be read, or the
        files are not known one by one (this system's journal).  Read file by file, so a journal
        of many distinct texts gives up after the first files past the budget, not after all."""
        if not self.paths:
            return None
        journal = binding.require()
        out: Set[bytes] = set()
        for path in self.paths:
            try:
                r = journal.Reader(files=[path])
            except OSError:
                continue  # sd_journal skips it in the read too (files.check_damage says so)
            try:
                out |= self.raw.query_unique(r, "MESSAGE")
            except OSError:
                return None
            finally:
                r.close()
            if len(out) > budget:
                return None
        return out

    def open(self):
        """A new journal.Reader on this journal."""
        journal = binding.require()
        try:
            if self.directory is not None:
                r = journal.Reader(path=self.directory)
            elif self.files:
                r = journal.Reader(files=self.files)
            else:
                r = journal.Reader(flags=journal.LOCAL_ONLY)
                if not (r.has_persistent_files() or r.has_runtime_files()):
                    hint = "" if os.geteuid() == 0 else " or readable by this user (run as root or join group adm)"
                    raise SourceError("no journal found on this system%s; give --journal-dir, --journal-file or --syslog" % hint)
                if os.geteuid() != 0 and not system_journal_readable():
                    self.warnings.append("the system journal is not readable by this user: only what it may read "
                                         "was scanned (run as root or join group adm or systemd-journal)")
        except OSError as e:
            raise SourceError("%s: cannot open the journal: %s" % (self.label, e.strerror or e)) from None
        return r

    def unique(self, field: str) -> Set[bytes]:
        """Every value `field` takes in the journal (read from its index, not its entries)."""
        r = self.reader()
        try:
            return self.raw.query_unique(r, field)
        finally:
            self.done(r)

    def span(self) -> Optional[Tuple[int, int]]:
        """The realtime (us) of the first and the last entry; None for an empty or unreadable
        journal.  What a progress display measures a pass against."""
        r = self.reader()
        try:
            r.seek_head()
            if not r._next():
                return None
            first = r._get_realtime()
            r.seek_tail()
            return (first, r._get_realtime()) if r._previous() else None
        except OSError:
            return None
        finally:
            self.done(r)

    def last_us(self) -> Optional[int]:
        """The realtime (us) of the journal's last entry; None for an empty or unreadable one."""
        r = self.reader()
        try:
            r.seek_tail()
            return r._get_realtime() if r._previous() else None
        except OSError:
            return None
        finally:
            self.done(r)

    def latest_boot(self) -> Optional[bytes]:
        r = self.reader()
        try:
            r.seek_tail()
            if r._previous():
                return r._get("_BOOT_ID")
        except (OSError, KeyError):
            return None
        finally:
            self.done(r)
        return None

    def machines(self) -> List[Tuple[Optional[bytes], str]]:
        """(machine id, hostname) of each machine (journal-remote keeps several in one directory);
        the id None when the entries carry none."""
        ids = sorted(self.unique("_MACHINE_ID"))
        if len(ids) <= 1:
            return [(ids[0] if ids else None, self._hostname(None))]
        named = [(m, self._hostname(m)) for m in ids]
        names = [h for _m, h in named]
        # two machines with one hostname (cloned images, containers) stay apart
        return [(m, h if names.count(h) == 1 else "%s/%s" % (h, m.decode()[:8])) for m, h in named]

    def _hostname(self, machine: Optional[bytes]) -> str:
        """The machine's latest _HOSTNAME (what its syslog lines carry), else its machine id."""
        r = self.reader()
        try:
            if machine is not None:
                r.add_match(b"_MACHINE_ID=" + machine)
            r.seek_tail()
            if r._previous():
                return r._get("_HOSTNAME").decode("utf-8", "replace")
        except (OSError, KeyError):
            pass
        finally:
            self.done(r)
        return machine.decode()[:12] if machine else ""

    def locate(self, until: Optional[float], cursor: Optional[str]) -> Tuple[Optional[Position], Optional[int]]:
        """The last entry up to `until` (None: an empty journal), and the realtime (us) of the entry
        `cursor` names (None: the journal no longer holds it, or it is not a cursor at all)."""
        r = self.reader()
        end: Optional[Position] = None
        found_us: Optional[int] = None
        try:
            if until is not None:
                self.raw.seek_realtime(r, int(until * 1e6) + 1)
            else:
                r.seek_tail()
            if r._previous():
                end = (r._get_cursor(), r._get_realtime() / 1e6)
            if cursor is not None:
                try:
                    self.raw.seek_cursor(r, cursor)
                    found = r._next() and self.raw.test_cursor(r, cursor)
                except ValueError:  # not a cursor at all (a damaged state database): as if gone
                    found = False
                if found:
                    found_us = r._get_realtime()
        except OSError as e:
            raise SourceError("%s: cannot read the journal: %s" % (self.label, e.strerror or e)) from None
        finally:
            self.done(r)
        return end, found_us
