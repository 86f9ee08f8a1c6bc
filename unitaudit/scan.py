"""The scan: sources -> events -> evidence -> detectors -> findings.

No printing and no exit codes here: the CLI words the result."""
from dataclasses import dataclass, replace
from typing import List, Mapping, Optional, Sequence, Tuple

from unitaudit.detectors import Thresholds, run_all
from unitaudit.detectors.common import finding_id
from unitaudit.evidence import EvidenceBuilder
from unitaudit.model import Finding, UnitState
from unitaudit.sources.stats import SourceStats


@dataclass(frozen=True)
class ScanResult:
    findings: Tuple[Finding, ...]
    sources: Tuple[SourceStats, ...]
    thresholds: Thresholds
    now: float
    since: Optional[float]
    until: Optional[float]
    evidence_start: Optional[float]
    evidence_end: Optional[float]

    @property
    def warnings(self) -> List[str]:
        return [w for s in self.sources for w in s.warnings]


def scan(sources: Sequence, thresholds: Thresholds, now: float, units: Optional[Mapping[str, UnitState]] = None,
         since: Optional[float] = None, until: Optional[float] = None) -> ScanResult:
    builder = EvidenceBuilder()
    for source in sources:
        builder.add_all(source.events())
    findings: List[Finding] = []
    starts, ends = [], []
    for host, evidence in builder.build_by_host().items():
        for f in run_all(evidence, units or {}, now, thresholds):
            findings.append(replace(f, host=host, id=finding_id(f.kind.value, f.unit, host)) if host else f)
        starts += [evidence.start] if evidence.start is not None else []
        ends += [evidence.end] if evidence.end is not None else []
    return ScanResult(
        findings=tuple(findings),
        sources=tuple(s.stats() for s in sources),
        thresholds=thresholds,
        now=now,
        since=since,
        until=until,
        evidence_start=min(starts) if starts else None,
        evidence_end=max(ends) if ends else None,
    )
