"""The corpus: real excerpts of logs as support cases bring them (tests/fixtures/captured/corpus),
each scanned the way `unitaudit scan --syslog FILE` scans it, against the findings its manifest
expects.  Two figures judge the text reader as a whole:

- recall: of the findings expected in the clear positives (a reader of the excerpt alone is sure
  the loop is there), how many are reported with the same kind and unit.  The cause is counted
  beside it but does not gate;
- false loops: loop findings (restart-loop, activation-loop, repeated-failure) on a negative.

Both figures, and every miss, are printed at the end of every pytest run (conftest.py) so that a
change to the text reader shows what it gained or lost on real text."""
import csv
import os
import time
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

from unitaudit.model import CauseKind, FindingKind, Thresholds
from unitaudit.services.scan import scan
from unitaudit.sources.textlog import TextLogSource

CORPUS = Path(__file__).resolve().parent / "fixtures" / "captured" / "corpus"
MANIFEST = CORPUS / "manifest.tsv"
COLUMNS = ["file", "source_url", "licence", "form", "version", "clear", "expected"]
NOT_EXCERPTS = {"manifest.tsv", "SOURCES.md"}
LOOP_KINDS = {FindingKind.RESTART_LOOP.value, FindingKind.ACTIVATION_LOOP.value, FindingKind.REPEATED_FAILURE.value}
MIN_RECALL = 0.95
MIN_FILES = 150
MIN_NEGATIVES = 40
SCANNED_AFTER = 60.0  # `now`: a minute after the excerpt's newest line, as if scanned when pasted


class Expected(NamedTuple):
    kind: str
    unit: str
    cause: Optional[str]

    def __str__(self) -> str:
        return "%s %s%s" % (self.kind, self.unit, " cause=%s" % self.cause if self.cause else "")


class Row(NamedTuple):
    file: str
    source_url: str
    licence: str
    form: str
    version: str
    clear: bool
    expected: Tuple[Expected, ...]  # () for a negative

    @property
    def negative(self) -> bool:
        return not self.expected


def parse_expected(text: str) -> Tuple[Expected, ...]:
    """`none`, or `KIND UNIT[ cause=CAUSE]` items joined by `;`."""
    if text == "none":
        return ()
    items = []
    for item in text.split(";"):
        words = item.split()
        cause = words[2][len("cause="):] if len(words) > 2 and words[2].startswith("cause=") else None
        if len(words) not in (2, 3) or (len(words) == 3 and cause is None):
            raise ValueError("expected item %r is not KIND UNIT[ cause=CAUSE]" % item)
        items.append(Expected(words[0], words[1], cause))
    return tuple(items)


@lru_cache(maxsize=None)
def manifest() -> Tuple[Row, ...]:
    with open(str(MANIFEST), encoding="utf-8", newline="") as f:
        lines = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert lines[0] == COLUMNS, "manifest header: %r" % (lines[0],)
    odd = [r[0] for r in lines[1:] if len(r) != len(COLUMNS) or r[5] not in ("yes", "no")]
    assert not odd, "rows without 7 columns or clear yes/no: %s" % odd
    return tuple(Row(r[0], r[1], r[2], r[3], r[4], r[5] == "yes", parse_expected(r[6])) for r in lines[1:])


def same_unit(a: str, b: str) -> bool:
    """Unit names as systemd reads them: a name with no type suffix is a service."""
    return (a if "." in a else a + ".service") == (b if "." in b else b + ".service")


class Scanned(NamedTuple):
    row: Row
    found: Tuple[Expected, ...]  # every finding, in the manifest's notation


def scan_excerpt(path: Path) -> Tuple[Expected, ...]:
    """`unitaudit scan --syslog FILE` with the default thresholds, `now` just after the newest line
    (the first pass only finds that line; a source reads its file once)."""
    first = scan([TextLogSource(str(path))], Thresholds(), now=time.time())
    end = first.evidence_end
    if end is None:
        result = first
    else:
        result = scan([TextLogSource(str(path))], Thresholds(), now=end + SCANNED_AFTER)
    return tuple(Expected(f.kind.value, f.unit, f.cause.kind.value if f.cause else None) for f in result.findings)


class Figures(NamedTuple):
    expected: int  # findings expected in the clear positives
    found: int  # of those, reported with the same kind and unit
    causes_expected: int
    causes_found: int
    negatives: int
    false_loops: Tuple[Tuple[str, Expected], ...]  # (file, loop finding) on a negative
    misses: Tuple[Tuple[str, Expected, Tuple[Expected, ...]], ...]  # (file, expected, got)
    cause_misses: Tuple[Tuple[str, Expected, Tuple[Expected, ...]], ...]

    @property
    def recall(self) -> float:
        return self.found / self.expected if self.expected else 1.0


def is_found(want: Expected, got: Tuple[Expected, ...]) -> Optional[Expected]:
    return next((g for g in got if g.kind == want.kind and same_unit(g.unit, want.unit)), None)


def judge(scanned: List[Scanned]) -> Figures:
    expected = found = causes_expected = causes_found = negatives = 0
    false_loops, misses, cause_misses = [], [], []
    for s in scanned:
        if s.row.negative:
            negatives += 1
            false_loops += [(s.row.file, g) for g in s.found if g.kind in LOOP_KINDS]
            continue
        if not s.row.clear:
            continue
        for want in s.row.expected:
            expected += 1
            hit = is_found(want, s.found)
            found += hit is not None
            if hit is None:
                misses.append((s.row.file, want, s.found))
            if want.cause:
                causes_expected += 1
                causes_found += hit is not None and hit.cause == want.cause
                if hit is None or hit.cause != want.cause:
                    cause_misses.append((s.row.file, want, s.found))
    return Figures(expected, found, causes_expected, causes_found, negatives, tuple(false_loops),
                   tuple(misses), tuple(cause_misses))


@lru_cache(maxsize=None)
def corpus_figures() -> Figures:
    """The whole corpus scanned once per run, in UTC (text logs without an offset are local time)."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        return judge([Scanned(row, scan_excerpt(CORPUS / row.file)) for row in manifest()])
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


def _got(found: Tuple[Expected, ...]) -> str:
    return "; ".join(str(g) for g in found) or "nothing"


def summary_lines(fig: Figures) -> List[str]:
    """The figures and every miss, for people: the failure message and the end of every run."""
    lines = ["corpus: recall %.1f%% on clear positives (%d of %d expected findings, kind and unit), "
             "%d false loops on %d negatives; causes %d of %d"
             % (100 * fig.recall, fig.found, fig.expected, len(fig.false_loops), fig.negatives,
                fig.causes_found, fig.causes_expected)]
    lines += ["  missed %s: expected %s, got %s" % (f, want, _got(got)) for f, want, got in fig.misses]
    lines += ["  false loop %s: %s" % (f, g) for f, g in fig.false_loops]
    lines += ["  cause %s: expected %s, got %s" % (f, want, _got(got)) for f, want, got in fig.cause_misses
              if (f, want, got) not in fig.misses]
    return lines


def test_corpus_recall_and_no_false_loops():
    fig = corpus_figures()
    report = "\n".join(summary_lines(fig))
    assert fig.recall >= MIN_RECALL and not fig.false_loops, report


def test_manifest_lists_every_excerpt_and_only_them():
    listed = [r.file for r in manifest()]
    on_disk = sorted(p.name for p in CORPUS.iterdir() if p.is_file() and p.name not in NOT_EXCERPTS)
    assert len(listed) == len(set(listed)), "a file listed twice"
    assert sorted(listed) == on_disk


def test_manifest_is_big_enough():
    rows = manifest()
    assert len(rows) >= MIN_FILES
    assert sum(r.negative for r in rows) >= MIN_NEGATIVES


def test_manifest_rows_are_well_formed():
    kinds = {k.value for k in FindingKind}
    causes = {c.value for c in CauseKind}
    bad: Dict[str, str] = {}
    for r in manifest():
        if not r.source_url.startswith("https://") or " " in r.source_url:
            bad[r.file] = "source_url %r" % r.source_url
        for e in r.expected:
            if e.kind not in kinds or (e.cause is not None and e.cause not in causes):
                bad[r.file] = "expected %s" % e
        if not (r.licence and r.form):
            bad[r.file] = "licence or form empty"
    assert not bad, bad


def test_every_excerpt_has_its_source_entry():
    sources = (CORPUS / "SOURCES.md").read_text(encoding="utf-8")
    missing = [r.file for r in manifest() if "### `%s`" % r.file not in sources]
    assert not missing, missing
