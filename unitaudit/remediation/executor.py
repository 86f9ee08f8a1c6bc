"""A real fix run: lock, record the evidence, apply each finding's steps through the backend,
verify the loop stopped, fall back when it did not, record the outcome.

The plan is the very one `fix --dry-run` shows; only the backend differs."""
import errno
import time
from typing import Callable, Dict, List, Sequence, Tuple

from unitaudit.errors import UnitauditError
from unitaudit.model import Finding, FixStatus, Outcome
from unitaudit.model import Plan, PlannedStep, Verify


def _perform(steps: Sequence[PlannedStep], backend) -> None:
    for step in steps:
        for op in step.operations:
            backend.perform(op)


def apply(plan: Plan, findings: Sequence[Finding], backend,
          verifier: Callable[[Verify, Finding, float], Tuple[bool, str]]) -> List[Outcome]:
    by_id: Dict[str, Finding] = {f.id: f for f in findings}
    checks: Dict[str, List[Verify]] = {}
    for fid, v in plan.verifications:
        if v not in checks.setdefault(fid, []):
            checks[fid].append(v)
    outcomes = []
    for fid, steps in plan.by_finding().items():
        finding = by_id[fid]
        main = [s for s in steps if not s.fallback]
        fallback = [s for s in steps if s.fallback]
        try:
            _perform(main, backend)
        except (UnitauditError, OSError) as e:
            outcomes.append(Outcome(fid, finding.unit, FixStatus.FAILED, _why(e)))
            continue
        fixed, seen = _verified(checks.get(fid, []), finding, verifier)
        used = False
        if not fixed and fallback:
            used = True
            try:
                _perform(fallback, backend)
                fixed, seen = _verified(checks.get(fid, []), finding, verifier)
            except (UnitauditError, OSError) as e:
                seen += "; fallback failed: %s" % _why(e)
        outcomes.append(Outcome(fid, finding.unit, FixStatus.FIXED if fixed else FixStatus.NOT_FIXED, seen, used))
    return outcomes


def _verified(checks: Sequence[Verify], finding: Finding, verifier) -> Tuple[bool, str]:
    started = time.time()
    results = [verifier(v, finding, started) for v in checks]
    return all(ok for ok, _ in results), "; ".join(seen for _, seen in results) or "nothing to verify"


def _why(e: Exception) -> str:
    """One line; a read-only file system is the timer's sandbox (unitaudit.service) more often
    than a broken disk, so say how to allow it."""
    if isinstance(e, OSError) and e.errno == errno.EROFS:
        return "%s: read-only file system (under unitaudit.service, allow it with a ReadWritePaths= drop-in: " \
               "see README, \"The hourly timer\")" % (e.filename or "a file")
    if isinstance(e, OSError):
        return "%s: %s" % (e.filename or "I/O error", e.strerror or e)
    return str(e)
