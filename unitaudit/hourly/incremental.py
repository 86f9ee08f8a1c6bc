"""`scan --incremental`: read only the journal entries after the last run's cursor, fold in the
sightings the last run carried over (carryover.py), report the loops seen in the new entries,
and record the run, its cursor and the per-hour counts (history.py) in one transaction.

Computing and recording are two steps (`prepare_incremental`, then `PendingRun.commit`): the
caller (the `scan` command, the timer's round in round.py) commits only after every output of
the run was written, stdout flushed included.  A run whose report, textfile or journal entry
failed records nothing, so the next run reads from the same cursor and reports the same loops:
a finding is never consumed by a run nobody saw.  `run_incremental` does both at once.

The lock is held from reading the cursor to storing the new one (or to giving up): two runs
never read from the same cursor.
"""
import os
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Dict, List, NamedTuple, Optional, Tuple

from unitaudit.analysis.detectors.finding_parts import finding_id
from unitaudit.errors import UnitauditError
from unitaudit.hourly import carryover
from unitaudit.hourly.history import HistoryStore, ScanRow
from unitaudit.model import (Config, Finding, FindingKind, FixOutcome, FixStatus, IncrementalRead, ReadFrom, ScanResult,
                             Sightings, Thresholds)
from unitaudit.services.scan import ScanRequest, scan, thresholds, window
from unitaudit.sources.journal import JournalSource

if TYPE_CHECKING:  # an offline run never loads the live parts, nor dbus-next with them
    from unitaudit.services.parts import LiveParts

# Said after the error of an output that failed: the run is left for the next one
NOT_RECORDED = "; this run was not recorded: the next run reports its loops again"


@dataclass(frozen=True)
class IncrementalRequest:
    """What an incremental run reads, and what judges it."""

    thresholds: Thresholds
    now: float
    window: float  # how far back a first run (no cursor yet) reads when `since` is not given
    retention: float  # how long the history keeps what a run records
    journal_dir: Optional[str] = None  # None: this machine's journal
    since: Optional[float] = None
    until: Optional[float] = None
    live: Optional["LiveParts"] = None  # unit states, diagnosis, kernel figures: a scan of this machine

    @classmethod
    def from_scan(cls, request: ScanRequest, config: Config, live: Optional["LiveParts"] = None) -> "IncrementalRequest":
        """`scan --incremental`: the request's window, thresholds and journal; the configuration's
        window (for a first run) and retention."""
        span = window(request.since, request.until)
        return cls(thresholds=thresholds(request, config.thresholds), now=span.now, window=config.window,
                   retention=config.retention, journal_dir=request.journal_dir, since=span.since, until=span.until,
                   live=live)


@dataclass(frozen=True)
class RunRecord:
    """What committing an incremental run writes (HistoryStore.record), in one transaction."""

    source: str  # the journal read (source_key)
    end: Optional[Tuple[str, float]]  # the cursor and time of the last entry read
    carryover: str  # the sightings the next run folds in, as JSON (carryover.py)
    fixed: Dict[str, float]  # finding id -> when the timer fixed it, still inside the window
    row: ScanRow
    findings: Tuple[Finding, ...]
    retention: float
    reference: float  # the time the retention counts back from

    def write(self, method: Callable, fixed: Dict[str, float]):
        """`method` (HistoryStore.record or .preview) called with this record; `fixed` instead of
        the record's own."""
        return method(source=self.source, end=self.end, carry=self.carryover, fixed=fixed, scan=self.row,
                      findings=self.findings, retention=self.retention, reference=self.reference)


def source_key(journal_dir: Optional[str]) -> str:
    return os.path.abspath(journal_dir) if journal_dir else "local"


def carryover_seconds(thresholds: Thresholds) -> float:
    """The longest window a detector looks back over, and never less than an hour (hourly/history.py's
    merge relies on it)."""
    return max(3600.0, thresholds.restart_window, thresholds.activation_window)


def run_incremental(request: IncrementalRequest, store: Optional[HistoryStore] = None,
                    clock: Callable[[], float] = time.time) -> Tuple[ScanResult, IncrementalRead]:
    """Compute and record at once: (result, info)."""
    with prepare_incremental(request, store=store, clock=clock) as pending:
        pending.commit()
        return pending.result, pending.info


class PendingRun:
    """An incremental run computed and not yet recorded.  It holds the scan lock until `commit`
    (the cursor, the carryover, the run's row and its hours, in one transaction) or `abort`
    (nothing recorded: the next run reads the same entries again).  As a context manager it
    aborts whatever was not committed."""

    def __init__(self, store: HistoryStore, lock: ExitStack, result: ScanResult, info: IncrementalRead,
                 record: RunRecord, close_store: bool) -> None:
        self.store, self.result, self.info, self.record = store, result, info, record
        self._lock, self._close_store = lock, close_store
        self.committed = False
        self.done = False

    def commit(self, fixed: Optional[Dict[str, float]] = None) -> Dict[str, int]:
        """Record the run.  `fixed`: finding id -> when the timer fixed it after the scan."""
        if self.done:
            raise RuntimeError("this incremental run was already %s" % ("recorded" if self.committed else "given up"))
        merged = dict(self.record.fixed)
        merged.update(fixed or {})
        try:
            added = self.record.write(self.store.record, merged)
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


def prepare_incremental(request: IncrementalRequest, store: Optional[HistoryStore] = None,
                        clock: Callable[[], float] = time.time) -> PendingRun:
    """The run computed under the scan lock; nothing is recorded until its `commit`."""
    started = clock()
    own_store = store is None
    store = store or HistoryStore()
    lock = ExitStack()
    try:
        lock.enter_context(store.lock())
        result, info, record = _compute(request, store, started, clock)
    except BaseException:
        lock.close()
        if own_store:
            store.close()
        raise
    return PendingRun(store, lock, result, info, record, own_store)


class _Previous(NamedTuple):
    """What the last run of this journal left: where it ended, what it carried over, what the
    timer fixed since."""

    after: Optional[Tuple[str, float]]  # its cursor, when there is one to read after
    end: Optional[float]
    carried: List[Sightings]
    fixed: Dict[str, float]


def _previous(store: HistoryStore, key: str) -> _Previous:
    pos = store.position(key)
    if pos is None:
        return _Previous(None, None, [], {})
    return _Previous((pos.cursor, pos.realtime) if pos.cursor else None, pos.realtime, carryover.load(pos.carry),
                     dict(pos.fixed))


def _compute(request: IncrementalRequest, store: HistoryStore, started: float,
             clock: Callable[[], float]) -> Tuple[ScanResult, IncrementalRead, RunRecord]:
    key = source_key(request.journal_dir)
    previous = _previous(store, key)
    since = request.since
    if previous.after is None and since is None:
        since = max(0.0, request.now - request.window)  # a window longer than the epoch reads everything
    journal = JournalSource(directory=request.journal_dir, since=since, until=request.until, incremental=True,
                            after_cursor=previous.after)
    tap = carryover.CarryoverTap(journal)
    for s in previous.carried:  # what is still inside the window goes on to the next run too
        tap.remember(s)
    result = scan([carryover.CarriedSource(previous.carried), tap], request.thresholds,
                  now=request.until if request.until is not None else request.now, since=since, until=request.until,
                  keep=_news(previous) if previous.end is not None else None,
                  **(request.live._asdict() if request.live is not None else {}))
    end_time = journal.end[1] if journal.end else previous.end
    seconds = carryover_seconds(request.thresholds)
    read_from = ReadFrom.WINDOW if previous.after is None else ReadFrom(journal.read_from)
    entries = dict(journal.stats().counts).get("entries", 0)
    row = ScanRow(id=0, source=key, started=started, seconds=round(clock() - started, 3), read_from=read_from.value,
                  entries=entries, findings=len(result.findings), error=None,
                  summary=tuple(_summary(f) for f in result.findings))
    record = RunRecord(source=key, end=journal.end, carryover=tap.dump(end_time, seconds), row=row,
                       fixed={k: v for k, v in previous.fixed.items() if end_time is None or v >= end_time - seconds},
                       findings=result.findings, retention=request.retention, reference=end_time or request.now)
    added, totals = record.write(store.preview, record.fixed)
    info = IncrementalRead(source=key, read_from=read_from, previous_end=previous.end, end=end_time, entries=entries,
                           carried=sum(len(s.times) for s in previous.carried), added=tuple(sorted(added.items())),
                           totals=tuple(sorted(totals.items())), state_dir=store.directory)
    return result, info, record


def _news(previous: _Previous) -> Callable[[Finding], bool]:
    def keep(f: Finding) -> bool:
        """Only loops seen after the last run's end (or after the timer fixed them) are news;
        what the carried sightings alone show was reported by the run before."""
        fresh_after = max(previous.end or 0.0, previous.fixed.get(f.id, 0.0))
        return f.last_seen is None or f.last_seen > fresh_after
    return keep


def _summary(f: Finding) -> dict:
    return {"id": f.id, "kind": f.kind.value, "unit": f.unit, "host": f.host, "count": f.count,
            "rate_per_hour": f.rate_per_hour,
            "cgroups_per_hour": f.churn.cgroups_per_hour if f.churn else None}


def fixed_loops(findings, fixes: FixOutcome, done: float) -> Dict[str, float]:
    """Finding id -> `done` for every loop `fixes` stopped: the ids of every kind on its unit and
    host, because the events just before a fix may read as another kind in the next run (a few
    failures where there was a repeated failure), and none of them is news after the fix."""
    by_id = {f.id: f for f in findings}
    out: Dict[str, float] = {}
    for o in fixes.outcomes:
        f = by_id.get(o.finding_id)
        if o.status is FixStatus.FIXED and f is not None:
            out.update((finding_id(kind.value, f.unit, f.host), done) for kind in FindingKind)
    return out


def note_fixed_by_hand(findings, fixes: FixOutcome, done: float) -> Optional[str]:
    """After `unitaudit fix` on this machine's journal: the next hourly run judges the loops it
    stopped from the fix on, as it does the timer's own fixes (else it re-reads the events between
    its last run and the fix and reports the loops once more).  The warning to show when the
    history cannot be written (a timer run holds it): the fix itself stands."""
    fixed = fixed_loops(findings, fixes, done)
    if not fixed:
        return None
    try:
        store = HistoryStore()
        try:
            with store.lock():
                store.mark_fixed(source_key(None), fixed)
        finally:
            store.close()
    except UnitauditError as e:
        return "the hourly history was not told of this fix (%s): its next run may report these loops once more" % e
    return None
