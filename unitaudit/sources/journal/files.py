"""The journal files named by --journal-dir and --journal-file: found, checked and probed for damage.

sd_journal says nothing of a file it cannot use: a directory read skips it, and
a read stops at damage it cannot step over.  Each file is therefore looked at
here, by its header, before the journal is read, and every problem is a warning
(or an error when nothing is left to read).
"""
import os
import resource
import stat
import struct
from typing import List, Optional, Sequence, Tuple


from unitaudit.errors import SourceError
from unitaudit.sources.journal import binding
from unitaudit.sources.journal.structure import entries_intact
from unitaudit.sources.file_errors import worded_file_errors

JOURNAL_MAGIC = b"LPKSHHRH"
# sd_journal never opens more files than this (JOURNAL_FILES_MAX in systemd's journal-internal.h)
SD_JOURNAL_FILES_MAX = 7168
# descriptors beside the journal's files: Python's own, the state database, a bundle, the bus
OTHER_FILES = 256
HEADER_SIZE = 240  # enough for every field read here (n_entries at 152)

# (file, the start of its header) of each journal file to read
JournalFiles = List[Tuple[str, bytes]]


def find_journal_files(directory: str, warnings: List[str]) -> JournalFiles:
    """The readable journal files under `directory`; those skipped are said in `warnings`."""
    try:
        is_dir = stat.S_ISDIR(os.stat(directory).st_mode)
    except FileNotFoundError:
        raise SourceError("%s: no such directory" % directory) from None
    except PermissionError:
        raise SourceError("%s: permission denied (run as root or join group adm)" % directory) from None
    if not is_dir:
        raise SourceError("%s is not a directory (a journal file? use --journal-file)" % directory)
    found = [os.path.join(r, n) for r, _d, names in os.walk(directory) for n in names
             if n.endswith((".journal", ".journal~"))]
    if not found:
        raise SourceError("%s: no journal files (*.journal) in this directory" % directory)
    unreadable = [f for f in found if not os.access(f, os.R_OK)]
    if len(unreadable) == len(found):
        raise SourceError("%s: permission denied on all %d journal files (run as root or join group adm)"
                          % (directory, len(found)))
    if unreadable:
        warnings.append("%s: %d of %d journal files unreadable (permission): their entries are missing"
                        % (directory, len(unreadable), len(found)))
    for f in sorted(unreadable):
        warnings.append("%s: permission denied: skipped" % f)
    journals: JournalFiles = []
    # sd_journal skips a file it cannot use without a word: each one is looked at here
    for f in sorted(set(found) - set(unreadable)):
        header, problem = read_header(f)
        if problem is None:
            journals.append((f, header))
        else:
            warnings.append("%s: %s: skipped" % (f, problem))
    if not journals:
        raise SourceError("%s: no journal files: none of its %d *.journal files is a readable journal (%s)"
                          % (directory, len(found), "; ".join(w for w in warnings)))
    return journals


def make_room(journals: JournalFiles, label: str, warnings: List[str]) -> None:
    """sd_journal opens every file of a directory at once, and skips without a word each file past
    the process's open-file limit (a central journal-remote host holds one or more per desktop; a
    soft limit of 1,024 is common) and past its own cap.  The soft limit is raised, up to the hard
    one, to hold them all; what still cannot be read is a warning, never a silent gap."""
    if not journals:
        return  # the local journal: a handful of files
    want = len(journals) + OTHER_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        raised = want if hard == resource.RLIM_INFINITY else min(want, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
    if len(journals) > SD_JOURNAL_FILES_MAX:
        warnings.append("%s: %d journal files, and sd_journal reads at most %d at once: the entries of the others "
                        "are missing; scan the directory in parts (e.g. a directory of hard links per group "
                        "of machines)" % (label, len(journals), SD_JOURNAL_FILES_MAX))
    elif soft != resource.RLIM_INFINITY and soft < want:
        warnings.append("%s: %d journal files, and this process may open only %d files (ulimit -n; hard limit %s): "
                        "sd_journal skips the files past it, so some entries are missing; raise the limit "
                        "(ulimit -Hn) or scan the directory in parts" % (
                            label, len(journals), soft, "unlimited" if hard == resource.RLIM_INFINITY else hard))


def check_journal_files(files: Sequence[str]) -> JournalFiles:
    """Each --journal-file, which must be a journal file."""
    journals: JournalFiles = []
    for f in files:
        with worded_file_errors(f, directory="use --journal-dir"):
            with open(f, "rb") as fh:
                magic = fh.read(8)
        if magic != JOURNAL_MAGIC:
            raise SourceError("%s is not a journal file (for text logs use --syslog)" % f)
        header, _problem = read_header(f)
        journals.append((f, header))
    return journals


def read_header(path: str) -> Tuple[bytes, Optional[str]]:
    """The start of a journal file, and why it is not one (None when it is).  O_NONBLOCK: a
    FIFO named *.journal must not hang the scan."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        return b"", "cannot be read (%s)" % (e.strerror or e)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return b"", "not a regular file"
        header = os.pread(fd, HEADER_SIZE, 0)
        if len(header) < HEADER_SIZE:
            header = header[:104]  # too short for n_entries: no count to check against
    except OSError as e:
        return b"", "cannot be read (%s)" % (e.strerror or e)
    finally:
        os.close(fd)
    if not header:
        return header, "empty, not a journal file"
    if header[:8] != JOURNAL_MAGIC:
        return header, "not a journal file (no journal signature)"
    if len(header) >= 104:  # room for the size the header claims: the probe says it was cut short
        header += struct.pack("<Q", st.st_size)
    return header, None


def check_damage(journals: JournalFiles, directory: Optional[str], start: Optional[float]) -> List[str]:
    """Each journal file's entries counted against the n_entries of its header: sd_journal says
    nothing of a file it cannot open (a directory read then skips it) nor of entries it cannot
    reach past damage (it skips them, and a match pass stops at a damaged data object), so
    without this a damaged copy reads as fewer loops, or none.  The warnings, with the counts; an
    error when a directory has no file that can be read.  A file that ends before `start`
    (--since, an incremental run's cursor) cannot touch this read and is not looked at.  A file
    sd_journal opens and whose entry arrays show every entry from `start` on intact
    (structure.py: a fifth of the cost) is not walked; any other is walked whole through
    sd_journal, which costs ~0.3 us an entry, and its warning carries sd_journal's count."""
    readable = 0
    problems = []
    start_us = int(start * 1e6) if start is not None else None
    for f, header in journals:
        listed = _header_entries(header)
        if start_us is not None and len(header) >= 200 and 0 < struct.unpack_from("<Q", header, 192)[0] < start_us:
            readable += listed or 0
            continue
        if listed is not None and _opens(f) and entries_intact(f, start_us):
            readable += listed
            continue
        read, error = _count_entries(f)
        cut = _truncation(header)
        if error is not None:
            if directory is None:
                raise SourceError("%s: cannot open the journal: %s%s" % (f, error, cut))
            problems.append("%s: damaged%s: cannot be opened (%s)%s: skipped" % (
                f, cut, error, "" if listed is None else ", 0 of the %d entries its header lists read" % listed))
        elif listed is not None and read < listed:
            problems.append("%s: damaged%s: %d of the %d entries its header lists could be read, and reads "
                            "stop at the damage: loops in this file may be missed or undercounted"
                            % (f, cut, read, listed))
        readable += read
    if directory is not None and problems and readable == 0:
        raise SourceError("%s: no journal file could be read: %s" % (directory, "; ".join(problems)))
    return problems


def _truncation(header: bytes) -> str:
    """", truncated to N of M bytes" when the file is shorter than its header says."""
    if len(header) != HEADER_SIZE + 8:
        return ""
    header_size, arena_size = struct.unpack_from("<QQ", header, 88)
    size = struct.unpack_from("<Q", header, HEADER_SIZE)[0]
    if size >= header_size + arena_size:
        return ""
    return ", truncated to %d of %d bytes" % (size, header_size + arena_size)


def _header_entries(header: bytes) -> Optional[int]:
    """n_entries of a journal file's header."""
    if len(header) < 160:
        return None
    return struct.unpack_from("<Q", header, 152)[0]


def _opens(path: str) -> bool:
    """Does sd_journal open this file alone?  (It checks the header: a few us.)"""
    try:
        binding.require().Reader(files=[path]).close()
    except OSError:
        return False
    return True


def _count_entries(path: str) -> Tuple[int, Optional[str]]:
    """How many entries sd_journal reads from this file alone, walked in order (no field is
    read: about 0.6 us an entry), and why it could not be opened."""
    try:
        r = binding.require().Reader(files=[path])
    except OSError as e:
        return 0, e.strerror or str(e)
    n = 0
    try:
        r.seek_head()
        nxt = r._next
        while True:
            try:
                if not nxt():
                    break
            except OSError:
                break  # damage sd_journal does not step over: what was read is counted
            n += 1
    finally:
        r.close()
    return n, None


def system_journal_readable() -> bool:
    """Can this user read the system journal (persistent or volatile) of this machine?"""
    try:
        with open("/etc/machine-id") as f:
            machine = f.read().strip()
    except OSError:
        return False
    return any(os.access(os.path.join(base, machine, "system.journal"), os.R_OK)
               for base in ("/var/log/journal", "/run/log/journal"))
