"""What `unitaudit recipes` prints: each recipe found, where it came from and what it fixes."""
from typing import IO, Sequence

from unitaudit.model import CauseKind, FindingKind, Recipe
from unitaudit.report import json_out
from unitaudit.report.safe_text import safe
from unitaudit.report.text_layout import fold

SCHEMA = "unitaudit.recipes/1"
WIDTH = 80
INDENT = "    "


def recipe_to_dict(r: Recipe) -> dict:
    return {"id": r.id, "title": r.title, "source": r.source, "priority": r.priority,
            "findings": [FindingKind(k).value for k in r.applies.findings],
            "cause": CauseKind(r.applies.cause).value if r.applies.cause else None,
            "verdicts": list(r.applies.verdicts), "actions": [s.action.value for s in r.steps],
            "verify": r.verify.check.value}


def write_json(recipes: Sequence[Recipe], out: IO[str]) -> None:
    json_out.write({"schema": SCHEMA, "recipes": [recipe_to_dict(r) for r in recipes]}, out)


def write_text(recipes: Sequence[Recipe], out: IO[str]) -> None:
    """A block per recipe, wrapped at 80 columns between words (a path stays whole)."""
    for r in recipes:
        d = recipe_to_dict(r)
        applies = "for %s%s%s" % ("/".join(d["findings"]), " caused by " + d["cause"] if d["cause"] else "",
                                  " when " + "/".join(r.applies.verdicts) if r.applies.verdicts else "")
        out.write("%s\n" % safe(r.id))
        for line in (r.title, applies, "steps: %s; verify: %s" % (", ".join(d["actions"]), d["verify"]),
                     "from " + r.source):
            out.write("\n".join(fold(safe(line), WIDTH, INDENT, INDENT * 2)) + "\n")
