"""`scan --incremental`: read only the journal entries after the last run's cursor, fold in the
hour the last run carried over (carry.py), report the loops seen in the new entries, and
record the run, its cursor and the per-hour counts (history.py) in one transaction.

The lock is held from reading the cursor to storing the new one: two runs never read from the
same cursor.
"""
import os
import time
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

from unitaudit import carry
from unitaudit.history import HistoryStore, ScanRow
from unitaudit.model import Finding
from unitaudit.scan import ScanResult, scan
from unitaudit.sources.journal import JournalSource


@dataclass(frozen=True)
class Incremental:
    """How an incremental run read the journal, for the report."""

    source: str
    read_from: str  # cursor | time (the cursor was gone) | window (first run)
    previous_end: Optional[float]  # the time of the last entry the previous run read
    end: Optional[float]  # ... and of this run's
    entries: int  # journal entries read by this run
    carried: int  # sightings carried over from the previous run
    added: Tuple[Tuple[str, int], ...]  # finding id -> sightings this run added to the history
    totals: Tuple[Tuple[str, int], ...]  # finding id -> sightings ever recorded (Prometheus's counter)
    state_dir: str

    def to_dict(self) -> dict:
        return {"source": self.source, "read_from": self.read_from, "previous_end": self.previous_end,
                "end": self.end, "entries_read": self.entries, "carried_sightings": self.carried,
                "added": dict(self.added), "state_dir": self.state_dir}  # totals: Prometheus only


def source_key(journal_dir: Optional[str]) -> str:
    return os.path.abspath(journal_dir) if journal_dir else "local"


def carry_seconds(thresholds) -> float:
    """The longest window a detector looks back over, and never less than an hour (history.py's
    merge relies on it)."""
    return max(3600.0, thresholds.restart_window, thresholds.activation_window)


def run_incremental(thresholds, now: float, window: float, retention: float, journal_dir: Optional[str] = None,
                    since: Optional[float] = None, until: Optional[float] = None, live_source=None, diagnose=None,
                    kernel=None, store: Optional[HistoryStore] = None,
                    clock: Callable[[], float] = time.time) -> Tuple[ScanResult, Incremental]:
    """`window`: how far back a first run reads (no cursor yet) when --since is not given."""
    started = clock()
    store = store or HistoryStore()
    key = source_key(journal_dir)
    with store.lock():
        pos = store.position(key)
        after = (pos.cursor, pos.realtime) if pos is not None and pos.cursor else None
        if after is None and since is None:
            since = now - window
        journal = JournalSource(directory=journal_dir, since=since, until=until, incremental=True, after_cursor=after)
        tap = carry.CarryTap(journal)
        carried = carry.load(pos.carry) if pos is not None else []
        for s in carried:  # what is still inside the window goes on to the next run too
            tap.remember(s)
        previous_end = pos.realtime if pos is not None else None
        fixed = dict(pos.fixed) if pos is not None else {}

        def keep(f: Finding) -> bool:
            """Only loops seen after the last run's end (or after the timer fixed them) are news;
            what the carried hour alone shows was reported by the run before."""
            fresh_after = max(previous_end or 0.0, fixed.get(f.id, 0.0))
            return f.last_seen is None or f.last_seen > fresh_after

        result = scan([carry.CarriedSource(carried), tap], thresholds, now=until if until is not None else now,
                      since=since, until=until, live_source=live_source, diagnose=diagnose, kernel=kernel,
                      keep=keep if previous_end is not None else None)
        end = journal.end
        end_time = end[1] if end else previous_end
        seconds = carry_seconds(thresholds)
        fixed = {k: v for k, v in fixed.items() if end_time is None or v >= end_time - seconds}
        entries = dict(journal.stats().counts).get("entries", 0)
        row = ScanRow(0, key, started, round(clock() - started, 3), "window" if after is None else journal.read_from,
                      entries, len(result.findings), None, tuple(_summary(f) for f in result.findings))
        added = store.record(key, end, tap.carry(end_time, seconds), fixed, row, result.findings,
                             retention, end_time or now)
        totals = store.totals()
    info = Incremental(key, row.read_from, previous_end, end_time, entries, sum(len(s.times) for s in carried),
                       tuple(sorted(added.items())), tuple(sorted(totals.items())), store.directory)
    return result, info


def _summary(f: Finding) -> dict:
    return {"id": f.id, "kind": f.kind.value, "unit": f.unit, "host": f.host, "count": f.count,
            "rate_per_hour": f.rate_per_hour,
            "cgroups_per_hour": f.churn.cgroups_per_hour if f.churn else None}

