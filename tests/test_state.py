"""The fix-run store on real files: backups, atomic writes, moves, systemd's link changes, the lock,
and undo, including after a `kill -9` at each point of a write; the state database's schema, its
upgrade from version 2 and its transactions."""
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from builders import ROOT, fixture
from unitaudit.errors import LockBusy, StateError
from unitaudit.hourly.history import HistoryStore
from unitaudit.model import RunOrigin, RunStatus
from unitaudit.store import database
from unitaudit.store.database import SCHEMA_VERSION, open_database, transaction
from unitaudit.store.fixruns import FixRunStore
from unitaudit.util.files import default_state_dir
from unitaudit.util.names import check_path

AS_ROOT = os.geteuid() == 0
OTHER_UID, OTHER_GID = 4321, 4322  # an owner that is neither root nor the test's user


def snapshot(root):
    """Every entry under root: type, mode, owner, and the bytes or the link target."""
    seen = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                what = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                what = ("dir", None)
            else:
                with open(p, "rb") as f:
                    what = ("file", f.read())
            seen[os.path.relpath(p, root)] = what + (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
    return seen


def child(state_dir, code, **kw):
    """Python in a separate process with `store` open on state_dir."""
    prologue = "import os, sys\nfrom unitaudit.store.fixruns import FixRunStore\nstore = FixRunStore(%r)\n" % str(state_dir)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", prologue + textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=60, **kw)


@pytest.fixture
def store(tmp_path):
    s = FixRunStore(str(tmp_path / "state"))
    yield s
    s.close()


@pytest.fixture
def etc(tmp_path):
    """A small /etc: a logrotate config, a unit file, its wants link."""
    e = tmp_path / "etc"
    (e / "logrotate.d").mkdir(parents=True)
    (e / "logrotate.d" / "clink-agent").write_bytes(b"/var/log/clink/*.log {\n  daily\n}\n")
    (e / "systemd" / "system" / "multi-user.target.wants").mkdir(parents=True)
    lib = tmp_path / "lib" / "systemd" / "system"
    lib.mkdir(parents=True)
    (lib / "avahi-daemon.service").write_text("[Install]\nAlias=dbus-org.freedesktop.Avahi.service\n")
    os.symlink(str(lib / "avahi-daemon.service"), str(e / "systemd/system/multi-user.target.wants/avahi-daemon.service"))
    return e


def test_the_state_directory_is_private(tmp_path):
    FixRunStore(str(tmp_path / "a" / "state")).close()
    assert stat.S_IMODE(os.stat(tmp_path / "a" / "state").st_mode) == 0o700
    open_dir = tmp_path / "open"
    open_dir.mkdir(mode=0o777)
    os.chmod(open_dir, 0o777)
    with pytest.raises(StateError, match="writable by it alone"):
        FixRunStore(str(open_dir))


def test_default_state_dir():
    if AS_ROOT:
        assert default_state_dir() == "/var/lib/unitaudit"
    else:
        assert default_state_dir().endswith("/unitaudit")


def test_default_state_dir_of_an_ordinary_user(tmp_path):
    if not AS_ROOT:
        pytest.skip("needs root to switch to another uid")
    # imported first: the interpreter's own files may not be readable by the other uid
    code = "import os; from unitaudit.util.files import default_state_dir; os.setegid(65534); os.seteuid(65534); print(default_state_dir())"
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_STATE_HOME="/home/u/.state")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "/home/u/.state/unitaudit"
    env["XDG_STATE_HOME"], env["HOME"] = "relative", "/home/u"  # relative: invalid, ignored
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "/home/u/.local/state/unitaudit"


@pytest.mark.parametrize("bad", ["etc/x", "/etc/../x", "/etc/./x", "//etc/x", "/etc/x/", "/", "/etc/x\0"])
def test_paths_must_be_absolute_and_normalized(store, bad):
    with pytest.raises(ValueError):
        check_path(bad)
    run = store.begin_run("fix", {}, {})
    with pytest.raises(ValueError):
        store.write_file(run, bad, "x")


def test_write_then_undo_restores_bytes_mode_and_owner(store, etc):
    config = etc / "logrotate.d" / "clink-agent"
    original = b"/var/log/clink/*.log {\n  daily\n}\xff\x00 trailing }\n"
    config.write_bytes(original)
    os.chmod(config, 0o640)
    if AS_ROOT:
        os.chown(config, OTHER_UID, OTHER_GID)
    os.utime(config, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    before = os.stat(config)

    run = store.begin_run("fix --yes", {"steps": ["logrotate-su"]}, {"findings": ["f1"]})
    store.write_file(run, str(config), "/var/log/clink/*.log {\n  su root adm\n  daily\n}\n")
    written = os.stat(config)
    assert config.read_bytes().startswith(b"/var/log/clink/*.log {\n  su root adm")
    assert stat.S_IMODE(written.st_mode) == 0o640  # a replaced file keeps its mode and owner
    assert (written.st_uid, written.st_gid) == (before.st_uid, before.st_gid)
    assert written.st_ino != before.st_ino  # replaced by rename, not rewritten in place
    store.finish_run(run, RunStatus.FIXED, {"outcomes": []})

    report = store.undo(run)
    after = os.stat(config)
    assert report.restored == [str(config)]
    assert not report.errors
    assert config.read_bytes() == original
    assert stat.S_IMODE(after.st_mode) == 0o640
    assert after.st_mtime_ns == before.st_mtime_ns
    if not AS_ROOT:
        pytest.skip("owner check needs root (a file owned by another uid cannot be made otherwise)")
    assert (after.st_uid, after.st_gid) == (OTHER_UID, OTHER_GID)


def test_a_new_file_in_new_directories_is_removed_with_them(store, etc):
    system = etc / "systemd" / "system"
    system_before = os.stat(system)
    drop_in = system / "deepin-anything-monitor.service.d" / "sub" / "50-unitaudit.conf"
    tree = snapshot(etc)
    run = store.begin_run("fix", {}, {})
    store.write_file(run, str(drop_in), "[Unit]\nStartLimitBurst=5\n", mode=0o644)
    assert drop_in.read_text() == "[Unit]\nStartLimitBurst=5\n"
    assert stat.S_IMODE(os.stat(drop_in).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(drop_in.parent).st_mode) == 0o755

    report = store.undo(run)
    assert report.removed == [str(drop_in), str(drop_in.parent), str(drop_in.parent.parent)]
    assert snapshot(etc) == tree  # the pre-existing parents untouched
    assert os.stat(system).st_mode == system_before.st_mode


def test_a_symlink_is_backed_up_and_restored_as_a_link(store, etc, tmp_path):
    real = tmp_path / "opt-clink.conf"
    real.write_text("the real config\n")
    link = etc / "logrotate.d" / "clink-link"
    os.symlink(str(real), str(link))
    run = store.begin_run("fix", {}, {})
    store.write_file(run, str(link), "replaced\n")
    assert not os.path.islink(link)
    assert link.read_text() == "replaced\n"
    assert real.read_text() == "the real config\n"  # never written through the link
    store.undo(run)
    assert os.readlink(link) == str(real)
    assert real.read_text() == "the real config\n"


def test_only_regular_files_and_links_are_replaced(store, etc):
    run = store.begin_run("fix", {}, {})
    with pytest.raises(StateError, match="not a regular file"):
        store.write_file(run, str(etc / "logrotate.d"), "x")
    os.mkfifo(str(etc / "fifo"))
    with pytest.raises(StateError, match="not a regular file"):
        store.write_file(run, str(etc / "fifo"), "x")


def test_move_aside_then_undo(store, etc):
    config = etc / "logrotate.d" / "clink-agent"
    aside = etc / "logrotate.d" / "clink-agent.disabled"
    tree = snapshot(etc)
    run = store.begin_run("fix", {}, {})
    store.move_aside(run, str(config), str(aside))
    assert not config.exists()
    assert aside.exists()
    with pytest.raises(StateError, match="already exists"):
        store.move_aside(run, str(etc / "systemd"), str(aside))
    report = store.undo(run)
    assert report.moved_back == [str(config)]
    assert not report.errors
    assert snapshot(etc) == tree


def test_links_recorded_before_systemd_makes_them(store, etc, tmp_path):
    """ReenableUnitFiles predicted: the wants link removed and made again, the alias created;
    MaskUnitFiles: a link to /dev/null replacing an older one."""
    system = etc / "systemd" / "system"
    unit = str(tmp_path / "lib/systemd/system/avahi-daemon.service")
    wants = str(system / "multi-user.target.wants/avahi-daemon.service")
    alias = str(system / "dbus-org.freedesktop.Avahi.service")
    masked = str(system / "deepin-anything-monitor.service")
    os.symlink("/lib/systemd/system/old-target.service", masked)
    tree = snapshot(etc)
    changes = [("unlink", wants, ""), ("symlink", wants, unit), ("symlink", alias, unit),
               ("unlink", masked, ""), ("symlink", masked, "/dev/null")]
    run = store.begin_run("fix", {}, {})
    store.record_links(run, changes)
    os.unlink(wants)  # what systemd does
    os.symlink(unit, wants)
    os.symlink(unit, alias)
    os.unlink(masked)
    os.symlink("/dev/null", masked)

    report = store.undo(run)
    assert not report.errors
    assert not report.cannot_undo
    assert sorted(report.links_restored) == sorted([wants, alias, masked])
    assert snapshot(etc) == tree


def test_links_recorded_after_systemd_made_them(store, etc, tmp_path):
    """The reply recorded: created links are removed, an unlink with its destination is made
    again, one systemd gave no destination for is left as is and said so."""
    system = etc / "systemd" / "system"
    unit = str(tmp_path / "lib/systemd/system/avahi-daemon.service")
    wants = str(system / "multi-user.target.wants/avahi-daemon.service")
    alias = str(system / "dbus-org.freedesktop.Avahi.service")
    old = str(system / "old-alias.service")
    os.symlink(unit, old)
    tree = snapshot(etc)
    os.unlink(wants)
    os.symlink(unit, wants)
    os.symlink(unit, alias)
    os.unlink(old)
    run = store.begin_run("fix", {}, {})
    store.record_links(run, [("unlink", wants, ""), ("symlink", wants, unit), ("symlink", alias, unit),
                             ("unlink", old, unit)])
    report = store.undo(run)
    assert sorted(report.links_restored) == sorted([alias, old])
    assert [w for w in report.cannot_undo if wants in w and "left as is" in w]
    assert snapshot(etc) == tree


def test_irreversible_steps_are_listed(store):
    run = store.begin_run("fix", {}, {})
    store.record_irreversible(run, "apt-get install --reinstall avahi-daemon")
    store.record_irreversible(run, "reset-failed deepin-anything-monitor.service")
    report = store.undo(run)
    assert report.cannot_undo == ["reset-failed deepin-anything-monitor.service",
                                  "apt-get install --reinstall avahi-daemon"]


def test_a_link_change_of_another_type_is_refused_before_anything_is_recorded(store, etc):
    run = store.begin_run("fix", {}, {})
    with pytest.raises(ValueError, match="unknown link change 'link'"):
        store.record_links(run, [("symlink", str(etc / "a"), "/dev/null"), ("link", str(etc / "b"), "/dev/null")])
    assert store.runs()[0].n_changes == 0


def test_undo_twice_is_refused(store, etc):
    run = store.begin_run("fix", {}, {})
    store.write_file(run, str(etc / "logrotate.d" / "clink-agent"), "new\n")
    store.finish_run(run, RunStatus.FIXED, {})
    assert store.last_run() == run
    store.undo(run)
    assert store.last_run() is None
    with pytest.raises(StateError, match="fix run %d was already undone" % run):
        store.undo(run)
    with pytest.raises(StateError, match="no fix run 99"):
        store.undo(99)
    assert [(r.id, r.status, r.n_changes, r.undone) for r in store.runs()] == [(run, "fixed", 1, True)]


def test_a_file_changed_since_the_run_is_left_and_the_undo_can_be_retried(store, etc):
    config = etc / "logrotate.d" / "clink-agent"
    original = config.read_bytes()
    run = store.begin_run("fix", {}, {})
    store.write_file(run, str(config), "ours\n")
    store.finish_run(run, RunStatus.FIXED, {})
    config.write_text("the admin's edit\n")
    report = store.undo(run)
    assert report.errors
    assert "changed since fix run" in report.errors[0]
    assert config.read_text() == "the admin's edit\n"
    assert store.last_run() == run  # not marked undone
    config.write_text("ours\n")
    assert not store.undo(run).errors
    assert config.read_bytes() == original


def test_a_run_takes_no_changes_once_finished(store, etc):
    run = store.begin_run("fix", {}, {})
    store.finish_run(run, RunStatus.PARTIAL, {"why": {"a set"}})
    with pytest.raises(StateError, match="takes no more changes"):
        store.write_file(run, str(etc / "x"), "x")
    with pytest.raises(ValueError):
        store.finish_run(run, "done", {})


def test_runs_shows_a_run_whose_process_is_gone_as_interrupted(store, tmp_path):
    live = store.begin_run("fix", {}, {})
    assert [r.status for r in store.runs()] == ["running"]
    r = child(tmp_path / "state", "store.begin_run('fix --yes', {}, {})")  # exits without finish_run
    assert r.returncode == 0, r.stderr
    assert [(x.id, x.status, x.command) for x in store.runs()] == [(live, "running", "fix"), (live + 1, "interrupted", "fix --yes")]
    assert store.last_run() == live + 1


# In the child only: os.<name> replaced by a call that kills the process (SIGKILL, as a crash)
# when its argument number `arg` is `path`, so the kill lands at one exact step of a write.
KILL_ON = """
def kill_on(name, path, arg=0):
    real = getattr(os, name)
    def call(*a, **k):
        if a[arg] == path:
            os.kill(os.getpid(), 9)
        return real(*a, **k)
    setattr(os, name, call)
"""
CRASH_POINTS = {
    # the first write made, killed before the second
    "after the first write": """
        store.write_file(run, A, "new a\\n")
        os.kill(os.getpid(), 9)
        store.write_file(run, B, "new b\\n")
    """,
    # the second file's backup committed, the file never touched: the first thing its write
    # does after the backup is to make the directory it needs
    "between backup and write": """
        store.write_file(run, A, "new a\\n")
        kill_on("mkdir", os.path.dirname(B))
        store.write_file(run, B, "new b\\n")
    """,
    # the second file's new parents made and its temp file written, never renamed
    "between temp file and rename": """
        store.write_file(run, A, "new a\\n")
        kill_on("replace", B, arg=1)
        store.write_file(run, B, "new b\\n")
    """,
}
# the files a run had recorded when killed there
RECORDED_AT = {"after the first write": 1, "between backup and write": 2, "between temp file and rename": 2}


@pytest.mark.parametrize("point", sorted(CRASH_POINTS))
def test_kill_9_leaves_a_state_undo_restores(tmp_path, etc, point):
    """fix killed in the middle: undo in another process puts every file back."""
    a = etc / "logrotate.d" / "clink-agent"
    b = etc / "systemd" / "system" / "deepin-anything-monitor.service.d" / "50-unitaudit.conf"
    if AS_ROOT:
        os.chown(a, OTHER_UID, OTHER_GID)
    tree = snapshot(etc)
    code = KILL_ON + "A, B = %r, %r\nwith store.lock():\n    run = store.begin_run('fix --yes', {}, {'findings': 3})\n" % (
        str(a), str(b))
    code += textwrap.indent(textwrap.dedent(CRASH_POINTS[point]), "    ")
    r = child(tmp_path / "state", code)
    assert r.returncode == -9, r.stderr
    assert snapshot(etc) != tree
    if point == "between temp file and rename":
        assert [n for n in os.listdir(b.parent) if n.startswith(".unitaudit-tmp-")]
    if point == "between backup and write":
        assert not b.parent.exists()

    store = FixRunStore(str(tmp_path / "state"))
    [info] = store.runs()
    assert info.status is RunStatus.INTERRUPTED
    assert store.last_run() == info.id
    assert info.n_changes == RECORDED_AT[point]
    report = store.undo(info.id)
    assert not report.errors, report.errors
    assert snapshot(etc) == tree
    assert store.runs()[0].undone


def test_the_lock_names_its_holder_and_can_be_waited_for(store, tmp_path):
    with store.lock():
        r = child(tmp_path / "state", """
            from unitaudit.errors import LockBusy
            try:
                with store.lock():
                    print("acquired")
            except LockBusy as e:
                print(e)
        """)
        assert r.stdout.strip() == "another unitaudit fix or undo is running (pid %d)" % os.getpid()
        waiter = subprocess.Popen(
            [sys.executable, "-c", "import sys\nfrom unitaudit.store.fixruns import FixRunStore\n"
             "store = FixRunStore(%r)\nprint('waiting', flush=True)\n"
             "with store.lock(wait=True):\n    print('acquired', flush=True)\n" % str(tmp_path / "state")],
            env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE, text=True)
        assert waiter.stdout.readline().strip() == "waiting"
        time.sleep(0.5)
        assert waiter.poll() is None  # still blocked on the lock
        with store.lock():  # re-entrant in the process holding it
            pass
    out, _ = waiter.communicate(timeout=30)
    assert out.strip() == "acquired"
    assert waiter.returncode == 0
    with pytest.raises(LockBusy):  # a second store in the same process is another holder
        with store.lock():
            with FixRunStore(store.directory).lock():
                pass


def test_undo_inside_the_lock_and_a_busy_lock_blocks_changes(store, etc, tmp_path):
    run = store.begin_run("fix", {}, {})
    store.write_file(run, str(etc / "logrotate.d" / "clink-agent"), "new\n")
    with store.lock():
        assert not store.undo(run).errors  # run_undo holds the lock around undo
    other = FixRunStore(store.directory)
    run2 = other.begin_run("fix", {}, {})
    with store.lock():
        with pytest.raises(LockBusy):
            other.write_file(run2, str(etc / "x"), "x")
    assert not (etc / "x").exists()


# -- who started a run, and its status -----------------------------------------------------------

def test_the_timer_s_runs_are_told_apart_by_their_origin_not_their_command(store):
    auto = store.begin_run("any words at all", {}, {}, origin=RunOrigin.AUTO_APPLY)
    store.finish_run(auto, RunStatus.PARTIAL, {"outcomes": [{"finding_id": "a1", "status": "not-fixed"},
                                                            {"finding_id": "a2", "status": "fixed"}]})
    hand = store.begin_run("unitaudit watch (auto-apply: typed by hand)", {}, {})
    store.finish_run(hand, RunStatus.FAILED, {"outcomes": [{"finding_id": "h1", "status": "failed"}]})
    assert set(store.unfixed_since(0.0, RunOrigin.AUTO_APPLY)) == {"a1"}
    assert set(store.unfixed_since(0.0, RunOrigin.FIX)) == {"h1"}
    assert store.unfixed_since(time.time() + 60, RunOrigin.AUTO_APPLY) == {}
    with pytest.raises(ValueError):
        store.begin_run("fix", {}, {}, origin="cron")


def test_a_run_s_status_is_a_run_status(store):
    run = store.begin_run("fix", {}, {})
    assert [r.status for r in store.runs()] == [RunStatus.RUNNING]
    assert store.runs()[0].status is RunStatus.RUNNING
    with pytest.raises(ValueError):
        store.finish_run(run, RunStatus.RUNNING, {})  # a finished run is not running
    store.finish_run(run, "partial", {})  # the word of a status is taken too
    assert store.runs()[0].status is RunStatus.PARTIAL


# -- the database: the upgrade from version 2, a foreign file, the transaction -------------------

AVAHI_ID, LOGROTATE_ID = "5f2ad49b3edf", "05d5517c1473"  # the seed's loops, as the fixture's runs name them


def test_a_version_2_database_is_upgraded_in_place(tmp_path):
    """state-v2.db was written by unitaudit before runs.origin existed (tests/fixtures/state/SOURCES.md)."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    shutil.copyfile(str(fixture("state", "state-v2.db")), str(state / "state.db"))
    store = FixRunStore(str(state))
    runs = store.runs()
    assert [(r.id, r.status, r.n_changes) for r in runs] == [
        (1, RunStatus.NOT_FIXED, 1), (2, RunStatus.FAILED, 0), (3, RunStatus.NOT_FIXED, 0)]
    assert set(store.unfixed_since(0.0, RunOrigin.AUTO_APPLY)) == {AVAHI_ID}
    # run 3's command holds the timer's words, not at its start: a run by hand
    assert set(store.unfixed_since(0.0, RunOrigin.FIX)) == {LOGROTATE_ID, "0123456789ab"}
    assert store.last_run() == 3
    assert store.begin_run("unitaudit watch (auto-apply: x)", {}, {}, origin=RunOrigin.AUTO_APPLY) == 4
    store.close()
    db = sqlite3.connect(str(state / "state.db"))
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    assert db.execute("SELECT id, origin FROM runs ORDER BY id").fetchall() == [
        (1, "auto-apply"), (2, "fix"), (3, "fix"), (4, "auto-apply")]
    db.close()
    FixRunStore(str(state)).close()  # opened again: nothing left to upgrade
    history = HistoryStore(str(state))  # the incremental scans' tables came through untouched
    assert history.position("local").cursor == "s=0123;i=1"
    assert [s.entries for s in history.scans()] == [42]
    history.close()


def test_some_other_program_s_database_is_refused_and_left_unstamped(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    db = sqlite3.connect(str(state / "state.db"))
    db.execute("CREATE TABLE runs (name TEXT, value INTEGER)")
    db.commit()
    with pytest.raises(StateError, match="is not unitaudit's \\(table runs: no column id, command,"):
        open_database(str(state))
    assert db.execute("PRAGMA user_version").fetchone()[0] == 0
    db.close()


def test_one_transaction_commits_rolls_back_and_previews(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    conn = open_database(str(state))

    def add(source):
        conn.execute("INSERT INTO positions (source, carry) VALUES (?, '{}')", (source,))

    def sources():
        return [r[0] for r in conn.execute("SELECT source FROM positions ORDER BY source")]

    with transaction(conn):
        add("committed")
    with pytest.raises(KeyError):
        with transaction(conn):
            add("failed")
            raise KeyError("any error")
    with transaction(conn, commit=False):  # a preview: seen inside, gone after
        add("previewed")
        inside = sources()
    assert inside == ["committed", "previewed"]
    assert sources() == ["committed"]
    assert not conn.in_transaction
    other = open_database(str(state))  # what another process sees
    assert [r[0] for r in other.execute("SELECT source FROM positions")] == ["committed"]
    other.close()
    conn.close()


def test_the_schema_columns_read_from_its_text_are_the_ones_sqlite_creates():
    """open_database checks a database's columns against a list read from the schema's text (a
    database made to ask cost ~0.7 ms an open): the list is what SQLite makes of the schema."""
    made = sqlite3.connect(":memory:")
    made.executescript(database._SCHEMA)
    tables = [t for (t,) in made.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                         "AND name NOT LIKE 'sqlite_%'")]
    assert database._COLUMNS == {t: tuple(r[1] for r in made.execute("PRAGMA table_info(%s)" % t)) for t in tables}
