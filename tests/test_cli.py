"""The command line as a user meets it: exit codes, one-line errors, the JSON contract."""
import json
import os
import subprocess
import sys

import pytest

from paths import ROOT, fixture


def run(*args, env=None):
    e = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "unitaudit", *args], capture_output=True, text=True, env=e)


def test_findings_exit_1_with_a_table():
    p = run("scan", "--syslog", str(fixture("seed", "logrotate-hourly.txt")))
    assert p.returncode == 1, p.stderr
    assert "repeated-failure" in p.stdout and "logrotate.service" in p.stdout


def test_clean_exit_0():
    p = run("scan", "--syslog", str(fixture("captured", "uos-zh-binfmt-restartsec-1s.txt")))
    assert p.returncode == 0, p.stderr
    assert "No loops" in p.stdout


def test_json_document_contract():
    p = run("scan", "--json", "--syslog", str(fixture("seed", "logrotate-hourly.txt")),
            "--syslog", str(fixture("seed", "logrotate-status.txt")))
    assert p.returncode == 1, p.stderr
    doc = json.loads(p.stdout)
    assert doc["schema"] == "unitaudit.report/1"
    (f,) = doc["findings"]
    for key in ("id", "kind", "unit", "count", "rate_per_hour", "first_seen", "last_seen", "trusted", "evidence", "cause"):
        assert key in f
    assert f["kind"] == "repeated-failure" and f["trusted"] is False
    assert f["first_seen"].endswith("Z") and f["cause"]["kind"] == "logrotate-config"
    assert {"file", "line", "message"} <= set(f["cause"]["errors"][0])
    again = json.loads(run("scan", "--json", "--syslog", str(fixture("seed", "logrotate-hourly.txt"))).stdout)
    assert again["findings"][0]["id"] == f["id"]  # stable across runs


def test_verbose_shows_evidence_lines():
    p = run("scan", "--verbose", "--syslog", str(fixture("seed", "logrotate-hourly.txt")))
    assert "Failed with result 'exit-code'" in p.stdout


@pytest.mark.parametrize("args, status, words", [
    (["scan", "--syslog", "/nonexistent/syslog"], 3, "no such file"),
    (["scan", "--syslog", "/"], 3, "is a directory"),
    (["scan", "--journal-dir", str(fixture("seed"))], 3, "no journal files"),
    (["scan", "--journal-file", "/etc/hostname"], 3, "not a journal file"),
    (["scan", "--since", "last tuesday", "--syslog", "/etc/hostname"], 2, "--since"),
    (["scan", "--threshold", "bogus=1", "--syslog", "/etc/hostname"], 2, "--threshold"),
    (["scan", "--since", "-1h", "--until", "-2h", "--syslog", "/etc/hostname"], 2, "after --until"),
    (["scan", "--nope"], 2, "No such option"),
])
def test_errors_are_one_line_with_documented_status(args, status, words):
    p = run(*args)
    assert p.returncode == status, (p.stdout, p.stderr)
    assert words in p.stderr
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout


def test_no_journal_on_this_machine_is_a_clear_error(tmp_path):
    import glob

    if glob.glob("/var/log/journal/*/*.journal") or glob.glob("/run/log/journal/*/*.journal"):
        pytest.skip("this machine has a journal; the lab covers the live case")
    p = run("scan")
    assert p.returncode == 3 and "no journal found" in p.stderr


def test_version():
    p = run("--version")
    assert p.returncode == 0 and p.stdout.startswith("unitaudit ")


def test_journal_files_repeatable_and_trusted_findings():
    from paths import example

    j = str(example("seed-loops", "journal", "system.journal"))
    c = str(example("controls", "journal", "system.journal"))
    p = run("scan", "--json", "--journal-file", j, "--journal-file", c)
    assert p.returncode == 1, p.stderr
    doc = json.loads(p.stdout)
    assert sorted(f["kind"] for f in doc["findings"]) == ["activation-loop", "repeated-failure", "restart-loop"]
    assert all(f["trusted"] for f in doc["findings"])
    assert doc["sources"][0]["path"] == "%s, %s" % (j, c)
    # Two machines (both named "vm"): the controls' good logrotate runs, a minute later on the
    # other machine, must not break the seed machine's streak of failures.
    hosts = {f["host"] for f in doc["findings"]}
    assert len(hosts) == 1 and next(iter(hosts)).startswith("vm/")


def test_boot_needs_a_journal():
    p = run("scan", "--boot", "--syslog", str(fixture("seed", "logrotate-hourly.txt")))
    assert p.returncode == 2 and "--boot needs a journal" in p.stderr


def test_window_on_the_recorded_journal():
    from paths import example

    d = str(example("seed-loops", "journal"))
    everything = json.loads(run("scan", "--json", "--journal-dir", d).stdout)
    last = everything["evidence_span"]["last"]
    p = run("scan", "--json", "--journal-dir", d, "--since", last)
    doc = json.loads(p.stdout)
    assert p.returncode in (0, 1) and doc["window"]["since"] == last
    assert sum(s["events"] for s in doc["sources"]) < sum(s["events"] for s in everything["sources"])


def test_unreadable_journal_directory_is_not_a_clean_scan():
    """Run as nobody: a directory whose journal files cannot be read is an error, not 'nothing found'."""
    import shutil

    from paths import example

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
