"""The outcome of a real fix run, for people and for programs."""
from typing import IO

from unitaudit.report import json_out
from unitaudit.report.safe_text import safe

SCHEMA = "unitaudit.fix/1"


def outcome_to_dict(o) -> dict:
    """One finding's outcome (model.Outcome) as the fix document, the round's `auto_applied` and the
    state database's run record spell it."""
    return {"finding_id": o.finding_id, "unit": o.unit, "status": o.status.value, "detail": o.detail,
            "fallback_used": o.fallback_used}


def write_text(outcome, out: IO[str]) -> None:
    out.write("fix run %d (state in %s; `unitaudit undo %d` reverts it)\n" % (outcome.run, safe(outcome.state_dir), outcome.run))
    for o in outcome.outcomes:
        out.write("  %-9s %s: %s%s\n" % (o.status.value, safe(o.unit), safe(o.detail),
                                        " (after the fallback)" if o.fallback_used else ""))
    if not outcome.outcomes:
        out.write("  nothing was applied\n")


def write_json(outcome, out: IO[str]) -> None:
    json_out.write({"schema": SCHEMA, "run": outcome.run, "state_dir": outcome.state_dir, "all_fixed": outcome.all_fixed,
                    "outcomes": [outcome_to_dict(o) for o in outcome.outcomes]}, out)
