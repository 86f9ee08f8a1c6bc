"""The outcome of a real fix run, for people and for programs."""
from typing import IO

from unitaudit.report import json_out
from unitaudit.report.safe_text import safe

SCHEMA = "unitaudit.fix/1"


def write_text(outcome, out: IO[str]) -> None:
    out.write("fix run %d (state in %s; `unitaudit undo %d` reverts it)\n" % (outcome.run, safe(outcome.state_dir), outcome.run))
    for o in outcome.outcomes:
        out.write("  %-9s %s: %s%s\n" % (o.status.value, safe(o.unit), safe(o.detail),
                                        " (after the fallback)" if o.fallback_used else ""))
    if not outcome.outcomes:
        out.write("  nothing was applied\n")


def write_json(outcome, out: IO[str]) -> None:
    json_out.write({"schema": SCHEMA, "run": outcome.run, "state_dir": outcome.state_dir, "all_fixed": outcome.all_fixed,
                    "outcomes": [o.__dict__ for o in outcome.outcomes]}, out)
