"""The JSON Schemas (draft 2020-12) of the documents unitaudit writes, shipped in unitaudit/schemas/:
one file per document name, "unitaudit.report/1" in report-1.json.

`check` holds a document to the schema its `schema` field names.  Only the test suite calls it
(json_out, with UNITAUDIT_CHECK_SCHEMAS=1); jsonschema is a test dependency, loaded only when a
document is checked, so a normal run neither needs nor imports it.
"""
import functools
import importlib.util
import json
import re
from pathlib import Path
from typing import List, Optional

from unitaudit.errors import UnitauditError

try:
    from importlib.resources import files as _package_files  # Python 3.9+: the package's files where installed
except ImportError:  # Python 3.7, 3.8: the files beside this module
    _package_files = None

_NAME = re.compile(r"unitaudit\.([a-z]+)/([0-9]+)")
_FILE = re.compile(r"([a-z]+)-([0-9]+)\.json")
_SHOWN_CHARS = 300  # of a failure's message, which quotes the offending value (possibly a whole object)


def directory() -> Path:
    if _package_files is not None:
        found = _package_files("unitaudit") / "schemas"
        if isinstance(found, Path):  # not inside a zip: a real directory
            return found
    return Path(__file__).resolve().parent.parent / "schemas"


def schema_path(name: str) -> Optional[Path]:
    """The schema file of the document named `name` ("unitaudit.report/1"); None when there is none."""
    match = _NAME.fullmatch(name)
    if match is None:
        return None
    path = directory() / ("%s-%s.json" % match.groups())
    return path if path.is_file() else None


def names() -> List[str]:
    """The document names that have a schema file, sorted."""
    found = (_FILE.fullmatch(p.name) for p in directory().iterdir())
    return sorted("unitaudit.%s/%s" % m.groups() for m in found if m is not None)


@functools.lru_cache(maxsize=None)
def validator(name: str):
    """A jsonschema Draft202012Validator of the schema named `name`; UnitauditError when it has no file."""
    path = schema_path(name)
    if path is None:
        raise UnitauditError("a document names schema %r, which has no file in %s" % (name, directory()))
    import jsonschema  # a test dependency: loaded only when a check is asked for
    with path.open(encoding="utf-8") as f:
        schema = json.load(f)
    if importlib.util.find_spec("referencing") is not None:  # jsonschema >= 4.18 resolves a $ref on its own
        return jsonschema.Draft202012Validator(schema)
    # Older jsonschema (Python 3.7's 4.17) joins "#/$defs/..." to the urn: $id into a bare
    # "#/$defs/...", then looks its document up by the empty URL: that is this schema.
    resolver = jsonschema.RefResolver.from_schema(schema, store={"": schema})
    return jsonschema.Draft202012Validator(schema, resolver=resolver)


def check(doc: object) -> None:
    """Raise UnitauditError, naming the schema and the JSON path, when `doc` (as parsed back from its
    JSON) does not match the schema its `schema` field names.  A value without that field is not
    a --json document: nothing to check."""
    name = doc.get("schema") if isinstance(doc, dict) else None
    if not isinstance(name, str):
        return
    found = validator(name).iter_errors(doc)
    from jsonschema.exceptions import best_match  # a test dependency, as in validator()
    error = best_match(found)  # the most telling error
    if error is not None:
        message = error.message if len(error.message) <= _SHOWN_CHARS else error.message[:_SHOWN_CHARS] + "..."
        raise UnitauditError("the %s document does not match its schema (%s) at %s: %s" % (
            name, schema_path(name).name, error.json_path, message))
