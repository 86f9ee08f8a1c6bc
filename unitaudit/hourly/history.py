"""The record of incremental runs in the state database: where each journal was last read (the
cursor and the carried final hour), one row per run, and every loop's sightings per clock hour.

Hourly counts are merged by taking the larger count: a run sees an hour bucket whole from its
start whenever the hour began within the carried window (hourly/carryover.py keeps the detectors' window,
at least an hour), so the larger count is the truer one and a run repeated over the same
entries adds nothing.  The Prometheus counter `unitaudit_loop_events_total` grows by exactly
what the merge added.  Rows older than the retention are deleted by every run: the database
never grows without bound.
"""
import json
import os
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from unitaudit.errors import StateError
from unitaudit.model import Finding
from unitaudit.store.database import DATABASE_NAME, open_database, read_database, transaction
from unitaudit.util.files import default_state_dir, make_private_dir
from unitaudit.util.locks import pid_lock


@dataclass(frozen=True)
class Position:
    cursor: Optional[str]
    realtime: Optional[float]
    carry: str
    fixed: Dict[str, float]  # finding id -> when a timer run fixed it


@dataclass(frozen=True)
class ScanRow:
    id: int
    source: str
    started: float
    seconds: float
    read_from: str
    entries: int
    findings: int
    error: Optional[str]
    summary: Tuple[dict, ...]


@dataclass(frozen=True)
class HourRow:
    finding: str
    hour: int
    host: str
    unit: str
    kind: str
    count: int
    rate: Optional[float]
    cgroups_per_hour: Optional[float]
    kernfs_nodes_per_hour: Optional[float]


class HistoryStore:
    def __init__(self, directory: Optional[str] = None, readonly: bool = False) -> None:
        self.directory = os.path.abspath(directory or default_state_dir())
        if readonly:  # `history` changes nothing, not even by creating the database
            self._db = self._read_only()
        else:
            make_private_dir(self.directory)
            self._db = open_database(self.directory)

    def _read_only(self) -> sqlite3.Connection:
        db = os.path.join(self.directory, DATABASE_NAME)
        if not os.path.exists(db):
            raise StateError("no history in %s yet: the hourly timer (unitaudit watch) or "
                             "`unitaudit scan --incremental` records it" % self.directory)
        conn = None
        try:
            conn = read_database(self.directory)
            conn.execute("SELECT 1 FROM hourly LIMIT 1")
        except sqlite3.Error as e:
            if conn is not None:
                conn.close()
            raise StateError("%s: cannot read the history: %s" % (db, e)) from None
        return conn

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def lock(self) -> Iterator[None]:
        """One incremental run at a time: two would read from the same cursor and count twice.
        A lock of its own, so a timer run may take the fix lock (store/fixruns.py) inside it."""
        with pid_lock(os.path.join(self.directory, "scan.lock"), "incremental unitaudit run"):
            yield

    # -- reading ---------------------------------------------------------------------------

    def position(self, source: str) -> Optional[Position]:
        row = self._db.execute("SELECT cursor, realtime, carry, fixed FROM positions WHERE source=?", (source,)).fetchone()
        if row is None:
            return None
        return Position(row[0], row[1], row[2], {str(k): float(v) for k, v in json.loads(row[3] or "{}").items()})

    def scans(self, since: Optional[float] = None) -> List[ScanRow]:
        rows = self._db.execute("SELECT id, source, started, seconds, read_from, entries, findings, error, summary "
                                "FROM scans WHERE started >= ? ORDER BY id", (since or 0.0,)).fetchall()
        return [ScanRow(*r[:8], tuple(json.loads(r[8]))) for r in rows]

    def hours(self, since: Optional[float] = None, unit: Optional[str] = None) -> List[HourRow]:
        sql = ("SELECT finding, hour, host, unit, kind, count, rate, cgroups_per_hour, kernfs_nodes_per_hour "
               "FROM hourly WHERE hour >= ?")
        args: list = [int((since or 0.0) // 3600 * 3600)]
        if unit is not None:
            sql += " AND unit = ?"
            args.append(unit)
        return [HourRow(*r) for r in self._db.execute(sql + " ORDER BY unit, kind, host, hour", args)]

    def totals(self) -> Dict[str, int]:
        return dict(self._db.execute("SELECT finding, events FROM totals"))

    # -- recording a run -------------------------------------------------------------------

    def record(self, source: str, end: Optional[Tuple[str, float]], carry: str, fixed: Dict[str, float],
               scan: ScanRow, findings: Sequence[Finding], retention: float, reference: float) -> Dict[str, int]:
        """One transaction: the new position, the run, the merged hours, the totals, the pruning.
        Returns what the merge added per finding."""
        return self._record(source, end, carry, fixed, scan, findings, retention, reference, False)[0]

    def preview(self, source: str, end: Optional[Tuple[str, float]], carry: str, fixed: Dict[str, float],
                scan: ScanRow, findings: Sequence[Finding], retention: float,
                reference: float) -> Tuple[Dict[str, int], Dict[str, int]]:
        """What `record` would add per finding, and the totals after it, recording nothing: the
        same transaction, rolled back.  An incremental run's outputs are written from this, and
        the run is recorded only once they are (incremental.PendingRun)."""
        return self._record(source, end, carry, fixed, scan, findings, retention, reference, True)

    def _record(self, source, end, carry, fixed, scan, findings, retention, reference,
                dry_run: bool) -> Tuple[Dict[str, int], Dict[str, int]]:
        """A preview (dry_run) writes only what its answer reads, the hours and the totals: the
        position (with its carried hour, ~140 kB on a looping machine) and the run's row would
        be rolled back unread."""
        db = self._db
        totals: Dict[str, int] = {}
        added: Dict[str, int] = {}
        try:
            with transaction(db, commit=not dry_run):
                if not dry_run:
                    self._write_run(source, end, carry, fixed, scan)
                for f in findings:
                    added[f.id] = self._merge(f)
                self._prune(reference - retention, dry_run)
                if dry_run:  # the totals as they would be: read before the rollback
                    totals = self.totals()
        except sqlite3.Error as e:
            raise StateError("cannot record the run in %s: %s" % (self.directory, e)) from None
        return added, totals

    def _write_run(self, source: str, end: Optional[Tuple[str, float]], carry: str, fixed: Dict[str, float],
                   scan: ScanRow) -> None:
        db = self._db
        db.execute("INSERT INTO positions (source, cursor, realtime, carry, fixed) VALUES (?, ?, ?, ?, ?) "
                   "ON CONFLICT(source) DO UPDATE SET cursor=excluded.cursor, realtime=excluded.realtime, "
                   "carry=excluded.carry, fixed=excluded.fixed",
                   (source, end[0] if end else None, end[1] if end else None, carry, json.dumps(fixed)))
        db.execute("INSERT INTO scans (source, started, seconds, read_from, entries, findings, error, summary) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (source, scan.started, scan.seconds, scan.read_from,
                                                       scan.entries, scan.findings, scan.error,
                                                       json.dumps(list(scan.summary))))

    def mark_fixed(self, source: str, fixed: Dict[str, float]) -> None:
        """A timer run fixed these loops after its scan: the next run judges them from then on."""
        with transaction(self._db):
            pos = self.position(source)
            if pos is None:
                return
            merged = dict(pos.fixed)
            merged.update(fixed)
            self._db.execute("UPDATE positions SET fixed=? WHERE source=?", (json.dumps(merged), source))

    def _merge(self, f: Finding) -> int:
        db = self._db
        cgroups = f.churn.cgroups_per_hour if f.churn else None
        nodes = f.churn.kernfs_nodes_per_hour if f.churn else None
        added = 0
        for hour, n in f.hourly:
            row = db.execute("SELECT count FROM hourly WHERE finding=? AND hour=?", (f.id, hour)).fetchone()
            if row is None:
                db.execute("INSERT INTO hourly VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (f.id, hour, f.host, f.unit, f.kind.value, n, f.rate_per_hour, cgroups, nodes))
                added += n
            elif n > row[0]:
                db.execute("UPDATE hourly SET count=?, rate=?, cgroups_per_hour=?, kernfs_nodes_per_hour=? "
                           "WHERE finding=? AND hour=?", (n, f.rate_per_hour, cgroups, nodes, f.id, hour))
                added += n - row[0]
        db.execute("INSERT INTO totals VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(finding) DO UPDATE SET "
                   "events=events+excluded.events, first_seen=min(coalesce(first_seen, excluded.first_seen), "
                   "coalesce(excluded.first_seen, first_seen)), last_seen=max(coalesce(last_seen, 0), "
                   "coalesce(excluded.last_seen, 0))",
                   (f.id, f.host, f.unit, f.kind.value, added, f.first_seen, f.last_seen))
        return added

    def _prune(self, before: float, totals_only: bool = False) -> None:
        """Delete what is older than `before`; `totals_only`: the totals alone (what a preview reads)."""
        if not totals_only:
            self._db.execute("DELETE FROM hourly WHERE hour < ?", (int(before // 3600 * 3600),))
            self._db.execute("DELETE FROM scans WHERE started < ?", (before,))
        self._db.execute("DELETE FROM totals WHERE last_seen < ?", (before,))
