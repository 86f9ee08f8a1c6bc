"""Issue 13, defect 9: every bad value is a usage error (exit 2) naming the option, or the file and
key; every fault of the state database is one line naming the file and the remedy; click's own
errors are one line, not a box; `undo` with nothing to undo says so without sending the user to a
command that does not list fix runs.  The CLI runs as the user meets it, in a subprocess."""
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

import pytest

from builders import ROOT, example
from unitaudit.errors import ConfigError, ExitStatus, UsageError, describe
from unitaudit.model import RunStatus
from unitaudit.store.database import open_database
from unitaudit.store.fixruns import FixRunStore

JOURNAL = str(example("seed-loops", "journal"))


def run(*args, env=None, user=None):
    e = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    e.pop("UNITAUDIT_CONFIG", None)
    e.update(env or {})
    # as another user: util-linux's setpriv (a preexec_fn setuid() cannot exec the venv's python here)
    become = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups"] if user is not None else []
    return subprocess.run(become + [sys.executable, "-m", "unitaudit", *args], capture_output=True, text=True,
                          env=e, cwd="/")


def one_line_error(p, status):
    assert p.returncode == status, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("unitaudit: error: "), p.stderr
    assert "internal error" not in p.stderr
    assert "Traceback" not in p.stderr
    assert "Error:" not in p.stderr
    return lines[0]


# -- out-of-range values: exit 2 naming the option --------------------------------------------

@pytest.mark.parametrize("value", ["@1e400", "99999999999999999999d", "@nan", "@inf", "10000-01-01"])
def test_out_of_range_since_is_a_usage_error(value, tmp_path):
    for extra in (["--json"], ["--incremental"]):
        p = run("scan", "--since", value, "--journal-dir", JOURNAL, *extra,
                env={"UNITAUDIT_STATE_DIR": str(tmp_path / "state")})
        line = one_line_error(p, ExitStatus.USAGE)
        assert "--since %r" % value in line or "--since '%s'" % value in line, line


def test_history_since_out_of_range(tmp_path):
    line = one_line_error(run("history", "--since", "99999999999999999999d",
                              env={"UNITAUDIT_STATE_DIR": str(tmp_path)}), ExitStatus.USAGE)
    assert "--since" in line
    assert "out of range" in line


@pytest.mark.parametrize("value", ["@1e400", "99999999999999999999d", "@nan", "@1_0", "9999-12-31T23:00-05:00",
                                   "0001-01-01T00:00+05:00"])
def test_parse_time_range(value):
    from unitaudit.util.times import parse_time

    with pytest.raises(UsageError, match="^--until "):
        parse_time(value, 1.7e9, "--until")


def test_parse_time_edges_still_accepted():
    from unitaudit.util.times import parse_time

    assert parse_time("@0", 1.7e9) == 0.0
    assert parse_time("@1.7e9", 1.7e9) == 1.7e9
    assert parse_time("9999-12-31", 1.7e9) > 2.5e11
    assert parse_time("700000d", 1.7e9) == 1.7e9 - 700000 * 86400


def test_undo_run_number_out_of_range(tmp_path):
    line = one_line_error(run("undo", "99999999999999999999999", env={"UNITAUDIT_STATE_DIR": str(tmp_path)}),
                          ExitStatus.USAGE)
    assert "RUN 99999999999999999999999" in line


# -- the configuration: exit 2 naming the file and the key ------------------------------------

@pytest.mark.parametrize("setting, key", [
    ('[history]\nretention = "99999999999999999999w"\n', "[history] retention"),
    ('[scan]\nwindow = %d\n' % 10 ** 40, "[scan] window"),
    ('[thresholds]\nrestart_window = "%sd"\n' % ("9" * 400), "[thresholds] restart_window"),
])
def test_huge_durations_rejected_by_config_check_and_the_run(setting, key, tmp_path):
    conf = tmp_path / "unitaudit.toml"
    conf.write_text(setting)
    line = one_line_error(run("config", "check", str(conf)), ExitStatus.USAGE)
    assert line.startswith("unitaudit: error: %s: %s: " % (conf, key))
    assert "at most 100 years" in line
    # what config check rejects is what an incremental (timer) run fails on, with the same words
    p = run("scan", "--incremental", "--journal-dir", JOURNAL,
            env={"UNITAUDIT_CONFIG": str(conf), "UNITAUDIT_STATE_DIR": str(tmp_path / "state")})
    assert one_line_error(p, ExitStatus.USAGE) == line


def test_parse_duration_bound():
    from unitaudit.config import parse_duration

    assert parse_duration("36500d", "f: [history] retention") == 36500 * 86400
    for value in ("36501d", 10 ** 400, float("inf"), "99999999999999999999w"):
        with pytest.raises(ConfigError, match=r"^f: \[history\] retention: must be a positive duration"):
            parse_duration(value, "f: [history] retention")


def test_deeply_nested_toml_names_the_file(tmp_path):
    conf = tmp_path / "unitaudit.toml"
    conf.write_text("[scan]\nwindow = \"2h\"\n\n[thresholds]\nrestart_burst = " + "[" * 10000 + "\n")
    line = one_line_error(run("config", "check", str(conf)), ExitStatus.USAGE)
    assert line.startswith("unitaudit: error: %s: line 5, key restart_burst: not valid TOML" % conf), line
    assert "nested too deeply" in line
    assert "RecursionError" not in line


# -- the state database: one line, the file, the remedy ---------------------------------------

def _corrupt(d):
    (d / "state.db").write_bytes(b"this is not a database\n" * 500)


def _foreign(d):
    db = sqlite3.connect(str(d / "state.db"))
    db.execute("CREATE TABLE runs (name TEXT, value INTEGER)")
    db.commit()
    db.close()


def _directory(d):
    (d / "state.db").mkdir()


def _newer(d):
    open_database(str(d)).close()
    db = sqlite3.connect(str(d / "state.db"))
    db.execute("PRAGMA user_version=99")
    db.commit()
    db.close()


@pytest.mark.parametrize("make, words", [
    (_corrupt, ["damaged or not unitaudit's", "move it aside", "unitaudit starts a new one"]),
    (_foreign, ["not unitaudit's", "table runs: no column", "move it aside", "unitaudit starts a new one"]),
    (_directory, ["is not a file", "move it aside", "unitaudit starts a new one"]),
    (_newer, ["newer unitaudit (state schema 99", "upgrade unitaudit"]),
])
def test_state_database_faults(make, words, tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    make(state)
    p = run("scan", "--incremental", "--journal-dir", JOURNAL, env={"UNITAUDIT_STATE_DIR": str(state)})
    line = one_line_error(p, ExitStatus.INCOMPLETE)
    assert "state database %s/state.db" % state in line, line
    for w in words:
        assert w in line, (w, line)
    if os.geteuid() == 0:  # undo needs root: it opens the same database
        assert one_line_error(run("undo", env={"UNITAUDIT_STATE_DIR": str(state)}), ExitStatus.INCOMPLETE) == line


def test_state_directory_is_a_file(tmp_path):
    state = tmp_path / "state"
    state.write_text("")
    line = one_line_error(run("scan", "--incremental", "--journal-dir", JOURNAL,
                              env={"UNITAUDIT_STATE_DIR": str(state)}), ExitStatus.INCOMPLETE)
    assert line == ("unitaudit: error: state directory %s is not a directory: move it aside; unitaudit creates a "
                    "new one" % state)
    line = one_line_error(run("scan", "--incremental", "--journal-dir", JOURNAL,
                              env={"UNITAUDIT_STATE_DIR": str(state / "sub")}), ExitStatus.INCOMPLETE)
    assert line.startswith("unitaudit: error: state directory %s/sub cannot be created or read: " % state), line


def test_state_database_read_only(tmp_path):
    """Not root: the file is read-only to its owner.  Root writes anyway, so the test becomes nobody."""
    top = tempfile.mkdtemp(prefix="unitaudit-ro-", dir="/tmp")  # pytest's tmp_path may be root-only
    try:
        state = os.path.join(top, "state")
        os.mkdir(state, 0o700)
        open_database(state).close()
        db = os.path.join(state, "state.db")
        os.chmod(db, 0o400)
        user = None
        if os.geteuid() == 0:
            user = 65534
            probe = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups", sys.executable, "-c", ""]
            if not shutil.which("setpriv") or subprocess.run(probe, capture_output=True, cwd="/").returncode:
                pytest.skip("root writes a read-only file, and this python cannot run as nobody")
            os.chmod(top, 0o755)
            for p in (state, db):
                os.chown(p, user, user)
        p = run("scan", "--incremental", "--journal-dir", JOURNAL, env={"UNITAUDIT_STATE_DIR": state}, user=user)
        line = one_line_error(p, ExitStatus.INCOMPLETE)
        assert "state database %s cannot be written" % db in line, line
        assert "run as root" in line, line
    finally:
        shutil.rmtree(top)



def test_a_fault_of_the_state_database_met_anywhere_is_one_line_naming_the_file():
    """errors.describe knows sqlite3's errors by their class, without importing sqlite3 or the
    store: the state directory comes from its caller."""
    line, status = describe(sqlite3.OperationalError("database is locked"), state_dir="/var/lib/unitaudit")
    assert status == ExitStatus.INCOMPLETE
    assert line == ("state database /var/lib/unitaudit/state.db is locked by another process: database is locked: "
                    "try again once it is done")
    line, _ = describe(sqlite3.DatabaseError("file is not a database"), state_dir="/s/")
    assert "state database /s/state.db is damaged" in line
    assert "mv /s/state.db /s/state.db.bad" in line

    class Error(Exception):  # sqlite3's name, another module: not a fault of the database
        pass

    assert describe(Error("x"), state_dir="/s")[0].startswith("internal error: Error: x")
    assert describe(sqlite3.OperationalError("database is locked"))[0].startswith("internal error")  # no directory
    code = "import sys, unitaudit.errors; print(sorted(m for m in sys.modules if m == 'sqlite3' or m.startswith('unitaudit')))"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert p.stdout.split() == ["['unitaudit',", "'unitaudit.errors']"], p.stderr

# -- click's errors: one line, no box --------------------------------------------------------

@pytest.mark.parametrize("args, words", [
    (["scan", "--nope"], ["No such option: --nope", "unitaudit scan --help"]),
    (["undo", "x"], ["[RUN]", "unitaudit undo --help"]),
    (["nosuchcommand"], ["nosuchcommand"]),
    (["scan", "--since"], ["--since"]),
])
def test_click_usage_errors_are_one_line(args, words):
    line = one_line_error(run(*args), ExitStatus.USAGE)
    assert "\u256d" not in line
    assert "\u2502" not in line  # rich's panel
    for w in words:
        assert w in line, (w, line)


def test_help_and_version_unchanged():
    p = run("scan", "--help")
    assert p.returncode == ExitStatus.OK
    assert "--since" in p.stdout
    assert not p.stderr
    p = run("--version")
    assert p.returncode == ExitStatus.OK
    assert p.stdout.startswith("unitaudit ")


# -- undo with nothing to undo ---------------------------------------------------------------

def test_undo_without_fix_runs(tmp_path, monkeypatch):
    from unitaudit.errors import StateError
    from unitaudit.services.fix import run_undo

    state = tmp_path / "state"
    monkeypatch.setenv("UNITAUDIT_STATE_DIR", str(state))
    with pytest.raises(StateError) as e:
        run_undo(None, None)
    assert str(e.value) == ("nothing to undo: no fix run is recorded in %s (`unitaudit fix` records each run "
                            "it applies)" % state)
    if os.geteuid() == 0:
        line = one_line_error(run("undo", env={"UNITAUDIT_STATE_DIR": str(state)}), ExitStatus.INCOMPLETE)
        assert line == "unitaudit: error: " + str(e.value)
        assert "history" not in line
    store = FixRunStore(str(state))
    r = store.begin_run("fix --yes", {}, {})
    store.finish_run(r, RunStatus.FIXED, {"outcomes": []})
    store.undo(r)
    store.close()
    with pytest.raises(StateError, match=r"^nothing to undo: every fix run recorded in %s is undone already "
                                         r"\(the last, run %d, at " % (state, r)):
        run_undo(None, None)


def test_an_error_line_fits_an_80_column_terminal_and_stays_one_line_in_a_pipe():
    """On a terminal (a pty here) the line wraps at the terminal's width; piped, it stays one line
    for logs and grep."""
    import os
    import pty
    import subprocess
    import sys

    from builders import ROOT

    cmd = [sys.executable, "-m", "unitaudit", "scan", "--syslog", "/dev/zero"]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "COLUMNS": "80", "TERM": "xterm"}
    piped = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert piped.returncode in (ExitStatus.USAGE, ExitStatus.INCOMPLETE)
    assert len(piped.stderr.splitlines()) == 1
    assert len(piped.stderr.rstrip("\n")) > 80  # the case worth wrapping
    leader, follower = pty.openpty()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower, env=env)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    lines = out.decode().replace("\r\n", "\n").rstrip("\n").split("\n")
    assert p.returncode == piped.returncode, lines
    assert len(lines) == 2, lines
    assert all(len(x) <= 80 for x in lines)
    assert " ".join(x.strip() for x in lines) == piped.stderr.strip()
