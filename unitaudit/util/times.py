"""Times and durations, read and printed one way everywhere.

Printed: ISO 8601, UTC, 'Z' (`iso_utc`).  Read: --since / --until values (`parse_time`): `-2h`,
`24h`, `30m`, `7d`, `now`, `today`, `yesterday`, `@EPOCH`, ISO dates (`2024-01-16`, `2024-01-16
05:45`, `2024-01-16T05:45:03+08:00`).  A relative value always points into the past from `now`.
A date without an offset is local time (TZ).

One duration grammar (`duration_seconds`) serves both --since's relative values and the
configuration's durations (config.parse_duration): a number, then s, sec, m, min, h, hour(s),
d, day(s), w or week(s)."""
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Optional

from unitaudit.errors import UsageError

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(s|sec|m|min|h|hour|hours|d|day|days|w|week|weeks)")
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "hours": 3600,
                 "d": 86400, "day": 86400, "days": 86400, "w": 604800, "week": 604800, "weeks": 604800}
# One date grammar on every Python: datetime.fromisoformat accepts more on 3.11+ (offsets without a
# colon, any fraction length, compact dates) than on 3.7-3.10, so it is not used.
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})"
                   r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
                   r"(Z|[+-]\d{2}(?::?\d{2})?)?$")
# The times a date can name (datetime's years 1 to 9999, UTC): a value outside is a usage error here,
# not an OverflowError wherever it is first printed, stored or handed to the journal.
_EARLIEST = -62135596800.0  # 0001-01-01T00:00:00Z
_LATEST = 253402300799.0  # 9999-12-31T23:59:59Z
_EPOCH = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")  # @EPOCH: no inf, nan or 1_000


def duration_seconds(text: str) -> Optional[float]:
    """Seconds of "24h", "7d", "90min", "1.5 hours", ".5d" (whitespace around it and between number
    and unit allowed, no sign); None when `text` is not a duration.  Unbounded: "1e400" is no
    number here, but "9...9w" is inf, which each caller bounds in its own words."""
    m = _DURATION.fullmatch(text.strip())
    return float(m.group(1)) * _UNIT_SECONDS[m.group(2)] if m else None


def parse_time(value: str, now: float, option: str = "--since") -> float:
    """Seconds since the epoch; a UsageError naming `option` for a value that is no time, or a
    time before the year 1 or after 9999."""
    try:
        t = _parse(value, now, option)
    except (OverflowError, ValueError, OSError):  # mktime or astimezone at the edge of the range
        t = float("nan")
    if not (_EARLIEST <= t <= _LATEST):  # NaN fails this too
        raise UsageError("%s %r: out of range: a time between the years 1 and 9999, such as -2h, 7d or a date "
                         "like 2024-01-16 05:45" % (option, value))
    return t


def _parse(value: str, now: float, option: str) -> float:
    v = value.strip()
    ago = duration_seconds(v[1:] if v.startswith(("-", "+")) else v)  # either sign points into the past
    if ago is not None:
        return now - ago
    if v == "now":
        return now
    if v in ("today", "yesterday"):
        midnight = datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
        if v == "yesterday":
            midnight -= timedelta(days=1)
        return time.mktime(midnight.timetuple())
    if v.startswith("@") and _EPOCH.match(v[1:]):
        return float(v[1:])
    dt = _date(v)
    if dt is None:
        raise UsageError(
            "%s %r: use -2h, 24h, 30m, 7d, today, yesterday, @EPOCH or a date like 2024-01-16 05:45" % (option, value)
        )
    if dt.tzinfo is None:
        return time.mktime(dt.timetuple()) + dt.microsecond / 1e6
    return dt.astimezone(timezone.utc).timestamp()


def _date(v: str):
    """`2024-01-16`, `2024-01-16 05:45`, `2024-01-16T05:45:03.25+08:00` (offset `Z`, `+08`,
    `+0800` or `+08:00`) as a datetime, naive without an offset; None when it is not one."""
    m = _DATE.match(v)
    if not m:
        return None
    year, month, day, hour, minute, second, fraction, offset = m.groups()
    tz = None
    if offset == "Z":
        tz = timezone.utc
    elif offset:
        digits = offset[1:].replace(":", "")
        delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        if delta >= timedelta(hours=24):
            return None
        tz = timezone(-delta if offset[0] == "-" else delta)
    try:
        return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                        int((fraction or "0").ljust(6, "0")[:6]), tzinfo=tz)
    except ValueError:  # a day, hour or month out of range
        return None


def iso_utc(t: Optional[float]) -> Optional[str]:
    if t is None:
        return None
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
