"""What `unitaudit watch` prints: a line per loop (the service's journal gets this, not the
table), or the scan's JSON document with the auto-applied fixes; on stderr, the recipes the
round was allowed to apply and did not."""
from typing import IO

from unitaudit.model import ReadFrom
from unitaudit.report import fix_report, json_out, json_report
from unitaudit.report.safe_text import safe
from unitaudit.report.text_layout import fold, width_of


def write_text(outcome, out: IO[str]) -> None:
    """Folded between words at 80 columns (the journal's width when the timer runs it)."""
    i, result = outcome.incremental, outcome.result
    width = width_of(out)
    out.write("read %d journal entries (%s); %d loop(s)\n" % (i.entries, ReadFrom(i.read_from).value, len(result.findings)))
    lines = ["%s %s: %s" % (f.kind.value, safe(f.unit), safe(f.cause.summary if f.cause else f.summary))
             for f in result.findings] + ["warning: %s" % safe(w) for w in result.warnings]
    for line in lines:
        out.writelines(folded + "\n" for folded in fold(line, width, "  ", "    "))
    if outcome.fixes is not None:
        fix_report.write_text(outcome.fixes, out)


def write_json(outcome, out: IO[str]) -> None:
    doc = json_report.to_document(outcome.result, outcome.incremental)
    doc["auto_applied"] = None if outcome.fixes is None else [fix_report.outcome_to_dict(o)
                                                              for o in outcome.fixes.outcomes]
    json_out.write(doc, out)


def write_refusals(outcome, err: IO[str]) -> None:
    for line in outcome.refusals:
        err.write("auto-apply refused: %s\n" % safe(line))
