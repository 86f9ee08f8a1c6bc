"""Where a plan's operations are performed: the one loop that hands them to a backend, and the
order a real fix follows around it.

  Backend           what performs one operation
  RecordingBackend  performs nothing, remembers each operation: `fix --dry-run` shows them
  SystemBackend     changes the system, recording each change first (system_backend.py)

`perform` is the loop, for both.  `dry_run` sends a plan's main steps through it to the recording
backend; `apply` sends each finding's steps to the real one, verifies the loop stopped, and falls
back when it did not.  The plan is the very one `fix --dry-run` shows: only the backend differs.
"""
import errno
import time
from typing import Callable, Dict, Iterable, List, Sequence, Tuple

from unitaudit.errors import UnitauditError
from unitaudit.model import Finding, FixStatus, Operation, Outcome, Plan, PlannedStep, Verify

# (how to verify, the finding, when the steps finished) -> (fixed, what was seen)
Verifier = Callable[[Verify, Finding, float], Tuple[bool, str]]


class Backend:
    """Performs one operation at a time, in the order given, and keeps what it performed."""

    def __init__(self) -> None:
        self.performed: List[Operation] = []

    def perform(self, op: Operation) -> None:
        raise NotImplementedError


class RecordingBackend(Backend):
    """Changes nothing; remembers every operation it was asked to perform, in order."""

    def perform(self, op: Operation) -> None:
        self.performed.append(op)


def perform(steps: Iterable[PlannedStep], backend: Backend) -> None:
    """Every operation of every step, in order; the first that fails stops the rest."""
    for step in steps:
        for op in step.operations:
            backend.perform(op)


def dry_run(plan: Plan) -> RecordingBackend:
    """What a real run would perform first: every operation of every main step, in plan order.
    Fallbacks run only after a failed verification, which needs a real system: never here."""
    recording = RecordingBackend()
    perform((s for s in plan.steps if not s.fallback), recording)
    return recording


def apply(plan: Plan, findings: Sequence[Finding], backend: Backend, verifier: Verifier) -> List[Outcome]:
    """Each finding's main steps, its verification, and its fallback when that failed."""
    by_id: Dict[str, Finding] = {f.id: f for f in findings}
    checks: Dict[str, List[Verify]] = {}
    for fid, v in plan.verifications:
        if v not in checks.setdefault(fid, []):
            checks[fid].append(v)
    return [_apply_one(by_id[fid], steps, checks.get(fid, []), backend, verifier)
            for fid, steps in plan.by_finding().items()]


def _apply_one(finding: Finding, steps: Sequence[PlannedStep], checks: Sequence[Verify], backend: Backend,
               verifier: Verifier) -> Outcome:
    try:
        perform((s for s in steps if not s.fallback), backend)
    except (UnitauditError, OSError) as e:
        return Outcome(finding.id, finding.unit, FixStatus.FAILED, _why(e))
    fixed, seen = _verified(checks, finding, verifier)
    fallback = [s for s in steps if s.fallback]
    if fixed or not fallback:
        return Outcome(finding.id, finding.unit, FixStatus.FIXED if fixed else FixStatus.NOT_FIXED, seen)
    try:
        perform(fallback, backend)
        fixed, seen = _verified(checks, finding, verifier)
    except (UnitauditError, OSError) as e:
        seen += "; fallback failed: %s" % _why(e)
    return Outcome(finding.id, finding.unit, FixStatus.FIXED if fixed else FixStatus.NOT_FIXED, seen, True)


def _verified(checks: Sequence[Verify], finding: Finding, verifier: Verifier) -> Tuple[bool, str]:
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
