"""The scan: sources -> events -> evidence -> detectors -> findings.

No printing and no exit codes here: the CLI words the result."""
from dataclasses import dataclass
from typing import List, Mapping, Optional, Sequence, Tuple

from unitaudit.detectors import Thresholds, run_all
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


def scan(sources: Sequence, thresholds: Thresholds, now: float, units: Mapping[str, UnitState] = {},
         since: Optional[float] = None, until: Optional[float] = None) -> ScanResult:
    builder = EvidenceBuilder()
    for source in sources:
        builder.add_all(source.events())
    evidence = builder.build()
    findings = run_all(evidence, units, now, thresholds)
    return ScanResult(
        findings=tuple(findings),
        sources=tuple(s.stats() for s in sources),
        thresholds=thresholds,
        now=now,
        since=since,
        until=until,
        evidence_start=evidence.start,
        evidence_end=evidence.end,
    )
