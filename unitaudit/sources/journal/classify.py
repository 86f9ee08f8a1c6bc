"""Journal entries into Messages: what each pass makes of the entries it matched.

A classifier is `classify(get, t_us)`: `get(field)` reads one field of the entry
(bytes; KeyError when absent) and `t_us` is its realtime.  It answers
`(message, pid)`, None (not evidence), or `STOP` (nothing more to read in this
pass).  Each reads as few fields as it can: a field read costs as much as the
step to the next entry.  Repeating texts are classified once and cached.
"""
import re
from bisect import bisect_left
from typing import Callable, Dict, List, Optional, Tuple

from unitaudit.model import PROGRAM_LINE_LEAD, Kind, Message
from unitaudit.sources.wordings import classify_bus, classify_cron, classify_logrotate, classify_pid1, program_line
from unitaudit.util.names import is_unit_name

ID_RESTART = b"5eb03494b6584870a536b337290809b3"
ID_RESULT = b"d9b373ed55a64feb8242e02dbe79a49c"  # since 240
ID_EXITED = b"98e322203f7a4ed290d09fe03c09fe15"  # since 240
ID_SPAWN = b"641257651c1b4ec9a8624d7a40a9e1e7"
ID_SUCCESS = b"7ad2d189f7e94e70a38c781354912448"  # since 240
ID_BROKER_MISSING = b"7fc63312330b479bb32e598d47cef1a8"
ID_BROKER_MASKED = b"ee9799dab1e24d81b7bee7759a543e1b"
PID1_IDS = (ID_RESTART, ID_RESULT, ID_EXITED, ID_SPAWN, ID_SUCCESS)
BROKER_IDS = (ID_BROKER_MISSING, ID_BROKER_MASKED)
BUS_UNITS = (b"dbus.service", b"dbus-daemon.service")  # the system bus daemon's unit (Debian, Fedora)
FAIL_KINDS = (Kind.CONTROL_EXITED, Kind.MAIN_EXITED, Kind.SPAWN_FAILED)  # a unit's process failed

STOP = object()  # a classifier's "nothing more to read in this pass"
_NOTHING = object()  # a cached "this entry is not evidence"
_STATUS_NAME = re.compile(r"status=\d+/(\w+)")

Getter = Callable[[str], bytes]
Classified = Optional[Tuple[Message, Optional[int]]]


def field(get: Getter, name: str) -> Optional[str]:
    try:
        return get(name).decode("utf-8", "replace")
    except KeyError:
        return None


def entry_pid(get: Getter) -> Optional[int]:
    try:
        return int(get("_PID"))
    except (KeyError, ValueError):
        return None


def pid1_classifier() -> Callable[[Getter, int], Classified]:
    """PID 1's messages selected by MESSAGE_ID.  The text says what the fields
    say (unit, result, status, counter) and repeats, so it is read once per
    distinct text; COMMAND is not in the text and is read from its field.  A
    text that does not parse is read from the fields instead."""
    cache: Dict[tuple, object] = {}

    def classify(get, t_us: int):
        text = get("MESSAGE")
        command = get("COMMAND") if b"process exited" in text else b""
        key = (text, command)
        m = cache.get(key)
        if m is None:
            m = classify_pid1(text.decode("utf-8", "replace"), True)
            if m is not None and command:
                m = _with_fact(m, "COMMAND", command.decode())
                if command != b"ExecStart" and m.kind is Kind.MAIN_EXITED:
                    m = _with_kind(m, Kind.CONTROL_EXITED)
            if m is None or m.kind is Kind.RESTART_TIMER_EXPIRED:
                m = pid1_message(get, get("MESSAGE_ID"), True) or _NOTHING
            if len(cache) < 20000 and m is not _NOTHING and m.kind is not Kind.RESTART_SCHEDULED:
                cache[key] = m
        if m is _NOTHING:
            return None
        return m, 1

    return classify


def pid1_text_classifier(counts: Dict[str, int]) -> Callable[[Getter, int], Classified]:
    """systemd 235-239: PID 1's failures carry no MESSAGE_ID; read its text (counted as text_fallback)."""
    def classify(get, t_us: int):
        try:
            if get("MESSAGE_ID") in PID1_IDS:
                return None  # already read in the MESSAGE_ID pass
        except KeyError:
            pass
        try:
            text = get("MESSAGE").decode("utf-8", "replace")
        except KeyError:
            return None
        m = classify_pid1(text, True)
        if m is None:
            return None
        counts["text_fallback"] += 1
        return m, 1

    return classify


def classify_executor(get: Getter, t_us: int) -> Classified:
    """systemd-executor's (257) spawn failure, logged from inside the unit: trusted when the unit
    it names is the one its cgroup says."""
    if get("_PID") == b"1":
        return None  # read with PID 1's messages
    trusted = field(get, "_SYSTEMD_UNIT") == field(get, "UNIT")
    m = pid1_message(get, ID_SPAWN, trusted)
    return (m, entry_pid(get)) if m is not None else None


# Every text classify_bus reads begins so: texts.py's exact-text pass classifies only these.
BUS_TEXT = re.compile(rb"(?:\[(?:system|session[^\]]*)\] )?Activat").match


def bus_message(text: bytes) -> Optional[Message]:
    """What the system bus daemon's line `text` is evidence of (its text alone says it)."""
    return classify_bus(text.decode("utf-8", "replace"), "dbus-daemon", True)


def bus_classifier() -> Callable[[Getter, int], Classified]:
    """dbus-daemon of the system bus: its unit's cgroup proves the sender (trusted).  The text alone
    decides, once per distinct text: `classify.cache` (text -> message) is what the exact-text pass
    (texts.py) counts and reuses."""
    cache: Dict[bytes, object] = {}

    def classify(get, t_us: int):
        text = get("MESSAGE")
        m = cache.get(text)
        if m is None:
            m = bus_message(text) or _NOTHING
            if len(cache) < 20000:
                cache[text] = m
        if m is _NOTHING:
            return None
        # the pid is left out: one more field read per line costs a third of the pass
        return m, None

    classify.cache = cache  # type: ignore[attr-defined]
    return classify


def classify_broker(get: Getter, t_us: int) -> Classified:
    """dbus-broker's activation failures, told by MESSAGE_ID and its own fields."""
    unit = field(get, "DBUS_BROKER_LAUNCH_SERVICE_UNIT")
    if unit is None or not is_unit_name(unit):
        return None
    mid = get("MESSAGE_ID")
    facts = (("daemon", "dbus-broker"), ("bus_name", field(get, "DBUS_BROKER_LAUNCH_SERVICE_NAME") or ""),
             ("reason", "masked" if mid == ID_BROKER_MASKED else "not-found"))
    m = Message(Kind.ACTIVATION_FAILED, unit, field(get, "MESSAGE") or "", "dbus-broker-launch", True, facts)
    return m, entry_pid(get)


def logrotate_classifier(in_unit: bool) -> Callable[[Getter, int], Classified]:
    """logrotate's errors: trusted only from logrotate.service run as root (`in_unit`); the pass
    over SYSLOG_IDENTIFIER=logrotate (cron) leaves logrotate.service's lines to the other, and
    reads the cron.daily wrapper's "ALERT exited abnormally" (a failed run, no unit ran it)."""
    cache: Dict[tuple, object] = {}

    def classify(get, t_us: int):
        unit = field(get, "_SYSTEMD_UNIT")
        if not in_unit and unit == "logrotate.service":
            return None  # read in the logrotate.service pass
        try:
            text = get("MESSAGE")
        except KeyError:
            return None
        trusted = in_unit and field(get, "_UID") == "0"
        key = (text, trusted, unit)
        m = cache.get(key)
        if m is None:
            owner = unit if unit and unit.endswith(".service") else None
            decoded = text.decode("utf-8", "replace")
            m = classify_logrotate(decoded, owner, trusted) or classify_cron(decoded, "logrotate", trusted) or _NOTHING
            if len(cache) < 20000:
                cache[key] = m
        if m is _NOTHING:
            return None
        return m, entry_pid(get)

    return classify


def program_line_classifier(unit: str, times: List[float], counts: Dict[str, int]) -> Callable[[Getter, int], object]:
    """What processes inside `unit` printed at most PROGRAM_LINE_LEAD seconds before one of its
    process failures (`times`, sorted): `modprobe: FATAL: ...`.  STOP past the last failure."""
    last = times[-1]
    cache: Dict[tuple, Message] = {}

    def classify(get, t_us: int):
        t = t_us / 1e6
        if t > last:
            return STOP
        i = bisect_left(times, t)
        if i == len(times) or times[i] - t > PROGRAM_LINE_LEAD:
            return None
        try:
            text = get("MESSAGE")
        except KeyError:
            return None
        ident = field(get, "SYSLOG_IDENTIFIER") or field(get, "_COMM") or "?"
        key = (text, ident)
        m = cache.get(key)
        if m is None:
            m = program_line(text.decode("utf-8", "replace"), ident, unit, True)
            if len(cache) < 1000:
                cache[key] = m
        counts["program_lines"] += 1
        return m, entry_pid(get)

    return classify


def pid1_message(get: Getter, mid: bytes, trusted: bool) -> Optional[Message]:
    """A PID 1 message read from its structured fields (MESSAGE_ID `mid`)."""
    unit = field(get, "UNIT")
    if unit is None or not is_unit_name(unit):
        return None  # USER_UNIT (user managers) is out of scope for the system audit
    text = field(get, "MESSAGE") or ""
    if mid == ID_RESTART:
        n = field(get, "N_RESTARTS")
        return Message(Kind.RESTART_SCHEDULED, unit, text, "systemd", trusted, (("N_RESTARTS", n),) if n else ())
    if mid == ID_RESULT:
        result = field(get, "UNIT_RESULT") or ""
        kind = Kind.START_LIMIT_HIT if result == "start-limit-hit" else Kind.UNIT_FAILED
        return Message(kind, unit, text, "systemd", trusted, (("UNIT_RESULT", result),))
    if mid == ID_EXITED:
        return _exited(get, unit, text, trusted)
    if mid == ID_SPAWN:
        facts = (("EXECUTABLE", field(get, "EXECUTABLE") or ""), ("ERROR", text.rsplit(": ", 1)[-1]))
        return Message(Kind.SPAWN_FAILED, unit, text, "systemd", trusted, facts)
    return Message(Kind.UNIT_SUCCEEDED, unit, text, "systemd", trusted)


def _exited(get: Getter, unit: str, text: str, trusted: bool) -> Optional[Message]:
    """A process of the unit exited: evidence unless it exited with status 0."""
    command = field(get, "COMMAND") or ""
    code = field(get, "EXIT_CODE") or ""
    status = field(get, "EXIT_STATUS") or ""
    if code == "exited" and status == "0":
        return None
    facts = (("COMMAND", command), ("EXIT_CODE", code), ("EXIT_STATUS", status))
    name = _STATUS_NAME.search(text)
    if name:
        facts += (("EXIT_STATUS_NAME", name.group(1)),)
    kind = Kind.MAIN_EXITED if command == "ExecStart" else Kind.CONTROL_EXITED
    return Message(kind, unit, text, "systemd", trusted, facts)


def _with_fact(m: Message, key: str, value: str) -> Message:
    return Message(m.kind, m.unit, m.text, m.program, m.trusted, m.facts + ((key, value),))


def _with_kind(m: Message, kind: Kind) -> Message:
    return Message(kind, m.unit, m.text, m.program, m.trusted, m.facts)
