"""The passes over the journal: each kind of evidence is one indexed pass.

The journal evaluates one match group much faster than a disjunction of all of
them (measured on the bench journal: separate passes cost a third of one pass
over their disjunction, 0.25 s against 0.71 s).  Trust comes from journald's
own fields (_PID, _UID, _SYSTEMD_UNIT), never from MESSAGE_ID,
SYSLOG_IDENTIFIER or UNIT, which any local user can set: PID 1's and the bus
daemon's passes match on the trusted fields, so a lookalike logged with
`systemd-cat` or `logger -t systemd` is not read as their evidence at all.
"""
import os
from array import array
from collections import Counter
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Set, Tuple

from unitaudit.model import PROGRAM_LINE_LEAD, Message, Progress, Sightings
from unitaudit.sources.grouping import SightingGroups
from unitaudit.sources.journal.classify import (
    BROKER_IDS, BUS_TEXT, BUS_UNITS, FAIL_KINDS, ID_EXITED, ID_RESULT, ID_SPAWN, PID1_IDS, STOP, bus_classifier,
    bus_message, classify_broker, classify_executor, logrotate_classifier, pid1_classifier, pid1_text_classifier,
    program_line_classifier)
from unitaudit.sources.journal.parallel import Child
from unitaudit.sources.journal.reader import Journal
from unitaudit.sources.journal.texts import MAX_TEXTS, PROBE, Probe, Stream, handed_over

# the bus daemons' entries: by their command or their unit, both trusted fields
BUS_MATCHES = [b"_COMM=dbus-daemon"] + [b"_SYSTEMD_UNIT=" + u for u in BUS_UNITS]
# unit -> the times its processes failed (the program-line passes look just before them)
Failures = Dict[str, array]
PROGRESS_EVERY = 8192  # entries between two calls of a progress display: a mask test per entry costs nothing


class Scope(NamedTuple):
    """What every pass of one read is restricted to.  A NamedTuple: a frozen
    dataclass costs ten times as much to define, at every start."""

    since: Optional[float] = None
    until: Optional[float] = None
    skip: Optional[Tuple[str, int]] = None  # (cursor, realtime us) of the entry the last run ended on
    boot_id: Optional[bytes] = None
    machine_id: Optional[bytes] = None  # None: every machine (the journal holds one)
    host: str = ""  # the machine's name, given to its sightings


class Passes:
    """The passes of one machine's read; they add to the source's `counts` and `warnings`."""

    def __init__(self, journal: Journal, scope: Scope, counts: Dict[str, int], warnings: List[str],
                 record: Optional[Callable[[object], None]] = None, progress: Optional[Progress] = None,
                 span: Optional[Tuple[int, int]] = None, child: Optional[Child] = None) -> None:
        """`record`: called with the reader at every entry a pass reads (collect keeps them whole).
        `progress`: told how far into the journal's time `span` (us) each pass has read.
        `child`: reading the bus daemon's pass meanwhile (parallel.py, `bus_sightings`)."""
        self.journal = journal
        self.scope = scope
        self.counts = counts
        self.warnings = warnings
        self.record = record
        self.progress = progress
        self.span = span
        self.child = child
        self.passes = 0

    def read(self) -> Iterator[Sightings]:
        failures: Failures = {}
        ids = self.journal.unique("MESSAGE_ID")
        yield from self._pid1(ids, failures)
        if self.child is None:
            yield from self._bus()
            yield from self._after_bus(ids, failures)
            return
        # The child reads the bus daemon's pass: the passes after it are read meanwhile, and
        # handed over after its sightings, their warnings after its warnings, as when serial.
        mark = len(self.warnings)
        later = list(self._after_bus(ids, failures))
        later_warnings = self.warnings[mark:]
        del self.warnings[mark:]
        yield from self._bus()
        self.warnings.extend(later_warnings)
        yield from later

    def _pid1(self, ids: Set[bytes], failures: Failures) -> Iterator[Sightings]:
        """PID 1's unit messages, systemd-executor's."""
        # PID 1's unit messages: only PID 1 running as root can log these fields
        # into _PID/_UID, so lookalikes from `systemd-cat` never become evidence.
        pid1 = [b"MESSAGE_ID=" + i for i in PID1_IDS] + [b"_PID=1", b"_UID=0"]
        yield from self._pass(pid1, pid1_classifier(), failures)
        if ID_SPAWN in ids:  # 257: logged by systemd-executor inside the unit, not PID 1
            yield from self._pass([b"MESSAGE_ID=" + ID_SPAWN, b"_UID=0"], classify_executor, failures)

    def _after_bus(self, ids: Set[bytes], failures: Failures) -> Iterator[Sightings]:
        """dbus-broker's, logrotate's, PID 1's texts (old systemd), then the program lines."""
        if BROKER_IDS[0] in ids or BROKER_IDS[1] in ids:
            broker = [b"MESSAGE_ID=" + i for i in BROKER_IDS] + [b"_SYSTEMD_UNIT=dbus-broker.service"]
            yield from self._pass(broker, classify_broker)
        yield from self._pass([b"_SYSTEMD_UNIT=logrotate.service"], logrotate_classifier(in_unit=True))
        yield from self._pass([b"SYSLOG_IDENTIFIER=logrotate"], logrotate_classifier(in_unit=False))
        if ID_RESULT not in ids and ID_EXITED not in ids:
            yield from self._pass([b"_PID=1", b"_UID=0"], pid1_text_classifier(self.counts), failures)
        if failures:
            yield from self._program_lines(failures)

    def _program_lines(self, failures: Failures) -> Iterator[Sightings]:
        """What processes inside a unit printed just before its process failed
        (`modprobe: FATAL: ...`): one pass per failing unit, from its first failure."""
        for unit in sorted(failures):
            times = sorted(failures[unit])
            classify = program_line_classifier(unit, times, self.counts)
            yield from self._pass([b"_SYSTEMD_UNIT=" + unit.encode()], classify, after=times[0] - PROGRAM_LINE_LEAD)

    def _bus(self) -> Iterator[Sightings]:
        """The bus daemon's pass: the child's when it read it (its counts, warnings and passes
        merged here, where the pass runs), else read here (also when the child failed)."""
        got = self.child.take() if self.child is not None else None
        if got is None:
            yield from self._bus_pass(BUS_MATCHES)
            return
        sightings, counts, warnings, passes = got  # type: ignore[misc]
        for key, n in counts.items():
            self.counts[key] = self.counts.get(key, 0) + n
        self.warnings.extend(warnings)
        self.passes += passes
        yield from sightings

    def _bus_pass(self, matches: List[bytes]) -> Iterator[Sightings]:
        """The bus daemon's pass, text by text when its texts repeat (texts.py).  Its `entries` are
        the entries read: text by text, the evidence entries alone."""
        classify = bus_classifier()
        cache = classify.cache  # type: ignore[attr-defined]
        probe = None
        if self.record is None and self.journal.paths:  # collect keeps every entry read whole
            probe = Probe(lambda: len(cache), self._span_us)
        started_over = yield from self._pass(matches, classify, probe=probe)
        if not started_over:
            return
        streams = self._exact_streams(matches, cache, probe.estimate)  # type: ignore[union-attr]
        if streams is None:  # too many texts: as usual after all
            yield from self._pass(matches, classify)
            return
        n = sum(len(times) for _m, times in streams)
        self.counts["events"] += n
        self.counts["entries"] += n
        yield from handed_over(streams, self.scope.host)

    def _exact_streams(self, matches: List[bytes], cache, budget: int) -> Optional[List[Stream]]:
        """Each evidence text's entries among the pass's (`MESSAGE=text` ANDed with `matches`, the
        trusted fields), timestamps only; None when the texts are too many to pay."""
        texts = self.journal.texts(budget)
        if texts is None:
            return None
        evidence = []
        for text in sorted(t for t in texts if BUS_TEXT(t)):
            m = cache.get(text)
            if m is None:
                m = bus_message(text)
            if isinstance(m, Message):
                evidence.append((text, m))
                if len(evidence) > MAX_TEXTS:
                    return None
        return [(m, self._times(matches + [b"MESSAGE=" + text])) for text, m in evidence]

    def _times(self, matches: List[bytes]) -> array:
        """The realtimes (us) of the entries `matches` select in this read, nothing else read."""
        times = array("q")
        r = self._open(matches, None)
        self.passes += 1
        try:
            nxt, realtime, add = r._next, r._get_realtime, times.append
            test_cursor = self.journal.raw.test_cursor
            until, skip_cursor, skip_us = self._bounds(None)
            while True:
                try:
                    if not nxt():
                        break
                    t_us = realtime()
                except OSError as e:
                    self.warnings.append("%s: stopped at damaged journal data (%s); entries before it were read"
                                         % (self.journal.label, e.strerror or e))
                    break
                if until is not None and t_us > until:
                    break
                if t_us == skip_us and test_cursor(r, skip_cursor):
                    continue  # the entry the last run ended on
                add(t_us)
        finally:
            self.journal.done(r)
        return times

    def _bounds(self, after: Optional[float]) -> Tuple[Optional[int], str, int]:
        """The realtime (us) a pass stops after (None: the end), and the cursor and realtime of the
        entry the last run ended on, to skip (a pass from `after` starts past it)."""
        until = int(self.scope.until * 1e6) if self.scope.until is not None else None
        skip_cursor, skip_us = self.scope.skip if self.scope.skip is not None and after is None else ("", -1)
        return until, skip_cursor, skip_us

    def _span_us(self) -> Optional[Tuple[int, int]]:
        """The realtimes (us) this read covers: from --since (or the journal's first entry) to
        --until (or its last)."""
        scope = self.scope
        span = self.span if self.span is not None else self.journal.span()
        if span is None:
            return None
        start = max(span[0], int(scope.since * 1e6)) if scope.since is not None else span[0]
        end = min(span[1], int(scope.until * 1e6)) if scope.until is not None else span[1]
        return start, max(start, end)

    def _open(self, matches: List[bytes], after: Optional[float]):
        """A reader on one match group (different fields AND, same field OR), ANDed with the
        machine and the boot, at --since (or `after`, or the last run's cursor)."""
        scope = self.scope
        r = self.journal.reader()
        try:
            for m in matches:
                r.add_match(m)
            if scope.machine_id is not None:
                r.add_conjunction()
                r.add_match(b"_MACHINE_ID=" + scope.machine_id)
            if scope.boot_id is not None:
                r.add_conjunction()
                r.add_match(b"_BOOT_ID=" + scope.boot_id)
            bounds = [x for x in (scope.since, after) if x is not None]
            if scope.skip is not None and after is None:
                self.journal.raw.seek_cursor(r, scope.skip[0])
            elif bounds:
                self.journal.raw.seek_realtime(r, int(max(max(bounds), 0.0) * 1e6))
            else:
                r.seek_head()
        except BaseException:
            self.journal.done(r)
            raise
        return r

    def _pass(self, matches: List[bytes], classify, failures: Optional[Failures] = None,
              after: Optional[float] = None, probe: Optional[Probe] = None):
        """One indexed pass over the entries `matches` select, each given to `classify`.  `probe`:
        asked at the PROBE-th entry whether to stop and start over another way (texts.py); the
        pass then hands nothing over, counts nothing and returns True."""
        r = self._open(matches, after)
        self.passes += 1
        show = self._shown(self.passes)
        groups, host, events, entries = SightingGroups(), self.scope.host, 0, 0
        add, probe_at = groups.add, PROBE if probe is not None else -1
        try:
            get, nxt, realtime = r._get, r._next, r._get_realtime
            test_cursor, record = self.journal.raw.test_cursor, self.record
            until, skip_cursor, skip_us = self._bounds(after)
            while True:  # the hot loop: kept flat, every call here runs once per entry
                try:
                    if not nxt():
                        break
                    t_us = realtime()
                except OSError as e:
                    self.warnings.append("%s: stopped at damaged journal data (%s); entries before it were read"
                                         % (self.journal.label, e.strerror or e))
                    break
                if until is not None and t_us > until:
                    break
                if t_us == skip_us and test_cursor(r, skip_cursor):
                    continue  # the entry the last run ended on
                entries += 1
                if entries == probe_at and probe(t_us):  # type: ignore[misc]
                    events = entries = 0
                    return True
                if show is not None and not entries % PROGRESS_EVERY:
                    show(t_us)
                if record is not None:
                    record(r)
                try:
                    got = classify(get, t_us)
                except (KeyError, OSError, UnicodeDecodeError, ValueError):
                    # a damaged entry: a field the match promised is gone, its name or value mangled,
                    # or its data compressed in a way this libsystemd cannot read.  Skipped, counted.
                    self.counts["damaged"] += 1
                    continue
                if got is None:
                    continue
                if got is STOP:
                    break
                m, pid = got
                t = t_us / 1e6
                events += 1
                if failures is not None and m.kind in FAIL_KINDS and m.unit:
                    failures.setdefault(m.unit, array("d")).append(t)
                if add(id(m), m, t, pid, None, host):
                    yield from groups.flush()
            yield from groups.flush()
        finally:
            self.journal.done(r)
            self.counts["events"] += events
            self.counts["entries"] += entries
        return False

    def _shown(self, number: int) -> Optional[Callable[[int], None]]:
        """What the hot loop calls with an entry's time: the progress display told how much of the
        journal's time span (from --since) this pass has covered; None without a display."""
        if self.progress is None or self.span is None:
            return None
        progress, (head, tail) = self.progress, self.span
        start = max(head, int(self.scope.since * 1e6)) if self.scope.since is not None else head
        total = max(1, tail - start)
        what = "%s, pass %d" % (os.path.basename(self.journal.label.rstrip("/")) or self.journal.label, number)
        return lambda t_us: progress(what, max(0, t_us - start), total)


def bus_sightings(journal: Journal, scope: Scope, span: Optional[Tuple[int, int]] = None):
    """What a child reading the bus daemon's pass sends back (parallel.py): its sightings, and the
    counts, warnings and passes the pass added.  `journal`: the child's own, opened after the fork."""
    counts: Dict[str, int] = Counter()
    warnings: List[str] = []
    passes = Passes(journal, scope, counts, warnings, span=span)
    try:
        sightings = list(passes._bus_pass(BUS_MATCHES))
    finally:
        journal.close()
    return sightings, dict(counts), warnings, passes.passes
