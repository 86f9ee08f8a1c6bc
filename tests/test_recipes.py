"""Recipes: the shipped files load, every schema rule refuses a broken file by file and key, the
search path overrides by id, root refuses recipe files others could have written, and each
shipped recipe applies where it should and nowhere else.

Findings come from the journal a real systemd wrote while running the seed's loops
(examples/seed-loops); the seed's own diagnoses come from the real diagnosis code on the seed's
tree (test_diagnosis.py), the other verdicts are built with the facts those modules give.
"""
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from builders import ROOT, example, findings
from test_diagnosis import probe, tree  # noqa: F401  (the seed's tree fixture)
from unitaudit.analysis.diagnosis import diagnose_all
from unitaudit.errors import ExitStatus, RecipeError
from unitaudit.analysis.evidence import fold
from unitaudit.model import Action, CauseKind, Diagnosis, FindingKind
from unitaudit.remediation.recipes import SEARCH_PATH, describe, describe_applies, load_recipes
from unitaudit.remediation.schema import ALLOWED_UNDO, REQUIRED_PARAMS, VERDICTS, applies_to, parse_recipe

REPO_RECIPES = str(ROOT / "remediations")
NOT_ROOT = 1000  # the ownership rule is root's: as another user a checkout's files load as they are
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="files owned by root and chown need root")

# -- the shipped recipes ---------------------------------------------------------------------

SHIPPED = {
    # id: (priority, [(action, params, undo, settings)], check, seconds, fallback)
    "modprobe-loop-dkms": (10, [("dkms-autoinstall", {"module": "{module}"}, "impossible", {}),
                                ("restart", {"unit": "{unit}"}, "none", {})],
                           "no-new-restarts", 15, []),
    "logrotate-insecure-directory": (50, [("logrotate-add-su", {"directory": "{directory}"}, "restore-files", {})],
                                     "unit-run-succeeds", 5, []),
    "logrotate-syntax-error": (50, [("logrotate-quarantine", {"config_file": "{config_file}"}, "move-back", {})],
                               "unit-run-succeeds", 5, []),
    "modprobe-loop-rate-limit": (50, [("write-drop-in", {"unit": "{unit}"}, "remove-file",
                                       {"StartLimitIntervalSec": "600", "StartLimitBurst": "5"})],
                                 "no-new-restarts", 30, []),
    "restore-dbus-alias": (50, [("reenable", {"unit": "{declared_by}"}, "restore-files", {}),
                                ("restart", {"unit": "{declared_by}"}, "none", {})],
                           "activation-succeeds", 15, [("apt-reinstall", {"package": "{package}"}, "impossible", {})]),
    "restart-loop-rate-limit": (90, [("write-drop-in", {"unit": "{unit}"}, "remove-file",
                                      {"StartLimitIntervalSec": "600", "StartLimitBurst": "5", "RestartSec": "30"})],
                                "no-new-restarts", 30, []),
}


def _shape(steps):
    return [(s.action.value, dict(s.params), s.undo.value, dict(s.settings)) for s in steps]


def test_every_shipped_recipe_loads_as_written():
    loaded = load_recipes([REPO_RECIPES], euid=NOT_ROOT)
    assert [r.id for r in loaded] == sorted(SHIPPED, key=lambda i: (SHIPPED[i][0], i))  # (priority, id)
    for r in loaded:
        priority, steps, check, seconds, fallback = SHIPPED[r.id]
        assert r.source == os.path.join(REPO_RECIPES, r.id + ".toml")
        assert (r.priority, _shape(r.steps), r.verify.check.value, r.verify.seconds, _shape(r.fallback)) == \
            (priority, steps, check, seconds, fallback), r.id
        assert r.title
        assert "\n" not in r.title
        assert len(r.fixes) > 100
        assert "\n" not in describe(r)


def test_shipped_recipes_say_why_each_step():
    for path in sorted(Path(REPO_RECIPES).glob("*.toml")):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.strip() in ("[[steps]]", "[[fallback]]", "[verify]"):
                assert lines[i - 1].startswith("#"), "%s:%d: no comment says why" % (path.name, i + 1)


def test_search_path_admin_first_then_package_then_checkout():
    # from the checkout the package directory (unitaudit/) has no copy of its own: the checkout's
    # remediations/ stands in for it (an installed wheel's copy: tests/test_wheel_install.py)
    assert not (ROOT / "unitaudit" / "remediations").exists()
    assert SEARCH_PATH == ("/etc/unitaudit/remediations.d", "/usr/share/unitaudit/remediations", REPO_RECIPES)


def test_the_tables_cover_every_action():
    assert set(ALLOWED_UNDO) == set(Action) == set(REQUIRED_PARAMS)


def test_the_known_verdicts_are_the_ones_the_diagnoses_give():
    source = "".join(p.read_text() for p in (ROOT / "unitaudit" / "analysis" / "diagnosis").glob("*.py"))
    for cause, verdicts in VERDICTS.items():
        assert "CauseKind.%s" % cause.name in source
        for verdict in verdicts:
            assert '"%s"' % verdict in source, verdict


def test_describe_says_what_applies_and_what_runs():
    by_id = {r.id: r for r in load_recipes([REPO_RECIPES], euid=NOT_ROOT)}
    assert describe(by_id["restore-dbus-alias"]) == (
        "activation-loop, failure with cause missing-unit (alias-missing): reenable {declared_by}, "
        "restart {declared_by}; then activation-succeeds over 15 s; fallback apt-reinstall {package}")
    assert describe_applies(by_id["restart-loop-rate-limit"].applies) == "restart-loop"
    alias = by_id["restore-dbus-alias"].applies  # the closed sets as their members, not their words
    assert alias.findings == (FindingKind.ACTIVATION_LOOP, FindingKind.FAILURE)
    assert alias.cause is CauseKind.MISSING_UNIT


# -- every schema rule: a broken file names its file and key -----------------------------------

GOOD = """\
# a comment
id = "restore-dbus-alias"
title = "Restore the alias"
fixes = "the alias is missing"

[applies]
findings = ["activation-loop", "failure"]
cause = "missing-unit"
verdicts = ["alias-missing"]

[[steps]]
action = "reenable"
unit = "{declared_by}"
undo = "restore-files"

[[steps]]
action = "restart"
unit = "{declared_by}"
undo = "none"

[verify]
check = "activation-succeeds"
seconds = 15

[[fallback]]
action = "apt-reinstall"
package = "{package}"
undo = "impossible"
"""

DROP_IN = """\
id = "restore-dbus-alias"
title = "t"
fixes = "f"
[applies]
findings = ["restart-loop"]
[[steps]]
action = "write-drop-in"
unit = "{unit}"
undo = "remove-file"
[steps.settings]
StartLimitBurst = 5
RestartSec = "30s"
[verify]
check = "no-new-restarts"
"""

BROKEN = [
    # (why, base, text replaced, replacement, key named, problem said)
    ("unknown action", GOOD, 'action = "restart"', 'action = "shell"', "steps[2].action",
     '"shell" is not an action (one of daemon-reload, reenable, start, stop, restart, reset-failed, '
     'write-drop-in, mask, apt-reinstall, dkms-autoinstall, logrotate-add-su, logrotate-quarantine)'),
    ("undo not allowed for the action", GOOD, 'undo = "restore-files"', 'undo = "none"', "steps[1].undo",
     '"none" is not allowed for reenable (allowed: restore-files)'),
    ("unknown undo", GOOD, 'undo = "impossible"', 'undo = "pray"', "fallback[1].undo", '"pray" is not an undo'),
    ("unknown placeholder", GOOD, 'unit = "{declared_by}"\nundo = "restore', 'unit = "{user}"\nundo = "restore',
     "steps[1].unit", "{user} is not a template key (one of unit, alias, declared_by"),
    ("format spec is not a placeholder", GOOD, 'package = "{package}"', 'package = "{package!r}"',
     "fallback[1].package", "{package!r} is not a template key"),
    ("stray brace", GOOD, 'package = "{package}"', 'package = "{package}}"', "fallback[1].package",
     "brace that is not part of a {key} placeholder"),
    ("empty template", GOOD, 'package = "{package}"', 'package = ""', "fallback[1].package", "non-empty string"),
    ("template not a string", GOOD, 'package = "{package}"', "package = 7", "fallback[1].package",
     "non-empty string"),
    ("missing required parameter", GOOD, 'unit = "{declared_by}"\nundo = "none"', 'undo = "none"', "steps[2].unit",
     "required key is missing"),
    ("a parameter of another action", GOOD, 'unit = "{declared_by}"\nundo = "none"',
     'unit = "{declared_by}"\npackage = "{package}"\nundo = "none"', "steps[2].package",
     "unknown key (allowed here: action, undo, unit)"),
    ("missing undo", GOOD, 'undo = "none"', "", "steps[2].undo", "required key is missing"),
    ("missing action", GOOD, 'action = "restart"\n', "", "steps[2].action", "required key is missing"),
    ("unknown top-level key", GOOD, "# a comment", 'colour = "red"', "colour", "unknown key (allowed here: id,"),
    ("unknown key in applies", GOOD, 'cause = "missing-unit"', 'cause = "missing-unit"\nunits = ["x"]',
     "applies.units", "unknown key"),
    ("unknown key in verify", GOOD, "seconds = 15", "seconds = 15\nretries = 3", "verify.retries", "unknown key"),
    ("settings on an action that has none", GOOD, 'undo = "none"', 'undo = "none"\nsettings = {RestartSec = 5}',
     "steps[2].settings", "unknown key"),
    ("drop-in setting not allowed", DROP_IN, "StartLimitBurst = 5", 'ExecStart = "/bin/sh"',
     "steps[1].settings.ExecStart", "not a setting a drop-in may change (one of StartLimitIntervalSec,"),
    ("drop-in value with a space", DROP_IN, 'RestartSec = "30s"', 'RestartSec = "30 s"',
     "steps[1].settings.RestartSec", '"30 s" is not a number with an optional unit'),
    ("drop-in value with a final newline (found by fuzzing: `$` matched before it)", DROP_IN,
     'RestartSec = "30s"', 'RestartSec = "30s\\n"', "steps[1].settings.RestartSec",
     "is not a number with an optional unit"),
    ("drop-in value negative", DROP_IN, 'RestartSec = "30s"', "RestartSec = -1", "steps[1].settings.RestartSec",
     "-1 is not a number"),
    ("drop-in value a float", DROP_IN, 'RestartSec = "30s"', "RestartSec = 1.5", "steps[1].settings.RestartSec",
     "1.5 is not a number"),
    ("a count with a unit", DROP_IN, "StartLimitBurst = 5", 'StartLimitBurst = "5s"',
     "steps[1].settings.StartLimitBurst", "a count: a plain number"),
    ("drop-in without settings", DROP_IN, "[steps.settings]\nStartLimitBurst = 5\nRestartSec = \"30s\"\n", "",
     "steps[1].settings", "required key is missing"),
    ("drop-in with empty settings", DROP_IN, "StartLimitBurst = 5\nRestartSec = \"30s\"\n", "",
     "steps[1].settings", "at least one of"),
    ("id is not the file name", GOOD, 'id = "restore-dbus-alias"', 'id = "restore-alias"', "id",
     '"restore-alias" must equal the file name without .toml ("restore-dbus-alias")'),
    ("id not kebab-case", GOOD, 'id = "restore-dbus-alias"', 'id = "Restore_Alias"', "id", "not kebab-case"),
    ("missing title", GOOD, 'title = "Restore the alias"\n', "", "title", "required key is missing"),
    ("two-line title", GOOD, 'title = "Restore the alias"', 'title = "Restore\\nthe alias"', "title", "one line"),
    ("priority out of range", GOOD, "# a comment", "priority = 101", "priority", "integer from 0 to 100"),
    ("priority a boolean", GOOD, "# a comment", "priority = true", "priority", "integer from 0 to 100"),
    ("unknown finding kind", GOOD, '"activation-loop", "failure"', '"activation-loop", "crash"',
     "applies.findings[2]", '"crash" is not a finding kind'),
    ("no finding kind", GOOD, '"activation-loop", "failure"', "", "applies.findings", "at least one"),
    ("finding kind twice", GOOD, '"activation-loop", "failure"', '"failure", "failure"', "applies.findings",
     "twice"),
    ("unknown cause", GOOD, 'cause = "missing-unit"', 'cause = "cosmic-rays"', "applies.cause",
     '"cosmic-rays" is not a cause kind (one of execstartpre-failed, missing-unit, logrotate-config)'),
    ("verdict of another cause", GOOD, '["alias-missing"]', '["module-missing"]', "applies.verdicts[1]",
     '"module-missing" is not a verdict of missing-unit diagnosis'),
    ("misspelt verdict", GOOD, '["alias-missing"]', '["alias-mising"]', "applies.verdicts[1]", "not a verdict"),
    ("combined verdict", GOOD, '["alias-missing"]', '["config-error+insecure-directories"]',
     "applies.verdicts[1]", "not kebab-case"),
    ("unknown check", GOOD, 'check = "activation-succeeds"', 'check = "looks-fine"', "verify.check",
     '"looks-fine" is not a check'),
    ("verify too short", GOOD, "seconds = 15", "seconds = 0", "verify.seconds", "from 1 to 600"),
    ("verify too long", GOOD, "seconds = 15", "seconds = 601", "verify.seconds", "from 1 to 600"),
    ("verify seconds as text", GOOD, "seconds = 15", 'seconds = "15"', "verify.seconds", "from 1 to 600"),
    ("no steps", re.sub(r"\[\[steps\]\][^[]*", "", GOOD), "# a comment", "steps = []", "steps",
     "must be one or more [[steps]] tables"),
    ("fallback with a shell", GOOD, 'action = "apt-reinstall"', 'action = "shell"', "fallback[1].action",
     '"shell" is not an action'),
]


@pytest.mark.parametrize("why,base,old,new,key,problem", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_recipe_names_file_and_key(tmp_path, why, base, old, new, key, problem):
    assert old in base, why
    path = tmp_path / "restore-dbus-alias.toml"
    path.write_text(base.replace(old, new, 1))
    with pytest.raises(RecipeError) as e:
        load_recipes([str(tmp_path)], euid=NOT_ROOT)
    assert str(e.value).startswith("%s: %s: " % (path, key)), str(e.value)
    assert problem in str(e.value)
    assert e.value.status is ExitStatus.INCOMPLETE


def test_the_good_documents_are_good(tmp_path):
    for text in (GOOD, DROP_IN):
        (tmp_path / "restore-dbus-alias.toml").write_text(text)
        assert load_recipes([str(tmp_path)], euid=NOT_ROOT)
    (r,) = load_recipes([str(tmp_path)], euid=NOT_ROOT)
    assert r.steps[0].settings == (("StartLimitBurst", "5"), ("RestartSec", "30s"))  # ints read as text
    assert r.verify.seconds == 15.0
    assert r.priority == 50
    assert r.applies.cause is None


def test_bad_toml_names_file_and_line(tmp_path):
    path = tmp_path / "restore-dbus-alias.toml"
    path.write_text('id = "restore-dbus-alias"\ntitle = "t"\nfixes = "f\n')
    with pytest.raises(RecipeError) as e:
        load_recipes([str(tmp_path)], euid=NOT_ROOT)
    assert str(e.value).startswith("%s: not valid TOML: " % path)
    assert re.search(r"\bline 3\b", str(e.value))


def test_not_utf8_is_an_error_not_a_traceback(tmp_path):
    (tmp_path / "restore-dbus-alias.toml").write_bytes(GOOD.encode().replace(b"a comment", "\u4e2d\u6587".encode("gbk")))
    with pytest.raises(RecipeError, match="not UTF-8"):
        load_recipes([str(tmp_path)], euid=NOT_ROOT)


def test_a_fifo_in_place_of_a_recipe_is_refused_without_hanging(tmp_path):
    os.mkfifo(str(tmp_path / "restore-dbus-alias.toml"))
    with pytest.raises(RecipeError, match="not a regular file"):
        load_recipes([str(tmp_path)], euid=NOT_ROOT)


def test_parse_recipe_on_a_document_without_tables():
    with pytest.raises(RecipeError, match=r"^x/restore-dbus-alias.toml: applies: must be a table$"):
        parse_recipe({"id": "restore-dbus-alias", "title": "t", "fixes": "f", "applies": 1, "steps": [],
                      "verify": {}}, "x/restore-dbus-alias.toml")


def test_without_a_toml_reader_loading_says_so(tmp_path):
    """A broken installation (Python < 3.11 without tomli): the package imports, loading says why."""
    (tmp_path / "restore-dbus-alias.toml").write_text(GOOD)
    code = ("import sys\n"
            "sys.modules['tomllib'] = sys.modules['tomli'] = None  # `import tomllib` fails\n"
            "from unitaudit.errors import RecipeError\n"
            "from unitaudit.remediation.recipes import load_recipes\n"
            "try:\n"
            "    load_recipes([%r], euid=%d)\n"
            "except RecipeError as e:\n"
            "    print(e)\n") % (str(tmp_path), NOT_ROOT)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT))
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search("neither tomllib .* nor tomli", r.stdout), r.stdout + r.stderr


# -- the search path -------------------------------------------------------------------------

def test_an_earlier_directory_overrides_by_id_and_the_rest_still_load(tmp_path):
    admin, packaged = tmp_path / "etc", tmp_path / "share"
    admin.mkdir()
    packaged.mkdir()
    (admin / "restore-dbus-alias.toml").write_text(GOOD.replace("Restore the alias", "The admin's own")
                                                   .replace("# a comment", "priority = 5"))
    (packaged / "restore-dbus-alias.toml").write_text("this packaged copy is broken and never read = [")
    for name in ("logrotate-syntax-error.toml", "restart-loop-rate-limit.toml"):
        (packaged / name).write_text((Path(REPO_RECIPES) / name).read_text())
    loaded = load_recipes([str(admin), str(packaged)], euid=NOT_ROOT)
    assert [(r.id, r.title, r.source) for r in loaded] == [
        ("restore-dbus-alias", "The admin's own", str(admin / "restore-dbus-alias.toml")),
        ("logrotate-syntax-error", "Move a broken logrotate config aside", str(packaged / "logrotate-syntax-error.toml")),
        ("restart-loop-rate-limit", "Rate-limit a unit that restarts forever",
         str(packaged / "restart-loop-rate-limit.toml")),
    ]


def test_missing_directories_other_files_and_dot_files_are_skipped(tmp_path):
    (tmp_path / "README.md").write_text("not a recipe")
    (tmp_path / "restore-dbus-alias.toml~").write_text("an editor's backup")
    (tmp_path / ".#restore-dbus-alias.toml").write_text("an editor's lock")
    (tmp_path / "restore-dbus-alias.toml").write_text(GOOD)
    loaded = load_recipes([str(tmp_path / "nowhere"), str(tmp_path)], euid=NOT_ROOT)
    assert [r.id for r in loaded] == ["restore-dbus-alias"]


def test_a_file_where_a_directory_should_be_is_an_error(tmp_path):
    (tmp_path / "plain").write_text("")
    with pytest.raises(RecipeError, match="cannot list the recipes"):
        load_recipes([str(tmp_path / "plain")], euid=NOT_ROOT)


def _no_recipes_line(*places):
    return ("no recipes found: no *.toml file in %s (reinstall unitaudit, or add recipes to "
            "/etc/unitaudit/remediations.d)" % ", ".join(map(str, places)))


def test_no_recipe_in_any_directory_is_an_error_naming_each_one(tmp_path):
    """An installation that lost its recipes: fix would plan nothing and call the machine clean."""
    empty, missing = tmp_path / "empty", tmp_path / "missing"
    empty.mkdir()
    (empty / "README.md").write_text("not a recipe")
    (empty / ".restore-dbus-alias.toml.swp").write_text("an editor's swap file")
    with pytest.raises(RecipeError) as e:
        load_recipes([str(empty), str(missing)], euid=NOT_ROOT)
    assert str(e.value) == _no_recipes_line(empty, missing)
    assert e.value.status is ExitStatus.INCOMPLETE


@pytest.mark.parametrize("args", [
    ["recipes"], ["recipes", "--json"],
    ["fix", "--dry-run", "--bundle", str(example("bundle-seed", "unitaudit-bundle-seed.tar.xz"))],
], ids=["recipes", "recipes-json", "fix-dry-run"])
def test_the_cli_without_recipes_fails_with_one_line_naming_each_place(tmp_path, args):
    """The real entry point, its search path pointed at directories without recipes (an admin
    directory holding none, the others absent: an installation that lost its recipes)."""
    places = (tmp_path / "etc", tmp_path / "share", tmp_path / "site-packages" / "unitaudit" / "remediations")
    places[0].mkdir()
    code = ("import sys\n"
            "from unitaudit.remediation import recipes\n"
            "recipes.SEARCH_PATH = %r\n"
            "from unitaudit.cli import main\n"
            "sys.argv = ['unitaudit'] + %r\n"
            "main()\n") % (tuple(map(str, places)), args)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(tmp_path),
                       env=dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1"))
    assert (p.returncode, p.stdout, p.stderr) == (ExitStatus.INCOMPLETE, "",
                                                  "unitaudit: error: %s\n" % _no_recipes_line(*places))


# -- as root, only files root alone could have written ------------------------------------------

@pytest.fixture
def recipe_dir(tmp_path):
    d = tmp_path / "remediations.d"
    d.mkdir()
    os.chmod(str(d), 0o755)
    f = d / "restore-dbus-alias.toml"
    f.write_text(GOOD)
    os.chmod(str(f), 0o644)
    return d


@needs_root
def test_root_loads_root_owned_files_no_one_else_can_write(recipe_dir):
    assert [r.id for r in load_recipes([str(recipe_dir)], euid=0)] == ["restore-dbus-alias"]


@needs_root
@pytest.mark.parametrize("target,mode,said", [
    ("file", 0o664, "the recipe file is writable by its group (mode 0664)"),
    ("file", 0o646, "the recipe file is writable by others (mode 0646)"),
    ("dir", 0o775, "the directory is writable by its group (mode 0775)"),
    ("dir", 0o757, "the directory is writable by others (mode 0757)"),
    ("dir", 0o1777, "the directory is writable by group and others (mode 1777)"),
])
def test_root_refuses_what_group_or_others_can_write(recipe_dir, target, mode, said):
    path = recipe_dir / "restore-dbus-alias.toml" if target == "file" else recipe_dir
    os.chmod(str(path), mode)
    with pytest.raises(RecipeError) as e:
        load_recipes([str(recipe_dir)], euid=0)
    assert str(e.value).startswith("%s: refused: %s" % (path, said)), str(e.value)
    # the rule is root's: another user reads the same files
    assert load_recipes([str(recipe_dir)], euid=NOT_ROOT)


@needs_root
@pytest.mark.parametrize("target", ["file", "dir"])
def test_root_refuses_what_another_user_owns(recipe_dir, target):
    path = recipe_dir / "restore-dbus-alias.toml" if target == "file" else recipe_dir
    os.chown(str(path), 1000, 1000)
    with pytest.raises(RecipeError) as e:
        load_recipes([str(recipe_dir)], euid=0)
    assert str(e.value).startswith("%s: refused: " % path)
    assert "owned by uid 1000, not root" in str(e.value)


@needs_root
def test_root_checks_the_directory_a_symlinked_recipe_really_lives_in(tmp_path, recipe_dir):
    elsewhere = tmp_path / "world-writable"
    elsewhere.mkdir()
    os.chmod(str(elsewhere), 0o777)
    moved = elsewhere / "restore-dbus-alias.toml"
    os.rename(str(recipe_dir / "restore-dbus-alias.toml"), str(moved))
    os.symlink(str(moved), str(recipe_dir / "restore-dbus-alias.toml"))
    with pytest.raises(RecipeError, match=r"^%s: refused: the directory is writable by group and others" % re.escape(str(elsewhere))):
        load_recipes([str(recipe_dir)], euid=0)


# -- which recipe applies to which finding ------------------------------------------------------

@pytest.fixture(scope="module")
def shipped():
    return {r.id: r for r in load_recipes([REPO_RECIPES], euid=NOT_ROOT)}


@pytest.fixture(scope="module")
def seed_findings():
    """The seed's three findings as unitaudit finds them in the recorded journal: undiagnosed."""
    from unitaudit.sources.journal import JournalSource

    found = findings(fold(JournalSource(directory=str(example("seed-loops", "journal"))).events()))
    return {f.kind.value: f for f in found}


def _applying(recipes, finding):
    """The ids of the recipes that apply, in the order the planner tries them."""
    return [r.id for r in recipes if applies_to(r, finding)]


def _diagnosed(finding, verdict, **facts):
    return replace(finding, diagnosis=Diagnosis(finding.cause.kind, verdict, "test", tuple(facts.items())))


def test_the_seeds_loops_as_diagnosed_on_the_seeds_tree(tree, seed_findings):  # noqa: F811
    loaded = load_recipes([REPO_RECIPES], euid=NOT_ROOT)
    diagnosed = {f.kind.value: f for f in diagnose_all(seed_findings.values(), probe(tree), None)}
    assert _applying(loaded, diagnosed["activation-loop"]) == ["restore-dbus-alias"]
    assert _applying(loaded, diagnosed["restart-loop"]) == ["modprobe-loop-rate-limit", "restart-loop-rate-limit"]
    # config-error+insecure-directories: each half has its recipe
    assert diagnosed["repeated-failure"].diagnosis.verdict == "config-error+insecure-directories"
    assert _applying(loaded, diagnosed["repeated-failure"]) == ["logrotate-insecure-directory",
                                                                "logrotate-syntax-error"]


def test_restore_dbus_alias(shipped, seed_findings):
    recipe, loop = shipped["restore-dbus-alias"], seed_findings["activation-loop"]
    alias_missing = _diagnosed(loop, "alias-missing", declared_by="avahi-daemon.service", package="avahi-daemon",
                               unit_file_state="enabled")
    assert applies_to(recipe, alias_missing)
    # dbus-broker: the same missing unit is a failure, not a counted loop
    assert applies_to(recipe, replace(alias_missing, kind=FindingKind.FAILURE))
    # disabled or masked on purpose is not repaired; undiagnosed (offline) is not acted on
    assert not applies_to(recipe, _diagnosed(loop, "disabled-on-purpose", declared_by="avahi-daemon.service",
                                             unit_file_state="disabled"))
    assert not applies_to(recipe, loop)
    assert not applies_to(recipe, _diagnosed(loop, "diagnosis-failed", error="EIO"))


def test_modprobe_loop_dkms(shipped, seed_findings):
    recipe, loop = shipped["modprobe-loop-dkms"], seed_findings["restart-loop"]
    provider = {"source_dir": "/usr/src/deepin-anything-5.0.1", "package": "deepin-anything-dkms",
                "package_lookup": "found", "dkms_name": "deepin-anything", "dkms_version": "5.0.1",
                "built_for_running_kernel": False}
    dkms = _diagnosed(loop, "module-missing-dkms-available", module="vfs_monitor", dkms_providers=[provider])
    assert applies_to(recipe, dkms)
    assert _applying(load_recipes([REPO_RECIPES], euid=NOT_ROOT), dkms)[0] == "modprobe-loop-dkms"  # priority 10
    assert not applies_to(recipe, _diagnosed(loop, "module-missing", module="vfs_monitor", dkms_providers=[]))
    assert not applies_to(recipe, replace(dkms, kind=FindingKind.START_LIMIT_HIT))


def test_modprobe_loop_rate_limit(shipped, seed_findings):
    recipe, loop = shipped["modprobe-loop-rate-limit"], seed_findings["restart-loop"]
    assert applies_to(recipe, _diagnosed(loop, "module-missing", module="vfs_monitor", dkms_providers=[]))
    for other in ("module-missing-dkms-available", "module-present", "executable-missing", "not-failing-now"):
        assert not applies_to(recipe, _diagnosed(loop, other, module="vfs_monitor")), other
    assert not applies_to(recipe, loop)


def test_logrotate_insecure_directory(shipped, seed_findings):
    recipe, loop = shipped["logrotate-insecure-directory"], seed_findings["repeated-failure"]
    directory = {"path": "/var/log/mirror/printer", "exists": True, "mode": "0777", "owner": "root",
                 "group": "root", "insecure": True, "skipped_logs": ["/var/log/mirror/printer/printer.log"]}
    insecure = _diagnosed(loop, "insecure-directories", configs=[], directories=[directory])
    assert applies_to(recipe, insecure)
    assert applies_to(recipe, replace(insecure, kind=FindingKind.FAILURE))
    assert not applies_to(recipe, _diagnosed(loop, "config-error", directories=[]))
    assert not applies_to(recipe, _diagnosed(loop, "no-longer-present"))
    assert not applies_to(recipe, replace(insecure, kind=FindingKind.RESTART_LOOP))


def test_logrotate_syntax_error(shipped, seed_findings):
    recipe, loop = shipped["logrotate-syntax-error"], seed_findings["repeated-failure"]
    config = {"file": "/etc/logrotate.d/clink-agent", "exists": True, "line": 8, "line_text": "} extra",
              "class": "unexpected-text-after-brace", "package": None, "package_lookup": "not-owned"}
    broken = _diagnosed(loop, "config-error", configs=[config], directories=[])
    assert applies_to(recipe, broken)
    assert not applies_to(recipe, _diagnosed(loop, "insecure-directories", configs=[]))
    assert not applies_to(recipe, _diagnosed(loop, "unexplained"))
    assert not applies_to(recipe, loop)  # offline: the file may be fixed already


def test_restart_loop_rate_limit_is_the_last_resort(shipped, seed_findings):
    recipe, loop = shipped["restart-loop-rate-limit"], seed_findings["restart-loop"]
    loaded = load_recipes([REPO_RECIPES], euid=NOT_ROOT)
    # any restart loop, diagnosed or not, with any cause or none
    assert applies_to(recipe, loop)
    assert applies_to(recipe, replace(loop, cause=None))
    assert _applying(loaded, loop) == ["restart-loop-rate-limit"]
    assert _applying(loaded, _diagnosed(loop, "command-failed")) == ["restart-loop-rate-limit"]
    assert _applying(loaded, _diagnosed(loop, "module-missing"))[0] == "modprobe-loop-rate-limit"
    # never a unit that is not restarting: a timer's failures, a bus activation
    assert not applies_to(recipe, seed_findings["repeated-failure"])
    assert not applies_to(recipe, seed_findings["activation-loop"])
    assert not applies_to(recipe, replace(loop, kind=FindingKind.START_LIMIT_HIT))


def test_the_annotated_example_in_the_readme_is_a_valid_recipe():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("\n## Recipes\n"):]
    example_text = section[section.index("```toml\n") + len("```toml\n"):]
    example_text = example_text[:example_text.index("```")]
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib
    recipe = parse_recipe(tomllib.loads(example_text), "remediations/restore-dbus-alias.toml")
    shipped = {r.id: r for r in load_recipes([REPO_RECIPES], euid=NOT_ROOT)}["restore-dbus-alias"]
    assert (recipe.applies, recipe.steps, recipe.verify, recipe.fallback) == \
        (shipped.applies, shipped.steps, shipped.verify, shipped.fallback)
