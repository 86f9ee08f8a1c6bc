"""Runs: a fix run and its undo, an incremental read of the journal, a round of the hourly timer."""
from dataclasses import dataclass
from enum import Enum
from typing import List, Optional, Tuple

from unitaudit.model.scans import ScanResult


class ReadFrom(str, Enum):
    """Where a run began reading the journal."""

    CURSOR = "cursor"  # after the previous run's last entry
    TIME = "time"  # the cursor was gone (journal rotated or vacuumed): from its time
    WINDOW = "window"  # a first run: the configured window
    FULL = "full"  # not incremental: the whole window asked for


class RunStatus(str, Enum):
    """A fix run, as the state database records it."""

    RUNNING = "running"
    FIXED = "fixed"  # every finding's loop verified stopped
    NOT_FIXED = "not-fixed"
    PARTIAL = "partial"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # its process died before it finished


class RunOrigin(str, Enum):
    """Who started a fix run."""

    FIX = "fix"  # an admin's `unitaudit fix`
    AUTO_APPLY = "auto-apply"  # the hourly timer's [auto_apply] recipes


class FixStatus(str, Enum):
    """One finding's outcome in a fix run."""

    FIXED = "fixed"
    NOT_FIXED = "not-fixed"  # the steps ran, the loop did not stop
    FAILED = "failed"  # a step failed


@dataclass(frozen=True)
class Outcome:
    finding_id: str
    unit: str
    status: FixStatus
    detail: str
    fallback_used: bool = False


@dataclass(frozen=True)
class FixOutcome:
    run: int
    outcomes: Tuple[Outcome, ...]
    state_dir: str

    @property
    def all_fixed(self) -> bool:
        return all(o.status is FixStatus.FIXED for o in self.outcomes)


@dataclass(frozen=True)
class RunInfo:
    id: int
    started: str  # ISO 8601 UTC
    finished: Optional[str]
    command: str
    status: RunStatus
    n_changes: int  # files written, moves, link changes, irreversible steps
    undone: bool


@dataclass(frozen=True)
class UndoReport:
    restored: List[str]  # files (or links) put back as they were
    removed: List[str]  # files that did not exist before, directories the run created, temp leftovers
    moved_back: List[str]
    links_restored: List[str]  # systemd's link changes reversed
    cannot_undo: List[str]  # irreversible steps, and what was left as is on purpose
    errors: List[str]  # what could not be put back (changed since the run, I/O errors)


@dataclass(frozen=True)
class IncrementalRead:
    """How an incremental run read the journal, for the report."""

    source: str
    read_from: ReadFrom
    previous_end: Optional[float]  # the time of the last entry the previous run read
    end: Optional[float]  # ... and of this run's
    entries: int  # journal entries read by this run
    carried: int  # sightings carried over from the previous run
    added: Tuple[Tuple[str, int], ...]  # finding id -> sightings this run added to the history
    totals: Tuple[Tuple[str, int], ...]  # finding id -> sightings ever recorded (Prometheus's counter)
    state_dir: str

    def to_dict(self) -> dict:
        return {"source": self.source, "read_from": ReadFrom(self.read_from).value,
                "previous_end": self.previous_end, "end": self.end, "entries_read": self.entries,
                "carried_sightings": self.carried, "added": dict(self.added),
                "state_dir": self.state_dir}  # totals: Prometheus only


@dataclass(frozen=True)
class RunSummary:
    """One scan run as the fleet outputs (textfile, journal entry) see it, beside its result."""

    started: float  # seconds since the epoch
    seconds: float  # how long the run took
    version: str  # unitaudit's
    error: Optional[str] = None  # the scan failed: why (one line)
    entries_read: Optional[int] = None  # journal entries read, when known
    read_from: ReadFrom = ReadFrom.FULL
    totals: Tuple[Tuple[str, int], ...] = ()  # finding id -> events seen across all runs (history)
    # finding id -> (when, who) of a fix that did not stop a loop still found: its newest attempt
    # within the retention ended not-fixed or failed; None when the run did not look (scan)
    fix_failures: Optional[Tuple[Tuple[str, float, str], ...]] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "read_from", ReadFrom(self.read_from))  # ValueError for any other word


@dataclass(frozen=True)
class RoundOutcome:
    """One round of the hourly timer (`unitaudit watch`)."""

    result: Optional[ScanResult]  # None when the scan failed
    incremental: Optional[IncrementalRead]  # None when the scan failed
    error: Optional[str]  # why the scan failed
    fixes: Optional[FixOutcome]  # when the timer applied recipes
    refusals: Tuple[str, ...]  # allowed recipes that were not applied, and why
    output_errors: Tuple[str, ...]  # a textfile or journal entry that could not be written


@dataclass(frozen=True)
class UndoOutcome:
    """What the undo of one fix run did, and whether systemd then re-read the unit files."""

    run: int
    report: UndoReport
    reload_error: Optional[str] = None  # why the daemon-reload failed; None when systemd reloaded

    @property
    def reloaded(self) -> bool:
        return self.reload_error is None

    @property
    def complete(self) -> bool:
        """Everything put back, and systemd sees it."""
        return self.reloaded and not self.report.errors
