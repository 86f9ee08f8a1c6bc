"""The JSON Schemas in unitaudit/schemas/ against what unitaudit really writes: the documents of the
command line run on recorded evidence (examples/seed-loops, examples/bundle-seed), the manifest of
the recorded bundle; every schema used and every document name with a schema; the enums the same
as the model's; and the suite's own check (json_out with UNITAUDIT_CHECK_SCHEMAS=1, set in
conftest.py) able to fail, and never loaded without the variable."""
import ast
import io
import json
import os
import re
import subprocess
import sys
import tarfile

import pytest
from jsonschema import Draft202012Validator

from builders import ROOT, example
from unitaudit.errors import ExitStatus, UnitauditError
from unitaudit.model import Action, CauseKind, Check, FindingKind, FixStatus, OperationKind, ReadFrom, Undo
from unitaudit.report import json_out, json_report, schemas
from unitaudit.sources.bundle.manifest import MANIFEST, SCHEMA_PREFIX, SCHEMA_VERSION

PACKAGE = ROOT / "unitaudit"
BUNDLE = example("bundle-seed", "unitaudit-bundle-seed.tar.xz")
SEED = str(example("seed-loops", "journal"))
MODEL_ENUMS = (Action, CauseKind, Check, FindingKind, FixStatus, OperationKind, ReadFrom, Undo)
CGROUP_LAYOUTS = {"unified", "hybrid", "legacy", "unknown"}  # KernelFacts.cgroup_layout: a word, not an Enum


def _load(name: str) -> dict:
    path = schemas.schema_path(name)
    assert path is not None, "no schema file for %s" % name
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def validate(doc: dict, name: str) -> None:
    """`doc` names schema `name` and matches it (every error listed, not only the first)."""
    assert doc["schema"] == name
    errors = ["%s: %s" % (e.json_path, e.message) for e in schemas.validator(name).iter_errors(doc)]
    assert errors == []


def unitaudit(*args: str, env=None, status=ExitStatus.FINDINGS) -> dict:
    """The document `unitaudit ARGS` writes on stdout, run as a user runs it."""
    p = subprocess.run([sys.executable, "-m", "unitaudit", *args], capture_output=True, text=True, timeout=300,
                       cwd=str(ROOT), env=dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1", **(env or {})))
    assert p.returncode == status, p.stderr
    return json.loads(p.stdout)


def _enums(node):
    """Every enum of a schema that says what a value may be: not those of an `if` (which pick
    some values out of such an enum)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "enum":
                yield v
            elif k != "if":
                yield from _enums(v)
    elif isinstance(node, list):
        for v in node:
            yield from _enums(v)


# -- the schemas themselves ------------------------------------------------------------------------
@pytest.mark.parametrize("name", schemas.names())
def test_each_schema_is_a_valid_draft_2020_12_schema_with_its_name(name):
    schema = _load(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "urn:unitaudit:schema:" + name[len("unitaudit."):]
    assert schema["title"] == name
    assert schema["properties"]["schema"] == {"const": name}
    assert schema["description"]


def _schema_constants():
    """Every `...SCHEMA = "unitaudit.x/N"` in the package, and the bundle's manifest schema."""
    found = {SCHEMA_PREFIX + str(SCHEMA_VERSION)}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id.endswith("SCHEMA")
                                                    for t in node.targets):
                value = getattr(node.value, "value" if sys.version_info >= (3, 8) else "s", None)  # 3.7: ast.Str
                if isinstance(value, str) and value.startswith("unitaudit."):
                    found.add(value)
    return found


def test_every_document_name_has_a_schema_and_every_schema_is_used():
    constants = _schema_constants()
    assert {"unitaudit.report/1", "unitaudit.plan/1", "unitaudit.bundle/1"} <= constants  # the walk finds them
    assert sorted(constants) == schemas.names()
    assert schemas.schema_path("unitaudit.nothing/1") is None
    assert schemas.schema_path("report-1.json") is None


def test_the_enums_are_the_models():
    """Each enum in a schema is the whole value set of one of the model's Enums (a new FindingKind,
    Action ... must reach the schemas), or the cgroup layouts."""
    model = {e.__name__: {m.value for m in e} for e in MODEL_ENUMS}
    for name in schemas.names():
        for enum in _enums(_load(name)):
            values = {v for v in enum if v is not None}
            matching = [n for n, members in model.items() if values == members]
            assert matching or values == CGROUP_LAYOUTS, (name, enum)


def test_a_definition_shared_by_two_schemas_is_the_same_in_both():
    seen = {}
    for name in schemas.names():
        for key, definition in _load(name).get("$defs", {}).items():
            first = seen.setdefault(key, (name, definition))
            assert first[1] == definition, "$defs/%s differs between %s and %s" % (key, first[0], name)


# -- what the command line writes ------------------------------------------------------------------
def test_the_suite_checks_every_document_it_makes():
    assert os.environ.get(json_out.CHECK_SCHEMAS) == "1"  # conftest.py: the check below runs in every test


@pytest.mark.parametrize("args", [
    ("scan", "--json", "--journal-dir", SEED),
    ("scan", "--json", "--bundle", str(BUNDLE)),  # live, kernel and diagnosis filled from the bundle
], ids=["offline", "bundle"])
def test_scan_documents(args):
    doc = unitaudit(*args)
    validate(doc, "unitaudit.report/1")
    assert doc["findings"]


def test_the_bundle_scan_fills_every_part_of_a_finding():
    doc = unitaudit("scan", "--json", "--bundle", str(BUNDLE))
    validate(doc, "unitaudit.report/1")
    assert doc["live"] and doc["kernel"]
    assert all(f["cause"] and f["diagnosis"] and f["churn"] for f in doc["findings"])


def test_the_scan_recorded_inside_the_lab():
    validate(json.loads(example("bundle-seed", "scan-inside.json").read_text()), "unitaudit.report/1")


def test_fix_dry_run_plan():
    doc = unitaudit("fix", "--dry-run", "--json", "--bundle", str(BUNDLE))
    validate(doc, "unitaudit.plan/1")
    kinds = {op["kind"] for s in doc["steps"] for op in s["operations"]}
    assert {"write", "dbus"} <= kinds
    assert doc["verify"] and doc["recorded"]


def test_churn_of_the_loops():
    doc = unitaudit("churn", "--json", "--bundle", str(BUNDLE))
    validate(doc, "unitaudit.churn/1")
    assert doc["loops"] and doc["kernel"]


def test_recipes():
    validate(unitaudit("recipes", "--json", status=ExitStatus.OK), "unitaudit.recipes/1")


def test_incremental_scan_and_history(tmp_path):
    config = tmp_path / "unitaudit.toml"
    config.write_text('[scan]\nwindow = "3650d"\n')
    env = {"UNITAUDIT_STATE_DIR": str(tmp_path / "state"), "UNITAUDIT_CONFIG": str(config)}
    scanned = unitaudit("scan", "--incremental", "--json", "--journal-dir", SEED, env=env)
    validate(scanned, "unitaudit.report/1")
    assert scanned["incremental"]["read_from"] == "window"
    history = unitaudit("history", "--since", "3650d", "--json", env=env, status=ExitStatus.OK)
    validate(history, "unitaudit.history/1")
    assert history["runs"] and all(loop["hours"] for loop in history["loops"])


def test_the_recorded_bundle_manifest():
    with tarfile.open(str(BUNDLE), "r:xz") as tar:
        (member,) = [m for m in tar.getmembers() if m.name.endswith("/" + MANIFEST)]
        manifest = json.load(tar.extractfile(member))
    validate(manifest, "unitaudit.bundle/1")
    assert manifest["members"]


# -- the suite's own check ---------------------------------------------------------------------------
def test_the_check_fails_on_a_wrong_type_naming_the_schema_and_the_path(seed, monkeypatch):
    monkeypatch.setenv(json_out.CHECK_SCHEMAS, "1")
    doc = json_report.to_document(seed)
    json_out.write(doc, io.StringIO())  # the real document passes
    doc["findings"][1]["count"] = str(doc["findings"][1]["count"])
    out = io.StringIO()
    with pytest.raises(UnitauditError) as caught:
        json_out.write(doc, out)
    assert "unitaudit.report/1" in str(caught.value)
    assert "report-1.json" in str(caught.value)
    assert "$.findings[1].count" in str(caught.value)
    assert out.getvalue() == ""  # checked before a byte is written
    with pytest.raises(UnitauditError, match="unitaudit.report/9"):
        json_out.write(dict(doc, schema="unitaudit.report/9"), io.StringIO())  # a name without a schema file
    json_out.write({"rate": 1.5}, io.StringIO())  # no `schema` field: not a --json document, nothing to check


def test_a_drifted_reporter_fails_the_command_with_one_line(tmp_path):
    """The real CLI with its reporter changed to write a count as text (sitecustomize): exit 3, one
    line naming the path, nothing on stdout."""
    (tmp_path / "sitecustomize.py").write_text(
        "from unitaudit.report import json_report\n"
        "real = json_report.finding_to_dict\n"
        "json_report.finding_to_dict = lambda f: dict(real(f), count=str(f.count))\n")
    p = subprocess.run([sys.executable, "-m", "unitaudit", "scan", "--json", "--journal-dir", SEED],
                       capture_output=True, text=True, cwd=str(ROOT),
                       env=dict(os.environ, PYTHONPATH="%s:%s" % (tmp_path, ROOT)))
    assert p.returncode == ExitStatus.INCOMPLETE, p.stderr
    assert p.stdout == ""
    (line,) = p.stderr.splitlines()
    assert re.search(r"unitaudit\.report/1 .* at \$\.findings\[[0-9]+\]\.count: '[0-9]+' is not of type 'integer'$",
                     line), line


def _modules_after_json(check: bool) -> set:
    """The modules `unitaudit recipes --json` left loaded, run in a child process with or without
    the variable."""
    code = ("import json, os, sys\n"
            "from unitaudit.cli import main\n"
            "sys.argv = ['unitaudit', 'recipes', '--json']\n"
            "out, sys.stdout = sys.stdout, open(os.devnull, 'w')\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "out.write(json.dumps(sorted(sys.modules)))\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    env.pop(json_out.CHECK_SCHEMAS)
    if check:
        env[json_out.CHECK_SCHEMAS] = "1"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    return set(json.loads(p.stdout))


def test_without_the_variable_nothing_is_loaded():
    plain = _modules_after_json(check=False)
    assert "unitaudit.report.json_out" in plain  # a document was written
    assert not [m for m in plain if m.split(".")[0] == "jsonschema"]
    assert "unitaudit.report.schemas" not in plain
    checked = _modules_after_json(check=True)  # the same run checked: the test above can see them
    assert "jsonschema" in checked and "unitaudit.report.schemas" in checked
