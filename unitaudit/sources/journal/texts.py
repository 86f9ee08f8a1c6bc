"""The exact-text pass: a pass whose few texts repeat, read one text at a time.

The bus daemon's pass reads every entry's MESSAGE (a field read costs as much as the step to the
entry) and classifies it; on a looping machine nearly all of them are a few texts said again and
again (the bench: 120,922 identical "Activation via systemd failed for unit
'dbus-org.freedesktop.Avahi.service'" lines).  The journal lists its distinct texts in its field
index (query_unique), so those that are evidence can be known without reading an entry, and an
exact `MESSAGE=` match, ANDed with the pass's own trusted matches, finds each one's entries, of
which only the timestamps are read.

When it pays is decided on the way (`Probe`): the pass reads its first PROBE entries as usual,
handing nothing over yet (a block is BLOCK > PROBE sightings); when they are a few texts repeated
and the pass looks long, the pass starts over text by text, else it goes on as it was.  The
distinct texts are read file by file up to a budget (the pass's estimated length), so a journal
of many distinct messages gives up early, and a pass of more than MAX_TEXTS evidence texts is
read as usual.  A pass whose texts are all distinct never gets past the probe's first test.

`handed_over` hands the sightings over exactly as the usual pass would have: in blocks of BLOCK
sightings in time order, each text's first SAMPLES of a block its samples, so the evidence (and
the lines a report shows) is the same either way.  It merges the texts' times a slice of time at
a time: memory beyond the times themselves stays bounded.
"""
from bisect import bisect_left
from collections import Counter
from itertools import repeat
from operator import and_, lshift, or_, truediv
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

from unitaudit.model import Event, Message, Sightings
from unitaudit.sources.grouping import BLOCK, SAMPLES

PROBE = 4096  # entries a pass reads before deciding; below BLOCK: nothing is handed over before
MIN_REPEAT = 8  # entries per distinct text among those, at least
MIN_ENTRIES = 65536  # the pass's estimated entries, at least: below, the distinct texts cost more than they save
TEXT_BITS = 12
MAX_TEXTS = (1 << TEXT_BITS) - 1  # evidence texts read one by one, at most
SLICE = 32  # merge slices of about SLICE * STRIDE sightings
STRIDE = 1024

# (its message, its entries' realtimes in us, in time order)
Stream = Tuple[Message, Sequence[int]]


class Probe:
    """Called by the pass at its PROBE-th entry: True when it should start over text by text.
    `distinct`: how many distinct texts the pass has met (its classifier's cache); `span`: the
    realtimes (us) the read covers, start and end, asked for only when needed."""

    def __init__(self, distinct: Callable[[], int], span: Callable[[], Optional[Tuple[int, int]]]) -> None:
        self.distinct = distinct
        self.span = span
        self.estimate = 0  # the pass's entries, estimated from how much time the probe covered

    def __call__(self, t_us: int) -> bool:
        if self.distinct() * MIN_REPEAT > PROBE:
            return False
        span = self.span()
        if span is None:
            return False
        start, end = span
        covered = max(t_us - start, 1)
        self.estimate = PROBE * max(end - start, covered) // covered
        return self.estimate >= MIN_ENTRIES


def handed_over(streams: List[Stream], host: str) -> Iterator[Sightings]:
    """The streams' sightings as the usual pass hands them over (see the module's docstring)."""
    if len(streams) > MAX_TEXTS + 1:
        raise ValueError("more texts than a merge key holds")
    pos = [0] * len(streams)
    pending: List[int] = []  # keys of the block being filled: realtime << TEXT_BITS | text
    for keys in _merged(streams):
        pending += keys
        while len(pending) >= BLOCK:
            yield from _block(pending[:BLOCK], streams, pos, host)
            del pending[:BLOCK]
    if pending:
        yield from _block(pending, streams, pos, host)


def _merged(streams: List[Stream]) -> Iterator[List[int]]:
    """The streams' keys in order, a slice of time at a time (each slice about SLICE * STRIDE keys)."""
    marks = sorted({t for _m, times in streams for t in times[::STRIDE]})[SLICE::SLICE]
    low = [0] * len(streams)
    for bound in marks + [None]:
        keys: List[int] = []
        for i, (_m, times) in enumerate(streams):
            high = len(times) if bound is None else bisect_left(times, bound, low[i])
            if high > low[i]:
                keys.extend(map(or_, map(lshift, times[low[i]:high], repeat(TEXT_BITS)), repeat(i)))
                low[i] = high
        keys.sort()
        yield keys


def _block(keys: List[int], streams: List[Stream], pos: List[int], host: str) -> Iterator[Sightings]:
    """One block: a Sightings per text, in the order of each one's first sighting in the block."""
    texts = list(map(and_, keys, repeat(MAX_TEXTS)))
    counts = Counter(texts)
    for i in dict.fromkeys(texts):
        m, times = streams[i]
        lo = pos[i]
        pos[i] = hi = lo + counts[i]
        when = tuple(map(truediv, times[lo:hi], repeat(1e6)))
        yield Sightings(m, when, 0, tuple(Event(t, m, None, None) for t in when[:SAMPLES]), host)
