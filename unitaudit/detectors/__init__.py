"""Detectors: pure functions (evidence, live unit states, now, thresholds) -> findings.

Loop detectors run first; `failure` then reports units that failed with a
known cause but did not loop.  No detector reads a file, a clock or the bus.
"""
import math
from dataclasses import dataclass, fields, replace
from typing import Dict, List, Mapping, Optional

from unitaudit.errors import UsageError
from unitaudit.evidence import Evidence
from unitaudit.model import Finding, UnitState


@dataclass(frozen=True)
class Thresholds:
    restart_burst: int = 5  # automatic restarts within restart_window that make a loop
    restart_window: float = 3600.0  # seconds
    restart_counter: int = 20  # one "restart counter is at N" with N >= this proves a loop
    activation_burst: int = 5  # failed activations of one unit within activation_window
    activation_window: float = 3600.0  # seconds
    repeated_failures: int = 3  # failed runs in a row, no success between

    @classmethod
    def parse(cls, items: List[str], base: Optional["Thresholds"] = None) -> "Thresholds":
        """`NAME=VALUE` pairs from the command line over `base` (the config file's); unknown
        names are usage errors."""
        known = {f.name: f.type for f in fields(cls)}
        values: Dict[str, object] = {}
        for item in items:
            name, sep, raw = item.partition("=")
            name = name.strip().replace("-", "_")
            if not sep or name not in known:
                raise UsageError(
                    "--threshold %r: expected NAME=VALUE with NAME one of %s" % (item, ", ".join(sorted(known)))
                )
            try:
                value = float(raw) if "window" in name else int(raw)
            except ValueError:
                raise UsageError("--threshold %s: %r is not a number" % (name, raw)) from None
            if not math.isfinite(value):  # float() reads nan, inf and 1e400: no window is that long
                raise UsageError("--threshold %s: %r is not a finite number" % (name, raw))
            if value <= 0:
                raise UsageError("--threshold %s: must be positive" % name)
            values[name] = value
        return replace(base, **values) if base is not None else cls(**values)  # type: ignore[arg-type]


def run_all(evidence: Evidence, units: Mapping[str, UnitState], now: float, th: Thresholds) -> List[Finding]:
    from unitaudit.detectors import activation_loop, failure, repeated_failure, restart_loop, start_limit

    findings: List[Finding] = []
    for detector in (restart_loop, activation_loop, repeated_failure, start_limit):
        findings.extend(detector.detect(evidence, units, now, th))
    looping = {f.unit for f in findings}
    findings.extend(failure.detect(evidence, units, now, th, looping=looping))
    order = {k: i for i, k in enumerate(("restart-loop", "activation-loop", "repeated-failure", "start-limit-hit", "failure"))}
    findings.sort(key=lambda f: (order[f.kind.value], -(f.rate_per_hour or 0), -f.count, f.unit))
    return findings
