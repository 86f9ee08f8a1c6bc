"""Hand repeated sightings over together.

A loop logs the same message over and over; the fold only needs its times and a
few raw lines.  Sources group sightings by message and hand each group over as
one `Sightings` per block, which keeps memory bounded and the per-line cost low.
"""
from typing import Dict, Iterator, Optional

from unitaudit.model import Event, Message, Sightings

BLOCK = 8192  # sightings per hand-over
SAMPLES = 3  # first sightings kept with their raw lines (plus the last of each block)


class Batcher:
    __slots__ = ("_groups", "_n")

    def __init__(self) -> None:
        self._groups: Dict[Message, list] = {}  # message -> [times, undated, first, last event]
        self._n = 0

    def add(self, m: Message, t: Optional[float], pid: Optional[int], raw) -> bool:
        """Record one sighting; True when a block is full and should be flushed."""
        g = self._groups.get(m)
        if g is None:
            g = self._groups[m] = [[], 0, [Event(t, m, pid, raw)], None]
        elif len(g[2]) < SAMPLES:
            g[2].append(Event(t, m, pid, raw))
        else:
            g[3] = (t, pid, raw)
        if t is None:
            g[1] += 1
        else:
            g[0].append(t)
        self._n += 1
        return self._n % BLOCK == 0

    def flush(self) -> Iterator[Sightings]:
        for m, (times, undated, first, last) in self._groups.items():
            samples = first if last is None else first + [Event(last[0], m, last[1], last[2])]
            yield Sightings(m, tuple(times), undated, tuple(samples))
        self._groups = {}
