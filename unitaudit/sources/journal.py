"""The systemd journal, read through systemd-python without walking every entry.

Each kind of evidence is one indexed pass (the journal evaluates one match
group much faster than a disjunction of all of them):
  PID 1's unit messages      MESSAGE_ID in (restart, result, process exited, spawn, success), _PID=1, _UID=0
  systemd-executor (257)     MESSAGE_ID=spawn failed, _UID=0
  the system bus daemon      _COMM=dbus-daemon, _SYSTEMD_UNIT=dbus.service
  dbus-broker                its two MESSAGE_IDs, _SYSTEMD_UNIT=dbus-broker.service
  logrotate                  _SYSTEMD_UNIT=logrotate.service, then SYSLOG_IDENTIFIER=logrotate (cron)
  systemd 235-239            _PID=1, _UID=0 text, only when the journal has none of 240's MESSAGE_IDs
  inside failing units       _SYSTEMD_UNIT=<unit>, lines logged just before its process failed
                             (`modprobe: FATAL: Module vfs_monitor not found ...`)

Raw `_next()`/`_get()` are used instead of the Reader's per-entry converters,
which cost about 4x, and each pass reads as few fields as it can.  Trust comes
from journald's own fields (_PID, _UID, _SYSTEMD_UNIT), never from MESSAGE_ID,
SYSLOG_IDENTIFIER or UNIT, which any local user can set: PID 1's and the bus
daemon's passes match on the trusted fields, so a lookalike logged with
`systemd-cat` or `logger -t systemd` is not read as their evidence at all.
logrotate run outside logrotate.service (cron) is read, untrusted.
"""
import os
import re
import stat
import struct
from array import array
from bisect import bisect_left
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from unitaudit.errors import SourceError
from unitaudit.sources.wordings import classify_bus, classify_logrotate, classify_pid1, program_line
from unitaudit.util.names import is_unit_name
from unitaudit.model import PROGRAM_LINE_LEAD, Kind, Message, Sightings, SourceStats
from unitaudit.sources.batch import Batcher
from unitaudit.util.times import iso_utc

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
_STATUS_NAME = re.compile(r"status=\d+/(\w+)")


def _field(get, name: str) -> Optional[str]:
    try:
        return get(name).decode("utf-8", "replace")
    except KeyError:
        return None


def _pid(get) -> Optional[int]:
    try:
        return int(get("_PID"))
    except (KeyError, ValueError):
        return None


class JournalSource:
    kind = "journal"

    def __init__(self, directory: Optional[str] = None, files: Sequence[str] = (),
                 since: Optional[float] = None, until: Optional[float] = None, boot: bool = False,
                 incremental: bool = False, after_cursor: Optional[Tuple[str, float]] = None) -> None:
        """`incremental`: note where this read ends (`end`) for the next run.  `after_cursor`: (cursor, its realtime) of the last entry an earlier run read; only the
        entries after it are read (incremental runs).  A cursor the journal no longer holds
        (rotated, vacuumed) falls back to its time, and a warning says so."""
        self.directory = directory
        self.files = list(files)
        self.since = since
        self.until = until
        self.boot = boot
        self.incremental = incremental or after_cursor is not None
        self.after_cursor = after_cursor
        self.read_from = "full" if after_cursor is None else "cursor"
        # where this read ended: (cursor, realtime) of the last entry it covered, for the next run
        self.end: Optional[Tuple[str, float]] = None
        self._skip: Optional[Tuple[str, int]] = None  # the cursor entry itself, read last time
        self.path = directory or (", ".join(self.files) if self.files else "local system journal")
        self._counts = {"entries": 0, "events": 0, "text_fallback": 0, "program_lines": 0, "damaged": 0}
        self._warnings: List[str] = []
        self._boot_id: Optional[bytes] = None
        self._machine_id: Optional[bytes] = None
        self._host = ""
        self._journals: List[Tuple[str, bytes]] = []  # (file, its header) of --journal-dir/--journal-file
        self._probed = False
        self._check_paths()

    # -- opening -------------------------------------------------------
    def _check_paths(self) -> None:
        if self.directory is not None:
            d = self.directory
            try:
                is_dir = stat.S_ISDIR(os.stat(d).st_mode)
            except FileNotFoundError:
                raise SourceError("%s: no such directory" % d) from None
            except PermissionError:
                raise SourceError("%s: permission denied (run as root or join group adm)" % d) from None
            if not is_dir:
                raise SourceError("%s is not a directory (a journal file? use --journal-file)" % d)
            found = [os.path.join(r, n) for r, _d, names in os.walk(d) for n in names
                     if n.endswith((".journal", ".journal~"))]
            if not found:
                raise SourceError("%s: no journal files (*.journal) in this directory" % d)
            unreadable = [f for f in found if not os.access(f, os.R_OK)]
            if len(unreadable) == len(found):
                raise SourceError("%s: permission denied on all %d journal files (run as root or join group adm)"
                                  % (d, len(found)))
            if unreadable:
                self._warnings.append("%s: %d of %d journal files unreadable (permission): their entries are missing"
                                      % (d, len(unreadable), len(found)))
            for f in sorted(unreadable):
                self._warnings.append("%s: permission denied: skipped" % f)
            # sd_journal skips a file it cannot use without a word: each one is looked at here
            for f in sorted(set(found) - set(unreadable)):
                header, problem = _read_header(f)
                if problem is None:
                    self._journals.append((f, header))
                else:
                    self._warnings.append("%s: %s: skipped" % (f, problem))
            if not self._journals:
                raise SourceError("%s: no journal files: none of its %d *.journal files is a readable journal (%s)"
                                  % (d, len(found), "; ".join(w for w in self._warnings)))
        for f in self.files:
            try:
                with open(f, "rb") as fh:
                    magic = fh.read(8)
            except FileNotFoundError:
                raise SourceError("%s: no such file" % f) from None
            except IsADirectoryError:
                raise SourceError("%s is a directory: use --journal-dir" % f) from None
            except PermissionError:
                raise SourceError("%s: permission denied" % f) from None
            if magic != b"LPKSHHRH":
                raise SourceError("%s is not a journal file (for text logs use --syslog)" % f)
            header, _problem = _read_header(f)
            self._journals.append((f, header))

    def _open(self):
        from systemd import journal  # only the journal source needs libsystemd

        try:
            if self.directory is not None:
                r = journal.Reader(path=self.directory)
            elif self.files:
                r = journal.Reader(files=self.files)
            else:
                r = journal.Reader(flags=journal.LOCAL_ONLY)
                if not (r.has_persistent_files() or r.has_runtime_files()):
                    hint = "" if os.geteuid() == 0 else " or readable by this user (run as root or join group adm)"
                    raise SourceError("no journal found on this system%s; give --journal-dir, --journal-file or --syslog" % hint)
                if os.geteuid() != 0 and not _system_journal_readable():
                    self._warnings.append("the system journal is not readable by this user: only what it may read "
                                          "was scanned (run as root or join group adm or systemd-journal)")
        except OSError as e:
            raise SourceError("%s: cannot open the journal: %s" % (self.path, e.strerror or e)) from None
        return r

    def _restrict(self, r, after: Optional[float] = None) -> None:
        """AND the machine and boot matches and seek to --since (or later), after the match group."""
        if self._machine_id is not None:
            r.add_conjunction()
            r.add_match(b"_MACHINE_ID=" + self._machine_id)
        if self._boot_id is not None:
            r.add_conjunction()
            r.add_match(b"_BOOT_ID=" + self._boot_id)
        bounds = [x for x in (self.since, after) if x is not None]
        if self._skip is not None and after is None:
            _raw_reader().seek_cursor(r, self._skip[0])
        elif bounds:
            _raw_reader().seek_realtime(r, int(max(max(bounds), 0.0) * 1e6))
        else:
            r.seek_head()

    def _latest_boot(self) -> Optional[bytes]:
        r = self._open()
        try:
            r.seek_tail()
            if r._previous():
                return r._get("_BOOT_ID")
        except (OSError, KeyError):
            return None
        finally:
            r.close()
        return None

    # -- where to start and stop ----------------------------------------
    def _bounds(self) -> None:
        """Fix this read's end before reading (entries logged meanwhile are the next run's), and
        check that the earlier run's cursor still names an entry."""
        r = self._open()
        raw = _raw_reader()
        try:
            if self.until is not None:
                raw.seek_realtime(r, int(self.until * 1e6) + 1)
            else:
                r.seek_tail()
            if r._previous():
                self.end = (r._get_cursor(), r._get_realtime() / 1e6)
            if self.after_cursor is not None:
                cursor, when = self.after_cursor
                try:
                    raw.seek_cursor(r, cursor)
                    found = r._next() and raw.test_cursor(r, cursor)
                except ValueError:  # not a cursor at all (a damaged state database): as if gone
                    found = False
                if found:
                    self._skip = (cursor, r._get_realtime())
                else:
                    self.read_from = "time"
                    self.since = max(self.since or when, when)
                    self._warnings.append("the last run's journal cursor is gone (journal rotated or vacuumed): "
                                          "read from its time, %s, instead" % iso_utc(when))
        except OSError as e:
            raise SourceError("%s: cannot read the journal: %s" % (self.path, e.strerror or e)) from None
        finally:
            r.close()
        if self.end is not None:
            self.until = self.end[1] if self.until is None else min(self.until, self.end[1])
        elif self.after_cursor is not None:
            self.end = self.after_cursor  # an empty journal: keep the old position

    # -- reading ---------------------------------------------------------
    def _probe(self) -> None:
        """Each journal file of a directory or --journal-file read whole, entries counted against
        the n_entries of its header.  sd_journal says nothing of a file it cannot open (a
        directory read then skips it) nor of entries it cannot reach past damage (it skips them,
        and a match pass stops at a damaged data object): without this, a damaged copy reads as
        fewer loops, or none.  Each such file gets a warning with the counts; a directory of
        which no file can be read is an error.  The local journal (files journald is writing) is
        not probed."""
        if self._probed or not self._journals:
            return
        self._probed = True
        readable = 0
        problems = []
        # a read that starts later (--since, an incremental run's cursor) skips the files that end
        # before it: their damage cannot touch this read, and walking them would cost ~0.6 us an entry
        starts = [t for t in (self.since, self.after_cursor[1] if self.after_cursor else None) if t is not None]
        start_us = int(max(starts) * 1e6) if starts else None
        for f, header in self._journals:
            listed = _header_entries(header)
            if start_us is not None and len(header) >= 200 and 0 < struct.unpack_from("<Q", header, 192)[0] < start_us:
                readable += listed or 0
                continue
            read, error = _count_entries(f)
            cut = _truncation(header)
            if error is not None:
                if self.directory is None:
                    raise SourceError("%s: cannot open the journal: %s%s" % (f, error, cut))
                problems.append("%s: damaged%s: cannot be opened (%s)%s: skipped" % (
                    f, cut, error, "" if listed is None else ", 0 of the %d entries its header lists read" % listed))
            elif listed is not None and read < listed:
                problems.append("%s: damaged%s: %d of the %d entries its header lists could be read, and reads "
                                "stop at the damage: loops in this file may be missed or undercounted"
                                % (f, cut, read, listed))
            readable += read
        self._warnings.extend(problems)
        if self.directory is not None and problems and readable == 0:
            raise SourceError("%s: no journal file could be read: %s" % (self.directory, "; ".join(problems)))

    def events(self) -> Iterator[Sightings]:
        self._probe()
        if self.incremental:
            self._bounds()
        if self.boot:
            self._boot_id = self._latest_boot()
            if self._boot_id is None:
                self._warnings.append("--boot: no boot found in the journal")
                return
        # A journal directory may hold several machines (journal-remote): each
        # machine's evidence stays its own, labelled by its hostname.
        for machine, host in self._machines():
            self._machine_id, self._host = machine, host
            failures: Dict[str, array] = {}
            yield from self._pass1(failures)
            if failures:
                yield from self._pass2(failures)
        self._machine_id = None

    def _machines(self) -> List[tuple]:
        r = self._open()
        try:
            ids = sorted(_raw_reader().query_unique(r, "_MACHINE_ID"))
        finally:
            r.close()
        if len(ids) <= 1:
            return [(None, self._hostname(None))]
        named = [(m, self._hostname(m)) for m in ids]
        names = [h for _m, h in named]
        # two machines with one hostname (cloned images, containers) stay apart
        return [(m, h if names.count(h) == 1 else "%s/%s" % (h, m.decode()[:8])) for m, h in named]

    def _hostname(self, machine: Optional[bytes]) -> str:
        """The machine's latest _HOSTNAME (what its syslog lines carry), else its machine id."""
        r = self._open()
        try:
            if machine is not None:
                r.add_match(b"_MACHINE_ID=" + machine)
            r.seek_tail()
            if r._previous():
                return r._get("_HOSTNAME").decode("utf-8", "replace")
        except (OSError, KeyError):
            pass
        finally:
            r.close()
        return machine.decode()[:12] if machine else ""

    def _pass(self, matches: List[bytes], handle, failures: Optional[Dict[str, array]] = None,
              after: Optional[float] = None) -> Iterator[Sightings]:
        """One indexed pass: `matches` form one group (different fields AND, same field OR).

        Separate passes per group cost a third of one pass over their disjunction
        (measured on the bench journal: 0.25 s against 0.71 s).  `handle` reads
        as few fields as it can: each field read costs as much as the step."""
        r = self._open()
        batch = Batcher()
        add = batch.add
        host = self._host
        events = entries = 0
        try:
            for m in matches:
                r.add_match(m)
            self._restrict(r, after)
            get, nxt, realtime = r._get, r._next, r._get_realtime
            until = int(self.until * 1e6) if self.until is not None else None
            skip_cursor, skip_us = self._skip if self._skip is not None and after is None else ("", -1)
            while True:  # the hot loop: kept flat, every call here runs once per entry
                try:
                    if not nxt():
                        break
                    t_us = realtime()
                except OSError as e:
                    self._warnings.append("%s: stopped at damaged journal data (%s); entries before it were read"
                                          % (self.path, e.strerror or e))
                    break
                if until is not None and t_us > until:
                    break
                if t_us == skip_us and _raw_reader().test_cursor(r, skip_cursor):
                    continue  # the entry the last run ended on
                entries += 1
                try:
                    got = handle(get, t_us)
                except (KeyError, OSError, UnicodeDecodeError, ValueError):
                    # a damaged entry: a field the match promised is gone, its name or value mangled,
                    # or its data compressed in a way this libsystemd cannot read.  Skipped, counted.
                    self._counts["damaged"] += 1
                    continue
                if got is None:
                    continue
                if got is _STOP:
                    break
                m, pid = got
                t = t_us / 1e6
                events += 1
                if failures is not None and m.kind in _FAIL_KINDS and m.unit:
                    failures.setdefault(m.unit, array("d")).append(t)
                if add(id(m), m, t, pid, None, host):
                    yield from batch.flush()
            yield from batch.flush()
        finally:
            r.close()
            self._counts["events"] += events
            self._counts["entries"] += entries

    def _pass1(self, failures: Dict[str, array]) -> Iterator[Sightings]:
        r = self._open()
        try:
            ids = _raw_reader().query_unique(r, "MESSAGE_ID")
        finally:
            r.close()
        # PID 1's unit messages: only PID 1 running as root can log these fields
        # into _PID/_UID, so lookalikes from `systemd-cat` never become evidence.
        pid1 = [b"MESSAGE_ID=" + i for i in PID1_IDS] + [b"_PID=1", b"_UID=0"]
        yield from self._pass(pid1, self._pid1_reader(), failures)
        if ID_SPAWN in ids:  # 257: logged by systemd-executor inside the unit, not PID 1
            yield from self._pass([b"MESSAGE_ID=" + ID_SPAWN, b"_UID=0"], self._executor_event, failures)
        bus = [b"_COMM=dbus-daemon"] + [b"_SYSTEMD_UNIT=" + u for u in BUS_UNITS]
        yield from self._pass(bus, self._bus_reader())
        if BROKER_IDS[0] in ids or BROKER_IDS[1] in ids:
            broker = [b"MESSAGE_ID=" + i for i in BROKER_IDS] + [b"_SYSTEMD_UNIT=dbus-broker.service"]
            yield from self._pass(broker, self._broker_event)
        yield from self._pass([b"_SYSTEMD_UNIT=logrotate.service"], self._logrotate_reader(in_unit=True))
        yield from self._pass([b"SYSLOG_IDENTIFIER=logrotate"], self._logrotate_reader(in_unit=False))
        if ID_RESULT not in ids and ID_EXITED not in ids:
            yield from self._pass([b"_PID=1", b"_UID=0"], self._pid1_text_reader(), failures)

    def _pid1_reader(self):
        """PID 1's messages selected by MESSAGE_ID.  The text says what the fields
        say (unit, result, status, counter) and repeats, so it is read once per
        distinct text; COMMAND is not in the text and is read from its field.  A
        text that does not parse is read from the fields instead."""
        cache: Dict[tuple, object] = {}

        def handle(get, t_us: int):
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
                    m = self._pid1_message(get, get("MESSAGE_ID"), True) or _NOTHING
                if len(cache) < 20000 and m is not _NOTHING and m.kind is not Kind.RESTART_SCHEDULED:
                    cache[key] = m
            if m is _NOTHING:
                return None
            return m, 1

        return handle

    def _pid1_text_reader(self):
        """systemd 235-239: PID 1's failures carry no MESSAGE_ID; read its text."""
        def handle(get, t_us: int):
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
            self._counts["text_fallback"] += 1
            return m, 1

        return handle

    def _executor_event(self, get, t_us: int):
        if get("_PID") == b"1":
            return None  # read with PID 1's messages
        trusted = _field(get, "_SYSTEMD_UNIT") == _field(get, "UNIT")
        m = self._pid1_message(get, ID_SPAWN, trusted)
        return (m, _pid(get)) if m is not None else None

    def _bus_reader(self):
        """dbus-daemon of the system bus: its unit's cgroup proves the sender (trusted)."""
        cache: Dict[bytes, object] = {}

        def handle(get, t_us: int):
            text = get("MESSAGE")
            m = cache.get(text)
            if m is None:
                m = classify_bus(text.decode("utf-8", "replace"), "dbus-daemon", True) or _NOTHING
                if len(cache) < 20000:
                    cache[text] = m
            if m is _NOTHING:
                return None
            # the pid is left out: one more field read per line costs a third of the pass
            return m, None

        return handle

    def _broker_event(self, get, t_us: int):
        unit = _field(get, "DBUS_BROKER_LAUNCH_SERVICE_UNIT")
        if unit is None or not is_unit_name(unit):
            return None
        mid = get("MESSAGE_ID")
        facts = (("daemon", "dbus-broker"), ("bus_name", _field(get, "DBUS_BROKER_LAUNCH_SERVICE_NAME") or ""),
                 ("reason", "masked" if mid == ID_BROKER_MASKED else "not-found"))
        m = Message(Kind.ACTIVATION_FAILED, unit, _field(get, "MESSAGE") or "", "dbus-broker-launch", True, facts)
        return m, _pid(get)

    def _logrotate_reader(self, in_unit: bool):
        cache: Dict[tuple, object] = {}

        def handle(get, t_us: int):
            unit = _field(get, "_SYSTEMD_UNIT")
            if not in_unit and unit == "logrotate.service":
                return None  # read in the logrotate.service pass
            try:
                text = get("MESSAGE")
            except KeyError:
                return None
            trusted = in_unit and _field(get, "_UID") == "0"
            key = (text, trusted, unit)
            m = cache.get(key)
            if m is None:
                owner = unit if unit and unit.endswith(".service") else None
                m = classify_logrotate(text.decode("utf-8", "replace"), owner, trusted) or _NOTHING
                if len(cache) < 20000:
                    cache[key] = m
            if m is _NOTHING:
                return None
            return m, _pid(get)

        return handle

    def _pid1_message(self, get, mid: bytes, trusted: bool) -> Optional[Message]:
        unit = _field(get, "UNIT")
        if unit is None or not is_unit_name(unit):
            return None  # USER_UNIT (user managers) is out of scope for the system audit
        text = _field(get, "MESSAGE") or ""
        if mid == ID_RESTART:
            n = _field(get, "N_RESTARTS")
            return Message(Kind.RESTART_SCHEDULED, unit, text, "systemd", trusted, (("N_RESTARTS", n),) if n else ())
        if mid == ID_RESULT:
            result = _field(get, "UNIT_RESULT") or ""
            kind = Kind.START_LIMIT_HIT if result == "start-limit-hit" else Kind.UNIT_FAILED
            return Message(kind, unit, text, "systemd", trusted, (("UNIT_RESULT", result),))
        if mid == ID_EXITED:
            command = _field(get, "COMMAND") or ""
            code = _field(get, "EXIT_CODE") or ""
            status = _field(get, "EXIT_STATUS") or ""
            if code == "exited" and status == "0":
                return None
            facts = (("COMMAND", command), ("EXIT_CODE", code), ("EXIT_STATUS", status))
            name = _STATUS_NAME.search(text)
            if name:
                facts += (("EXIT_STATUS_NAME", name.group(1)),)
            kind = Kind.MAIN_EXITED if command == "ExecStart" else Kind.CONTROL_EXITED
            return Message(kind, unit, text, "systemd", trusted, facts)
        if mid == ID_SPAWN:
            facts = (("EXECUTABLE", _field(get, "EXECUTABLE") or ""), ("ERROR", text.rsplit(": ", 1)[-1]))
            return Message(Kind.SPAWN_FAILED, unit, text, "systemd", trusted, facts)
        return Message(Kind.UNIT_SUCCEEDED, unit, text, "systemd", trusted)

    def _pass2(self, failures: Dict[str, array]) -> Iterator[Sightings]:
        """What processes inside a unit printed just before its process failed
        (`modprobe: FATAL: ...`): one pass per failing unit, from its first failure."""
        for unit in sorted(failures):
            times = sorted(failures[unit])
            last = times[-1]
            cache: Dict[tuple, Message] = {}

            def handle(get, t_us: int, times=times, last=last, unit=unit, cache=cache):
                t = t_us / 1e6
                if t > last:
                    return _STOP
                i = bisect_left(times, t)
                if i == len(times) or times[i] - t > PROGRAM_LINE_LEAD:
                    return None
                try:
                    text = get("MESSAGE")
                except KeyError:
                    return None
                ident = _field(get, "SYSLOG_IDENTIFIER") or _field(get, "_COMM") or "?"
                key = (text, ident)
                m = cache.get(key)
                if m is None:
                    m = program_line(text.decode("utf-8", "replace"), ident, unit, True)
                    if len(cache) < 1000:
                        cache[key] = m
                self._counts["program_lines"] += 1
                return m, _pid(get)

            yield from self._pass([b"_SYSTEMD_UNIT=" + unit.encode()], handle, after=times[0] - PROGRAM_LINE_LEAD)

    def stats(self) -> SourceStats:
        warnings = tuple(self._warnings)
        if self._counts["damaged"]:
            warnings += ("%s: %d damaged entries skipped (a field missing or unreadable)"
                         % (self.path, self._counts["damaged"]),)
        return SourceStats(kind=self.kind, path=self.path, counts=tuple(self._counts.items()),
                           warnings=warnings)


_NOTHING = object()  # a cached "this line is not evidence"
_STOP = object()  # a handler's "nothing more to read in this pass"
_FAIL_KINDS = (Kind.CONTROL_EXITED, Kind.MAIN_EXITED, Kind.SPAWN_FAILED)


def _with_fact(m: Message, key: str, value: str) -> Message:
    return Message(m.kind, m.unit, m.text, m.program, m.trusted, m.facts + ((key, value),))


def _with_kind(m: Message, kind: Kind) -> Message:
    return Message(kind, m.unit, m.text, m.program, m.trusted, m.facts)


def _raw_reader():
    """systemd-python's C reader: its methods skip the Python converters."""
    from systemd import journal

    return journal._Reader


JOURNAL_MAGIC = b"LPKSHHRH"
_HEADER_SIZE = 240  # enough for every field read here (n_entries at 152)


def _read_header(path: str) -> Tuple[bytes, Optional[str]]:
    """The start of a journal file, and why it is not one (None when it is).  O_NONBLOCK: a
    FIFO named *.journal must not hang the scan."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        return b"", "cannot be read (%s)" % (e.strerror or e)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return b"", "not a regular file"
        header = os.pread(fd, _HEADER_SIZE, 0)
        if len(header) < _HEADER_SIZE:
            header = header[:104]  # too short for n_entries: no count to check against
    except OSError as e:
        return b"", "cannot be read (%s)" % (e.strerror or e)
    finally:
        os.close(fd)
    if not header:
        return header, "empty, not a journal file"
    if header[:8] != JOURNAL_MAGIC:
        return header, "not a journal file (no journal signature)"
    if len(header) >= 104:  # room for the size the header claims: the probe says it was cut short
        header += struct.pack("<Q", st.st_size)
    return header, None


def _truncation(header: bytes) -> str:
    """", truncated to N of M bytes" when the file is shorter than its header says."""
    if len(header) != _HEADER_SIZE + 8:
        return ""
    header_size, arena_size = struct.unpack_from("<QQ", header, 88)
    size = struct.unpack_from("<Q", header, _HEADER_SIZE)[0]
    if size >= header_size + arena_size:
        return ""
    return ", truncated to %d of %d bytes" % (size, header_size + arena_size)


def _header_entries(header: bytes) -> Optional[int]:
    """n_entries of a journal file's header."""
    if len(header) < 160:
        return None
    return struct.unpack_from("<Q", header, 152)[0]


def _count_entries(path: str) -> Tuple[int, Optional[str]]:
    """How many entries sd_journal reads from this file alone, walked in order (no field is
    read: about 0.6 us an entry), and why it could not be opened."""
    from systemd import journal

    try:
        r = journal.Reader(files=[path])
    except OSError as e:
        return 0, e.strerror or str(e)
    n = 0
    try:
        r.seek_head()
        nxt = r._next
        while True:
            try:
                if not nxt():
                    break
            except OSError:
                break  # damage sd_journal does not step over: what was read is counted
            n += 1
    finally:
        r.close()
    return n, None


def _system_journal_readable() -> bool:
    """Can this user read the system journal (persistent or volatile) of this machine?"""
    try:
        with open("/etc/machine-id") as f:
            machine = f.read().strip()
    except OSError:
        return False
    return any(os.access(os.path.join(base, machine, "system.journal"), os.R_OK)
               for base in ("/var/log/journal", "/run/log/journal"))
