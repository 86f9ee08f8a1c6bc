"""What a line says after its timestamp, in the forms beside `host ident[pid]: msg`.

lines.py reads `[host] [SEVERITY|facility.level] ident[pid]: msg` itself and
comes here for the rest:
  - RFC 5424 (`host app procid msgid [sd]|- msg`), after `<30>1 2024-...`;
  - `journalctl -o json` (one object per line: MESSAGE, _PID, SYSLOG_IDENTIFIER,
    _HOSTNAME; a MESSAGE that is not UTF-8 comes as an array of bytes);
  - prefixes of lines with no wall clock: the kernel's `[  201.452633] ` (dmesg,
    journalctl -o short-monotonic: the line is undated) and a bare `<30>`;
  - one field of a multi-line entry.  The text scan sees only lines holding a
    hit string (grep -F filters first), so of `journalctl -o verbose|export|
    json-pretty` it sees the `MESSAGE=...` (`"MESSAGE" : "..."`) line alone,
    without the entry's time, _PID or SYSLOG_IDENTIFIER: it is read like a bare
    pasted line, undated, as PID 1's when it has the `unit.service: ` shape.
"""
import json
import re
from typing import Optional, Tuple

_MONOTONIC = re.compile(rb"\[ *\d+\.\d+\] ")
_PRIORITY = re.compile(rb"<\d{1,3}>(?:1 )?")
_SEVERITIES = frozenset(s.encode() for s in (
    "emerg", "alert", "crit", "err", "error", "warning", "warn", "notice", "info", "debug"))
_FACILITIES = frozenset(s.encode() for s in (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"))
_RFC5424 = re.compile(rb"(\S+) (\S+) (\S+) (\S+) (-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: |$)", re.S)
_BOM = b"\xef\xbb\xbf"  # RFC 5424 marks a UTF-8 message with it
Fields = Tuple[bytes, Optional[int], bytes, str]  # ident, pid, message, host


def undated_prefix(rest: bytes) -> Tuple[bytes, bool]:
    """`rest` without a kernel time or priority prefix; True when a host may follow the prefix."""
    if rest[:1] == b"[":
        m = _MONOTONIC.match(rest)
        if m is not None:
            return rest[m.end():], True
    elif rest[:1] == b"<":
        m = _PRIORITY.match(rest)
        if m is not None:
            return rest[m.end():], True
    return rest, False


def field_message(rest: bytes) -> Optional[bytes]:
    """The message of a `MESSAGE=` (verbose, export) or `"MESSAGE" : "..."` (json-pretty) line."""
    if rest[:8] == b"MESSAGE=":
        return rest[8:].rstrip(b"\r\n")
    if rest[:9] == b'"MESSAGE"':
        value = rest[9:].lstrip(b" \t:").rstrip(b" \t,\r\n")
        try:
            return as_bytes(json.loads(value))
        except (ValueError, RecursionError):
            return None
    return None


def as_bytes(value) -> Optional[bytes]:
    """A journal JSON value as bytes: a string, or an array of byte values."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace")
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        return bytes(value)
    return None


def json_fields(obj: dict) -> Optional[Fields]:
    """(ident, pid, message, host) of one `journalctl -o json` entry."""
    msg = as_bytes(obj.get("MESSAGE"))
    if msg is None:
        return None
    ident = as_bytes(obj.get("SYSLOG_IDENTIFIER")) or as_bytes(obj.get("_COMM")) or b""
    pid_text = obj.get("_PID") or obj.get("SYSLOG_PID")
    pid = int(pid_text) if isinstance(pid_text, str) and pid_text.isdecimal() and len(pid_text) <= 10 else None
    host = obj.get("_HOSTNAME")
    return ident, pid, msg.strip(b" \r\n"), host if isinstance(host, str) else ""


def is_severity(token: bytes) -> bool:
    """A severity (`WARNING`, SONiC) or facility.level (`daemon.info`) field between host and ident."""
    return token.lower() in _SEVERITIES or is_facility(token)


def is_facility(token: bytes) -> bool:
    """A `facility.level` field (`daemon.info`, `user.err`): never a host name."""
    dot = token.find(b".")
    return dot > 0 and token[:dot].lower() in _FACILITIES and token[dot + 1:].lower() in _SEVERITIES


def rfc5424(rest: bytes) -> Optional[Fields]:
    """(ident, pid, message, host) of `host app procid msgid sd msg`, the RFC 5424 body."""
    m = _RFC5424.match(rest)
    if m is None:
        return None
    host, app, procid = (b"" if g == b"-" else g for g in m.group(1, 2, 3))
    msg = rest[m.end():]
    if msg[:3] == _BOM:
        msg = msg[3:]
    pid = int(procid) if procid.isdigit() and len(procid) <= 10 else None
    return app, pid, msg.strip(b" \r\n"), host.decode("utf-8", "replace")
