"""Detectors: pure functions (evidence, live unit states, now, thresholds) -> findings.

Loop detectors run first; `failure` then reports units that failed with a
known cause but did not loop.  No detector reads a file, a clock or the bus.
"""
from typing import List, Mapping

from unitaudit.analysis.detectors import activation_loop, failure, repeated_failure, restart_loop, start_limit
from unitaudit.analysis.evidence import Evidence
from unitaudit.model import Finding, FindingKind, Thresholds, UnitState

# The order findings are reported in: loops first, the worst kind first.
_ORDER = {k: i for i, k in enumerate((FindingKind.RESTART_LOOP, FindingKind.ACTIVATION_LOOP,
                                      FindingKind.REPEATED_FAILURE, FindingKind.START_LIMIT_HIT, FindingKind.FAILURE))}


def run_all(evidence: Evidence, units: Mapping[str, UnitState], now: float, th: Thresholds) -> List[Finding]:
    findings: List[Finding] = []
    for detector in (restart_loop, activation_loop, repeated_failure, start_limit):
        findings.extend(detector.detect(evidence, units, now, th))
    looping = {f.unit for f in findings}
    findings.extend(failure.detect(evidence, units, now, th, looping=looping))
    findings.sort(key=lambda f: (_ORDER[f.kind], -(f.rate_per_hour or 0), -f.count, f.unit))
    return findings
