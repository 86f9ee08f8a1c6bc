"""Findings: the loops and failures detectors report, their cause, diagnosis and churn."""
from dataclasses import dataclass, field
from enum import Enum
from typing import Optional, Tuple


@dataclass(frozen=True)
class Churn:
    """What a loop costs the kernel, and where each factor came from."""

    starts_per_hour: float  # unit starts (restarts, timer runs); 0 for a missing unit's activations
    cgroups_per_hour: float  # cgroup directories created (and removed) per hour, all hierarchies
    kernfs_nodes_per_hour: float
    bytes_per_day: Optional[float]  # kernfs_node_cache bytes allocated (and freed) per day
    basis: Tuple[Tuple[str, str], ...]  # factor -> "measured: ..." / "table: ..." / "journal: ..."

    def to_dict(self) -> dict:
        return {"starts_per_hour": self.starts_per_hour, "cgroups_per_hour": self.cgroups_per_hour,
                "kernfs_nodes_per_hour": self.kernfs_nodes_per_hour, "bytes_per_day": self.bytes_per_day,
                "basis": dict(self.basis)}


class FindingKind(str, Enum):
    RESTART_LOOP = "restart-loop"
    ACTIVATION_LOOP = "activation-loop"
    REPEATED_FAILURE = "repeated-failure"
    START_LIMIT_HIT = "start-limit-hit"
    FAILURE = "failure"


class CauseKind(str, Enum):
    EXECSTARTPRE_FAILED = "execstartpre-failed"
    MISSING_UNIT = "missing-unit"
    LOGROTATE_CONFIG = "logrotate-config"


@dataclass(frozen=True)
class Diagnosis:
    """What the live system says about a finding's cause.  `facts` is JSON-ready."""

    kind: CauseKind  # the cause it explains
    verdict: str  # one stable word for programs, e.g. alias-missing, disabled-on-purpose, module-missing
    summary: str  # one line for people
    facts: Tuple[Tuple[str, object], ...] = ()

    def to_dict(self) -> dict:
        out = {"kind": self.kind.value, "verdict": self.verdict, "summary": self.summary}
        out.update(dict(self.facts))
        return out


@dataclass(frozen=True)
class Cause:
    """Why a loop happens, as far as the evidence shows.  `facts` is JSON-ready."""

    kind: CauseKind
    summary: str  # one line for people
    facts: Tuple[Tuple[str, object], ...] = ()

    def to_dict(self) -> dict:
        out = {"kind": self.kind.value, "summary": self.summary}
        out.update(dict(self.facts))
        return out


@dataclass(frozen=True)
class Finding:
    id: str  # stable across runs: derived from kind and unit
    kind: FindingKind
    unit: str
    count: int
    rate_per_hour: Optional[float]
    first_seen: Optional[float]
    last_seen: Optional[float]
    trusted: bool
    evidence: Tuple[str, ...]
    cause: Optional[Cause]
    detector: str
    summary: str
    period_seconds: Optional[float] = None
    facts: Tuple[Tuple[str, object], ...] = field(default=())
    host: str = ""  # the machine the evidence came from ("" when it did not say)
    # its machine id (journald's _MACHINE_ID) when the evidence was a journal: a fix acts only on
    # the machine's own loops; two machines of one hostname in a journal-remote directory are
    # told apart by it (their hosts are labelled `hostname/<machine id's first 8>`)
    machine_id: Optional[str] = None
    diagnosis: Optional[Diagnosis] = None  # read from the live system (live scans only)
    churn: Optional[Churn] = None  # what the loop costs the kernel (churn.py)
    # sightings per clock hour, ((hour start, epoch seconds), count), oldest first: what the
    # history of hourly runs adds up (history.py); () when the loop was seen live only
    hourly: Tuple[Tuple[int, int], ...] = ()
