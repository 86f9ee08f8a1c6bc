"""A fix plan for people (text with unified diffs) and for programs (JSON, unitaudit.plan/1)."""
import difflib
from typing import IO, Dict, List, Sequence

from unitaudit import __version__
from unitaudit.model import Finding, Operation, OperationKind, Plan
from unitaudit.report import json_out
from unitaudit.report.safe_text import safe
from unitaudit.report.text_layout import fold, width_of

SCHEMA = "unitaudit.plan/1"


def diff(op: Operation) -> List[str]:
    before = (op.before or "").splitlines(keepends=True)
    after = (op.content or "").splitlines(keepends=True)
    old = op.path if op.before is not None else "/dev/null"
    return [line if line.endswith("\n") else line + "\n"
            for line in difflib.unified_diff(before, after, fromfile=old, tofile=op.path)]


def describe(op: Operation) -> str:
    kind = OperationKind(op.kind)
    if kind is OperationKind.DBUS:
        return "D-Bus %s(%s)" % (op.argv[0], ", ".join(op.argv[1:]))
    if kind is OperationKind.RUN:
        return "run: %s" % " ".join(op.argv)
    if kind is OperationKind.CHECK:
        return "check first: `%s` must report an error in this file, else it is left in place" % " ".join(op.argv)
    if kind is OperationKind.WRITE:
        return "%s %s" % ("create" if op.before is None else "edit", op.path)
    if kind is OperationKind.MOVE:
        return "move %s -> %s (not deleted; undo moves it back)" % (op.path, op.destination)
    return "%s %s" % (kind.value, op.target)


def write_text(plan: Plan, findings: Sequence[Finding], performed: Sequence[Operation], out: IO[str]) -> None:
    """A block per finding, folded between words at the terminal's width (80 on a pipe); the
    diffs are the files' own lines, indented, never folded."""
    width = width_of(out)

    def say(text: str, indent: str = "", later: str = "") -> None:
        out.writelines(line + "\n" for line in fold(safe(text), width, indent, later or indent + "  "))

    by_id: Dict[str, Finding] = {f.id: f for f in findings}
    verify: Dict[str, List[str]] = {}
    for fid, v in plan.verifications:
        line = "%s over %g s" % (v.check.value, v.seconds)
        if line not in verify.setdefault(fid, []):
            verify[fid].append(line)
    say("unitaudit fix --dry-run: nothing was changed; %d operation(s) would run." % len(performed))
    for fid, steps in plan.by_finding().items():
        f = by_id.get(fid)
        out.write("\n")
        say("%s: %s (finding %s)" % (f.unit if f else "?", f.kind.value if f else "?", fid))
        say("recipe %s" % " + ".join(dict.fromkeys(s.recipe_id for s in steps)), "  ")
        n = 0
        for step in steps:
            if step.fallback:
                continue
            n += 1
            say("%d. %s %s (undo: %s)" % (n, step.action.value, " ".join(v for _k, v in step.values), step.undo.value),
                "  ", "     ")
            for op in step.operations:
                say(describe(op), "     ", "       ")
                if OperationKind(op.kind) is OperationKind.WRITE:  # a line of the file at a time: its newline is the diff's own
                    out.writelines("    " + safe(line[:-1]) + "\n" for line in diff(op))
        if fid in verify:
            say("then verify: %s" % "; ".join(verify[fid]), "  ")
        fallback = [s for s in steps if s.fallback]
        if fallback:
            say("if it is not fixed: %s" % "; ".join(
                "%s %s (undo: %s)" % (s.action.value, " ".join(v for _k, v in s.values), s.undo.value) for s in fallback),
                "  ")
    for r in plan.refusals:
        out.write("\n")
        say("not acted on: %s (finding %s): %s" % (r.unit, r.finding_id, r.reason))
        if r.recommendation:
            say("by hand: %s" % r.recommendation, "  ")
    if not plan.steps and not plan.refusals:
        out.write("\nNothing to fix.\n")


def to_document(plan: Plan, performed: Sequence[Operation], dry_run: bool = True) -> dict:
    return {
        "schema": SCHEMA,
        "tool": {"name": "unitaudit", "version": __version__},
        "dry_run": dry_run,
        "steps": [{
            "finding_id": s.finding_id, "recipe": s.recipe_id, "action": s.action.value, "values": dict(s.values),
            "settings": dict(s.settings), "undo": s.undo.value, "fallback": s.fallback,
            "operations": [_op(op) for op in s.operations],
        } for s in plan.steps],
        "verify": [{"finding_id": fid, "check": v.check.value, "seconds": v.seconds} for fid, v in plan.verifications],
        "refusals": [{"finding_id": r.finding_id, "unit": r.unit, "reason": r.reason, "recommendation": r.recommendation or None}
                     for r in plan.refusals],
        "recorded": [_op(op) for op in performed],
    }


def _op(op: Operation) -> dict:
    kind = OperationKind(op.kind)
    out = {"kind": kind.value, "target": op.target}
    if op.argv:
        out["argv"] = list(op.argv)
    if op.path:
        out["path"] = op.path
    if kind is OperationKind.WRITE:
        out["diff"] = "".join(diff(op))
    if op.destination:
        out["destination"] = op.destination
    return out


def write_json(plan: Plan, performed: Sequence[Operation], out: IO[str]) -> None:
    json_out.write(to_document(plan, performed), out)


def write(plan: Plan, findings: Sequence[Finding], performed: Sequence[Operation], out: IO[str], as_json: bool) -> None:
    """`fix --dry-run` (or a plan with nothing to apply): the plan as text, or as JSON."""
    if as_json:
        write_json(plan, performed, out)
    else:
        write_text(plan, findings, performed, out)
