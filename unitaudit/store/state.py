"""The state directory of `unitaudit fix` and `undo`: fix runs in SQLite, a backup of every file
before it is written, the lock that keeps two runs apart, and the undo of a run.

Crash safety is the point.  Every change is recorded (backup fsync'd, row committed) before it
is made, so a run killed at any instant leaves a state from which `undo` restores everything;
undo therefore copes with changes that were recorded but never made, and with the temporary file
of a write that never reached its rename.
"""
import dataclasses
import enum
import errno
import hashlib
import json
import os
import sqlite3
import stat
import time
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

from unitaudit.model import RunInfo, UndoReport
from unitaudit.errors import StateError, state_fault
from unitaudit.util.files import (atomic_symlink, atomic_write, fsync_dir, make_private_dir,
                                  remove_temp_leftovers, unlink_quietly, write_new)
from unitaudit.util.locks import pid_lock
from unitaudit.util.names import check_path
from unitaudit.util.times import iso_utc

SCHEMA_VERSION = 2  # 2: the tables of incremental runs and history (history.py)
FINISHED = ("fixed", "not-fixed", "partial", "failed", "interrupted")
NEW_DIR_MODE = 0o755  # what systemctl and dpkg give /etc/systemd/system/*.d

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: backups/<id> belongs to one run only
    command TEXT NOT NULL,
    plan TEXT NOT NULL,
    evidence TEXT NOT NULL,
    pid INTEGER NOT NULL,
    pid_start INTEGER,                     -- /proc/PID/stat starttime: a reused pid is not the run
    started REAL NOT NULL,
    finished REAL,
    status TEXT NOT NULL,
    outcome TEXT,
    undone REAL,
    undo_report TEXT
);
CREATE TABLE IF NOT EXISTS changes (
    run INTEGER NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,                    -- file | mkdir | move | link | irreversible
    detail TEXT NOT NULL,                  -- JSON, ASCII-escaped (paths may hold any bytes)
    PRIMARY KEY (run, seq)
);
-- incremental scans (history.py): where each journal was last read, and what was found per hour
CREATE TABLE IF NOT EXISTS positions (
    source TEXT PRIMARY KEY,               -- "local" or the journal directory read
    cursor TEXT,                           -- the journal cursor of the last entry read
    realtime REAL,                         -- its time: the fallback when the cursor is gone
    carry TEXT NOT NULL,                   -- carry.py: the final hour of evidence, as JSON
    fixed TEXT NOT NULL DEFAULT '{}'       -- finding id -> when the timer fixed it
);
CREATE TABLE IF NOT EXISTS scans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    started REAL NOT NULL,
    seconds REAL NOT NULL,
    read_from TEXT NOT NULL,               -- cursor | time (cursor gone) | window (first run)
    entries INTEGER NOT NULL,              -- journal entries read
    findings INTEGER NOT NULL,
    error TEXT,
    summary TEXT NOT NULL                  -- JSON: the findings of this run, compact
);
CREATE TABLE IF NOT EXISTS hourly (
    finding TEXT NOT NULL,
    hour INTEGER NOT NULL,                 -- UTC hour start, epoch seconds
    host TEXT NOT NULL,
    unit TEXT NOT NULL,
    kind TEXT NOT NULL,
    count INTEGER NOT NULL,                -- sightings in that hour
    rate REAL,                             -- the loop's rate per hour as the run saw it
    cgroups_per_hour REAL,
    kernfs_nodes_per_hour REAL,
    PRIMARY KEY (finding, hour)
);
CREATE TABLE IF NOT EXISTS totals (
    finding TEXT PRIMARY KEY,              -- sightings ever counted: Prometheus's counter
    host TEXT NOT NULL,
    unit TEXT NOT NULL,
    kind TEXT NOT NULL,
    events INTEGER NOT NULL,
    first_seen REAL,
    last_seen REAL
);
"""


def default_state_dir() -> str:
    """$UNITAUDIT_STATE_DIR (tests, a relocated install), else /var/lib/unitaudit as root, else
    $XDG_STATE_HOME/unitaudit."""
    override = os.environ.get("UNITAUDIT_STATE_DIR", "")
    if os.path.isabs(override):
        return override
    if os.geteuid() == 0:
        return "/var/lib/unitaudit"
    base = os.environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: a relative value is invalid and ignored
        base = os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "unitaudit")


def open_database(directory: str) -> sqlite3.Connection:
    """state.db in `directory` (already private), created or upgraded to this schema.  A file that
    cannot be opened, is not a database, is some other program's or a newer unitaudit's is a
    StateError of one line: the file and what to do about it."""
    db = os.path.join(directory, "state.db")
    try:
        os.close(os.open(db, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
    except OSError as e:
        raise StateError(_open_fault(directory, db, e)) from None
    aside = "move it aside (mv %s %s.bad); unitaudit starts a new one" % (db, db)
    conn = None
    try:
        # isolation_level=None: no implicit transactions; each change is its own explicit one.
        conn = sqlite3.connect(db, timeout=30, isolation_level=None)
        conn.execute("PRAGMA synchronous=FULL")  # a commit is on disk before the file is touched
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION and conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'runs'").fetchone():
            raise StateError("state database %s was written by a newer unitaudit (state schema %d, this one reads "
                             "up to %d): upgrade unitaudit (moving the file aside loses the record of its fix runs)"
                             % (db, version, SCHEMA_VERSION))
        if version < SCHEMA_VERSION:
            conn.executescript(_SCHEMA)
            conn.execute("PRAGMA user_version=%d" % SCHEMA_VERSION)
        missing = _missing_columns(conn)
        if missing is not None:
            raise StateError("state database %s is not unitaudit's (%s): %s" % (db, missing, aside))
    except StateError:
        if conn is not None:
            conn.close()
        raise
    except sqlite3.Error as e:
        if conn is not None:
            conn.close()
        raise StateError(state_fault(directory, e)) from None
    return conn


def _missing_columns(conn: sqlite3.Connection) -> Optional[str]:
    """What a database lacks of this schema ("table runs: no column pid"), None when nothing: one
    created by other software passes CREATE TABLE IF NOT EXISTS and fails on the first query."""
    want = sqlite3.connect(":memory:")
    try:
        want.executescript(_SCHEMA)
        for (table,) in want.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"):
            have = {r[1] for r in conn.execute("PRAGMA table_info(%s)" % table)}
            if not have:
                return "no table %s" % table
            lacking = [r[1] for r in want.execute("PRAGMA table_info(%s)" % table) if r[1] not in have]
            if lacking:
                return "table %s: no column %s" % (table, ", ".join(lacking))
    finally:
        want.close()
    return None


def _open_fault(directory: str, db: str, e: OSError) -> str:
    """Why state.db cannot be opened for writing, and the remedy."""
    if e.errno == errno.EISDIR:
        return "state database %s is not a file: move it aside (mv %s %s.bad); unitaudit starts a new one" % (db, db, db)
    if e.errno == errno.ELOOP:
        return ("state database %s is a symbolic link, which unitaudit does not follow: move it aside "
                "(mv %s %s.bad); unitaudit starts a new one" % (db, db, db))
    if e.errno == errno.EROFS:
        return "state database %s cannot be written: the file system of %s is read-only" % (db, directory)
    if e.errno in (errno.EACCES, errno.EPERM):
        try:
            owner = os.lstat(db).st_uid
        except OSError:
            owner = os.geteuid()
        if owner != os.geteuid():
            return ("state database %s cannot be written: it belongs to uid %d: run as root (or as that user)"
                    % (db, owner))
        if os.geteuid() == 0:
            return ("state database %s cannot be written (%s): it is immutable or append-only (lsattr %s; "
                    "chattr -i -a %s)" % (db, e.strerror, db, db))
        return ("state database %s cannot be written: it is read-only: run as root, or make it writable "
                "(chmod 600 %s)" % (db, db))
    return "state database %s cannot be opened: %s (in %s)" % (db, e.strerror or e, directory)


class StateStore:
    """A fix holds lock() around its whole run.  Every method that changes something takes the
    lock too (re-entrantly), so a call made without it fails with LockBusy while another run
    holds it, instead of interleaving with that run."""

    def __init__(self, directory: Optional[str] = None):
        self.directory = os.path.abspath(directory or default_state_dir())
        make_private_dir(self.directory)
        self._lock_fd: Optional[int] = None
        self._db = open_database(self.directory)

    def close(self) -> None:
        self._db.close()

    # -- the lock ---------------------------------------------------------------------------

    @contextmanager
    def lock(self, wait: bool = False) -> Iterator[None]:
        """One fix or undo at a time.  Re-entrant within this store (`undo` inside `with lock()`)."""
        if self._lock_fd is not None:
            yield
            return
        with pid_lock(os.path.join(self.directory, "lock"), "unitaudit fix or undo", wait) as fd:
            self._lock_fd = fd
            try:
                yield
            finally:
                self._lock_fd = None

    # -- recording a run --------------------------------------------------------------------

    def begin_run(self, command: str, plan: dict, evidence: dict) -> int:
        """The evidence is on disk before anything changes: reset-failed and restarts erase it."""
        with self.lock():
            self._settle_interrupted()
            with self._transaction():
                cur = self._db.execute(
                    "INSERT INTO runs (command, plan, evidence, pid, pid_start, started, status)"
                    " VALUES (?, ?, ?, ?, ?, ?, 'running')",
                    (command, _json(plan), _json(evidence), os.getpid(), _start_time(os.getpid()), time.time()))
            return int(cur.lastrowid)

    def write_file(self, run: int, path: str, content: Union[str, bytes], mode: int = 0o644) -> None:
        """Back the current file up (committed), then replace it atomically.  A replaced file
        keeps its owner and mode; `mode` is for a new file."""
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        if mode & ~0o7777:
            raise ValueError("not a file mode: %o" % mode)
        with self.lock():
            record = self._back_up(run, path, data)
            self._replace(run, record, data, mode)

    def _back_up(self, run: int, path: str, data: bytes) -> dict:
        """Step one of write_file: the backup file and its row, fsync'd and committed."""
        path = check_path(path)
        self._check_running(run)
        missing = _missing_parents(path)
        before, old = _read_current(path)
        seq = self._next_seq(run) + len(missing)  # the mkdir rows come first
        backup = os.path.join(self._backup_dir(run), str(seq))
        # One backup file per write, even for a link or an absent file (then empty): its
        # appearance is the sign that a run has started changing things.
        write_new(backup, old or b"")
        record = {"path": path, "before": before, "new_sha256": _sha256(data), "backup": backup,
                  "created_dirs": missing}
        try:
            self._record(run, [("mkdir", {"path": d}) for d in missing] + [("file", record)])
        except BaseException:
            unlink_quietly(backup)  # no row names it; the next write of this run takes its number
            raise
        return record

    def _replace(self, run: int, record: dict, data: bytes, mode: int, _before_rename=None) -> None:
        """Step two of write_file: the parents it needs, then temp file, fsync, rename, fsync."""
        path, before = record["path"], record["before"]
        for d in record["created_dirs"]:
            if not os.path.isdir(d):
                os.mkdir(d, NEW_DIR_MODE)
                os.chmod(d, NEW_DIR_MODE)  # not narrowed by the umask
                fsync_dir(os.path.dirname(d))
        if before["kind"] == "file":
            mode, owner = before["mode"], (before["uid"], before["gid"])
        else:
            owner = None
        atomic_write(path, data, mode, owner, None, run, _before_rename)

    def move_aside(self, run: int, src: str, dst: str) -> None:
        """Rename src to dst (a broken logrotate config to NAME.disabled): never over a file."""
        src, dst = check_path(src), check_path(dst)
        with self.lock():
            self._check_running(run)
            if not os.path.lexists(src):
                raise StateError("%s does not exist: nothing to move aside" % src)
            # Checked under the lock; rename(2) itself would silently replace dst.
            if os.path.lexists(dst):
                raise StateError("%s already exists: %s is not moved over it" % (dst, src))
            self._record(run, [("move", {"src": src, "dst": dst})])
            os.rename(src, dst)
            for d in {os.path.dirname(src), os.path.dirname(dst)}:
                fsync_dir(d)

    def record_links(self, run: int, changes: Sequence[Tuple[str, str, str]]) -> None:
        """systemd's link changes, as ReenableUnitFiles/MaskUnitFiles answer them: (type, file,
        destination), type "symlink" or "unlink".

        Recorded before systemd makes them (the list predicted), each file's state before comes
        from the file system now, which is exact.  Recorded right after (the reply), it comes from
        the changes: a created link did not exist, an unlinked one pointed at its destination;
        systemd answers an unlink with an empty destination, and such a link is left as is by
        undo (listed in cannot_undo).  Which case it is: whether every file already looks as the
        changes leave it (one call is all before or all after)."""
        entries = []
        for kind, file, destination in changes:
            if kind not in ("symlink", "unlink"):
                raise ValueError("unknown link change %r for %s" % (kind, file))
            entries.append((kind, check_path(file), destination or ""))
        with self.lock():
            self._check_running(run)
            first = {f: (k, d) for k, f, d in reversed(entries)}
            last = {f: (k, d) for k, f, d in entries}
            now = {f: _link_state(f) for f in first}
            made = all(now[f] == _after(*last[f]) for f in first)
            state: Dict[str, dict] = {}
            for file, (kind, dest) in first.items():
                if made:
                    state[file] = {"kind": "absent"} if kind == "symlink" else (
                        {"kind": "link", "target": dest} if dest else {"kind": "unknown"})
                else:
                    state[file] = now[file] if now[file]["kind"] != "other" else {"kind": "unknown"}
            rows = []
            for kind, file, dest in entries:
                rows.append(("link", {"type": kind, "file": file, "destination": dest,
                                      "before": state[file], "after": _after(kind, dest)}))
                state[file] = _after(kind, dest)
            self._record(run, rows)

    def record_irreversible(self, run: int, what: str) -> None:
        with self.lock():
            self._check_running(run)
            self._record(run, [("irreversible", {"what": what})])

    def finish_run(self, run: int, status: str, outcome: dict) -> None:
        if status not in FINISHED:
            raise ValueError("not a run status: %r (one of %s)" % (status, ", ".join(FINISHED)))
        with self.lock():
            self._run_row(run)
            with self._transaction():
                self._db.execute("UPDATE runs SET status = ?, outcome = ?, finished = ? WHERE id = ?",
                                 (status, _json(outcome), time.time(), run))

    # -- reading runs -----------------------------------------------------------------------

    def runs(self) -> List[RunInfo]:
        rows = self._db.execute(
            "SELECT id, started, finished, command, status, pid, pid_start, undone,"
            " (SELECT count(*) FROM changes c WHERE c.run = r.id AND c.kind != 'mkdir')"
            " FROM runs r ORDER BY id").fetchall()
        return [RunInfo(i, iso_utc(started) or "", iso_utc(finished), command,
                        _shown_status(status, pid, pid_start), n, undone is not None)
                for i, started, finished, command, status, pid, pid_start, undone, n in rows]

    def unfixed_since(self, since: float, command_prefix: str) -> Dict[str, float]:
        """Finding id -> when a run whose command starts with `command_prefix` last tried it and
        did not fix it (not-fixed, failed), since `since`."""
        out: Dict[str, float] = {}
        rows = self._db.execute("SELECT started, outcome FROM runs WHERE started >= ? AND command LIKE ? || '%'"
                                " AND outcome IS NOT NULL", (since, command_prefix))
        for started, outcome in rows:
            for o in json.loads(outcome).get("outcomes", []):
                if o.get("status") != "fixed":
                    out[o.get("finding_id", "")] = max(started, out.get(o.get("finding_id", ""), 0.0))
        return out

    def last_run(self) -> Optional[int]:
        """The newest run not yet undone (an interrupted one included: undo is what it needs)."""
        row = self._db.execute("SELECT max(id) FROM runs WHERE undone IS NULL").fetchone()
        return row[0]

    # -- undo -------------------------------------------------------------------------------

    def undo(self, run: int) -> UndoReport:
        """Reverse every recorded change of the run, newest first.  Each change is checked
        against what the run made: one that was never made is already undone; a file changed
        since by someone else is left as is and reported.  The run is marked undone only when
        nothing failed, so a partial undo can be retried."""
        with self.lock():
            status, pid, pid_start, undone = self._run_row(run)
            if undone is not None:
                raise StateError("fix run %d was already undone (%s): nothing left to undo"
                                 % (run, iso_utc(undone)))
            if status == "running" and pid != os.getpid() and _alive(pid, pid_start):
                raise StateError("fix run %d is still running (pid %d)" % (run, pid))
            report = UndoReport([], [], [], [], [], [])
            rows = self._db.execute("SELECT seq, kind, detail FROM changes WHERE run = ? ORDER BY seq DESC",
                                    (run,)).fetchall()
            changes = [(seq, kind, json.loads(detail)) for seq, kind, detail in rows]
            # A link whose state before the run is unknown is left alone, all its changes with it:
            # undoing only the later ones would remove a link that existed before the run.
            first_link: Dict[str, dict] = {}
            for _s, kind, d in reversed(changes):
                if kind == "link":
                    first_link.setdefault(d["file"], d)
            unknown = {f for f, d in first_link.items() if d["before"]["kind"] == "unknown"}
            for f in sorted(unknown):
                now = _link_state(f)
                report.cannot_undo.append("%s: systemd did not say where it pointed before fix run %d; left as is"
                                          " (%s)" % (f, run, "-> " + now["target"] if now["kind"] == "link" else now["kind"]))
            for _seq, kind, d in changes:
                try:
                    if kind == "file":
                        self._undo_file(run, d, report)
                    elif kind == "mkdir":
                        _undo_mkdir(run, d["path"], report)
                    elif kind == "move":
                        _undo_move(run, d, report)
                    elif kind == "link" and d["file"] not in unknown:
                        _undo_link(run, d, report)
                    elif kind == "irreversible":
                        report.cannot_undo.append(d["what"])
                except OSError as e:
                    where = d.get("path") or d.get("file") or d.get("src")
                    report.errors.append("%s: %s" % (where, e.strerror or e))
            with self._transaction():
                self._db.execute("UPDATE runs SET undo_report = ?, undone = ?,"
                                 " status = CASE WHEN status = 'running' THEN 'interrupted' ELSE status END"
                                 " WHERE id = ?",
                                 (_json(dataclasses.asdict(report)), None if report.errors else time.time(), run))
            return report

    def _undo_file(self, run: int, d: dict, report: UndoReport) -> None:
        path, before = d["path"], d["before"]
        report.removed.extend(remove_temp_leftovers(os.path.dirname(path)))
        now = _file_state(path)
        if _same(now, before):  # the write never happened (killed between backup and rename)
            (report.removed if before["kind"] == "absent" else report.restored).append(path)
            return
        if now != {"kind": "file", "sha256": d["new_sha256"]}:
            report.errors.append("%s changed since fix run %d wrote it; left as is (the backup is %s)"
                                 % (path, run, d["backup"]))
            return
        if before["kind"] == "absent":
            os.unlink(path)
            fsync_dir(os.path.dirname(path))
            report.removed.append(path)
        elif before["kind"] == "link":
            atomic_symlink(path, before["target"], (before["uid"], before["gid"]), run)
            report.restored.append(path)
        else:
            with open(d["backup"], "rb") as f:
                old = f.read()
            if _sha256(old) != before["sha256"]:
                report.errors.append("%s: its backup %s does not match what was recorded; left as is"
                                     % (path, d["backup"]))
                return
            atomic_write(path, old, before["mode"], (before["uid"], before["gid"]), before["mtime_ns"], run)
            report.restored.append(path)

    # -- internals --------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _record(self, run: int, rows: List[Tuple[str, dict]]) -> None:
        with self._transaction():
            seq = self._next_seq(run)
            for i, (kind, detail) in enumerate(rows):
                self._db.execute("INSERT INTO changes (run, seq, kind, detail) VALUES (?, ?, ?, ?)",
                                 (run, seq + i, kind, _json(detail)))

    def _next_seq(self, run: int) -> int:
        row = self._db.execute("SELECT coalesce(max(seq), 0) + 1 FROM changes WHERE run = ?", (run,)).fetchone()
        return row[0]

    def _run_row(self, run: int) -> tuple:
        row = self._db.execute("SELECT status, pid, pid_start, undone FROM runs WHERE id = ?", (run,)).fetchone()
        if row is None:
            raise StateError("no fix run %d in %s" % (run, self.directory))
        return row

    def _check_running(self, run: int) -> None:
        status, _pid, _start, undone = self._run_row(run)
        if status != "running" or undone is not None:
            raise StateError("fix run %d is %s: it takes no more changes" % (run, "undone" if undone else status))

    def _settle_interrupted(self) -> None:
        """Under the lock no run can be in progress elsewhere: a 'running' one whose process is
        gone was killed."""
        running = self._db.execute("SELECT id, pid, pid_start FROM runs WHERE status = 'running'").fetchall()
        for run, pid, start in running:
            if not _alive(pid, start):
                with self._transaction():
                    self._db.execute("UPDATE runs SET status = 'interrupted' WHERE id = ?", (run,))

    def _backup_dir(self, run: int) -> str:
        d = os.path.join(self.directory, "backups", str(run))
        for p in (os.path.dirname(d), d):
            if not os.path.isdir(p):
                os.mkdir(p, 0o700)
                fsync_dir(os.path.dirname(p))
        return d


# -- files -------------------------------------------------------------------------------------


def _missing_parents(path: str) -> List[str]:
    """The directories a write must create, outermost first."""
    missing = []
    d = os.path.dirname(path)
    while not os.path.lexists(d):
        missing.append(d)
        d = os.path.dirname(d)
    if not os.path.isdir(d):
        raise StateError("%s: %s is not a directory" % (path, d))
    return missing[::-1]


def _read_current(path: str) -> Tuple[dict, Optional[bytes]]:
    """What is at path now, never following a symlink there, and a regular file's bytes."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return {"kind": "absent"}, None
    if stat.S_ISLNK(st.st_mode):
        return {"kind": "link", "target": os.readlink(path), "uid": st.st_uid, "gid": st.st_gid}, None
    if not stat.S_ISREG(st.st_mode):
        raise StateError("%s is not a regular file or a symlink: unitaudit does not replace it" % path)
    # O_NONBLOCK: a FIFO swapped in after the lstat must not hang the open; fstat checks again.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise StateError("%s is not a regular file: unitaudit does not replace it" % path)
        data = f.read()
    return {"kind": "file", "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
            "mtime_ns": st.st_mtime_ns, "sha256": _sha256(data)}, data


def _file_state(path: str) -> dict:
    """Enough of what is at path to compare with a recorded state."""
    try:
        before, data = _read_current(path)
    except StateError:
        return {"kind": "other"}
    if before["kind"] == "file":
        return {"kind": "file", "sha256": before["sha256"]}
    if before["kind"] == "link":
        return {"kind": "link", "target": before["target"]}
    return before


def _same(now: dict, before: dict) -> bool:
    return now["kind"] == before["kind"] and all(now[k] == before[k] for k in ("sha256", "target") if k in now)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- undo of the other kinds of change -----------------------------------------------------------


def _undo_mkdir(run: int, path: str, report: UndoReport) -> None:
    if not os.path.isdir(path) or os.path.islink(path):
        return  # never created (killed before), or replaced by something that is not ours
    try:
        os.rmdir(path)
    except OSError as e:
        if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
        report.cannot_undo.append("%s: created by fix run %d, left in place: no longer empty" % (path, run))
        return
    fsync_dir(os.path.dirname(path))
    report.removed.append(path)


def _undo_move(run: int, d: dict, report: UndoReport) -> None:
    src, dst = d["src"], d["dst"]
    at_src, at_dst = os.path.lexists(src), os.path.lexists(dst)
    if at_dst and not at_src:
        os.rename(dst, src)
        for p in {os.path.dirname(src), os.path.dirname(dst)}:
            fsync_dir(p)
        report.moved_back.append(src)
    elif at_src and not at_dst:
        report.moved_back.append(src)  # the rename never happened
    else:
        report.errors.append("%s: cannot move back from %s (%s); left as is"
                             % (src, dst, "both exist" if at_src else "neither exists"))


def _after(kind: str, destination: str) -> dict:
    return {"kind": "link", "target": destination} if kind == "symlink" else {"kind": "absent"}


def _link_state(path: str) -> dict:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return {"kind": "absent"}
    if stat.S_ISLNK(st.st_mode):
        return {"kind": "link", "target": os.readlink(path)}
    return {"kind": "other"}


def _undo_link(run: int, d: dict, report: UndoReport) -> None:
    file, before, after = d["file"], d["before"], d["after"]
    now = _link_state(file)
    if now == before:
        pass  # the change was never made
    elif now != after:
        report.errors.append("%s changed since fix run %d (%s it); left as is" % (file, run, d["type"] + "ed"))
        return
    elif before["kind"] == "absent":
        os.unlink(file)
        fsync_dir(os.path.dirname(file))
    else:
        atomic_symlink(file, before["target"], None, run)
    if file not in report.links_restored:
        report.links_restored.append(file)


# -- processes ---------------------------------------------------------------------------------


def _proc_stat(pid: int) -> List[bytes]:
    """/proc/PID/stat from field 3 (state) on; the command name before it may hold spaces."""
    with open("/proc/%d/stat" % pid, "rb") as f:
        return f.read().rsplit(b")", 1)[1].split()


def _start_time(pid: int) -> Optional[int]:
    """Field 22 of /proc/PID/stat (clock ticks since boot), or None without /proc."""
    try:
        return int(_proc_stat(pid)[19])
    except OSError:
        return None


def _alive(pid: int, start: Optional[int]) -> bool:
    try:
        fields = _proc_stat(pid)
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: all that can be asked is whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    if fields[0] == b"Z":  # killed, not yet reaped by its parent
        return False
    return start is None or int(fields[19]) == start


def _shown_status(status: str, pid: int, start: Optional[int]) -> str:
    return "interrupted" if status == "running" and not _alive(pid, start) else status


def _json(value) -> str:
    return json.dumps(value, default=_jsonable)


def _jsonable(value):
    """Plans and outcomes hold dataclasses, enums, sets: kept readable, never a reason to fail."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
