"""The state database: state.db in the state directory (util.files.default_state_dir), its
schema and the upgrades of an older one, and the one way to change it: `transaction`.

Two stores share the file: the fix runs (store/fixruns.py) and the record of incremental scans
(hourly/history.py).  Connections are opened without implicit transactions, so a statement
outside `transaction` is its own, and every change of several rows is one explicit
BEGIN IMMEDIATE ... COMMIT that takes the write lock up front (no upgrade of a read lock that
could deadlock with another writer).
"""
import dataclasses
import enum
import errno
import json
import os
import re
import sqlite3
from contextlib import contextmanager
from typing import Dict, Iterator, Optional, Set, Tuple

from unitaudit.errors import StateError, state_fault
from unitaudit.model import RunOrigin

# 2: the tables of incremental runs and history; 3: runs.origin (who started a fix run)
SCHEMA_VERSION = 3
DATABASE_NAME = "state.db"
# How version 2 told the timer's runs apart (`unitaudit watch (auto-apply: RECIPES)`): the upgrade only
_AUTO_APPLY_COMMAND_V2 = "unitaudit watch (auto-apply"

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
    status TEXT NOT NULL,                  -- model.RunStatus
    outcome TEXT,
    undone REAL,
    undo_report TEXT,
    origin TEXT NOT NULL DEFAULT 'fix'     -- model.RunOrigin: fix | auto-apply (last: added by version 3)
);
CREATE TABLE IF NOT EXISTS changes (
    run INTEGER NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,                    -- store.changes.ChangeKind: file | mkdir | move | link | irreversible
    detail TEXT NOT NULL,                  -- JSON, ASCII-escaped (paths may hold any bytes)
    PRIMARY KEY (run, seq)
);
-- incremental scans (history.py): where each journal was last read, and what was found per hour
CREATE TABLE IF NOT EXISTS positions (
    source TEXT PRIMARY KEY,               -- "local" or the journal directory read
    cursor TEXT,                           -- the journal cursor of the last entry read
    realtime REAL,                         -- its time: the fallback when the cursor is gone
    carry TEXT NOT NULL,                   -- hourly/carryover.py: the final hour of evidence, as JSON
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


@contextmanager
def transaction(conn: sqlite3.Connection, commit: bool = True) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT around the block, ROLLBACK when it (or the COMMIT) raises.
    commit=False is a preview: the block sees its own changes, and they are rolled back at its
    end.  SQLite may have rolled back already when the error was its own (a full disk): hence
    the check."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT" if commit else "ROLLBACK")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def to_json(value) -> str:
    """A JSON column's text.  Plans and outcomes hold dataclasses, enums, sets: kept readable,
    never a reason to fail."""
    return json.dumps(value, default=_jsonable)


def _jsonable(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def open_database(directory: str) -> sqlite3.Connection:
    """state.db in `directory` (already private), created or upgraded to this schema.  A file that
    cannot be opened, is not a database, is some other program's or a newer unitaudit's is a
    StateError of one line: the file and what to do about it."""
    db = os.path.join(directory, DATABASE_NAME)
    try:
        os.close(os.open(db, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
    except OSError as e:
        raise StateError(_open_fault(directory, db, e)) from None
    conn = None
    try:
        # isolation_level=None: no implicit transactions; each change is its own explicit one.
        conn = sqlite3.connect(db, timeout=30, isolation_level=None)
        conn.execute("PRAGMA synchronous=FULL")  # a commit is on disk before the file is touched
        _upgrade(conn, db)
    except StateError:
        if conn is not None:
            conn.close()
        raise
    except sqlite3.Error as e:
        if conn is not None:
            conn.close()
        raise StateError(state_fault(directory, e)) from None
    return conn


def read_database(directory: str) -> sqlite3.Connection:
    """state.db in `directory` opened read-only, as it is: never created, upgraded or written.
    sqlite3.Error when it cannot be."""
    db = os.path.join(directory, DATABASE_NAME)
    return sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=30, isolation_level=None)


def _upgrade(conn: sqlite3.Connection, db: str) -> None:
    """Create what is missing and bring an older schema up to this one, in a transaction that
    reads the version again under the write lock (two processes may upgrade at once).  Some
    other program's database is refused, and left unstamped."""
    version = _version(conn)
    if version > SCHEMA_VERSION and _table_exists(conn, "runs"):
        raise StateError("state database %s was written by a newer unitaudit (state schema %d, this one reads "
                         "up to %d): upgrade unitaudit (moving the file aside loses the record of its fix runs)"
                         % (db, version, SCHEMA_VERSION))
    if version >= SCHEMA_VERSION:
        _check_columns(conn, db)
        return
    conn.executescript(_SCHEMA)  # only CREATE ... IF NOT EXISTS: harmless when run twice
    with transaction(conn):
        version = _version(conn)
        if version in (1, 2) and "origin" not in _columns(conn, "runs"):
            _add_origin(conn)
        _check_columns(conn, db)
        conn.execute("PRAGMA user_version=%d" % max(version, SCHEMA_VERSION))


def _add_origin(conn: sqlite3.Connection) -> None:
    """Version 2 to 3: who started a run becomes a column.  Until then the timer's runs were told
    apart by their command text alone: this is the one place that test survives, to label the
    runs recorded before the column."""
    conn.execute("ALTER TABLE runs ADD COLUMN origin TEXT NOT NULL DEFAULT '%s'" % RunOrigin.FIX.value)
    conn.execute("UPDATE runs SET origin = ? WHERE substr(command, 1, ?) = ?",
                 (RunOrigin.AUTO_APPLY.value, len(_AUTO_APPLY_COMMAND_V2), _AUTO_APPLY_COMMAND_V2))


def _check_columns(conn: sqlite3.Connection, db: str) -> None:
    missing = _missing_columns(conn)
    if missing is not None:
        raise StateError("state database %s is not unitaudit's (%s): move it aside (mv %s %s.bad); unitaudit "
                         "starts a new one" % (db, missing, db, db))


def _version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def _table_exists(conn: sqlite3.Connection, table: str) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
    return row is not None


def _columns(conn: sqlite3.Connection, table: str) -> Set[str]:
    return {r[1] for r in conn.execute("PRAGMA table_info(%s)" % table)}


def _schema_columns(schema: str) -> Dict[str, Tuple[str, ...]]:
    """Table -> its columns, as `schema` declares them (one column a line, constraints apart).
    Read from the text, not from a database created to ask: that cost ~0.7 ms at every open,
    a fifth of an hourly run's own work (tests/test_state.py checks both agree)."""
    out = {}
    for table, body in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*?)\n\);", schema, re.S):
        lines = (line.split("--")[0].strip() for line in body.splitlines())
        out[table] = tuple(line.split()[0] for line in lines
                           if line and line.split()[0].upper() not in ("PRIMARY", "FOREIGN", "UNIQUE", "CHECK"))
    return out


_COLUMNS = _schema_columns(_SCHEMA)


def _missing_columns(conn: sqlite3.Connection) -> Optional[str]:
    """What a database lacks of this schema ("table runs: no column pid"), None when nothing: one
    created by other software passes CREATE TABLE IF NOT EXISTS and fails on the first query."""
    for table, want in _COLUMNS.items():
        have = _columns(conn, table)
        if not have:
            return "no table %s" % table
        lacking = [c for c in want if c not in have]
        if lacking:
            return "table %s: no column %s" % (table, ", ".join(lacking))
    return None


def _open_fault(directory: str, db: str, e: OSError) -> str:
    """Why state.db cannot be opened for writing, and the remedy."""
    aside = "move it aside (mv %s %s.bad); unitaudit starts a new one" % (db, db)
    if e.errno == errno.EISDIR:
        return "state database %s is not a file: %s" % (db, aside)
    if e.errno == errno.ELOOP:
        return "state database %s is a symbolic link, which unitaudit does not follow: %s" % (db, aside)
    if e.errno == errno.EROFS:
        return "state database %s cannot be written: the file system of %s is read-only" % (db, directory)
    if e.errno in (errno.EACCES, errno.EPERM):
        return _permission_fault(db, e)
    return "state database %s cannot be opened: %s (in %s)" % (db, e.strerror or e, directory)


def _permission_fault(db: str, e: OSError) -> str:
    try:
        owner = os.lstat(db).st_uid
    except OSError:
        owner = os.geteuid()
    if owner != os.geteuid():
        return "state database %s cannot be written: it belongs to uid %d: run as root (or as that user)" % (db, owner)
    if os.geteuid() == 0:
        return ("state database %s cannot be written (%s): it is immutable or append-only (lsattr %s; "
                "chattr -i -a %s)" % (db, e.strerror, db, db))
    return ("state database %s cannot be written: it is read-only: run as root, or make it writable "
            "(chmod 600 %s)" % (db, db))
