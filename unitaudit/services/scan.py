"""The scan: sources -> events -> evidence -> detectors -> findings -> diagnosis.

No printing and no exit codes here: the CLI words the result.  On a live scan
the service manager's unit states (D-Bus) join the journal, and each finding's
cause is then checked on the live system (diagnosis); a bus that cannot be
read leaves the journal-only result and a warning, never a failed scan.
"""
from dataclasses import replace
from typing import Callable, List, Mapping, Optional, Sequence

from unitaudit.analysis.churn import estimate
from unitaudit.analysis.detectors import run_all
from unitaudit.analysis.detectors.common import finding_id
from unitaudit.analysis.evidence import EvidenceBuilder
from unitaudit.errors import SourceError
from unitaudit.model import Finding, FindingKind, LiveState, ScanResult, Thresholds, UnitState


def scan(sources: Sequence, thresholds: Thresholds, now: float, units: Optional[Mapping[str, UnitState]] = None,
         since: Optional[float] = None, until: Optional[float] = None, live_source=None,
         diagnose: Optional[Callable[[Sequence[Finding], Optional[LiveState]], Sequence[Finding]]] = None,
         kernel=None, keep: Optional[Callable[[Finding], bool]] = None) -> ScanResult:
    """`live_source` has `read() -> LiveState` (sources.dbus.DBusSource); `diagnose` enriches the
    findings from the live system (diagnosis.diagnose_all bound to a probe); `kernel`
    (sources.kernel.KernelSource) measures churn live, else churn comes from the tables.
    `keep` drops findings before they are diagnosed: an incremental run keeps only the loops seen
    in its new entries (incremental.py)."""
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
    for source in sources:
        builder.add_all(source.events())
    findings: List[Finding] = []
    starts, ends = [], []
    by_host = builder.build_by_host()
    if not by_host and units:
        by_host = {"": EvidenceBuilder().build()}  # no journal evidence: live state alone can still show a loop
    for host, evidence in by_host.items():
        for f in run_all(evidence, units or {}, now, thresholds):
            findings.append(replace(f, host=host, id=finding_id(f.kind.value, f.unit, host)) if host else f)
        starts += [evidence.start] if evidence.start is not None else []
        ends += [evidence.end] if evidence.end is not None else []
    if keep is not None:
        findings = [f for f in findings if keep(f)]
    if diagnose is not None and findings:
        findings = list(diagnose(findings, live))
    facts = kernel.facts() if kernel is not None else None
    findings = [replace(f, churn=estimate(f, facts, unit_nodes(kernel, f))) for f in findings]
    return ScanResult(
        findings=tuple(findings),
        sources=tuple(s.stats() for s in sources),
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
    from unitaudit.sources.kernel import KernelSource

    return ScanResult(findings=(), sources=(), thresholds=Thresholds(), now=0.0, since=None, until=None,
                      evidence_start=None, evidence_end=None, kernel=KernelSource(root).facts(), notes=(note,))
