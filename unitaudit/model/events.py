"""What a log line says (`Message`) and each sighting of it (`Event`, `Sightings`).

Log lines repeat: the seed machine logged the same activation failure 143,146 times.  A
`Message` is what a line says (kind, unit, structured facts, who said it and whether journald
proves it); sources intern it by text, so a repeated line costs one tuple, not one parse.  An
`Event` is one sighting of a message: when, which process, and the raw line for evidence.
"""
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple, Optional, Tuple

# A line a program logs inside a unit belongs to the unit's failure when the failure follows
# within this many seconds (the journal source reads such lines around each failure, the
# evidence fold pairs them).
PROGRAM_LINE_LEAD = 3.0


class Kind(str, Enum):
    """What a log line tells about a unit."""

    RESTART_SCHEDULED = "restart-scheduled"  # PID 1 scheduled an automatic restart
    # "hold-off time over" (<239) / "RestartSec=X expired" (239-253) / "restart interval X expired"
    # (254+): the same restart seen one line earlier; counted only where systemd < 235 logs no
    # "Scheduled restart job"
    RESTART_TIMER_EXPIRED = "restart-timer-expired"
    UNIT_FAILED = "unit-failed"  # "Failed with result 'R'" (UNIT_RESULT), 219's "Unit X entered failed state."
    # A second line for a failure another line tells: 219's "X failed.", 220-234's "Unit entered
    # failed state." (beside "Failed with result").  Not counted: it would count each failure twice.
    UNIT_FAILED_ECHO = "unit-failed-echo"
    UNIT_SUCCEEDED = "unit-succeeded"  # "Succeeded." / "Deactivated successfully."
    START_LIMIT_HIT = "start-limit-hit"  # "Start request repeated too quickly."
    CONTROL_EXITED = "control-process-exited"  # ExecStartPre/ExecStopPost/... exited non-zero
    MAIN_EXITED = "main-process-exited"  # ExecStart exited non-zero
    SPAWN_FAILED = "exec-spawn-failed"  # "Failed at step EXEC spawning PATH"
    OPERATION_TIMED_OUT = "operation-timed-out"  # "start-pre operation timed out. Terminating." (STATE)
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
