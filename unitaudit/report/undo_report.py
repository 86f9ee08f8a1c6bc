"""What `unitaudit undo` prints: what the undo of a fix run put back, what it could not, and
whether systemd re-read the unit files; for people and for programs (`--json`)."""
from typing import IO, List

from unitaudit.report import json_out
from unitaudit.report.safe_text import safe

SCHEMA = "unitaudit.undo/1"


def errors(outcome) -> List[str]:
    """What could not be put back, then a daemon-reload that failed: each makes the undo partial."""
    out = list(outcome.report.errors)
    if not outcome.reloaded:
        out.append("daemon-reload failed (%s): run systemctl daemon-reload" % outcome.reload_error)
    return out


def to_document(outcome) -> dict:
    """`outcome`: a services.fix.UndoOutcome."""
    r = outcome.report
    return {"schema": SCHEMA, "run": outcome.run, "restored": list(r.restored), "removed": list(r.removed),
            "moved_back": list(r.moved_back), "links_restored": list(r.links_restored),
            "cannot_undo": list(r.cannot_undo), "errors": errors(outcome), "reloaded": outcome.reloaded,
            "complete": outcome.complete}


def write_json(outcome, out: IO[str]) -> None:
    json_out.write(to_document(outcome), out)


def write_text(outcome, out: IO[str]) -> None:
    r = outcome.report
    lines = ["undo of fix run %d:" % outcome.run]
    for word, paths in (("restored", r.restored), ("removed", r.removed), ("moved back", r.moved_back),
                        ("link restored", r.links_restored)):
        lines += ["  %s %s" % (word, p) for p in paths]
    lines += ["  cannot undo: %s" % w for w in r.cannot_undo]
    lines += ["  error: %s" % e for e in errors(outcome)]
    if outcome.reloaded:
        lines.append("  systemd reloaded")
    for line in lines:
        out.write(safe(line) + "\n")
