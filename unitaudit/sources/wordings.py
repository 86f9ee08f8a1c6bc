"""Read what systemd, the bus daemons and logrotate say, from their text.

Pure functions from message text to `Message`.  The journal source uses them
only where structured fields do not exist (systemd 235-239, dbus-daemon, which
has no MESSAGE_ID, logrotate); text logs use them for everything.  The wordings
of systemd 219-257 and logrotate 3.8.0-3.22.0, with the versions that print each,
are the rows of `messages.py`: the classifiers read those rows and no copy of them.
"""
import html
import re
from typing import Dict, Iterable, List, Optional, Tuple

from unitaudit.model import Kind, Message
from unitaudit.sources.messages import CRON_LOGROTATE, CRON_ROWS, LED, LOGROTATE, PREFIXED, SYSTEMD, UNITLESS, Wording
from unitaudit.util.names import UNIT_RE, UNIT_SUFFIXES, is_unit_name

Facts = Tuple[Tuple[str, str], ...]
_NAMED = re.compile(r"\(\?P<(\w+)>")
_PLAIN_GROUP = re.compile(r"(?<!\\)\((?!\?)")
_TRAILING = (" ", "\r", "\n", "\t")


class WordingMatcher:
    """Rows as one anchored alternation after `head` (the unit, when the form has one before the
    text): one regex call finds the unit and the row; the row's named groups are read by position."""

    def __init__(self, rows: Iterable[Wording], head: str = "") -> None:
        parts: List[str] = []
        self._rows: Dict[int, Tuple[Wording, Tuple[str, ...], Tuple[int, ...]]] = {}
        self._has_head = "(" in head
        group = 1 + self._has_head
        for row in rows:
            # read off the pattern, not compiled: 60 compiles cost 20 ms at every start
            names = tuple(_NAMED.findall(row.pattern))
            if _PLAIN_GROUP.search(row.pattern):
                raise ValueError("%s: every group in a wording is named or (?:...)" % row.id)
            parts.append("(" + _NAMED.sub("(", row.pattern) + ")")
            self._rows[group] = (row, names, tuple(range(group + 1, group + 1 + len(names))))
            group += 1 + len(names)
        self._match = re.compile("%s(?:%s)" % (head, "|".join(parts))).match

    def match(self, text: str) -> Optional[Tuple[Wording, Optional[str], Facts]]:
        """The row `text` is, the unit its head names (None: no head), and (name, value) of the
        row's named groups that matched."""
        m = self._match(text)
        if m is None:
            return None
        row, names, groups = self._rows[m.lastindex]  # type: ignore[index]
        unit = m.group(1) if self._has_head else None
        if not names:
            return row, unit, ()
        if len(names) == 1:
            value = m.group(groups[0])
            return row, unit, ((names[0], value),) if value is not None else ()
        return row, unit, tuple(pair for pair in zip(names, m.group(*groups)) if pair[1] is not None)


_HEAD = "(%s)" % UNIT_RE.pattern
_PREFIXED = WordingMatcher((r for r in SYSTEMD if r.form == PREFIXED), _HEAD + ": ")
_LED = WordingMatcher((r for r in SYSTEMD if r.form == LED), _HEAD + " ")
_UNITLESS = WordingMatcher(r for r in SYSTEMD if r.form == UNITLESS)
_SYSTEMD = (_PREFIXED, _LED, _UNITLESS)
# The first word picks the form, so that most of PID 1's lines ("Starting ...", "Started ...")
# are turned down by a set lookup, before any regex: the journal reads every one of them.
_UNITLESS_STARTS = tuple(re.match(r"[\w ]*", r.pattern).group() for r in SYSTEMD if r.form == UNITLESS)
_UNIT_ENDINGS = tuple("." + suffix for suffix in UNIT_SUFFIXES.split("|"))
_LOGROTATE = WordingMatcher(LOGROTATE)
_CRON = WordingMatcher(CRON_ROWS)


def which_wording(text: str) -> Optional[Wording]:
    """The row of messages.py a line's text is (systemd, logrotate after "error: ", cron)."""
    if text.startswith("error: "):
        text = text[7:]
    for matcher in _SYSTEMD + (_LOGROTATE, _CRON):
        found = matcher.match(text.rstrip())
        if found is not None:
            return found[0]
    return None


def classify_pid1(text: str, trusted: bool, program: str = "systemd") -> Optional[Message]:
    """A line PID 1 logged about a unit, in any wording of systemd 219 to 257 (messages.SYSTEMD)."""
    line = text if text[-1:] not in _TRAILING else text.rstrip()
    space = line.find(" ")
    if space > 0 and line[space - 1] == ":":
        found = _PREFIXED.match(line)
    elif line.startswith(_UNITLESS_STARTS):
        found = _UNITLESS.match(line)
    elif line.endswith(_UNIT_ENDINGS, 0, space):
        found = _LED.match(line)
    else:
        return None
    if found is None:
        return None
    row, unit, facts = found
    kind = row.kind
    if facts:
        if facts[0][0] == "unit":  # 219 names the unit inside the text
            unit, facts = facts[0][1], facts[1:]
        elif facts[0] == ("UNIT_RESULT", "start-limit-hit"):
            kind = Kind.START_LIMIT_HIT
        elif facts[0][0] == "STATE":  # "Start-pre" (220-245) is "start-pre" (219, 246+)
            facts = (("STATE", facts[0][1].lower()),)
    return Message(kind, unit, text, program, trusted, facts + row.facts)


# A pasted `systemctl status` cuts its log lines at the terminal's width: at the end before
# systemd 2xx (bare, or ">" where `less -S`, its pager, cut it), in the middle since ("Main
# process exited, cod…ILURE"; 219 wrote "..."). The head of a wording still names it when enough
# of it is left.  Text logs only: the journal never cuts a message.
_CUT_MIN = 12  # characters of the wording left after the unit
_CUT_HEADS = tuple((row.template.split("%")[0], row) for row in SYSTEMD if row.form == PREFIXED)
_CUT_LINE = re.compile(r"(%s): (.*)" % UNIT_RE.pattern)
_CUT_MARK = re.compile(r"…|\.\.\.")


def classify_cut_pid1(text: str) -> Optional[Message]:
    """A line of PID 1's cut short ("x.service: Service hold-off time over, sch"), when every
    wording it can be the start of means one thing; its facts past the cut are unknown."""
    m = _CUT_LINE.match(text.rstrip())
    if m is None:
        return None
    rest = _CUT_MARK.split(m.group(2), 1)[0].rstrip(" >")
    if len(rest) < _CUT_MIN:
        return None
    kinds = {}
    for head, row in _CUT_HEADS:
        if head.startswith(rest):
            kinds[row.kind] = row
        elif rest.startswith(head) and len(head) >= _CUT_MIN:
            kind = row.kind
            if row.kind is Kind.UNIT_FAILED and "start-limit-hit".startswith(rest[len(head):]):
                kind = Kind.START_LIMIT_HIT  # "Failed with result 'start-l"
            kinds[kind] = row
    if len(kinds) != 1:
        return None
    ((kind, row),) = kinds.items()
    return Message(kind, m.group(1), text, "systemd", False, row.facts + (("cut", "yes"),))


# "[system] " on the system bus; "[session uid=1000 pid=1234] " on a session bus (1.11+), nothing
# before 1.11: a session bus asks the user manager, whose units loop as the system's do.
_BUS = r"(?:\[(?:system|session[^\]]*)\] )?"
_ACTIVATING = re.compile(
    _BUS + r"Activating via systemd: service name='([^']+)' unit='([^']+)'"
    r"(?: requested by '([^']*)' \(uid=(\d+) pid=(\d+) comm=\"([^\"]*)\")?"
)
_ACTIVATION_FAILED = re.compile(_BUS + r"Activation via systemd failed for unit '([^']+)': (.*)")
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


def logrotate_config_path(name: str) -> str:
    """Where a config name as logrotate prints it lives on a Debian system."""
    if "/" in name:
        return name
    if name == "logrotate.conf":
        return "/etc/logrotate.conf"
    return "/etc/logrotate.d/" + name


def classify_logrotate(text: str, unit: Optional[str], trusted: bool) -> Optional[Message]:
    """logrotate's "error: ..." lines (messages.LOGROTATE; an error no row names is class "other")."""
    if not text.startswith("error: "):
        return None
    found = _LOGROTATE.match(text[7:].rstrip())
    facts: Facts = (("class", "other"),)
    if found is not None:
        row, _unit, named = found
        facts = row.facts + named
        if named and named[0][0] == "file":
            facts += (("config_path", logrotate_config_path(named[0][1])),)
    return Message(Kind.LOGROTATE_ERROR, unit or "logrotate.service", text, "logrotate", trusted, facts)


def classify_cron(text: str, program: str, trusted: bool) -> Optional[Message]:
    """A failed logrotate run that cron started: the cron.daily wrapper's `ALERT exited abnormally
    with [1]` (logged as logrotate) or run-parts' `/etc/cron.daily/logrotate exited with return code 1`.
    No unit ran it: the message names CRON_LOGROTATE."""
    found = _CRON.match(text.rstrip())
    if found is None:
        return None
    row, _unit, named = found
    return Message(row.kind, CRON_LOGROTATE, text, program, trusted, row.facts + named)


def program_line(text: str, program: str, unit: Optional[str], trusted: bool) -> Message:
    """A line from a process inside a unit, e.g. `modprobe: FATAL: Module vfs_monitor not found`."""
    return Message(Kind.PROGRAM_LINE, unit, text, program, trusted)


_BUS_IDENTS = {b"dbus-daemon", b"dbus", b"dbus-broker-launch", b"dbus-broker"}


# What a web page does to a pasted log: HTML entities and line tags where it was copied from the
# page's source, "smart" quotes where a blog engine typeset it ("Failed with result ‘exit-code’").
_PAGE_DAMAGE = re.compile("&(?:#[0-9]{1,7}|#x[0-9A-Fa-f]{1,6}|quot|amp|apos|lt|gt);|[\u2018\u2019\u201c\u201d]|<")
_LINE_TAGS = re.compile(r"</?(?:br|p|code|pre|span|div)\b[^>]*>")
_PLAIN_QUOTES = {0x2018: "'", 0x2019: "'", 0x201C: '"', 0x201D: '"'}


def undamaged(text: str) -> str:
    """`text` as the program logged it, when a web page changed it; else `text` itself."""
    if _PAGE_DAMAGE.search(text) is None:
        return text
    return html.unescape(_LINE_TAGS.sub("", text)).translate(_PLAIN_QUOTES).strip()


def classify_line(ident: bytes, msg: bytes) -> Optional[Message]:
    """What a text log line says, from its program name (`ident`) and its message.
    Text carries no trusted fields: every message is untrusted."""
    text = undamaged(msg.decode("utf-8", "replace"))
    program = ident.decode("utf-8", "replace")
    if ident == b"systemd":
        # PID 1, or a user manager (`systemd[1234]:` restarting pipewire.service is as much a
        # loop), or a child PID 1 forked, which logs only why its exec failed (SPAWN_FAILED).
        # Text cannot tell a user unit from a system unit of the same name: both are untrusted.
        return classify_pid1(text, False) or classify_cut_pid1(text)
    if ident in _BUS_IDENTS:
        return classify_bus(text, program, False)
    if ident == b"logrotate":
        return classify_logrotate(text, None, False) or classify_cron(text, program, False)
    if ident == b"run-parts":
        return classify_cron(text, program, False)
    if b"FATAL" in msg or b"ERROR" in msg:
        return program_line(text, program, None, False)
    return None

