"""The scan: sources -> events -> evidence -> detectors -> findings -> diagnosis.

No printing and no exit codes here: the CLI words the result.  On a live scan
the service manager's unit states (D-Bus) join the journal, and each finding's
cause is then checked on the live system (diagnosis); a bus that cannot be
read leaves the journal-only result and a warning, never a failed scan.

A command asks for a scan with a ScanRequest (its evidence options as given); `run_scan` reads
the window, the thresholds and the sources from it.  The live parts (services/live.py) are
passed in: only a live scan imports them, and with them dbus-next.
"""
import time
from dataclasses import dataclass, replace
from typing import Callable, Dict, Iterable, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple

from unitaudit.analysis.churn import estimate
from unitaudit.analysis.detectors import run_all
from unitaudit.analysis.detectors.finding_parts import finding_id
from unitaudit.analysis.evidence import Evidence, EvidenceBuilder
from unitaudit.errors import SourceError, UsageError
from unitaudit.model import Finding, FindingKind, LiveState, Progress, ScanResult, Thresholds, UnitState
from unitaudit.sources.kernel import KernelSource
from unitaudit.sources.probe import SystemProbe
from unitaudit.util.times import parse_time


@dataclass(frozen=True)
class ScanRequest:
    """The evidence options of `scan` (and of `fix` and `churn`), as the user gave them."""

    journal_dir: Optional[str] = None
    journal_files: Tuple[str, ...] = ()
    syslogs: Tuple[str, ...] = ()
    since: Optional[str] = None  # --since as typed (-2h, 7d, a date): read by `window`
    until: Optional[str] = None
    boot: bool = False
    thresholds: Tuple[str, ...] = ()  # --threshold NAME=VALUE, over the configuration's
    bus_address: Optional[str] = None
    root: str = "/"  # the scanned machine's root file system, for the diagnosis
    bundle: Optional[str] = None  # a bundle or sos report (services/bundle.py), alone

    @property
    def is_live(self) -> bool:
        """This machine (no evidence named), or one whose bus was given: unit states and the
        diagnosis join the evidence."""
        if self.bundle:
            return False
        return bool(self.bus_address) or not (self.journal_dir or self.journal_files or self.syslogs)

    def fix_arguments(self) -> Optional[List[str]]:
        """The options of `unitaudit fix` that read the same evidence as this request, for the
        command a report shows; None when fix has no option for some of it (--journal-file,
        --until, --boot)."""
        if self.journal_files or self.until or self.boot:
            return None
        out: List[str] = []
        for option, value in (("--bundle", self.bundle), ("--journal-dir", self.journal_dir), ("--since", self.since),
                              ("--bus-address", self.bus_address), ("--root", None if self.root == "/" else self.root)):
            if value:
                out += [option, value]
        for path in self.syslogs:
            out += ["--syslog", path]
        return out

    def fix_machine_id(self) -> Optional[str]:
        """The machine a fix of these findings would act on (/etc/machine-id under --root), whose
        loops alone it fixes; None for a bundle (its plan is for the machine it came from)."""
        if self.bundle:
            return None
        return SystemProbe(self.root).machine_id()

    def check_bundle(self) -> None:
        """A bundle is the whole evidence of its machine, read at the time it was made: no other
        evidence, window or machine beside it."""
        given = [name for name, value in (("--journal-dir", self.journal_dir), ("--journal-file", self.journal_files),
                                          ("--syslog", self.syslogs), ("--since", self.since), ("--until", self.until),
                                          ("--boot", self.boot), ("--bus-address", self.bus_address),
                                          ("--root", self.root != "/")) if value]
        if self.bundle and given:
            raise UsageError("--bundle is the whole evidence of its machine, read at the time it was made: "
                             "not with %s" % ", ".join(given))


class Window(NamedTuple):
    """When the scan runs and the evidence window it reads (seconds since the epoch)."""

    now: float
    since: Optional[float]
    until: Optional[float]

    @property
    def end(self) -> float:
        """The time the detectors judge rates at: the window's end, or now."""
        return self.until if self.until is not None else self.now


def window(since: Optional[str], until: Optional[str], now: Optional[float] = None) -> Window:
    """--since and --until read against `now` (the clock when None); a UsageError for a value that
    is no time, or a window that ends before it starts."""
    now = time.time() if now is None else now
    t_since = parse_time(since, now, "--since") if since else None
    t_until = parse_time(until, now, "--until") if until else None
    if t_since is not None and t_until is not None and t_since > t_until:
        raise UsageError("--since is after --until")
    return Window(now, t_since, t_until)


def thresholds(request: ScanRequest, base: Thresholds) -> Thresholds:
    """The detector thresholds: `base` (the configuration's) with the request's overrides."""
    return Thresholds.parse(list(request.thresholds), base=base)


def evidence_sources(request: ScanRequest, span: Window, progress: Optional[Progress] = None) -> list:
    """The sources the request names, read over `span`; this machine's journal when it names none.
    `progress`: a display each source tells how far it has read."""
    if request.boot and request.syslogs and not (request.journal_dir or request.journal_files):
        raise UsageError("--boot needs a journal: text logs do not record boots")
    since, until, boot = span.since, span.until, request.boot
    if request.syslogs:
        from unitaudit.sources.textlog import TextLogSource  # start-up: 10 ms a journal's scan never needs
    if request.journal_dir or request.journal_files or not request.syslogs:
        from unitaudit.sources.journal import JournalSource  # start-up: 23 ms (systemd-python) a text log's
    sources: list = []
    if request.journal_dir:
        sources.append(JournalSource(directory=request.journal_dir, since=since, until=until, boot=boot,
                                     progress=progress))
    if request.journal_files:
        sources.append(JournalSource(files=list(request.journal_files), since=since, until=until, boot=boot,
                                     progress=progress))
    sources.extend(TextLogSource(p, since=since, until=until, progress=progress) for p in request.syslogs)
    if not sources:
        sources.append(JournalSource(since=since, until=until, boot=boot, progress=progress))
    return sources


def run_scan(request: ScanRequest, base: Thresholds, live=None, progress: Optional[Progress] = None) -> ScanResult:
    """The scan the request asks for.  `live`: services.parts.LiveParts for a live scan
    (request.is_live), else None.  `progress`: a display the sources tell how far they have read."""
    span = window(request.since, request.until)
    chosen = thresholds(request, base)
    sources = evidence_sources(request, span, progress)
    return scan(sources, chosen, now=span.end, since=span.since, until=span.until,
                **(live._asdict() if live is not None else {}))


def scan(sources: Sequence, thresholds: Thresholds, now: float, units: Optional[Mapping[str, UnitState]] = None,
         since: Optional[float] = None, until: Optional[float] = None, live_source=None,
         diagnose: Optional[Callable[[Sequence[Finding], Optional[LiveState]], Sequence[Finding]]] = None,
         kernel=None, keep: Optional[Callable[[Finding], bool]] = None) -> ScanResult:
    """`live_source` has `read() -> LiveState` (sources.dbus.DBusSource); `diagnose` enriches the
    findings from the live system (diagnosis.diagnose_all bound to a probe); `kernel`
    (sources.kernel.KernelSource) measures churn live, else churn comes from the tables.
    `keep` drops findings before they are diagnosed: an incremental run keeps only the loops seen
    in its new entries (hourly/incremental.py)."""
    notes: List[str] = []
    live: Optional[LiveState] = None
    if live_source is not None:
        try:
            live = live_source.read()
        except SourceError as e:
            notes.append("%s; unit states not read, journal only" % e)
    if live is not None and units is None:
        units = live.by_name()
    builder = EvidenceBuilder()
    pasted: List[Tuple[Tuple[UnitState, ...], Set[str]]] = []
    for source in sources:
        if getattr(source, "kind", None) == "syslog":  # a text log: it may carry pasted `systemctl status` blocks
            hosts: Set[str] = set()
            builder.add_all(_noting_hosts(source.events(), hosts))
            pasted.append((source.unit_states(), hosts))
        else:
            builder.add_all(source.events())
    findings: List[Finding] = []
    starts, ends = [], []
    by_host = builder.build_by_host()
    pasted_units = _pasted_units(pasted, by_host)
    for host in pasted_units:
        if host not in by_host:
            by_host[host] = EvidenceBuilder().build()  # a paste alone can still show a loop
    if not by_host and units:
        by_host = {"": EvidenceBuilder().build()}  # no journal evidence: live state alone can still show a loop
    for host, evidence in sorted(by_host.items()):
        for f in run_all(evidence, _units_of(host, pasted_units, units), now, thresholds):
            findings.append(replace(f, host=host, id=finding_id(f.kind.value, f.unit, host)) if host else f)
        starts += [evidence.start] if evidence.start is not None else []
        ends += [evidence.end] if evidence.end is not None else []
    if keep is not None:
        findings = [f for f in findings if keep(f)]
    if diagnose is not None and findings:
        findings = list(diagnose(findings, live))
    facts = kernel.facts() if kernel is not None else None
    findings = [replace(f, churn=estimate(f, facts, unit_nodes(kernel, f))) for f in findings]
    stats = tuple(s.stats() for s in sources)
    return ScanResult(
        findings=_with_machine_ids(findings, stats), sources=stats,
        thresholds=thresholds,
        now=now,
        since=since,
        until=until,
        evidence_start=min(starts) if starts else None,
        evidence_end=max(ends) if ends else None,
        live=live,
        kernel=facts,
        notes=tuple(notes),
    )


def _with_machine_ids(findings: List[Finding], stats) -> Tuple[Finding, ...]:
    """Each finding with the machine id journald stamped on its host's entries (a fix acts only on
    its own machine's loops)."""
    machine_ids = {host: machine for s in stats for host, machine in s.machines}
    return tuple(replace(f, machine_id=machine_ids.get(f.host)) if machine_ids else f for f in findings)


def _noting_hosts(items: Iterable, hosts: Set[str]) -> Iterator:
    """`items` as they come, each one's host noted in `hosts` (one a block of sightings)."""
    for item in items:
        hosts.add(getattr(item, "host", ""))
        yield item


def _pasted_units(pasted: Sequence[Tuple[Tuple[UnitState, ...], Set[str]]],
                  by_host: Mapping[str, Evidence]) -> Dict[str, Dict[str, UnitState]]:
    """The units pasted `systemctl status` blocks show, by the host whose evidence they join: of the
    hosts the same file's lines name, the first whose evidence names the unit, else the file's only
    host, else none ("": a machine the evidence does not name).  One host each: a paste is one
    machine's state, and a unit shown once must not make a loop on every machine of a file."""
    out: Dict[str, Dict[str, UnitState]] = {}
    for states, hosts in pasted:
        named = sorted(h for h in hosts if h)
        for u in states:
            mention = [h for h in named if h in by_host and any(unit == u.name for unit, _k in by_host[h].series)]
            host = mention[0] if mention else (named[0] if len(named) == 1 else "")
            out.setdefault(host, {})[u.name] = u
    return out


def _units_of(host: str, pasted_units: Mapping[str, Mapping[str, UnitState]],
              units: Optional[Mapping[str, UnitState]]) -> Mapping[str, UnitState]:
    """The unit states the detectors see for `host`: what its pastes show, under the live ones
    (PID 1 over D-Bus says more, and is trusted)."""
    pasted = pasted_units.get(host)
    if not pasted:
        return units or {}
    merged = dict(pasted)
    merged.update(units or {})
    return merged


_UNIT_LOOPS = (FindingKind.RESTART_LOOP, FindingKind.REPEATED_FAILURE, FindingKind.START_LIMIT_HIT, FindingKind.FAILURE)


def unit_nodes(kernel, finding: Finding):
    """The looping unit's cgroup nodes counted live; None offline, for activation loops, or when
    nothing can be counted."""
    if kernel is None or finding.kind not in _UNIT_LOOPS:
        return None
    try:
        return kernel.unit_nodes(finding.unit)
    except (ValueError, OSError):
        return None


def kernel_only(root: str, note: str) -> ScanResult:
    """No evidence could be read (no journal on this machine): the kernel's figures alone."""
    return ScanResult(findings=(), sources=(), thresholds=Thresholds(), now=0.0, since=None, until=None,
                      evidence_start=None, evidence_end=None, kernel=KernelSource(root).facts(), notes=(note,))
