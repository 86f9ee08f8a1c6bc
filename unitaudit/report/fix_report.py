"""The outcome of a real fix run, for people and for programs."""
import json
from typing import IO

SCHEMA = "unitaudit.fix/1"


def write_text(outcome, out: IO[str]) -> None:
    out.write("fix run %d (state in %s; `unitaudit undo %d` reverts it)\n" % (outcome.run, outcome.state_dir, outcome.run))
    for o in outcome.outcomes:
        out.write("  %-9s %s: %s%s\n" % (o.status, o.unit, o.detail, " (after the fallback)" if o.fallback_used else ""))
    if not outcome.outcomes:
        out.write("  nothing was applied\n")


def write_json(outcome, out: IO[str]) -> None:
    json.dump({"schema": SCHEMA, "run": outcome.run, "state_dir": outcome.state_dir, "all_fixed": outcome.all_fixed,
               "outcomes": [o.__dict__ for o in outcome.outcomes]}, out, indent=2)
    out.write("\n")
