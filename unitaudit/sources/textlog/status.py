"""`systemctl status` output pasted into a ticket, read into the UnitStates it shows.

A paste looks like this (systemctl's print_status_info; the labels are never translated, only
the dates in them are):

  ● deepin-anything-monitor.service - Deepin anything service
     Loaded: loaded (/lib/systemd/system/deepin-anything-monitor.service; enabled; vendor preset: enabled)
     Active: activating (auto-restart) (Result: exit-code) since Thu 2024-01-25 10:24:27 CST; 2s ago
    Process: 19672 ExecStartPre=/usr/sbin/modprobe vfs_monitor (code=exited, status=1/FAILURE)
   Main PID: ...

then the unit's last log lines, which the ordinary line parser reads.  Pastes lose their
indentation, the bullet (`●`; since systemd 248 also `×` failed, `○` inactive, `↻` reloading; `*`,
`x`, `o` without UTF-8) may be missing, and lines may be cut at the terminal's width: what a cut
line still says is kept, and a command whose exit status was cut off is not taken as failed.
Lines newer systemd adds (Docs:, Tasks:, Memory:, CGroup:, Invocation:, ...) say nothing about a
loop and are not read.

The text scan hands over only lines that contain a hit string, with no timestamp: STATUS_STRINGS
pick the block's lines (a syslog line seldom has them: 0 of the 1M-line bench's lines do).  A
block is the lines from a header or a `Loaded:` line to the next one; a paste that starts at
`Loaded:` takes the unit's name from the unit file's path.  The same unit shown twice: the later
block wins (the later state).  What a paste shows is untrusted, as any text: `seen_in` says
where it was seen.
"""
from dataclasses import replace
import posixpath
import re
import signal
import sys
from typing import Dict, List, Optional, Tuple

from unitaudit.model import ExecStatus, UnitState
from unitaudit.util.names import is_unit_name

SEEN_IN = "systemctl status"
# Each string picks one kind of block line.  The header is picked by its bullet "●", which is
# what a unit that is running or restarting shows (every version; a failed one shows "×" since
# 248): a header not picked leaves the unit to be named by its Loaded: path.  ".service - " would
# pick headers without their bullet too, but costs grep 11% on the bench (against 3%) and picks
# every "Starting x.service - Description..." line systemd 253+ logs.
_PICKS = ("Loaded: ", "Active: ", "Process: ", "\u25cf ", "NRestarts=")


def _fits_argv(s: str) -> bool:
    """grep gets the strings as arguments, in the file system's encoding: UTF-8 nearly always
    (Python 3.7+ makes the C locale UTF-8), but a Latin-1 locale could not pass the bullet."""
    try:
        s.encode(sys.getfilesystemencoding())
    except (UnicodeEncodeError, LookupError):
        return False
    return True


STATUS_STRINGS = tuple(s for s in _PICKS if _fits_argv(s))

_LEAD = rb"[\s>|]*"  # indentation, or a mail/markdown quote
_BULLET = rb"(?:\xe2\x97\x8f|\xc3\x97|\xe2\x97\x8b|\xe2\x86\xbb|[*xo])\s+"  # ● × ○ ↻ * x o
_HEADER = re.compile(_LEAD + rb"(?:" + _BULLET + rb")?([A-Za-z0-9:_.\\@-]{1,250}\.service)(?: - (.*))?$")
_LABEL = re.compile(_LEAD + rb"(Loaded|Active|Process): (.*)$")
# `systemctl show -p NRestarts x` pasted beside the block: the counter the block does not show
_N_RESTARTS = re.compile(_LEAD + rb"NRestarts=(\d{1,10})$")
_PROCESS = re.compile(rb"(\d{1,10}) ([A-Za-z]{1,32})=(.*)$")
_PARENS = re.compile(r" ?\(([^)]*)\)?")
_SIGNAL_WORD = re.compile(rb"[A-Z][A-Z0-9+]{1,15}")  # KILL, SEGV, RTMIN+3
EXIT_CODES = {b"exited": 1, b"killed": 2, b"dumped": 3}  # si_code, as D-Bus gives ExecStatus.code
_FREEZER = {"frozen", "freezing", "thawing"}
_READ_EXECS = ("ExecStartPre", "ExecStopPost")


class _Block:
    """One unit's status as its lines come."""

    __slots__ = ("name", "description", "loaded", "active", "execs", "n_restarts")

    def __init__(self, name: str = "", description: str = "") -> None:
        self.name = name
        self.description = description
        self.loaded: Optional[Tuple[str, str, str, str]] = None  # load state, path, unit file state, error
        self.active: Optional[Tuple[str, str, str]] = None  # active state, sub state, result
        self.execs: Dict[str, List[ExecStatus]] = {}
        self.n_restarts: Optional[int] = None


class StatusReader:
    """Reads the status blocks of one text log, line by line in file order."""

    def __init__(self) -> None:
        self._units: Dict[str, UnitState] = {}
        self._block: Optional[_Block] = None
        self._last: Optional[UnitState] = None  # the unit of the block read last

    def read(self, line: bytes) -> bool:
        """True when `line` is a line of a status block (and was read as such)."""
        line = line.rstrip(b"\r\n\t ")
        m = _LABEL.match(line)
        if m is None:
            n = _N_RESTARTS.match(line)
            if n is not None:
                return self._n_restarts(int(n.group(1)))
            h = _HEADER.match(line)
            if h is None:
                return False
            self._start(_Block(_text(h.group(1)), _text(h.group(2) or b"")))
            return True
        label, rest = m.group(1), m.group(2)
        block = self._block
        if label == b"Loaded":
            if block is None or block.loaded is not None:
                block = self._start(_Block())
            block.loaded = _loaded(rest)
        elif label == b"Active":
            if block is None or block.active is not None:
                block = self._start(_Block())
            block.active = _active(rest)
        else:
            p = _PROCESS.match(rest)
            if p is None:
                return False
            if block is None:
                block = self._start(_Block())
            name = p.group(2).decode("ascii")
            if name in _READ_EXECS:
                block.execs.setdefault(name, []).append(_exec_status(int(p.group(1)), p.group(3)))
        return True

    def _n_restarts(self, n: int) -> bool:
        """`NRestarts=` of `systemctl show`, pasted after the block of the same unit: the block
        being read, else the one read last."""
        if self._block is not None:
            self._block.n_restarts = n
        elif self._last is not None:
            self._units[self._last.name] = replace(self._last, n_restarts=n)
        else:
            return False
        return True

    def unit_states(self) -> Tuple[UnitState, ...]:
        """The units the blocks read so far show, each as its last block shows it."""
        self._end()
        return tuple(self._units[name] for name in sorted(self._units))

    def _start(self, block: _Block) -> _Block:
        self._end()
        self._block = block
        return block

    def _end(self) -> None:
        """The block being read is done: kept when it names a unit and says its state."""
        done, self._block = self._block, None
        if done is not None:
            state = _unit_state(done)
            if state is not None:
                self._units[state.name] = self._last = state


def _unit_state(b: _Block) -> Optional[UnitState]:
    load_state, path, file_state, error = b.loaded or ("", "", "", "")
    name = b.name or _name_of(path)
    if not name or (b.loaded is None and b.active is None):
        return None  # a line that only looked like a header, or nothing that names the unit
    active_state, sub_state, result = b.active or ("", "", "")
    return UnitState(
        name=name, load_state=load_state, active_state=active_state, sub_state=sub_state,
        unit_file_state=file_state, fragment_path=path, names=(name,), description=b.description,
        result=result, load_error=("", error) if error else ("", ""), n_restarts=b.n_restarts,
        exec_start_pre=tuple(b.execs.get("ExecStartPre", ())), exec_stop_post=tuple(b.execs.get("ExecStopPost", ())),
        seen_in=SEEN_IN)


def _name_of(path: str) -> str:
    """The unit a `Loaded:` path names (not a template's file: it does not say which instance)."""
    base = posixpath.basename(path)
    return base if is_unit_name(base) and "@." not in base else ""


def _loaded(rest: bytes) -> Tuple[str, str, str, str]:
    """`loaded (/lib/systemd/system/x.service; enabled; vendor preset: enabled)`, `not-found
    (Reason: ...)`, `masked (...)`, `loaded (/path)`: (load state, path, unit file state, error)."""
    state, _sp, inside = _text(rest).partition(" (")
    inside = inside.rstrip(")")
    if inside.startswith("Reason: "):
        return state, "", "", inside[len("Reason: "):]
    parts = inside.split("; ")
    path = parts[0] if parts[0].startswith("/") else ""
    file_state = parts[1] if len(parts) > 1 and " " not in parts[1] else ""
    return state, path, file_state, ""


def _active(rest: bytes) -> Tuple[str, str, str]:
    """`activating (auto-restart) (Result: exit-code) since ...`: (active state, sub state, result).
    systemctl prints no sub state when it equals the active state (`failed (Result: exit-code)`)."""
    text = _text(rest)
    active, _sp, tail = text.partition(" ")
    tail = tail.split(" since ", 1)[0]
    sub, result = "", ""
    for m in _PARENS.finditer(tail):
        inner = m.group(1).strip()
        if inner.startswith("Result: "):
            result = inner[len("Result: "):]
        elif not sub and not result and inner not in _FREEZER:
            sub = inner
    return active, sub or active, result


def _exec_status(pid: int, rest: bytes) -> ExecStatus:
    """`/usr/sbin/modprobe vfs_monitor (code=exited, status=1/FAILURE)`, or `(code=killed,
    signal=KILL)`; a line cut before its status says only that the command ran."""
    command, sep, outcome = rest.rpartition(b" (code=")
    if not sep:
        command, outcome = rest, b""
    argv = tuple(_text(command).split())
    code_word, _c, value = outcome.rstrip(b")").partition(b", ")
    code = EXIT_CODES.get(code_word, 0)
    status = status_number(value)
    if status is None:
        code = 0  # how it ended was cut off: not known to have failed
    # A paste does not say when it exited, only that it did: `exited` 0.0 marks a run that ended.
    # Nor does it show the "-" that makes a failure ignored: a failing command counts as failing.
    return ExecStatus(path=argv[0] if argv else "", argv=argv, ignore_errors=False, started=None,
                      exited=0.0 if code else None, pid=pid, code=code, status=status or 0)


def status_number(value: bytes) -> Optional[int]:
    """`status=1/FAILURE` -> 1, `signal=KILL` -> 9; None when it is cut or unknown."""
    key, _eq, word = value.partition(b"=")
    word = word.split(b"/", 1)[0]
    if key == b"status" and word.isdigit():
        return int(word)
    if key == b"signal" and _SIGNAL_WORD.fullmatch(word):
        name = word.decode("ascii")
        number = getattr(signal, name if name.startswith("SIG") else "SIG" + name, None)
        return int(number) if isinstance(number, signal.Signals) else None
    return None


def _text(b: bytes) -> str:
    return b.decode("utf-8", "replace").strip()
