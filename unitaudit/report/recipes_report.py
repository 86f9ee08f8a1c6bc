"""What `unitaudit recipes` prints: each recipe found, where it came from and what it fixes."""
from typing import IO, Sequence

from unitaudit.model import CauseKind, FindingKind, Recipe
from unitaudit.report import json_out
from unitaudit.report.safe_text import safe

SCHEMA = "unitaudit.recipes/1"


def recipe_to_dict(r: Recipe) -> dict:
    return {"id": r.id, "title": r.title, "source": r.source, "priority": r.priority,
            "findings": [FindingKind(k).value for k in r.applies.findings],
            "cause": CauseKind(r.applies.cause).value if r.applies.cause else None,
            "verdicts": list(r.applies.verdicts), "actions": [s.action.value for s in r.steps],
            "verify": r.verify.check.value}


def write_json(recipes: Sequence[Recipe], out: IO[str]) -> None:
    json_out.write({"schema": SCHEMA, "recipes": [recipe_to_dict(r) for r in recipes]}, out)


def write_text(recipes: Sequence[Recipe], out: IO[str]) -> None:
    for r in recipes:
        d = recipe_to_dict(r)
        out.write("%s  (%s)\n    %s\n    for %s%s%s; steps: %s; verify: %s\n" % (
            safe(r.id), safe(r.source), safe(r.title), "/".join(d["findings"]),
            " caused by " + d["cause"] if d["cause"] else "",
            " when " + safe("/".join(r.applies.verdicts)) if r.applies.verdicts else "",
            ", ".join(d["actions"]), d["verify"]))
