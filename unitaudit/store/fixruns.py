"""The record of `unitaudit fix` runs in the state directory: each run and every change it makes,
a backup of every file before it is written, the lock that keeps two runs apart, and the undo of
a run (store/undo.py reverses the changes on the file system).

Crash safety is the point.  Every change is recorded (backup fsync'd, row committed) before it
is made, so a run killed at any instant leaves a state from which `undo` restores everything;
undo therefore copes with changes that were recorded but never made, and with the temporary file
of a write that never reached its rename.
"""
import dataclasses
import json
import os
import time
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

from unitaudit.errors import StateError
from unitaudit.model import FixStatus, RunInfo, RunOrigin, RunStatus, UndoReport
from unitaudit.store.changes import (Change, ChangeKind, LinkChange, link_after, missing_parents, path_state,
                                     read_current, sha256)
from unitaudit.store.database import open_database, to_json, transaction
from unitaudit.store.undo import undo_changes
from unitaudit.util.files import atomic_write, default_state_dir, fsync_dir, make_private_dir, unlink_quietly, write_new
from unitaudit.util.locks import pid_lock
from unitaudit.util.names import check_path
from unitaudit.util.processes import is_alive, start_time
from unitaudit.util.times import iso_utc

NEW_DIR_MODE = 0o755  # what systemctl and dpkg give /etc/systemd/system/*.d


@dataclasses.dataclass(frozen=True)
class _RunRow:
    status: RunStatus
    pid: int
    pid_start: Optional[int]
    undone: Optional[float]


class FixRunStore:
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

    def begin_run(self, command: str, plan: dict, evidence: dict, origin: RunOrigin = RunOrigin.FIX) -> int:
        """The evidence is on disk before anything changes: reset-failed and restarts erase it."""
        origin = RunOrigin(origin)
        with self.lock():
            self._settle_interrupted()
            pid = os.getpid()
            with transaction(self._db):
                cur = self._db.execute(
                    "INSERT INTO runs (command, plan, evidence, pid, pid_start, started, status, origin)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (command, to_json(plan), to_json(evidence), pid, start_time(pid), time.time(),
                     RunStatus.RUNNING.value, origin.value))
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
        missing = missing_parents(path)
        before, old = read_current(path)
        seq = self._next_seq(run) + len(missing)  # the mkdir rows come first
        backup = os.path.join(self._backup_dir(run), str(seq))
        # One backup file per write, even for a link or an absent file (then empty): its
        # appearance is the sign that a run has started changing things.
        write_new(backup, old or b"")
        record = {"path": path, "before": before, "new_sha256": sha256(data), "backup": backup,
                  "created_dirs": missing}
        try:
            self._record(run, [(ChangeKind.MKDIR, {"path": d}) for d in missing] + [(ChangeKind.FILE, record)])
        except BaseException:
            unlink_quietly(backup)  # no row names it; the next write of this run takes its number
            raise
        return record

    @staticmethod
    def _replace(run: int, record: dict, data: bytes, mode: int) -> None:
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
        atomic_write(path, data, mode, owner, run=run)

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
            self._record(run, [(ChangeKind.MOVE, {"src": src, "dst": dst})])
            os.rename(src, dst)
            for d in {os.path.dirname(src), os.path.dirname(dst)}:
                fsync_dir(d)

    def record_links(self, run: int, changes: Sequence[Tuple[str, str, str]]) -> None:
        """systemd's link changes, as ReenableUnitFiles/MaskUnitFiles answer them: (type, file,
        destination), type "symlink" or "unlink" (a LinkChange)."""
        entries = []
        for kind, file, destination in changes:
            try:
                change = LinkChange(kind)
            except ValueError:
                raise ValueError("unknown link change %r for %s" % (kind, file)) from None
            entries.append((change, check_path(file), destination or ""))
        with self.lock():
            self._check_running(run)
            self._record(run, _link_rows(entries))

    def record_irreversible(self, run: int, what: str) -> None:
        with self.lock():
            self._check_running(run)
            self._record(run, [(ChangeKind.IRREVERSIBLE, {"what": what})])

    def finish_run(self, run: int, status: RunStatus, outcome: dict) -> None:
        if RunStatus(status) is RunStatus.RUNNING:  # RunStatus(): a ValueError for any other word too
            raise ValueError("not a finished run's status: %r" % RunStatus.RUNNING.value)
        with self.lock():
            self._run_row(run)
            with transaction(self._db):
                self._db.execute("UPDATE runs SET status = ?, outcome = ?, finished = ? WHERE id = ?",
                                 (RunStatus(status).value, to_json(outcome), time.time(), run))

    # -- reading runs -----------------------------------------------------------------------

    def runs(self) -> List[RunInfo]:
        rows = self._db.execute(
            "SELECT id, started, finished, command, status, pid, pid_start, undone,"
            " (SELECT count(*) FROM changes c WHERE c.run = r.id AND c.kind != ?)"
            " FROM runs r ORDER BY id", (ChangeKind.MKDIR.value,)).fetchall()
        return [RunInfo(i, iso_utc(started) or "", iso_utc(finished), command,
                        _shown_status(RunStatus(status), pid, pid_start), n, undone is not None)
                for i, started, finished, command, status, pid, pid_start, undone, n in rows]

    def unfixed_since(self, since: float, origin: RunOrigin) -> Dict[str, float]:
        """Finding id -> when a run of this origin last tried it and did not fix it (not-fixed,
        failed), since `since`."""
        out: Dict[str, float] = {}
        rows = self._db.execute("SELECT started, outcome FROM runs WHERE started >= ? AND origin = ?"
                                " AND outcome IS NOT NULL", (since, RunOrigin(origin).value))
        for started, outcome in rows:
            for o in json.loads(outcome).get("outcomes", []):
                if o.get("status") != FixStatus.FIXED.value:
                    out[o.get("finding_id", "")] = max(started, out.get(o.get("finding_id", ""), 0.0))
        return out

    def last_attempts_since(self, since: float) -> Dict[str, Tuple[float, FixStatus, RunOrigin]]:
        """Finding id -> (when, outcome, who) of the newest run since `since` that tried it,
        `unitaudit fix` or the timer's auto-apply alike."""
        out: Dict[str, Tuple[float, FixStatus, RunOrigin]] = {}
        rows = self._db.execute("SELECT started, origin, outcome FROM runs WHERE started >= ? AND outcome IS NOT NULL"
                                " ORDER BY started, id", (since,))
        for started, origin, outcome in rows:
            for o in json.loads(outcome).get("outcomes", []):
                try:
                    out[o.get("finding_id", "")] = (started, FixStatus(o.get("status")), RunOrigin(origin))
                except ValueError:  # a word of a later version: not an attempt this one can judge
                    continue
        return out

    def last_run(self) -> Optional[int]:
        """The newest run not yet undone (an interrupted one included: undo is what it needs)."""
        row = self._db.execute("SELECT max(id) FROM runs WHERE undone IS NULL").fetchone()
        return row[0]

    # -- undo -------------------------------------------------------------------------------

    def undo(self, run: int) -> UndoReport:
        """Reverse every recorded change of the run, newest first (store/undo.py).  The run is
        marked undone only when nothing failed, so a partial undo can be retried."""
        with self.lock():
            row = self._run_row(run)
            if row.undone is not None:
                raise StateError("fix run %d was already undone (%s): nothing left to undo"
                                 % (run, iso_utc(row.undone)))
            if row.status is RunStatus.RUNNING and row.pid != os.getpid() and is_alive(row.pid, row.pid_start):
                raise StateError("fix run %d is still running (pid %d)" % (run, row.pid))
            report = undo_changes(run, self._changes(run))
            with transaction(self._db):
                self._db.execute("UPDATE runs SET undo_report = ?, undone = ?,"
                                 " status = CASE WHEN status = ? THEN ? ELSE status END WHERE id = ?",
                                 (to_json(dataclasses.asdict(report)), None if report.errors else time.time(),
                                  RunStatus.RUNNING.value, RunStatus.INTERRUPTED.value, run))
            return report

    # -- internals --------------------------------------------------------------------------

    def _record(self, run: int, rows: List[Change]) -> None:
        with transaction(self._db):
            seq = self._next_seq(run)
            for i, (kind, detail) in enumerate(rows):
                self._db.execute("INSERT INTO changes (run, seq, kind, detail) VALUES (?, ?, ?, ?)",
                                 (run, seq + i, kind.value, to_json(detail)))

    def _changes(self, run: int) -> List[Change]:
        """The run's changes, newest first."""
        rows = self._db.execute("SELECT kind, detail FROM changes WHERE run = ? ORDER BY seq DESC", (run,))
        return [(ChangeKind(kind), json.loads(detail)) for kind, detail in rows]

    def _next_seq(self, run: int) -> int:
        row = self._db.execute("SELECT coalesce(max(seq), 0) + 1 FROM changes WHERE run = ?", (run,)).fetchone()
        return row[0]

    def _run_row(self, run: int) -> _RunRow:
        row = self._db.execute("SELECT status, pid, pid_start, undone FROM runs WHERE id = ?", (run,)).fetchone()
        if row is None:
            raise StateError("no fix run %d in %s" % (run, self.directory))
        return _RunRow(RunStatus(row[0]), row[1], row[2], row[3])

    def _check_running(self, run: int) -> None:
        row = self._run_row(run)
        if row.status is not RunStatus.RUNNING or row.undone is not None:
            raise StateError("fix run %d is %s: it takes no more changes"
                             % (run, "undone" if row.undone else row.status.value))

    def _settle_interrupted(self) -> None:
        """Under the lock no run can be in progress elsewhere: a running one whose process is
        gone was killed."""
        running = self._db.execute("SELECT id, pid, pid_start FROM runs WHERE status = ?",
                                   (RunStatus.RUNNING.value,)).fetchall()
        for run, pid, start in running:
            if not is_alive(pid, start):
                with transaction(self._db):
                    self._db.execute("UPDATE runs SET status = ? WHERE id = ?", (RunStatus.INTERRUPTED.value, run))

    def _backup_dir(self, run: int) -> str:
        d = os.path.join(self.directory, "backups", str(run))
        for p in (os.path.dirname(d), d):
            if not os.path.isdir(p):
                os.mkdir(p, 0o700)
                fsync_dir(os.path.dirname(p))
        return d


def _link_rows(entries: Sequence[Tuple[LinkChange, str, str]]) -> List[Change]:
    """The rows of one call's link changes, each with the state of its file before.

    Recorded before systemd makes them (the list predicted), each file's state before comes
    from the file system now, which is exact.  Recorded right after (the reply), it comes from
    the changes: a created link did not exist, an unlinked one pointed at its destination;
    systemd answers an unlink with an empty destination, and such a link is left as is by
    undo (listed in cannot_undo).  Which case it is: whether every file already looks as the
    changes leave it (one call is all before or all after)."""
    first = {f: (k, d) for k, f, d in reversed(entries)}
    last = {f: (k, d) for k, f, d in entries}
    now = {f: path_state(f, content=False) for f in first}
    made = all(now[f] == link_after(*last[f]) for f in first)
    state: Dict[str, dict] = {}
    for file, (kind, dest) in first.items():
        if made:
            state[file] = {"kind": "absent"} if kind is LinkChange.SYMLINK else (
                {"kind": "link", "target": dest} if dest else {"kind": "unknown"})
        else:
            state[file] = now[file] if now[file]["kind"] != "other" else {"kind": "unknown"}
    rows = []
    for kind, file, dest in entries:
        rows.append((ChangeKind.LINK, {"type": kind.value, "file": file, "destination": dest,
                                       "before": state[file], "after": link_after(kind, dest)}))
        state[file] = link_after(kind, dest)
    return rows


def _shown_status(status: RunStatus, pid: int, start: Optional[int]) -> RunStatus:
    return RunStatus.INTERRUPTED if status is RunStatus.RUNNING and not is_alive(pid, start) else status
