"""When and how often, from a series' sorted sighting times: bursts, rates, periods, hourly
counts.  Shared by the detectors; pure arithmetic."""
from statistics import median
from typing import List, Optional, Sequence, Tuple


def has_burst(times: Sequence[float], window: float, count: int) -> bool:
    """Do `count` of the sorted `times` fall within `window` seconds of each other?
    Stops at the first such run: a week of a 5-second loop answers at once."""
    k = count - 1
    if k <= 0:
        return len(times) >= count
    return any(times[i + k] - times[i] <= window for i in range(len(times) - k))


# How far a gap may stray from the others and still be "the same interval": a timestamp is
# rounded to the second in most logs, and a timer's RandomizedDelaySec or accuracy moves it
# by a few percent of its period (logrotate.timer: up to an hour a day).
PERIOD_SLACK_SECONDS = 1.0
PERIOD_SLACK_SHARE = 0.05


def is_periodic(times: Sequence[float], count: int) -> bool:
    """Do `count` sorted sightings in a row come at one constant interval?  Something on a
    clock (a timer, RestartSec, a client retrying) is behind them: a loop however slow.
    Sightings at the same instant are a burst, not a period."""
    if count < 3 or len(times) < count:
        return False
    for i in range(len(times) - count + 1):
        gaps = [times[j + 1] - times[j] for j in range(i, i + count - 1)]
        middle = median(gaps)
        if middle <= PERIOD_SLACK_SECONDS:
            continue
        slack = max(PERIOD_SLACK_SECONDS, PERIOD_SLACK_SHARE * middle)
        if all(abs(g - middle) <= slack for g in gaps):
            return True
    return False


def rate_per_hour(times: Sequence[float]) -> Optional[float]:
    """Intervals per hour between the first and last sighting (None below two)."""
    if len(times) < 2 or times[-1] <= times[0]:
        return None
    return round((len(times) - 1) * 3600.0 / (times[-1] - times[0]), 2)


def period(times: Sequence[float]) -> Optional[float]:
    """The median gap between sightings; from at most ~10,000 evenly spread gaps,
    so a week of a 5-second loop does not cost a sorted copy of every gap."""
    n = len(times)
    if n < 2:
        return None
    step = max(1, (n - 1) // 10000)
    return round(median(times[i + 1] - times[i] for i in range(0, n - 1, step)), 1)


def hourly(times: Sequence[float]) -> Tuple[Tuple[int, int], ...]:
    """Sightings per clock hour (UTC hour start in epoch seconds), oldest first."""
    out: List[List[int]] = []
    for t in times:  # sorted: one pass, no dict
        h = int(t // 3600) * 3600
        if out and out[-1][0] == h:
            out[-1][1] += 1
        else:
            out.append([h, 1])
    return tuple((h, n) for h, n in out)


def span(times: Sequence[float]) -> Tuple[Optional[float], Optional[float]]:
    return (times[0], times[-1]) if times else (None, None)
