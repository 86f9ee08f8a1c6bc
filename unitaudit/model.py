"""The frozen types that flow through unitaudit.

sources --> Event --> evidence (fold) --> detectors --> Finding --> reporters

Log lines repeat: the seed machine logged the same activation failure 143,146
times.  A `Message` is what a line says (kind, unit, structured facts, who said
it and whether journald proves it); sources intern it by text, so a repeated
line costs one tuple, not one parse.  An `Event` is one sighting of a message:
when, which process, and the raw line for evidence.
"""
from dataclasses import dataclass, field
from enum import Enum
from typing import Dict, NamedTuple, Optional, Tuple


class Kind(str, Enum):
    """What a log line tells about a unit."""

    RESTART_SCHEDULED = "restart-scheduled"  # PID 1 scheduled an automatic restart
    # "hold-off time over" (<239) / "RestartSec=X expired" (239-253) / "restart interval X expired"
    # (254+): the same restart seen one line earlier; counted only where systemd < 235 logs no
    # "Scheduled restart job"
    RESTART_TIMER_EXPIRED = "restart-timer-expired"
    UNIT_FAILED = "unit-failed"  # "Failed with result 'R'" (UNIT_RESULT)
    UNIT_SUCCEEDED = "unit-succeeded"  # "Succeeded." / "Deactivated successfully."
    START_LIMIT_HIT = "start-limit-hit"  # "Start request repeated too quickly."
    CONTROL_EXITED = "control-process-exited"  # ExecStartPre/ExecStopPost/... exited non-zero
    MAIN_EXITED = "main-process-exited"  # ExecStart exited non-zero
    SPAWN_FAILED = "exec-spawn-failed"  # "Failed at step EXEC spawning PATH"
    ACTIVATION_REQUESTED = "activation-requested"  # bus daemon asked systemd for a unit
    ACTIVATION_FAILED = "activation-failed"  # ... and systemd said no
    LOGROTATE_ERROR = "logrotate-error"  # logrotate's "error: ..." lines
    PROGRAM_LINE = "program-line"  # a process running inside a unit said something


@dataclass(frozen=True)
class Message:
    """What one log line says, independent of when it was said."""

    kind: Kind
    unit: Optional[str]
    text: str
    program: str  # SYSLOG_IDENTIFIER / syslog tag: systemd, dbus-daemon, logrotate, modprobe
    trusted: bool  # journald's trusted fields prove the sender
    facts: Tuple[Tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        # Hashed once: the evidence fold looks a message up for every sighting.
        object.__setattr__(self, "_hash", hash((self.kind, self.unit, self.text, self.program, self.trusted, self.facts)))

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined]

    def fact(self, key: str, default: Optional[str] = None) -> Optional[str]:
        for k, v in self.facts:
            if k == key:
                return v
        return default


class Event(NamedTuple):
    """One sighting of a message.  A tuple: sources emit hundreds of thousands."""

    time: Optional[float]  # seconds since the epoch, UTC; None when the line had no timestamp
    message: Message
    pid: Optional[int]
    raw: Optional[str]  # the line as read (text logs); journal entries are formatted on demand


@dataclass(frozen=True)
class Sightings:
    """Many sightings of one message, read together.

    Sources batch what repeats (a block of a text log, a journal pass) so the
    fold handles one object per message per block instead of one per line."""

    message: Message
    times: Tuple[float, ...]  # dated sightings
    undated: int
    samples: Tuple[Event, ...]  # the first and last few, with their raw lines
    host: str = ""  # the machine that logged them ("" when the lines did not say)


@dataclass(frozen=True)
class ExecStatus:
    """The last run of one Exec*= command as the service manager saw it (D-Bus `a(sasbttttuii)`)."""

    path: str
    argv: Tuple[str, ...]
    ignore_errors: bool
    started: Optional[float]  # seconds since the epoch; None when it never ran
    exited: Optional[float]
    pid: int
    code: int  # si_code: 1 exited, 2 killed, 3 dumped; 0 when it has not exited
    status: int  # exit status, or the signal when killed

    @property
    def failed(self) -> bool:
        return self.exited is not None and self.code != 0 and (self.code != 1 or self.status != 0)


@dataclass(frozen=True)
class UnitState:
    """A unit as the service manager reports it live (D-Bus).  Offline scans have none."""

    name: str
    load_state: str = ""
    active_state: str = ""
    sub_state: str = ""
    n_restarts: Optional[int] = None  # None: not a service, or systemd < 235
    unit_file_state: str = ""
    fragment_path: str = ""
    names: Tuple[str, ...] = ()  # the unit's own name and the aliases it is loaded under
    description: str = ""
    result: str = ""  # Service Result: success, exit-code, start-limit-hit, ...
    load_error: Tuple[str, str] = ("", "")  # (D-Bus error name, message), empty when loaded
    restart: str = ""  # Restart= setting
    restart_usec: Optional[int] = None
    need_daemon_reload: bool = False
    exec_start_pre: Tuple[ExecStatus, ...] = ()
    exec_stop_post: Tuple[ExecStatus, ...] = ()


@dataclass(frozen=True)
class UnitFile:
    """One entry of ListUnitFiles: an installed unit file and its enablement state."""

    path: str
    state: str  # enabled, disabled, static, masked, alias, indirect, generated, ...

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class LiveState:
    """What the service manager said over D-Bus during one scan."""

    address: str  # the bus address used
    units: Tuple[UnitState, ...]
    unit_files: Tuple[UnitFile, ...]
    seconds: float  # how long reading it took
    warnings: Tuple[str, ...] = ()

    def by_name(self) -> Dict[str, UnitState]:
        out: Dict[str, UnitState] = {}
        for u in self.units:
            out[u.name] = u
        return out


@dataclass(frozen=True)
class Diagnosis:
    """What the live system says about a finding's cause.  `facts` is JSON-ready."""

    kind: str  # the cause kind it explains: missing-unit, execstartpre-failed, logrotate-config
    verdict: str  # one stable word for programs, e.g. alias-missing, disabled-on-purpose, module-missing
    summary: str  # one line for people
    facts: Tuple[Tuple[str, object], ...] = ()

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "verdict": self.verdict, "summary": self.summary}
        out.update(dict(self.facts))
        return out


@dataclass(frozen=True)
class KernelFacts:
    """The machine's live kernel figures beside which churn is shown.  None: could not be read
    (and `unreadable` says why): never guessed."""

    release: str
    slab_kb: Optional[int] = None  # /proc/meminfo Slab
    sreclaimable_kb: Optional[int] = None
    sunreclaim_kb: Optional[int] = None
    kernfs_active_objects: Optional[int] = None  # /proc/slabinfo kernfs_node_cache (root only)
    kernfs_objects: Optional[int] = None
    kernfs_object_size: Optional[int] = None  # bytes
    cgroup_layout: str = "unknown"  # unified | hybrid | legacy | unknown
    hierarchies: Tuple[Tuple[str, str], ...] = ()  # (name: "unified", "name=systemd", "memory", ..., mount point)
    cgroups: Tuple[Tuple[str, int, int, bool], ...] = ()  # /proc/cgroups: subsystem, hierarchy, num_cgroups, enabled
    dying_descendants: Optional[int] = None  # cgroup v2 root cgroup.stat nr_dying_descendants
    memcg_slab_caches: Optional[int] = None  # /sys/kernel/slab/*/cgroup/* entries (kernels < 5.9 with kmem accounting)
    unreadable: Tuple[str, ...] = ()


@dataclass(frozen=True)
class UnitCgroupNodes:
    """kernfs nodes of one unit's cgroup directories, counted live: each entry in a cgroup directory
    is one kernfs node, and the directory itself one more."""

    unit: str
    measured_on: str  # the unit itself, or the sibling unit counted while the unit had no directory
    per_hierarchy: Tuple[Tuple[str, str, int], ...]  # (hierarchy name, directory, nodes)

    @property
    def nodes(self) -> int:
        return sum(n for _h, _d, n in self.per_hierarchy)


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
    diagnosis: Optional[Diagnosis] = None  # read from the live system (live scans only)
    churn: Optional[Churn] = None  # what the loop costs the kernel (churn.py)
    # sightings per clock hour, ((hour start, epoch seconds), count), oldest first: what the
    # history of hourly runs adds up (history.py); () when the loop was seen live only
    hourly: Tuple[Tuple[int, int], ...] = ()
