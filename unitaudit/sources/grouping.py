"""Group repeated sightings by what was logged, and hand each group over as one `Sightings`.

A loop logs the same message over and over; the fold only needs its times and a
few raw lines.  Sources group sightings by what was logged (a key they already
hold: the line's text after its timestamp, a journal MESSAGE) and hand the
groups over every `BLOCK` sightings, one `Sightings` per group, which keeps
memory bounded and the per-line cost low.
"""
from typing import Dict, Hashable, Iterator, Optional

from unitaudit.model import Event, Message, Sightings

BLOCK = 8192  # sightings per hand-over
SAMPLES = 3  # first sightings kept with their raw lines (plus the last of each block)

# A group: [times, undated, first events, last raw line, its time, message, pid, host].
# Sources may append to a group's times and set its last line directly: the
# text scan's inner loop does, to stay at a few operations per line.
TIMES, UNDATED, FIRST, LAST_RAW, LAST_TIME, MESSAGE, PID, HOST = range(8)


class SightingGroups:
    """The sightings of one block so far, grouped by key; `n` counts every sighting added."""

    __slots__ = ("groups", "n")

    def __init__(self) -> None:
        self.groups: Dict[Hashable, list] = {}
        self.n = 0

    def add(self, key: Hashable, m: Message, t: Optional[float], pid: Optional[int], raw, host: str = "") -> bool:
        """Record one sighting; True when a block is full and should be flushed.
        One key must always come with the same host."""
        g = self.groups.get(key)
        if g is None:
            g = self.groups[key] = [[], 0, [Event(t, m, pid, raw)], None, None, m, pid, host]
        elif len(g[FIRST]) < SAMPLES:
            g[FIRST].append(Event(t, m, pid, raw))
        else:
            g[LAST_RAW], g[LAST_TIME] = raw, t
        if t is None:
            g[UNDATED] += 1
        else:
            g[TIMES].append(t)
        self.n += 1
        return self.n % BLOCK == 0

    def flush(self) -> Iterator[Sightings]:
        """Each group as one Sightings, and a new block begun."""
        for times, undated, first, last, t, m, pid, host in self.groups.values():
            samples = first if last is None else first + [Event(t, m, pid, last)]
            yield Sightings(m, tuple(times), undated, tuple(samples), host)
        self.groups = {}
