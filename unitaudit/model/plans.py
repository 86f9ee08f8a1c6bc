"""The frozen types of remediation: recipes as loaded, and the plan the planner makes of them.

A recipe is data (one TOML file in remediations/).  Its steps name actions from a closed set,
implemented in Python (actions.py); their parameters are templates filled from the finding and
its diagnosis (`{declared_by}`, `{package}`, ...), and every filled value is checked against its
grammar (unit name, package name, module name, absolute path) before any backend sees it.
"""
from dataclasses import dataclass, field
from enum import Enum
from typing import Dict, Optional, Tuple

from unitaudit.model.findings import CauseKind, FindingKind


class Action(str, Enum):
    DAEMON_RELOAD = "daemon-reload"  # Manager.Reload
    REENABLE = "reenable"  # Manager.ReenableUnitFiles, then Reload
    START = "start"
    STOP = "stop"
    RESTART = "restart"
    RESET_FAILED = "reset-failed"  # only after the evidence is recorded: it clears NRestarts
    WRITE_DROP_IN = "write-drop-in"  # /etc/systemd/system/UNIT.d/50-unitaudit.conf
    MASK = "mask"
    APT_REINSTALL = "apt-reinstall"  # apt-get install --reinstall PKG, refused while dpkg is locked
    DKMS_AUTOINSTALL = "dkms-autoinstall"
    LOGROTATE_ADD_SU = "logrotate-add-su"  # add `su USER GROUP` to the stanza of a skipped log
    LOGROTATE_QUARANTINE = "logrotate-quarantine"  # move a broken config aside (never delete)


class Undo(str, Enum):
    """How a step is undone; every action allows only some of these (schema.ALLOWED_UNDO)."""

    RESTORE_FILES = "restore-files"  # put back the files (and links) the step changed, byte-identical
    REMOVE_FILE = "remove-file"  # delete the file the step created (a drop-in)
    MOVE_BACK = "move-back"  # a quarantined file returns to its place
    UNMASK = "unmask"
    NONE = "none"  # nothing to undo (a reload, a restart)
    IMPOSSIBLE = "impossible"  # cannot be undone (a package reinstall): said so, never pretended


class Check(str, Enum):
    """How a fix is verified after it ran."""

    ACTIVATION_SUCCEEDS = "activation-succeeds"  # no new activation failure for the unit over the window
    NO_NEW_RESTARTS = "no-new-restarts"  # NRestarts unchanged over the window (unit settled or running)
    UNIT_RUN_SUCCEEDS = "unit-run-succeeds"  # start the unit once more: it ends in success (logrotate)
    NO_NEW_FAILURES = "no-new-failures"  # no new failure of the unit over the window


@dataclass(frozen=True)
class Step:
    action: Action
    params: Tuple[Tuple[str, str], ...]  # name -> template, e.g. ("unit", "{declared_by}")
    undo: Undo
    settings: Tuple[Tuple[str, str], ...] = ()  # write-drop-in: [Unit]/[Service] keys, e.g. ("StartLimitBurst", "5")

    def param(self, name: str) -> Optional[str]:
        return dict(self.params).get(name)


@dataclass(frozen=True)
class Applies:
    """Which findings a recipe is for: all given conditions must hold."""

    findings: Tuple[FindingKind, ...]
    cause: Optional[CauseKind] = None  # None: any cause (a generic restart-loop recipe)
    verdicts: Tuple[str, ...] = ()  # diagnosis verdicts; empty: any (or no diagnosis)


@dataclass(frozen=True)
class Verify:
    check: Check
    seconds: float = 15.0  # observation window


@dataclass(frozen=True)
class Recipe:
    id: str  # stable kebab-case
    title: str
    fixes: str  # one paragraph: what it fixes and why this way
    applies: Applies
    steps: Tuple[Step, ...]
    verify: Verify
    fallback: Tuple[Step, ...] = ()  # when verification fails after the steps (e.g. reinstall the package)
    priority: int = 50  # among recipes that apply to one finding, the lowest number wins
    source: str = ""  # the file it was loaded from


class OperationKind(str, Enum):
    """What a backend does for one operation (remediation/actions.py makes them)."""

    DBUS = "dbus"  # a systemd manager method: argv is (interface.member, *args)
    RUN = "run"  # a program: argv is the exact argv
    CHECK = "check"  # a program that must confirm the step is right before the next operation runs
    WRITE = "write"  # a file's new content, its old one backed up
    MOVE = "move"  # a file moved aside, never deleted


@dataclass(frozen=True)
class Operation:
    """One concrete thing a backend does: a D-Bus call, a program run, a file written or moved."""

    kind: OperationKind
    target: str  # unit, package or path it acts on
    argv: Tuple[str, ...] = ()  # RUN, CHECK: the exact argv; DBUS: (interface.member, *args)
    path: str = ""  # WRITE, MOVE
    content: Optional[str] = None  # write: the new content
    before: Optional[str] = None  # write: the current content (None: the file does not exist)
    destination: str = ""  # move


@dataclass(frozen=True)
class PlannedStep:
    finding_id: str
    recipe_id: str
    action: Action
    values: Tuple[Tuple[str, str], ...]  # filled and validated parameters
    undo: Undo
    operations: Tuple[Operation, ...]
    fallback: bool = False
    settings: Tuple[Tuple[str, str], ...] = ()  # write-drop-in: the settings to write

    def value(self, name: str) -> str:
        return dict(self.values)[name]


@dataclass(frozen=True)
class Refusal:
    """A finding the plan does not act on, and why (protected unit, untrusted evidence, no recipe)."""

    finding_id: str
    unit: str
    reason: str
    recommendation: str = ""  # what an admin could do by hand


@dataclass(frozen=True)
class Plan:
    steps: Tuple[PlannedStep, ...]
    refusals: Tuple[Refusal, ...]
    verifications: Tuple[Tuple[str, Verify], ...] = field(default=())  # finding id -> how to verify
    recipes_used: Tuple[str, ...] = ()

    def by_finding(self) -> Dict[str, Tuple[PlannedStep, ...]]:
        out: Dict[str, list] = {}
        for s in self.steps:
            out.setdefault(s.finding_id, []).append(s)
        return {k: tuple(v) for k, v in out.items()}
