"""Read what systemd, the bus daemons and logrotate say, from their text.

Pure functions from message text to `Message`.  The journal source uses them
only where structured fields do not exist (systemd 235-239, dbus-daemon, which
has no MESSAGE_ID, logrotate); text logs use them for everything.  Wordings are
those of `shared/reference/systemd-facts.md`, checked at the upstream tags.
"""
import re
from typing import Optional, Tuple

from unitaudit.model import Kind, Message
from unitaudit.util.names import UNIT_RE, is_unit_name

_UNIT_PREFIX = re.compile(r"(%s): (.*)" % UNIT_RE.pattern, re.S)

_RESTART = re.compile(
    r"Scheduled restart job(?: immediately on client request)?, restart counter is at (\d+)\."
)
_RESULT = re.compile(r"Failed with result '([\w-]+)'\.")
# 240+: "code=exited, status=1/FAILURE"; 235-239: "code=exited status=1/FAILURE"
_EXITED = re.compile(r"(Main|Control) process exited, code=(\w+),? status=(\d+)(?:/(\w+))?")
_SPAWN = re.compile(r"Failed at step (\w+) spawning (\S+): (.*)")


def classify_pid1(text: str, trusted: bool, program: str = "systemd") -> Optional[Message]:
    """A line PID 1 logged about a unit ("<unit>: <what happened>")."""
    m = _UNIT_PREFIX.match(text)
    if m is None:
        return None
    unit, rest = m.group(1), m.group(2).rstrip()
    kind: Optional[Kind] = None
    facts: Tuple[Tuple[str, str], ...] = ()
    r = _RESTART.match(rest)
    if r:
        kind, facts = Kind.RESTART_SCHEDULED, (("N_RESTARTS", r.group(1)),)
    elif rest.startswith("Service hold-off time over") or (
        rest.startswith("Service ") and "expired, scheduling restart" in rest
    ):
        kind = Kind.RESTART_TIMER_EXPIRED
    elif rest.startswith("Failed with result"):
        r = _RESULT.match(rest)
        if r is None:
            return None
        result = r.group(1)
        kind = Kind.START_LIMIT_HIT if result == "start-limit-hit" else Kind.UNIT_FAILED
        facts = (("UNIT_RESULT", result),)
    elif rest.startswith("Start request repeated too quickly"):
        kind, facts = Kind.START_LIMIT_HIT, (("via", "message"),)
    elif rest in ("Succeeded.", "Deactivated successfully."):
        kind = Kind.UNIT_SUCCEEDED
    else:
        r = _EXITED.match(rest)
        if r:
            kind = Kind.MAIN_EXITED if r.group(1) == "Main" else Kind.CONTROL_EXITED
            facts = (("EXIT_CODE", r.group(2)), ("EXIT_STATUS", r.group(3)))
            if r.group(4):
                facts += (("EXIT_STATUS_NAME", r.group(4)),)
        else:
            r = _SPAWN.match(rest)
            if r is None:
                return None
            kind = Kind.SPAWN_FAILED
            facts = (("STEP", r.group(1)), ("EXECUTABLE", r.group(2)), ("ERROR", r.group(3)))
    return Message(kind, unit, text, program, trusted, facts)


_ACTIVATING = re.compile(
    r"\[system\] Activating via systemd: service name='([^']+)' unit='([^']+)'"
    r"(?: requested by '([^']*)' \(uid=(\d+) pid=(\d+) comm=\"([^\"]*)\")?"
)
_ACTIVATION_FAILED = re.compile(r"\[system\] Activation via systemd failed for unit '([^']+)': (.*)")
_BROKER_FAILED = re.compile(r"Activation request for '([^']+)' failed: (.*)")
_QUOTED_UNIT = re.compile(r"'(%s)'" % UNIT_RE.pattern)


def _reason(text: str) -> str:
    if "not found" in text or "could not be found" in text:
        return "not-found"
    if "masked" in text:
        return "masked"
    return "other"


def classify_bus(text: str, program: str, trusted: bool) -> Optional[Message]:
    """dbus-daemon's (1.10+) and dbus-broker's activation lines on the system bus."""
    m = _ACTIVATION_FAILED.match(text)
    if m:
        unit = m.group(1)
        if not is_unit_name(unit):
            return None
        facts = (("daemon", "dbus-daemon"), ("reason", _reason(m.group(2))))
        return Message(Kind.ACTIVATION_FAILED, unit, text, program, trusted, facts)
    m = _ACTIVATING.match(text)
    if m:
        unit = m.group(2)
        if not is_unit_name(unit):
            return None
        facts: Tuple[Tuple[str, str], ...] = (("bus_name", m.group(1)),)
        if m.group(6) is not None:
            facts += (("requester_comm", m.group(6)), ("requester_uid", m.group(4)))
        return Message(Kind.ACTIVATION_REQUESTED, unit, text, program, trusted, facts)
    m = _BROKER_FAILED.match(text)
    if m:
        u = _QUOTED_UNIT.search(m.group(2))
        if u is None:
            return None
        facts = (("daemon", "dbus-broker"), ("bus_name", m.group(1)), ("reason", _reason(m.group(2))))
        return Message(Kind.ACTIVATION_FAILED, u.group(1), text, program, trusted, facts)
    return None


# logrotate's config.c wordings.  "NAME:LINE" is the config file as logrotate
# names it: a basename inside /etc/logrotate.d, or a path.
_LR_AT_LINE = re.compile(r"error: (\S+?):(\d+),? (.*)")
_LR_INSECURE = re.compile(r'error: skipping "([^"]+)" because parent directory has insecure permissions')
_LR_FOUND = re.compile(r"error: found error in (?:file )?(.+), skipping")
_LR_IGNORING = re.compile(r"error: Ignoring (\S+) because (.*)")
_LR_CLASSES = (
    ("unexpected text after }", "unexpected-text-after-brace"),
    ("lines must begin with a keyword", "line-not-keyword-or-file"),
    ("missing '{'", "missing-open-brace"),
    ("unexpected }", "unexpected-close-brace"),
    ("unknown option", "unknown-option"),
    ("duplicate log entry", "duplicate-log-entry"),
    ("unknown user", "unknown-user"),
    ("unknown group", "unknown-group"),
)


def logrotate_config_path(name: str) -> str:
    """Where a config name as logrotate prints it lives on a Debian system."""
    if "/" in name:
        return name
    if name == "logrotate.conf":
        return "/etc/logrotate.conf"
    return "/etc/logrotate.d/" + name


def classify_logrotate(text: str, unit: Optional[str], trusted: bool) -> Optional[Message]:
    if not text.startswith("error: "):
        return None
    m = _LR_INSECURE.match(text)
    if m:
        facts: Tuple[Tuple[str, str], ...] = (("class", "insecure-parent-directory"), ("path", m.group(1)))
    else:
        m = _LR_AT_LINE.match(text)
        if m:
            detail = m.group(3)
            cls = next((c for needle, c in _LR_CLASSES if needle in detail), "config-error")
            facts = (
                ("class", cls),
                ("file", m.group(1)),
                ("line", m.group(2)),
                ("config_path", logrotate_config_path(m.group(1))),
            )
        else:
            m = _LR_FOUND.match(text)
            if m:
                facts = (("class", "found-error"), ("file", m.group(1)), ("config_path", logrotate_config_path(m.group(1))))
            else:
                m = _LR_IGNORING.match(text)
                if m:
                    facts = (("class", "ignored-config-file"), ("file", m.group(1)), ("config_path", logrotate_config_path(m.group(1))))
                else:
                    facts = (("class", "other"),)
    return Message(Kind.LOGROTATE_ERROR, unit or "logrotate.service", text, "logrotate", trusted, facts)


def program_line(text: str, program: str, unit: Optional[str], trusted: bool) -> Message:
    """A line from a process inside a unit, e.g. `modprobe: FATAL: Module vfs_monitor not found`."""
    return Message(Kind.PROGRAM_LINE, unit, text, program, trusted)


_BUS_IDENTS = {b"dbus-daemon", b"dbus", b"dbus-broker-launch", b"dbus-broker"}


def classify_line(ident: bytes, pid1: bool, msg: bytes) -> Optional[Message]:
    """What a text log line says, from its program name (`ident`), whether PID 1 logged
    it, and its message.  Text carries no trusted fields: every message is untrusted."""
    text = msg.decode("utf-8", "replace")
    program = ident.decode("utf-8", "replace")
    if ident == b"systemd":
        message = classify_pid1(text, False)
        if not pid1 and message is not None and message.kind is not Kind.SPAWN_FAILED:
            return None  # a user manager's units, or a forked child's other lines
        return message
    if ident in _BUS_IDENTS:
        return classify_bus(text, program, False)
    if ident == b"logrotate":
        return classify_logrotate(text, None, False)
    if b"FATAL" in msg or b"ERROR" in msg:
        return program_line(text, program, None, False)
    return None
