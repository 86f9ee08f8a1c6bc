"""Every `--json` document goes out through `write`: strict JSON (RFC 8259) in UTF-8, whatever the
locale.

- A number that is not finite (NaN, an infinity) has no JSON form: it is written as null.
  (Thresholds refuse them on the command line; this is the last guard, never an invalid document.)
- A string holding bytes that were not UTF-8 (a path given as `$'/tmp/\\xff.log'` arrives from
  argv with surrogateescape's U+DCFF) is written with each such byte as U+FFFD, the replacement
  character, as systemd does (utf8_escape_invalid).  The document stays valid; the exact bytes are
  lost, which is the price of valid text.  Control characters are kept: JSON escapes them.
- With UNITAUDIT_CHECK_SCHEMAS=1 in the environment (the test suite sets it, tests/conftest.py)
  every document is checked against the schema its `schema` field names (unitaudit/schemas/)
  before a byte of it is written: a reporter that drifts from its schema fails the command
  (UnitauditError, exit 3) and so the test that ran it.
- The document is encoded as UTF-8 and written to the stream's binary buffer when it has one
  (sys.stdout), so a C locale or PYTHONIOENCODING=ascii:strict neither cuts it off nor changes it.
"""
import json
import math
import os
from typing import IO, Any

from unitaudit.report.safe_text import valid_text

CHECK_SCHEMAS = "UNITAUDIT_CHECK_SCHEMAS"  # "1": check every document against its schema (tests)


def clean(value: Any) -> Any:
    """`value` with every string valid Unicode and every non-finite float None."""
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {clean(k) if isinstance(k, str) else k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def dumps(doc: Any) -> str:
    text = json.dumps(clean(doc), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    if os.environ.get(CHECK_SCHEMAS) == "1":
        # loaded only then: the check needs jsonschema, a test dependency, and a run's start-up
        # time should not pay for what only the test suite asks
        from unitaudit.report import schemas  # the test suite's check only (tests/test_layout.py LAZY)
        schemas.check(json.loads(text))  # the document as a reader parses it
    return text


def write(doc: Any, out: IO[str]) -> None:
    text = dumps(doc)
    buffer = getattr(out, "buffer", None)
    if buffer is None:  # a StringIO: text is all it takes
        out.write(text)
        return
    out.flush()  # whatever was written as text first goes first
    buffer.write(text.encode("utf-8"))
    buffer.flush()
