"""What `unitaudit watch` prints: a line per loop (the service's journal gets this, not the
table), or the scan's JSON document with the auto-applied fixes."""
from typing import IO

from unitaudit.report import json_out
from unitaudit.report.safe_text import safe


def write_text(outcome, out: IO[str]) -> None:
    i, result = outcome.incremental, outcome.result
    out.write("read %d journal entries (%s); %d loop(s)\n" % (i.entries, safe(i.read_from), len(result.findings)))
    for f in result.findings:
        out.write("  %s %s: %s\n" % (f.kind.value, safe(f.unit), safe(f.cause.summary if f.cause else f.summary)))
    for w in result.warnings:
        out.write("  warning: %s\n" % safe(w))
    if outcome.fixes is not None:
        from unitaudit.report import fix_report

        fix_report.write_text(outcome.fixes, out)


def write_json(outcome, out: IO[str]) -> None:
    from unitaudit.report import json_report

    doc = json_report.to_document(outcome.result, outcome.incremental)
    doc["auto_applied"] = None if outcome.fixes is None else [o.__dict__ for o in outcome.fixes.outcomes]
    json_out.write(doc, out)
