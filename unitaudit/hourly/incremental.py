"""`scan --incremental`: read only the journal entries after the last run's cursor, fold in the
hour the last run carried over (carry.py), report the loops seen in the new entries, and
record the run, its cursor and the per-hour counts (history.py) in one transaction.

Computing and recording are two steps (`prepare_incremental`, then `PendingRun.commit`): the
caller (the `scan` command, the timer's round in watch.py) commits only after every output of
the run was written, stdout flushed included.  A run whose report, textfile or journal entry
failed records nothing, so the next run reads from the same cursor and reports the same loops:
a finding is never consumed by a run nobody saw.  `run_incremental` does both at once.

The lock is held from reading the cursor to storing the new one (or to giving up): two runs
never read from the same cursor.
"""
import os
import time
from contextlib import ExitStack

from typing import Callable, Dict, Optional

from unitaudit.hourly import carryover as carry
from unitaudit.hourly.history import HistoryStore, ScanRow
from unitaudit.model import Finding, IncrementalRead, ScanResult
from unitaudit.services.scan import scan
from unitaudit.sources.journal import JournalSource


def source_key(journal_dir: Optional[str]) -> str:
    return os.path.abspath(journal_dir) if journal_dir else "local"


def carry_seconds(thresholds) -> float:
    """The longest window a detector looks back over, and never less than an hour (history.py's
    merge relies on it)."""
    return max(3600.0, thresholds.restart_window, thresholds.activation_window)


def run_incremental(thresholds, now: float, window: float, retention: float, journal_dir: Optional[str] = None,
                    since: Optional[float] = None, until: Optional[float] = None, live_source=None, diagnose=None,
                    kernel=None, store: Optional[HistoryStore] = None,
                    clock: Callable[[], float] = time.time, defer: bool = False):
    """Compute and record at once: (result, info).  `defer`: the PendingRun instead, recorded
    when the caller commits it, after its outputs (prepare_incremental)."""
    pending = prepare_incremental(thresholds, now, window, retention, journal_dir, since, until, live_source,
                                  diagnose, kernel, store, clock)
    if defer:
        return pending
    with pending:
        pending.commit()
        return pending.result, pending.info


class PendingRun:
    """An incremental run computed and not yet recorded.  It holds the scan lock until `commit`
    (the cursor, the carry, the run's row and its hours, in one transaction) or `abort`
    (nothing recorded: the next run reads the same entries again).  As a context manager it
    aborts whatever was not committed."""

    def __init__(self, store: HistoryStore, lock: ExitStack, result: ScanResult, info: IncrementalRead,
                 record_args: tuple, close_store: bool) -> None:
        self.store, self.result, self.info = store, result, info
        self._lock, self._args, self._close_store = lock, record_args, close_store
        self.committed = False
        self.done = False

    def commit(self, fixed: Optional[Dict[str, float]] = None) -> Dict[str, int]:
        """Record the run.  `fixed`: finding id -> when the timer fixed it after the scan."""
        if self.done:
            raise RuntimeError("this incremental run was already %s" % ("recorded" if self.committed else "given up"))
        source, end, carry_text, old_fixed, row, findings, retention, reference = self._args
        merged = dict(old_fixed)
        merged.update(fixed or {})
        try:
            added = self.store.record(source, end, carry_text, merged, row, findings, retention, reference)
            self.committed = True
        finally:
            self._finish()
        return added

    def abort(self, fixed: Optional[Dict[str, float]] = None) -> None:
        """Record nothing of the run; what the timer fixed meanwhile is still noted (the fix
        happened: the next run judges those loops from the fix on)."""
        if self.done:
            return
        try:
            if fixed:
                self.store.mark_fixed(self.info.source, fixed)
        finally:
            self._finish()

    def _finish(self) -> None:
        self.done = True
        try:
            self._lock.close()
        finally:
            if self._close_store:
                self.store.close()

    def __enter__(self) -> "PendingRun":
        return self

    def __exit__(self, *exc) -> None:
        self.abort()


def prepare_incremental(thresholds, now: float, window: float, retention: float, journal_dir: Optional[str] = None,
                        since: Optional[float] = None, until: Optional[float] = None, live_source=None,
                        diagnose=None, kernel=None, store: Optional[HistoryStore] = None,
                        clock: Callable[[], float] = time.time) -> PendingRun:
    """`window`: how far back a first run reads (no cursor yet) when --since is not given.
    Nothing is recorded until the returned run's `commit`."""
    started = clock()
    own_store = store is None
    store = store or HistoryStore()
    key = source_key(journal_dir)
    lock = ExitStack()
    try:
        lock.enter_context(store.lock())
        pos = store.position(key)
        after = (pos.cursor, pos.realtime) if pos is not None and pos.cursor else None
        if after is None and since is None:
            since = max(0.0, now - window)  # a window longer than the epoch reads everything
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
        args = (key, end, tap.carry(end_time, seconds), fixed, row, result.findings, retention, end_time or now)
        added, totals = store.preview(*args)
    except BaseException:
        lock.close()
        if own_store:
            store.close()
        raise
    info = IncrementalRead(key, row.read_from, previous_end, end_time, entries, sum(len(s.times) for s in carried),
                       tuple(sorted(added.items())), tuple(sorted(totals.items())), store.directory)
    return PendingRun(store, lock, result, info, args, own_store)


def _summary(f: Finding) -> dict:
    return {"id": f.id, "kind": f.kind.value, "unit": f.unit, "host": f.host, "count": f.count,
            "rate_per_hour": f.rate_per_hour,
            "cgroups_per_hour": f.churn.cgroups_per_hour if f.churn else None}

