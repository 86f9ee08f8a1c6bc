"""The command line as a user meets it: exit codes, one-line errors, the JSON contract."""
import json
import os
import subprocess
import sys

import pytest

from builders import ROOT, fixture
from unitaudit.errors import ExitStatus


def run(*args, env=None):
    e = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "unitaudit", *args], capture_output=True, text=True, env=e)


def test_findings_exit_1_with_a_table():
    p = run("scan", "--syslog", str(fixture("seed", "logrotate-hourly.txt")))
    assert p.returncode == ExitStatus.FINDINGS, p.stderr
    assert "repeated-failure" in p.stdout
    assert "logrotate.service" in p.stdout


def test_clean_exit_0():
    p = run("scan", "--syslog", str(fixture("captured", "uos-zh-binfmt-restartsec-1s.txt")))
    assert p.returncode == ExitStatus.OK, p.stderr
    assert "No loops" in p.stdout


def test_json_document_contract():
    p = run("scan", "--json", "--syslog", str(fixture("seed", "logrotate-hourly.txt")),
            "--syslog", str(fixture("seed", "logrotate-status.txt")))
    assert p.returncode == ExitStatus.FINDINGS, p.stderr
    doc = json.loads(p.stdout)
    assert doc["schema"] == "unitaudit.report/1"
    (f,) = doc["findings"]
    for key in ("id", "kind", "unit", "count", "rate_per_hour", "first_seen", "last_seen", "trusted", "evidence", "cause"):
        assert key in f
    assert f["kind"] == "repeated-failure"
    assert f["trusted"] is False
    assert f["first_seen"].endswith("Z")
    assert f["cause"]["kind"] == "logrotate-config"
    assert {"file", "line", "message"} <= set(f["cause"]["errors"][0])
    again = json.loads(run("scan", "--json", "--syslog", str(fixture("seed", "logrotate-hourly.txt"))).stdout)
    assert again["findings"][0]["id"] == f["id"]  # stable across runs


def test_verbose_shows_evidence_lines():
    p = run("scan", "--verbose", "--syslog", str(fixture("seed", "logrotate-hourly.txt")))
    assert "Failed with result 'exit-code'" in p.stdout


@pytest.mark.parametrize("args, status, words", [
    (["scan", "--syslog", "/nonexistent/syslog"], ExitStatus.INCOMPLETE, "no such file"),
    (["scan", "--syslog", "/"], ExitStatus.INCOMPLETE, "is a directory"),
    (["scan", "--journal-dir", str(fixture("seed"))], ExitStatus.INCOMPLETE, "no journal files"),
    (["scan", "--journal-file", "/etc/hostname"], ExitStatus.INCOMPLETE, "not a journal file"),
    (["scan", "--since", "last tuesday", "--syslog", "/etc/hostname"], ExitStatus.USAGE, "--since"),
    (["scan", "--threshold", "bogus=1", "--syslog", "/etc/hostname"], ExitStatus.USAGE, "--threshold"),
    (["scan", "--since", "-1h", "--until", "-2h", "--syslog", "/etc/hostname"], ExitStatus.USAGE, "after --until"),
    (["scan", "--nope"], ExitStatus.USAGE, "No such option"),
])
def test_errors_are_one_line_with_documented_status(args, status, words):
    p = run(*args)
    assert p.returncode == status, (p.stdout, p.stderr)
    assert words in p.stderr
    assert "Traceback" not in p.stderr
    assert "Traceback" not in p.stdout


def test_no_journal_on_this_machine_is_a_clear_error(tmp_path):
    import glob

    if glob.glob("/var/log/journal/*/*.journal") or glob.glob("/run/log/journal/*/*.journal"):
        pytest.skip("this machine has a journal; the lab covers the live case")
    p = run("scan")
    assert p.returncode == ExitStatus.INCOMPLETE
    assert "no journal found" in p.stderr


def test_version():
    p = run("--version")
    assert p.returncode == ExitStatus.OK
    assert p.stdout.startswith("unitaudit ")


def test_journal_files_repeatable_and_trusted_findings():
    from builders import example

    j = str(example("seed-loops", "journal", "system.journal"))
    c = str(example("controls", "journal", "system.journal"))
    p = run("scan", "--json", "--journal-file", j, "--journal-file", c)
    assert p.returncode == ExitStatus.FINDINGS, p.stderr
    doc = json.loads(p.stdout)
    assert sorted(f["kind"] for f in doc["findings"]) == ["activation-loop", "repeated-failure", "restart-loop"]
    assert all(f["trusted"] for f in doc["findings"])
    assert doc["sources"][0]["path"] == "%s, %s" % (j, c)
    # Two machines (both named "vm"): the controls' good logrotate runs, a minute later on the
    # other machine, must not break the seed machine's streak of failures.
    hosts = {f["host"] for f in doc["findings"]}
    assert len(hosts) == 1
    assert next(iter(hosts)).startswith("vm/")


def test_boot_needs_a_journal():
    p = run("scan", "--boot", "--syslog", str(fixture("seed", "logrotate-hourly.txt")))
    assert p.returncode == ExitStatus.USAGE
    assert "--boot needs a journal" in p.stderr


def test_window_on_the_recorded_journal():
    from builders import example

    d = str(example("seed-loops", "journal"))
    everything = json.loads(run("scan", "--json", "--journal-dir", d).stdout)
    last = everything["evidence_span"]["last"]
    p = run("scan", "--json", "--journal-dir", d, "--since", last)
    doc = json.loads(p.stdout)
    assert p.returncode in (ExitStatus.OK, ExitStatus.FINDINGS)
    assert doc["window"]["since"] == last
    assert sum(s["events"] for s in doc["sources"]) < sum(s["events"] for s in everything["sources"])


def test_unreadable_journal_directory_is_not_a_clean_scan():
    """Run as nobody: a directory whose journal files cannot be read is an error, not 'nothing found'."""
    import shutil

    from builders import example

    if os.geteuid() != 0 or not os.path.exists("/usr/bin/python3"):
        pytest.skip("needs root (to become nobody) and Debian's python3")
    import tempfile
    from pathlib import Path

    top = Path(tempfile.mkdtemp(prefix="unitaudit-perm-", dir="/tmp"))  # pytest's tmp_path is root-only
    d = top / "j"
    d.mkdir()
    shutil.copy(example("seed-loops", "journal", "system.journal"), d / "system.journal")
    os.chmod(d / "system.journal", 0o600)
    for p in (top, d):
        os.chmod(p, 0o755)
    # Debian's python3: its standard library is readable by nobody, the checks need no more
    code = ("import os; os.setgid(65534); os.setuid(65534)\n"
            "from unitaudit.sources.journal import JournalSource\n"
            "from unitaudit.errors import SourceError\n"
            "try:\n    JournalSource(directory=%r)\nexcept SourceError as e:\n    print(e)\n" % str(d))
    p = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    shutil.rmtree(top)
    assert "permission denied on all 1 journal files" in p.stdout, (p.stdout, p.stderr)


def _modules_after(*args):
    """The modules `unitaudit ARGS` left loaded, from a child process that runs the entry point
    (its own output goes to /dev/null)."""
    code = ("import json, os, sys\n"
            "from unitaudit.cli import main\n"
            "sys.argv = ['unitaudit'] + %r\n"
            "out, sys.stdout = sys.stdout, open(os.devnull, 'w')\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "out.write(json.dumps(sorted(sys.modules)))\n" % (list(args),))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1"))
    assert p.returncode == 0, p.stderr
    return set(json.loads(p.stdout))


def test_an_offline_scan_never_imports_dbus_next(tmp_path):
    """The CLI loads services/live (and dbus-next with it) only for a live scan."""
    log = str(fixture("seed", "logrotate-hourly.txt"))
    offline = _modules_after("scan", "--syslog", log)
    assert "unitaudit.services.scan" in offline  # the scan did run
    assert not [m for m in offline if m.split(".")[0] == "dbus_next"]
    assert "unitaudit.services.live" not in offline
    assert "unitaudit.sources.dbus" not in offline
    # the same scan with a bus to read is a live scan: the check above can see dbus-next
    live = _modules_after("scan", "--syslog", log, "--bus-address", "unix:path=%s" % (tmp_path / "no-bus"))
    assert "dbus_next" in live
    assert "unitaudit.services.live" in live


def test_help_and_version_load_only_the_command_line():
    """`unitaudit --help` and `--version` start in typer and click alone: no rich (typer's rich help
    panels load rich, markdown-it and pygments: 0.07 s of a 0.13 s start on Debian's python3), and
    nothing of the scan."""
    for args in (["--help"], ["--version"], ["config", "--help"]):
        loaded = _modules_after(*args)
        assert not [m for m in loaded if m.split(".")[0] in ("rich", "pygments", "markdown_it", "dbus_next")], args
        assert {m for m in loaded if m.startswith("unitaudit")} <= {"unitaudit", "unitaudit.errors"} | {
            m for m in loaded if m.startswith("unitaudit.cli")}, args


def test_help_lists_every_command_whole_in_80_columns():
    p = run("--help")
    assert p.returncode == ExitStatus.OK
    lines = p.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), p.stdout
    listed = lines[lines.index("Commands:") + 1:]
    names = [line.split()[0] for line in listed if line.strip()]
    assert names == ["scan", "fix", "undo", "churn", "watch", "history", "recipes", "collect", "config"]
    assert not [line for line in listed if line.rstrip().endswith("...")], p.stdout  # click cuts a long one


def test_a_scan_loads_no_fix_or_history_code():
    loaded = _modules_after("scan", "--json", "--syslog", str(fixture("seed", "logrotate-hourly.txt")))
    assert "unitaudit.services.scan" in loaded
    for package in ("unitaudit.remediation", "unitaudit.hourly", "unitaudit.store", "unitaudit.model.plans",
                    "unitaudit.model.runs", "unitaudit.services.fix", "unitaudit.sources.journal", "systemd"):
        assert not [m for m in loaded if m == package or m.startswith(package + ".")], package


def test_debug_shows_the_traceback_and_the_error_line_does_not():
    plain = run("scan", "--syslog", "/nonexistent/syslog")
    assert plain.returncode == ExitStatus.INCOMPLETE
    assert "Traceback" not in plain.stderr
    debug = run("--debug", "scan", "--syslog", "/nonexistent/syslog")
    assert debug.returncode != ExitStatus.OK
    assert "Traceback" in debug.stderr
    assert "SourceError" in debug.stderr


def test_recipes_as_text_and_json():
    doc = json.loads(run("recipes", "--json").stdout)
    assert doc["schema"] == "unitaudit.recipes/1"
    alias = [r for r in doc["recipes"] if r["id"] == "restore-dbus-alias"][0]
    assert alias["findings"]
    assert all(isinstance(k, str) and "." not in k for k in alias["findings"])
    assert alias["cause"] == "missing-unit"
    assert alias["actions"]
    assert isinstance(alias["verify"], str)
    text = run("recipes")
    assert text.returncode == ExitStatus.OK
    assert "restore-dbus-alias\n    Restore" in text.stdout
    assert "caused by missing-unit" in text.stdout
    assert "CauseKind" not in text.stdout
    wide = [line for line in text.stdout.splitlines() if len(line) > 80 and not line.startswith("    from /")]
    assert wide == []  # only a line naming a long recipe path may be wider


def test_config_check_says_valid(tmp_path):
    conf = tmp_path / "unitaudit.toml"
    conf.write_text('[scan]\nwindow = "2 hours"\n[protected]\n"my-kiosk.service" = "the kiosk"\n')
    p = run("config", "check", str(conf))
    assert p.returncode == ExitStatus.OK, p.stderr
    assert p.stdout.splitlines() == [
        "%s: valid" % conf,
        "  window 2 h, retention 90 days",
        "  prometheus /var/lib/prometheus/node-exporter/unitaudit.prom",
        "  auto-apply (none)",
        "  1 protected addition(s)"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="undo needs root")
def test_undo_json_document(tmp_path):
    """A recorded fix run undone with --json; no bus to reload systemd over: a partial undo."""
    from unitaudit.model import RunStatus
    from unitaudit.store.fixruns import FixRunStore

    state, target = tmp_path / "state", tmp_path / "etc" / "app.conf"
    target.parent.mkdir()
    target.write_text("before\n")
    store = FixRunStore(str(state))
    with store.lock():
        fix_run = store.begin_run("fix --yes", {}, {})
        store.write_file(fix_run, str(target), "after\n")
        store.finish_run(fix_run, RunStatus.FIXED, {"outcomes": []})
    store.close()
    p = run("undo", "--json", "--bus-address", "unix:path=%s" % (tmp_path / "no-bus"),
            env={"UNITAUDIT_STATE_DIR": str(state)})
    assert p.returncode == ExitStatus.FIX_FAILED, p.stderr
    doc = json.loads(p.stdout)
    assert list(doc) == ["schema", "run", "restored", "removed", "moved_back", "links_restored", "cannot_undo",
                         "errors", "reloaded", "complete"]
    assert doc["schema"] == "unitaudit.undo/1"
    assert doc["run"] == fix_run
    assert doc["restored"] == [str(target)]
    assert target.read_text() == "before\n"
    assert doc["reloaded"] is False
    assert doc["complete"] is False
    assert len(doc["errors"]) == 1
    assert doc["errors"][0].startswith("daemon-reload failed (")
