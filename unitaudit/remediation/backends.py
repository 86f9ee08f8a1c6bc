"""Backends perform a plan's operations.  The recording backend performs none: `fix --dry-run`
runs the very plan a real fix would run through it, and shows what it recorded.

`expand` fills each planned step with its operations (reading, never writing, the files they
would change); `execute` walks the plan in order through whichever backend it is given.
"""
from dataclasses import replace
from typing import List

from unitaudit.remediation.actions import OPERATIONS
from unitaudit.model import Operation, Plan, Refusal
from unitaudit.sources.probe import SystemProbe
from unitaudit.errors import ProbeUnavailable


class RecordingBackend:
    """Changes nothing; remembers every operation it was asked to perform, in order."""

    def __init__(self) -> None:
        self.performed: List[Operation] = []

    def perform(self, op: Operation) -> None:
        self.performed.append(op)


def expand(plan: Plan, probe: SystemProbe) -> Plan:
    """The plan with each step's operations.  A finding whose step cannot be worked out (no
    logrotate stanza for a directory, ...) loses all its steps and gets a refusal saying why."""
    failed = {}
    ops = {}
    for i, step in enumerate(plan.steps):
        if step.finding_id in failed:
            continue
        try:
            ops[i] = tuple(OPERATIONS[step.action](step, probe))
        except (ValueError, OSError, ProbeUnavailable) as e:
            failed[step.finding_id] = "%s %s: %s" % (step.action.value, " ".join(v for _k, v in step.values), e)
    steps = tuple(replace(s, operations=ops[i]) for i, s in enumerate(plan.steps) if s.finding_id not in failed)
    units = {s.finding_id: dict(s.values).get("unit", "") for s in plan.steps}
    refusals = plan.refusals + tuple(Refusal(fid, units.get(fid, ""), "cannot plan: " + why) for fid, why in failed.items())
    verifications = tuple((fid, v) for fid, v in plan.verifications if fid not in failed)
    return replace(plan, steps=steps, refusals=refusals, verifications=verifications)


def execute(plan: Plan, backend) -> None:
    """Every operation of every main step, in plan order (fallbacks run only after a failed
    verification, which needs a real system: never on a dry run)."""
    for step in plan.steps:
        if not step.fallback:
            for op in step.operations:
                backend.perform(op)
