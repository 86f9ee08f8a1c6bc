"""--since / --until values: `-2h`, `24h`, `30m`, `7d`, `now`, `today`,
`yesterday`, `@EPOCH`, ISO dates (`2024-01-16`, `2024-01-16 05:45`,
`2024-01-16T05:45:03+08:00`).  A relative value always points into the past
from `now`.  A date without an offset is local time (TZ)."""
import re
import time
from datetime import datetime, timedelta, timezone

from unitaudit.errors import UsageError

_RELATIVE = re.compile(r"^[-+]?\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hour|hours|d|day|days|w|week|weeks)$")
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "hours": 3600,
                 "d": 86400, "day": 86400, "days": 86400, "w": 604800, "week": 604800, "weeks": 604800}


def parse_time(value: str, now: float, option: str = "--since") -> float:
    v = value.strip()
    m = _RELATIVE.match(v)
    if m:
        return now - float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    if v == "now":
        return now
    if v in ("today", "yesterday"):
        midnight = datetime.fromtimestamp(now).replace(hour=0, minute=0, second=0, microsecond=0)
        if v == "yesterday":
            midnight -= timedelta(days=1)
        return time.mktime(midnight.timetuple())
    if v.startswith("@"):
        try:
            return float(v[1:])
        except ValueError:
            pass
    iso = v.replace(" ", "T", 1)
    if iso.endswith("Z"):
        iso = iso[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        raise UsageError(
            "%s %r: use -2h, 24h, 30m, 7d, today, yesterday, @EPOCH or a date like 2024-01-16 05:45" % (option, value)
        ) from None
    if dt.tzinfo is None:
        return time.mktime(dt.timetuple()) + dt.microsecond / 1e6
    return dt.astimezone(timezone.utc).timestamp()
