"""Fuzzing (issue 13): the text parser, the --since/--until parser, the config and recipe loaders and
the journal source, fed inputs mutated from real material, must never crash.

"Crash" means an exception other than the documented errors (unitaudit/errors.py):
  text parser       LineParser.parse never raises: an Event or None, whatever the bytes
  time parser       parse_time returns seconds or raises UsageError
  config loader     load_config returns a Config or raises ConfigError; check_config never raises
  recipe loader     load_recipes returns recipes or raises RecipeError; describe never raises
  journal source    JournalSource reads a damaged journal file or raises SourceError (a warning in
                    its stats is fine); its events fold and go through the detectors

Inputs come from real material: the lines of tests/fixtures/captured/*.txt and seed/*.txt, the
forms of tests/test_timeparse.py, packaging/debian/unitaudit.toml, remediations/*.toml and
examples/seed-loops/journal/system.journal, mutated by byte flips, truncation, control characters,
huge numbers, non-UTF-8 bytes, and (TOML) by changing keys, values and structure.

Deterministic, for CI: `derandomize=True` and no example database, so every run of the suite (the
.venv pass and the Python 3.7 pass) tries the same inputs; each target has a fixed budget and checks
that it ran it.  The budgets sum to more than 10,000 inputs (about 20 s on the .venv pass and 25 s on
Python 3.7, measured on the 2-core VM with the known crashes let through).  A crash hypothesis finds
is reported with its shrunk input; the ones found so far were fixed and each has a plain regression
test in test_fuzz_found.py.
"""
import json
import os
import re
import shutil
import tempfile
import time
import warnings

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from builders import FIXTURES, ROOT, example
from unitaudit.config import check_config, load_config
from unitaudit.model import Config
from unitaudit.analysis.detectors import run_all
from unitaudit.model import Thresholds
from unitaudit.errors import ConfigError, RecipeError, SourceError, UsageError
from unitaudit.analysis.evidence import fold
from unitaudit.model import Event, Message
from unitaudit.remediation.recipes import describe, load_recipes
from unitaudit.sources.journal import JournalSource
from unitaudit.sources.textlog.lines import LineParser
from unitaudit.util.times import parse_time

try:
    import tomllib as _toml  # Python 3.11+
except ImportError:  # Python < 3.11
    import tomli as _toml  # type: ignore[no-redef]

# -- budgets: examples per target (the sum is the suite's promise of >= 10,000) --------------------
TEXT_BUDGET = 3000
TIME_BUDGET = 3000
CONFIG_BUDGET = 1500
RECIPE_BUDGET = 1500
JOURNAL_BUDGET = 2000
assert TEXT_BUDGET + TIME_BUDGET + CONFIG_BUDGET + RECIPE_BUDGET + JOURNAL_BUDGET >= 10000

settings.register_profile(
    "unitaudit-fuzz",
    derandomize=True,  # the same inputs on every run and every machine
    database=None,  # nothing remembered between runs: CI sees exactly the budget
    deadline=None,  # a slow example is not a failure (the CI machine may be loaded)
    print_blob=False,
    report_multiple_bugs=False,  # the first crash, shrunk, with its own exception type
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
    # large and slow inputs are the point here
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.large_base_example],
)
FUZZ = settings.get_profile("unitaudit-fuzz")

COUNTS = {}  # target -> examples run to the end: checked against the budget
# a crash's shrunk input can be a 5000-digit line: hypothesis warns that printing it is expensive
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


def _fuzz(name: str, budget: int, **strategies):
    """Decorator: run the decorated target under hypothesis with `budget` examples, then check that
    the budget was spent (hypothesis stops early only when it has tried every input there is)."""
    def wrap(target):
        def counted(**kw):
            target(**kw)
            COUNTS[name] = COUNTS.get(name, 0) + 1

        runner = settings(FUZZ, max_examples=budget)(given(**strategies)(counted))

        def run():
            COUNTS[name] = 0
            runner()
            assert COUNTS[name] >= budget, "%s: %d examples run, budget %d" % (name, COUNTS[name], budget)

        return run
    return wrap


def _tz(zone: str) -> None:
    os.environ["TZ"] = zone  # the autouse _utc fixture (conftest) puts TZ back after the test
    time.tzset()


ZONES = ["UTC", "Asia/Shanghai", "America/St_Johns", "Pacific/Kiritimati", "Etc/GMT+12", "Europe/Dublin",
         "Australia/Lord_Howe"]

# -- byte mutations (text lines, config and recipe files) --------------------------------------------
_POS = st.integers(min_value=0, max_value=1 << 16)  # taken modulo the length: shrinks towards the start
_NASTY = [b"\x00", b"\t", b"\r", b"\n", b"\x0b", b"\x0c", b"\x1b[31m", b"\x7f", b"\x80", b"\xff", b"\xfe\xff",
          b"\xc3", b"\xe6\x9c", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\xf4\x90\x80\x80", "月".encode(),
          "\u2028".encode(), b"\xd4\xc2",  # GBK
          b"[", b"]", b"[1]", b"[0]", b"[-1]", b": ", b":", b" ", b"  ", b".", b",", b"+08:00", b"-23:59", b"Z",
          b"{", b"}", b"=", b'"', b"'", b"\\", b"#", b"[[", b"]]", b"\"\"\"", b"'''",
          "١٢".encode()]  # Arabic-Indic digits: \d in a str regex matches them
_NUMBER_LENGTHS = [0, 1, 20, 309, 4300, 4301, 5000]

# the n-th digit run (small n: the timestamp's year, day, time, fraction, offset) made huge or empty
_NUMBER_OP = st.tuples(st.just("number"), st.sampled_from(range(10)), st.sampled_from(_NUMBER_LENGTHS),
                       st.sampled_from([b"0", b"9", b"1"]))
_BYTE_OP = st.one_of(
    st.tuples(st.just("flip"), _POS, st.integers(0, 7)),
    st.tuples(st.just("set"), _POS, st.integers(0, 255)),
    st.tuples(st.just("truncate"), _POS),
    st.tuples(st.just("insert"), _POS, st.one_of(st.sampled_from(_NASTY), st.binary(min_size=1, max_size=8))),
    _NUMBER_OP,
    st.tuples(st.just("delete"), _POS, st.integers(1, 40)),
    st.tuples(st.just("repeat"), _POS, st.integers(1, 64), st.integers(2, 6)),
)
_DIGIT_RUN = re.compile(rb"\d+")


# Strategies map with named functions, never lambdas: hypothesis 6.79 (the Python 3.7 pass) reads a
# lambda's source each time it draws from it, which cost more than half of that pass.
def _apply(t):
    return _mutate(*t)


def _apply_text(t):
    return _mutate(*t).decode("utf-8", "replace")


def _concat(t):
    return t[0] + t[1]


def _concat3(a, b, c):
    return a + b + c


def _stamp_mutated(t):
    return _mutate(t[0] + t[1], t[2])


def _splice(t):
    return t[0][:t[2] % (len(t[0]) + 1)] + t[1][t[3] % (len(t[1]) + 1):]


def _mutate(data: bytes, ops) -> bytes:
    b = bytes(data)
    for op in ops:
        kind, pos = op[0], op[1] % (len(b) + 1)
        if kind == "flip" and b:
            pos %= len(b)
            b = b[:pos] + bytes([b[pos] ^ (1 << op[2])]) + b[pos + 1:]
        elif kind == "set" and b:
            pos %= len(b)
            b = b[:pos] + bytes([op[2]]) + b[pos + 1:]
        elif kind == "truncate":
            b = b[:pos]
        elif kind == "insert":
            b = b[:pos] + op[2] + b[pos:]
        elif kind == "number":  # a digit run (a year, a pid, a counter, a fraction) made huge or empty
            runs = list(_DIGIT_RUN.finditer(b))
            digits = op[3] * op[2]
            if runs:
                m = runs[op[1] % len(runs)]
                b = b[:m.start()] + digits + b[m.end():]
            else:
                b = b[:pos] + digits + b[pos:]
        elif kind == "delete":
            b = b[:pos] + b[pos + op[2]:]
        elif kind == "repeat":
            b = b[:pos] + b[pos:pos + op[2]] * op[3] + b[pos + op[2]:]
    return b


# -- 1. the text parser ----------------------------------------------------------------------------
def _real_lines():
    lines = []
    for path in sorted(FIXTURES.glob("captured/*.txt")) + sorted(FIXTURES.glob("seed/*.txt")):
        lines.extend(x for x in path.read_bytes().split(b"\n") if x.strip())
    assert len(lines) > 300, "the captured text fixtures are missing"
    return lines


LINES = _real_lines()
# every timestamp form the parser reads (README "Reading text logs"), before every real line's text
STAMPS = [b"Jan  4 17:30:14 ", b"Jan  4 17:30:14.123456 ", "11\u6708 25 12:18:56 ".encode(),
          "11\u6708 25 12:18:56.5 ".encode(), b"2024-01-04T17:30:14.123456+08:00 ", b"2024-01-04T17:30:14+0800 ",
          b"2024-01-04T17:30:14Z ", b"2024-01-04T17:30:14,5-05:00 ", b"2024-01-01 00:00:12 ",
          b"2024-01-04T17:30:14.123456 ", b""]


def _bodies():
    parser, out = LineParser(1705383903.0), set()
    for line in LINES:
        t, pos = parser.timestamp(line)
        out.add(line[pos:] if t is not None else line.lstrip())
    return sorted(out)


BODIES = _bodies()
_ODD_DIGITS = [b"", b"0", b"00", b"000", b"60", b"99", b"9" * 20, b"1" * 309, b"1" * 4300, b"1" * 4301, b"9" * 5000,
               b"1 ", b" 1", b"1a", "\u0661\u0662".encode()]


# the timestamp forms again, field by field: one or two fields made huge, empty or odd
_STAMP_FORMS = [
    (b"%s %2s %s:%s:%s ", (b"Jan", b"4", b"17", b"30", b"14")),
    (b"%s %2s %s:%s:%s.%s ", (b"Jan", b"4", b"17", b"30", b"14", b"123456")),
    ("%s\u6708 %s %s:%s:%s.%s ".encode(), (b"11", b"25", b"12", b"18", b"56", b"5")),
    (b"%s-%s-%sT%s:%s:%s.%s%s%s:%s ", (b"2024", b"01", b"04", b"17", b"30", b"14", b"123456", b"+", b"08", b"00")),
    (b"%s-%s-%sT%s:%s:%s,%s%s%s%s ", (b"2024", b"01", b"04", b"17", b"30", b"14", b"5", b"-", b"05", b"00")),
    (b"%s-%s-%s %s:%s:%sZ ", (b"2024", b"01", b"01", b"00", b"00", b"12")),
]


def _odd_stamp(form, which, odd, which2, odd2):
    template, fields = form
    fields = list(fields)
    fields[which % len(fields)] = odd
    if which2 is not None:
        fields[which2 % len(fields)] = odd2
    return template % tuple(fields)


_STAMP_BUILT = st.builds(_odd_stamp, st.sampled_from(_STAMP_FORMS), st.integers(0, 9), st.sampled_from(_ODD_DIGITS),
                         st.one_of(st.none(), st.integers(0, 9)), st.sampled_from(_ODD_DIGITS))
_LINE = st.one_of(
    st.tuples(st.sampled_from(STAMPS), st.sampled_from(BODIES), st.lists(_BYTE_OP, max_size=4)).map(_stamp_mutated),
    # a timestamp of a known form whose fields are made huge, empty or odd, before a real line's text
    st.tuples(_STAMP_BUILT, st.sampled_from(BODIES)).map(_concat),
    st.tuples(st.sampled_from(LINES), st.lists(_BYTE_OP, max_size=5)).map(_apply),
    # two real lines spliced: one form's timestamp before another's body
    st.tuples(st.sampled_from(LINES), st.sampled_from(LINES), _POS, _POS).map(_splice),
    st.binary(max_size=200),
)
# the file's mtime picks the year of year-less lines: any time a file system can hold
_REFERENCE = st.one_of(st.sampled_from([0.0, 1705383903.0, 1735689599.5, -1.0, 2 ** 31 - 1.0, 2 ** 33 + 0.5]),
                       st.floats(min_value=-(2.0 ** 31), max_value=2.0 ** 34, allow_nan=False))


@_fuzz("text", TEXT_BUDGET, lines=st.lists(_LINE, min_size=1, max_size=4), reference=_REFERENCE,
       zone=st.sampled_from(ZONES))
def _text_target(lines, reference, zone):
    _tz(zone)
    parser = LineParser(reference)
    for line in lines + lines:  # the second time through the parser's caches
        ev = parser.parse(line)
        if ev is not None:
            assert isinstance(ev, Event)
            assert isinstance(ev.message, Message)
            assert ev.time is None or isinstance(ev.time, float), ev


def test_text_parser_never_raises():
    _text_target()


# -- 2. the time parser ----------------------------------------------------------------------------
TIME_VALUES = ["-2h", "2h", "24h", "30m", "7d", "1w", "now", "today", "yesterday", "@1700000000", "2024-01-16",
               "2024-01-16 05:45", "2024-01-16T05:45:03", "2024-01-16T05:45:03+08:00", "2024-01-16T05:45:03Z",
               "2024-01-16T05:45:03+0800", "2024-01-16 05:45:03.5-05", "2024-01-16 05:45:03,123456789",
               "last tuesday", "2024-13-01", "-2x", "", "@abc", "2024-02-30", "2024-01-16 24:00",
               "2024-01-16T05:45+24:00", "20240116", "2024-01-16 5:45", "1.5h", "90min", "+3 days", "2 weeks",
               "0001-01-01", "9999-12-31T23:59:59"]
def _date_built(y, mo, d, h, mi, sec, frac, sep, off):
    return "%04d-%02d-%02d%s%02d:%02d:%02d%s%s" % (y, mo, d, sep, h, mi, sec, frac, off)


def _epoch(v):
    return "@" + v


_DATE_BUILT = st.builds(
    _date_built,
    st.one_of(st.sampled_from([1, 2, 1969, 1970, 2024, 2038, 9998, 9999]), st.integers(0, 9999)),
    st.one_of(st.integers(1, 12), st.integers(0, 99)), st.one_of(st.integers(1, 31), st.integers(0, 99)),
    st.one_of(st.integers(0, 23), st.integers(0, 99)), st.one_of(st.integers(0, 59), st.integers(0, 99)),
    st.one_of(st.integers(0, 60), st.integers(0, 99)), st.sampled_from(["", ".5", ",123456789", ".0000000001"]),
    st.sampled_from(["T", " "]),
    st.sampled_from(["", "Z", "+00", "+08:00", "-05", "+0800", "-2359", "+23:59", "-23:59", "+24:00", "+99"]))
# the edges of datetime's range, where a UTC offset or the local zone moves the time out of it
_DATE_EDGE = st.builds(
    _concat3,
    st.sampled_from(["0001-01-01", "0001-01-02", "9999-12-31", "9999-12-30", "1970-01-01", "1969-12-31",
                     "2038-01-19"]),
    st.sampled_from(["", "T00:00", " 00:00:00", "T07:59:59", "T23:59", " 23:59:59.999999999", "T12:00"]),
    st.sampled_from(["", "Z", "+08:00", "+0800", "-05", "-23:59", "+23:59", "+00:01", "-00:01"]))
_TIME_VALUE = st.one_of(
    _DATE_EDGE,
    st.tuples(st.sampled_from([v.encode() for v in TIME_VALUES]), st.lists(_BYTE_OP, max_size=4)).map(_apply_text),
    _DATE_BUILT,
    st.builds(_concat3, st.sampled_from(["", "-", "+", "- "]),
              st.one_of(st.integers(0, 10 ** 30).map(str),
                        st.sampled_from(["1" * 400, "9" * 5000, "1.5", "0.0000001"])),
              st.sampled_from(["s", "sec", "m", "min", "h", "hour", "hours", "d", "day", "days", "w", "week",
                               "weeks", "x", ""])),
    st.builds(_epoch, st.one_of(st.floats().map(repr), st.integers().map(str),
                                st.sampled_from(["nan", "inf", "-inf", "1e400", "9" * 5000, "0x10"]))),
    st.text(max_size=40),
)
_NOW = st.one_of(st.just(1705406400.0), st.floats(min_value=0.0, max_value=4102444800.0))  # up to 2100


@_fuzz("time", TIME_BUDGET, value=_TIME_VALUE, now=_NOW, option=st.sampled_from(["--since", "--until"]),
       zone=st.sampled_from(ZONES))
def _time_target(value, now, option, zone):
    _tz(zone)
    try:
        t = parse_time(value, now, option)
    except UsageError as e:
        assert option in str(e)
    else:
        assert isinstance(t, (int, float)), (value, t)


def test_time_parser_raises_only_usage_errors():
    _time_target()


# -- TOML: values, a writer, structural mutations ------------------------------------------------------
class Raw(str):
    """Written into the TOML document as it is (a huge integer literal, a date, a broken token)."""


def _huge(n, d, sign):
    return Raw(sign + d * n)


def _containers(inner):
    return st.one_of(st.lists(inner, max_size=4),
                     st.dictionaries(st.sampled_from(["a", "unit", "action", "", "k"]), inner, max_size=3))


_HUGE = st.builds(_huge, st.sampled_from([20, 39, 309, 400, 4301]),
                  st.sampled_from(["9", "1"]), st.sampled_from(["", "-", "+"]))
_RAW_TOKENS = st.sampled_from([Raw(x) for x in (
    "1979-05-27T07:32:00Z", "1979-05-27", "07:32:00", "1979-05-27 07:32:00.999999-07:00", "0x7fffffff", "0o777",
    "0b101", "1_000", "+inf", "-inf", "nan", "-0.0", "1e309", "-1e309", "5e-324", "[]", "{}", "[[]]", "[{}]",
    "'literal'", '"""multi\nline"""', "'''raw\\d'''", "true", "false")])
_DURATIONS = ["24h", "1h", "90d", "7d", "30s", "90min", "30m", "1.5h", "2w", ".5d", "5.", "0s", "-1h", "1 h",
              " 24h ", "24H", "1e3s", "9" * 400 + "d", "inf h", "nan"]
_REAL_STRINGS = _DURATIONS + ["/var/lib/prometheus/node-exporter/unitaudit.prom", "", "relative.prom", "/a\x00b",
                              "restore-dbus-alias", "my-kiosk.service", "my-*.service", "*", "[", "systemd-*",
                              "the kiosk app", " ", "\n", "{unit}", "{declared_by}", "{nope}", "{", "}", "{{unit}}",
                              "{unit}.d", "reenable", "restart", "write-drop-in", "restore-files", "none",
                              "impossible", "module-missing", "alias-missing", "missing-unit", "restart-loop",
                              "activation-loop", "failure", "no-new-restarts", "600", "5", "30s", "10ms", "1min",
                              "600\n", "5s", "abc"]
_SCALAR = st.one_of(
    st.sampled_from(_REAL_STRINGS),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=16),
    st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1),
    st.sampled_from([0, 1, -1, 3, 5, 20, 50, 100, 101, 600, 601, 2 ** 63 - 1, -(2 ** 63)]),
    _HUGE,
    st.floats(),
    st.booleans(),
    _RAW_TOKENS,
)
_VALUE = st.recursive(_SCALAR, _containers, max_leaves=6)


def _toml_value(v) -> str:
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if v != v else "inf" if v == float("inf") else "-inf" if v == -float("inf") else repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join("%s = %s" % (json.dumps(k), _toml_value(x)) for k, x in v.items()) + "}"
    raise TypeError(type(v))


def _toml_document(doc: dict, headers: bool) -> str:
    """A document as TOML: tables as [table] sections (or inline), arrays of tables as [[x]]."""
    out, later = [], []
    for key, value in doc.items():
        k = json.dumps(key, ensure_ascii=False)
        if headers and isinstance(value, dict) and not isinstance(value, Raw):
            later.append("[%s]\n%s" % (k, "".join("%s = %s\n" % (json.dumps(ik, ensure_ascii=False), _toml_value(iv))
                                                for ik, iv in value.items())))
        elif headers and isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            later.extend("[[%s]]\n%s" % (k, "".join("%s = %s\n" % (json.dumps(ik, ensure_ascii=False), _toml_value(iv))
                                                  for ik, iv in x.items())) for x in value)
        else:
            out.append("%s = %s\n" % (k, _toml_value(value)))
    return "".join(out) + "\n".join(later)


def _paths(node, prefix=()):
    """Every path into a parsed document: dict keys and list indexes."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


_KEYS = ["id", "title", "fixes", "priority", "applies", "steps", "verify", "fallback", "findings", "cause",
         "verdicts", "action", "unit", "undo", "settings", "package", "module", "directory", "config_file", "check",
         "seconds", "StartLimitBurst", "RestartSec", "RestartSteps", "StartLimitIntervalSec", "scan", "window",
         "thresholds", "restart_burst", "restart_window", "restart_counter", "activation_burst", "activation_window",
         "repeated_failures", "history", "retention", "prometheus", "path", "protected", "auto_apply", "recipes",
         "unknown", "", "Window", "restart-burst", "my-kiosk.service", "*", "a.b"]
_TREE_OP = st.one_of(
    st.tuples(st.just("delete"), _POS),
    st.tuples(st.just("replace"), _POS, _VALUE),
    st.tuples(st.just("graft"), _POS, _POS),  # a value from elsewhere in the document (real values, wrong place)
    st.tuples(st.just("add"), _POS, st.sampled_from(_KEYS), _VALUE),
    st.tuples(st.just("rename"), _POS, st.sampled_from(_KEYS)),
    st.tuples(st.just("wrap"), _POS),  # x -> [x]
    st.tuples(st.just("empty"), _POS),
)


def _mutate_tree(doc: dict, ops) -> dict:
    doc = json.loads(json.dumps(doc, default=str))  # a deep copy (dates, if any, as strings)
    for op in ops:
        paths = [p for p in _paths(doc) if p]
        if not paths:
            doc = {}
            continue
        path = paths[op[1] % len(paths)]
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        kind = op[0]
        if kind == "delete":
            del parent[last]
        elif kind == "replace":
            parent[last] = op[2]
        elif kind == "graft":
            src = paths[op[2] % len(paths)]
            node = doc
            for part in src:
                node = node[part]
            if path[:len(src)] != src:  # not into itself
                parent[last] = json.loads(json.dumps(node, default=str))
        elif kind == "add":
            target = parent[last] if isinstance(parent[last], dict) else parent
            if isinstance(target, dict):
                target[op[2]] = op[3]
            else:
                target.append(op[3])
        elif kind == "rename" and isinstance(parent, dict):
            parent[op[2]] = parent.pop(last)
        elif kind == "wrap":
            parent[last] = [parent[last]]
        elif kind == "empty":
            parent[last] = {} if isinstance(parent[last], dict) else [] if isinstance(parent[last], list) else ""
    return doc


def _tree_file(doc, ops, headers, tail):
    return _toml_document(_mutate_tree(doc, ops), headers).encode() + tail


def _toml_file(real_texts, real_docs):
    """A TOML file's bytes: a real file mutated as text, or its parsed document mutated as a tree."""
    as_text = st.tuples(st.sampled_from(real_texts), st.lists(_BYTE_OP, max_size=5)).map(_apply)
    as_tree = st.builds(_tree_file,
                        st.sampled_from(real_docs), st.lists(_TREE_OP, max_size=5), st.booleans(),
                        st.sampled_from([b"", b"\n", b"\xff", b"[", b"x = 1\n", b"\x00"]))
    return st.one_of(as_text, as_tree)


class _TempDir:
    """One scratch directory per target, emptied for each example (hypothesis cannot take tmp_path)."""

    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="unitaudit-fuzz-")

    def fresh(self) -> str:
        for name in os.listdir(self.path):
            p = os.path.join(self.path, name)
            shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
        return self.path

    def close(self):
        shutil.rmtree(self.path, ignore_errors=True)


# -- 3. the config loader --------------------------------------------------------------------------
_CONFIG_TEXT = (ROOT / "packaging" / "debian" / "unitaudit.toml").read_bytes()
# the shipped file has every setting commented out: uncommented, it is a file setting everything
_CONFIG_ACTIVE = re.sub(rb"(?m)^#(\w+ = )", rb"\1", _CONFIG_TEXT)
_CONFIG_ACTIVE = _CONFIG_ACTIVE.replace(b'#   "my-kiosk.service"', b'"my-kiosk.service"')
_CONFIG_DOCS = [_toml.loads(_CONFIG_ACTIVE.decode()), _toml.loads(_CONFIG_TEXT.decode()),
                {"auto_apply": {"recipes": ["restore-dbus-alias"]}, "protected": {"a.service": "why"}}]
RECIPE_FILES = sorted((ROOT / "remediations").glob("*.toml"))
RECIPE_IDS = [p.stem for p in RECIPE_FILES]
_config_dir = _TempDir()


@_fuzz("config", CONFIG_BUDGET, data=_toml_file([_CONFIG_TEXT, _CONFIG_ACTIVE], _CONFIG_DOCS))
def _config_target(data):
    path = os.path.join(_config_dir.fresh(), "unitaudit.toml")
    with open(path, "wb") as f:
        f.write(data)
    try:
        config = load_config(path)
    except ConfigError as e:
        assert path in str(e)
        return
    assert isinstance(config, Config)
    problems = check_config(config, RECIPE_IDS)
    assert isinstance(problems, list)
    assert all(isinstance(p, str) for p in problems)


def test_config_loader_raises_only_config_errors():
    try:
        _config_target()
    finally:
        _config_dir.close()


# -- 4. the recipe loader --------------------------------------------------------------------------
_RECIPE_TEXTS = [p.read_bytes() for p in RECIPE_FILES]
_RECIPE_DOCS = [_toml.loads(t.decode()) for t in _RECIPE_TEXTS]
_recipe_dir = _TempDir()


@_fuzz("recipes", RECIPE_BUDGET, data=_toml_file(_RECIPE_TEXTS, _RECIPE_DOCS), stem=st.sampled_from(RECIPE_IDS),
       as_root=st.booleans())
def _recipe_target(data, stem, as_root):
    directory = _recipe_dir.fresh()
    os.chmod(directory, 0o755)
    path = os.path.join(directory, stem + ".toml")
    with open(path, "wb") as f:
        f.write(data)
    # euid 0 also runs the ownership checks (files this user wrote: passed as root, refused otherwise)
    try:
        recipes = load_recipes([directory], euid=0 if as_root else 1000)
    except RecipeError as e:
        assert path in str(e) or directory in str(e)
        return
    for recipe in recipes:
        assert isinstance(describe(recipe), str)


def test_recipe_loader_raises_only_recipe_errors():
    try:
        _recipe_target()
    finally:
        _recipe_dir.close()


# -- 5. the journal source on damaged journal files -------------------------------------------------
JOURNAL = example("seed-loops", "journal", "system.journal").read_bytes()
_NEEDLES = (b"MESSAGE=", b"MESSAGE_ID=", b"COMMAND=", b"_PID=", b"_UID=", b"_COMM=", b"UNIT=", b"_SYSTEMD_UNIT=",
            b"N_RESTARTS=", b"EXIT_STATUS=", b"EXIT_CODE=", b"UNIT_RESULT=", b"_HOSTNAME=", b"_MACHINE_ID=",
            b"_BOOT_ID=", b"SYSLOG_IDENTIFIER=", b"EXECUTABLE=")


def _interesting_offsets():
    """The header's fields, and every byte of the fields unitaudit reads: the data object's header
    and hash fields before the payload (compact layout), the field name, the first bytes of the value."""
    offsets = set(range(0, 272, 8))
    for needle in _NEEDLES:
        i = JOURNAL.find(needle)
        while i >= 0:
            offsets.update(range(i - 72, i - 56))  # the data object's header: type, flags (compression), size
            offsets.update(range(i - 48, i - 40))
            offsets.update(range(i - 16, i + len(needle) + 4))
            i = JOURNAL.find(needle, i + 1)
    return sorted(o for o in offsets if 0 <= o < len(JOURNAL))


_OFFSETS = _interesting_offsets()
# the flags byte (compression) of the DATA objects holding those fields (type 1; compact layout: the
# payload starts 72 bytes into the object)
_FLAGS = sorted({i - 71 for needle in _NEEDLES for i in (m.start() for m in re.finditer(re.escape(needle), JOURNAL))
                 if i >= 72 and JOURNAL[i - 72] == 1})
def _near(t):
    return max(0, t[0] + t[1])


_WHERE = st.one_of(st.integers(0, len(JOURNAL) - 1), st.sampled_from(_OFFSETS), st.sampled_from(_FLAGS),
                   st.tuples(st.sampled_from(_OFFSETS), st.integers(-24, 24)).map(_near))
_U64 = st.one_of(st.sampled_from([0, 1, 8, 2 ** 32 - 1, 2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1, len(JOURNAL),
                                  len(JOURNAL) - 8, len(JOURNAL) + 8, 1 << 40]),
                 st.integers(0, 2 ** 64 - 1))
_JOURNAL_OP = st.one_of(
    st.tuples(st.just("flip"), _WHERE, st.integers(0, 7)),
    st.tuples(st.just("set"), _WHERE, st.integers(0, 255)),
    st.tuples(st.just("u64"), _WHERE, _U64),
    st.tuples(st.just("u32"), _WHERE, st.integers(0, 2 ** 32 - 1)),
    st.tuples(st.just("zero"), _WHERE, st.integers(1, 4096)),
    st.tuples(st.just("copy"), _WHERE, _WHERE, st.integers(1, 256)),  # one object's bytes over another's
    st.tuples(st.just("truncate"), _WHERE),
    st.tuples(st.just("delete"), _WHERE, st.integers(1, 64)),  # everything after it shifts: objects misaligned
    st.tuples(st.just("insert"), _WHERE, st.binary(min_size=1, max_size=16)),
)


def _mutate_journal(ops) -> bytes:
    b = bytearray(JOURNAL)
    for op in ops:
        kind, at = op[0], min(op[1], max(len(b) - 1, 0))
        if not b:
            break
        if kind == "flip":
            b[at] ^= 1 << op[2]
        elif kind == "set":
            b[at] = op[2]
        elif kind == "u64":
            b[at:at + 8] = op[2].to_bytes(8, "little")[:len(b) - at]
        elif kind == "u32":
            b[at:at + 4] = op[2].to_bytes(4, "little")[:len(b) - at]
        elif kind == "zero":
            n = min(op[2], len(b) - at)
            b[at:at + n] = bytes(n)
        elif kind == "copy":
            src = min(op[2], len(b) - 1)
            chunk = bytes(b[src:src + op[3]])[:len(b) - at]
            b[at:at + len(chunk)] = chunk
        elif kind == "truncate":
            del b[at:]
        elif kind == "delete":
            del b[at:at + op[2]]
        elif kind == "insert":
            b[at:at] = op[2]
    return bytes(b)


def _journal_bounds():
    src = JournalSource(files=[str(example("seed-loops", "journal", "system.journal"))], incremental=True)
    list(src.events())
    assert src.end is not None
    return src.end  # (cursor, realtime) of the last entry: a real cursor to mutate


_END_CURSOR, _END_TIME = _journal_bounds()
# the last run's position, as the state store keeps it (a damaged cursor is the state's business)
_CURSOR = st.one_of(st.none(), st.tuples(st.just(_END_CURSOR), st.sampled_from([_END_TIME, 0.0, _END_TIME - 3600])))
_SINCE = st.one_of(st.none(), st.sampled_from([0.0, _END_TIME - 600, _END_TIME + 1, -1.0, 1e12]))
_journal_dir = _TempDir()


@_fuzz("journal", JOURNAL_BUDGET, ops=st.lists(_JOURNAL_OP, min_size=1, max_size=8), since=_SINCE, until=_SINCE,
       boot=st.booleans(), after_cursor=_CURSOR)
def _journal_target(ops, since, until, boot, after_cursor):
    path = os.path.join(_journal_dir.fresh(), "system.journal")
    with open(path, "wb") as f:
        f.write(_mutate_journal(ops))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a warning about the damage is fine
            src = JournalSource(files=[path], since=since, until=until, boot=boot, after_cursor=after_cursor)
            items = list(src.events())
            stats = src.stats()
    except SourceError:
        return
    assert stats.kind == "journal"
    evidence = fold(items)
    run_all(evidence, {}, evidence.end or _END_TIME, Thresholds())


def test_journal_source_survives_damaged_files():
    try:
        _journal_target()
    finally:
        _journal_dir.close()
