"""The configuration file: defaults, every setting, errors that name the file and the key, the
packaged commented default file, and the root-ownership refusal."""
import dataclasses
import os
import re
from pathlib import Path

import pytest

from unitaudit import config
from unitaudit.config import check_config, config_path, load_config, parse_config, parse_duration
from unitaudit.model import Config
from unitaudit.model import Thresholds
from unitaudit.errors import ConfigError, ExitStatus
from unitaudit.remediation.protected import load_protected, merge_protected

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

PACKAGED = Path(__file__).resolve().parent.parent / "packaging" / "debian" / "unitaudit.toml"

FULL = """\
[scan]
window = "7d"

[thresholds]
restart_burst = 3
restart_window = "90min"
restart_counter = 10
activation_burst = 4
activation_window = 600
repeated_failures = 2

[history]
retention = "30d"

[prometheus]
path = ""

[protected]
"my-kiosk.service" = "the kiosk app: restarting it interrupts customers"
"dbus.service" = "mine"

[auto_apply]
recipes = ["logrotate-syntax-error", "restore-dbus-alias", "logrotate-syntax-error"]
"""


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv("UNITAUDIT_CONFIG", raising=False)


def write(tmp_path: Path, text: str, name: str = "unitaudit.toml") -> str:
    p = tmp_path / name
    p.write_text(text)
    p.chmod(0o644)  # as root (the CI) a group-writable file from a loose umask would be refused
    return str(p)


def test_defaults_when_the_default_file_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "DEFAULT_PATH", str(tmp_path / "absent.toml"))
    assert config_path() == (str(tmp_path / "absent.toml"), False)
    c = load_config()
    assert c == Config()
    assert c.path is None
    assert c.window == 86400.0
    assert c.retention == 90 * 86400.0
    assert c.thresholds == Thresholds()
    assert c.prometheus_path == "/var/lib/prometheus/node-exporter/unitaudit.prom"
    assert c.protected == ()
    assert c.auto_apply == ()
    assert check_config(c, []) == []


def test_a_full_file(tmp_path):
    path = write(tmp_path, FULL)
    c = load_config(path)
    assert c.path == path
    assert c.window == 7 * 86400.0
    assert c.thresholds == Thresholds(restart_burst=3, restart_window=5400.0, restart_counter=10,
                                      activation_burst=4, activation_window=600.0, repeated_failures=2)
    assert c.retention == 30 * 86400.0
    assert c.prometheus_path == ""
    assert c.protected == (("my-kiosk.service", "the kiosk app: restarting it interrupts customers"),
                           ("dbus.service", "mine"))
    assert c.auto_apply == ("logrotate-syntax-error", "restore-dbus-alias")  # the repeat dropped
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.window = 1.0  # type: ignore[misc]


def test_some_tables_only_keep_the_other_defaults(tmp_path):
    c = load_config(write(tmp_path, '[thresholds]\nrestart_burst = 9\n[scan]\n'))
    assert c == Config(path=c.path, thresholds=Thresholds(restart_burst=9))


@pytest.mark.parametrize("text, key, words", [
    ('[scna]\nwindow = "1h"\n', "[scna]", ["unknown table", "scan", "thresholds", "auto_apply"]),
    ('window = "1h"\n', "[window]", ["unknown table"]),
    ('[scan]\nwindw = "1h"\n', "[scan] windw", ["unknown key", "window"]),
    ('[thresholds]\nrestart_brust = 3\n', "[thresholds] restart_brust", ["unknown key", "restart_burst"]),
    ('[thresholds]\nrestart_burst = "5"\n', "[thresholds] restart_burst", ['must be a positive integer, got "5"']),
    ('[thresholds]\nrestart_burst = 2.5\n', "[thresholds] restart_burst", ["must be a positive integer, got 2.5"]),
    ('[thresholds]\nrestart_burst = true\n', "[thresholds] restart_burst", ["must be a positive integer, got true"]),
    ('[thresholds]\nrestart_burst = 0\n', "[thresholds] restart_burst", ["must be a positive integer, got 0"]),
    ('[thresholds]\nrestart_window = -60\n', "[thresholds] restart_window", ["positive duration", "got -60"]),
    ('[thresholds]\nactivation_window = true\n', "[thresholds] activation_window", ["got true"]),
    ('[scan]\nwindow = "5 parsecs"\n', "[scan] window", ['"24h"', 'got "5 parsecs"']),
    ('[scan]\nwindow = "0h"\n', "[scan] window", ["positive duration"]),
    ('[scan]\nwindow = inf\n', "[scan] window", ["positive duration", "got inf"]),
    ('[history]\nretention = "-90d"\n', "[history] retention", ['got "-90d"']),
    ('scan = 5\n', "[scan]", ["must be a table, got 5"]),
    ('[prometheus]\npath = "unitaudit.prom"\n', "[prometheus] path", ["absolute path", 'got "unitaudit.prom"']),
    ('[prometheus]\npath = 1\n', "[prometheus] path", ["got 1"]),
    ('[protected]\n"my.service" = ""\n', '[protected] "my.service"', ["reason"]),
    ('[protected]\n"my.service" = 3\n', '[protected] "my.service"', ["reason", "got 3"]),
    ('[protected]\n"" = "why"\n', '[protected] ""', ["unit glob"]),
    ('[auto_apply]\nrecipes = "restore-dbus-alias"\n', "[auto_apply] recipes", ["list of recipe ids"]),
    ('[auto_apply]\nrecipes = ["ok", 5]\n', "[auto_apply] recipes", ["list of recipe ids"]),
    ('[auto_apply]\nrecipes = []\nrun = true\n', "[auto_apply] run", ["unknown key", "recipes"]),
])
def test_each_error_names_the_file_and_the_key(tmp_path, text, key, words):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    msg = str(e.value)
    assert msg.startswith(path + ": " + key), msg
    for w in words:
        assert w in msg, msg
    assert e.value.status == ExitStatus.USAGE


def test_the_message_the_admin_sees(tmp_path):
    path = write(tmp_path, "[thresholds]\nrestart_burst = -1\n")
    with pytest.raises(ConfigError, match="^%s$" % re.escape(
            "%s: [thresholds] restart_burst: must be a positive integer, got -1" % path)):
        load_config(path)


def test_a_toml_syntax_error_names_the_file_and_the_line(tmp_path):
    path = write(tmp_path, '[scan]\nwindow = "24h"\nretention 90d\n')
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(e.value).startswith(path + ": not valid TOML")
    assert "line 3" in str(e.value)


def test_not_utf8_and_not_a_file(tmp_path):
    path = write(tmp_path, "")
    Path(path).write_bytes(b"# \xff\n")
    with pytest.raises(ConfigError, match="^%s: not UTF-8" % re.escape(path)):
        load_config(path)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config(str(tmp_path))


@pytest.mark.parametrize("value, seconds", [
    ("24h", 86400.0), ("7d", 604800.0), ("90min", 5400.0), ("30m", 1800.0), ("45s", 45.0), ("10 sec", 10.0),
    ("1.5h", 5400.0), ("2w", 1209600.0), (" 1h ", 3600.0), (3600, 3600.0), (0.5, 0.5),
    # the forms --since takes (util.times.duration_seconds): one grammar for both
    ("2 hours", 7200.0), ("1 hour", 3600.0), ("3days", 259200.0), ("1 day", 86400.0), ("2 weeks", 1209600.0),
    (".5d", 43200.0),
])
def test_durations(value, seconds):
    assert parse_duration(value, "f: [scan] window") == seconds


@pytest.mark.parametrize("value", ["5 parsecs", "h", "1", "-1h", "+1h", "1 h 2", "1H", "0s", 0, -5, True, None, [],
                                   float("nan"), "1e3h", "2 Hours", "0 days"])
def test_bad_durations(value):
    with pytest.raises(ConfigError, match=r"^f: \[scan\] window: must be a positive duration"):
        parse_duration(value, "f: [scan] window")


def test_the_environment_variable_names_the_file(tmp_path, monkeypatch):
    path = write(tmp_path, '[scan]\nwindow = "2h"\n', "lab.toml")
    monkeypatch.setattr(config, "DEFAULT_PATH", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("UNITAUDIT_CONFIG", path)
    assert config_path() == (path, True)
    c = load_config()
    assert c.path == path
    assert c.window == 7200.0
    monkeypatch.setenv("UNITAUDIT_CONFIG", "")  # set but empty: as if unset
    assert config_path() == (str(tmp_path / "absent.toml"), False)
    assert load_config() == Config()


def test_a_named_file_that_is_missing_is_an_error(tmp_path, monkeypatch):
    missing = str(tmp_path / "missing.toml")
    monkeypatch.setenv("UNITAUDIT_CONFIG", missing)
    with pytest.raises(ConfigError) as e:
        load_config()
    assert str(e.value).startswith(missing + ": ")
    assert "UNITAUDIT_CONFIG" in str(e.value)
    assert e.value.status == ExitStatus.USAGE
    monkeypatch.delenv("UNITAUDIT_CONFIG")
    with pytest.raises(ConfigError, match="^%s: .*no such file" % re.escape(missing)):
        load_config(missing)


def test_check_config():
    c = parse_config({"auto_apply": {"recipes": ["restore-dbus-alias", "nope"]},
                      "protected": {"my-*.service": "why", "systemd-*": "why", "kiosk": "why", "a?[bc].socket": "why"},
                      "prometheus": {"path": "/tmp/unitaudit.txt"}}, "/etc/u.toml")
    problems = check_config(c, ["restore-dbus-alias", "logrotate-syntax-error"])
    assert problems == [
        "/etc/u.toml: [auto_apply] recipes: no recipe 'nope' (unitaudit recipes lists them)",
        '/etc/u.toml: [protected] "kiosk": matches no unit name (unit globs look like "my-app.service" or '
        '"my-*.service")',
        "/etc/u.toml: [prometheus] path: node_exporter's textfile collector reads only *.prom files, so "
        '"/tmp/unitaudit.txt" is never exported',
    ]
    fine = parse_config({"auto_apply": {"recipes": ["restore-dbus-alias"]}}, "/etc/u.toml")
    assert check_config(fine, ["restore-dbus-alias"]) == []


def test_every_packaged_protected_glob_counts_as_plausible():
    packaged = load_protected()
    c = parse_config({"protected": packaged}, "/etc/u.toml")
    assert check_config(c, []) == []


def test_merged_protected():
    packaged = {"dbus.service": "the system bus", "systemd-*": "systemd"}
    c = parse_config({"protected": {"my-kiosk.service": "the kiosk", "dbus.service": "mine"}}, "/etc/u.toml")
    assert merge_protected(packaged, c.protected) == {"dbus.service": "the system bus", "systemd-*": "systemd",
                                                      "my-kiosk.service": "the kiosk"}
    assert packaged == {"dbus.service": "the system bus", "systemd-*": "systemd"}  # not modified
    assert merge_protected(packaged, Config().protected) == packaged


def test_a_fix_plan_keeps_the_packaged_reason_and_adds_the_admins_globs(tmp_path):
    """README: [protected] adds to the packaged units, never replacing one.  The fix planner
    (services.fix.plan_fix) merges them that way: an admin's entry for a packaged glob keeps the
    packaged reason, and the admin's own globs protect their units too."""
    from dataclasses import replace

    from builders import example, findings
    from unitaudit.analysis.evidence import fold
    from unitaudit.model import Diagnosis
    from unitaudit.services.fix import plan_fix
    from unitaudit.sources.journal import JournalSource

    seed = findings(fold(JournalSource(directory=str(example("seed-loops", "journal"))).events()))
    (loop,) = [f for f in seed if f.kind.value == "restart-loop"]
    loop = replace(loop, diagnosis=Diagnosis("execstartpre-failed", "module-missing", "no module", (
        ("unit", loop.unit), ("module", "vfs_monitor"), ("dkms_providers", []))))
    packaged = load_protected()["NetworkManager.service"]
    admin = (("NetworkManager.service", "the admin's own words"), ("my-kiosk.service", "the kiosk"))
    plan, _recording = plan_fix([replace(loop, unit="NetworkManager.service")], str(tmp_path), protected_extra=admin)
    assert [r.reason for r in plan.refusals] == [
        "protected unit NetworkManager.service: %s (name it with --unit to allow)" % packaged]
    plan, _recording = plan_fix([replace(loop, unit="my-kiosk.service")], str(tmp_path), protected_extra=admin)
    assert [r.reason for r in plan.refusals] == [
        "protected unit my-kiosk.service: the kiosk (name it with --unit to allow)"]
    assert not plan.steps


def test_the_packaged_default_file_shows_the_defaults():
    text = PACKAGED.read_text()
    # as installed: every setting commented out, so the defaults
    as_is = parse_config(tomllib.loads(text), str(PACKAGED))
    assert dataclasses.replace(as_is, path=None) == Config()
    # every setting line is "#key = value" (an explanation is "# ..."): uncommented, the values shown
    # must be the defaults, and every key of every table (but the open-ended [protected]) is shown
    settings = re.findall(r"^#(?=[A-Za-z_])", text, re.M)
    uncommented = re.sub(r"^#(?=[A-Za-z_])", "", text, flags=re.M)
    data = tomllib.loads(uncommented)
    assert dataclasses.replace(parse_config(data, str(PACKAGED)), path=None) == Config()
    shown = {(table, key) for table, keys in data.items() for key in keys}
    expected = {(table, key) for table, keys in config.TABLES.items() if keys for key in keys}
    assert shown == expected
    assert len(settings) == len(expected)
    # each setting has its line of explanation just above it
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"#[A-Za-z_]", line):
            assert lines[i - 1].startswith("# "), line


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="the ownership check applies only when running as root (the CI does)")
def test_as_root_a_file_others_own_or_can_write_is_refused(tmp_path):
    path = write(tmp_path, '[auto_apply]\nrecipes = ["restore-dbus-alias"]\n')
    os.chown(path, 65534, 65534)
    os.chmod(path, 0o666)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(e.value).startswith(path + ": refused")
    assert "uid 65534" in str(e.value)
    assert e.value.status == ExitStatus.USAGE
    os.chown(path, 0, 0)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(e.value).startswith(path + ": refused")
    assert "0666" in str(e.value)
    os.chmod(path, 0o620)
    with pytest.raises(ConfigError, match="writable by its group"):
        load_config(path)
    os.chmod(path, 0o644)
    assert load_config(path).auto_apply == ("restore-dbus-alias",)
