"""Issue 13, the I/O part: outputs never replace what is not a regular file, damaged journal
files are reported, and an incremental run whose outputs failed is not recorded."""
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest

from builders import ROOT, example

from unitaudit.errors import ExitStatus, SourceError, UsageError
from unitaudit.hourly.outputs import write_textfile
from unitaudit.sources.journal import JournalSource
from unitaudit.util.files import check_output_path, write_output

SEED = example("seed-loops", "journal", "system.journal")


def cli(*args, env=None, stdout=subprocess.PIPE):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "unitaudit"] + [str(a) for a in args], cwd=str(ROOT), env=e,
                          stdout=stdout, stderr=subprocess.PIPE, universal_newlines=True)


# -- 3. outputs written to a path: a regular file or a new name, nothing else ---------------------
@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_a_device_node_at_the_textfile_path_is_refused_and_left_alone(tmp_path):
    null = tmp_path / "null"
    os.mknod(str(null), stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a second /dev/null
    with pytest.raises(UsageError) as e:
        write_textfile(str(null), "x 1\n")
    assert str(null) in str(e.value)
    assert "character device" in str(e.value)
    assert stat.S_ISCHR(os.lstat(str(null)).st_mode)
    assert os.listdir(str(tmp_path)) == ["null"]  # no temporary file left either
    with pytest.raises(UsageError):
        check_output_path("/dev/null", "the Prometheus textfile")  # the host's: only checked, never written


def test_a_fifo_symlink_or_directory_at_the_path_is_refused(tmp_path):
    fifo = tmp_path / "fifo.prom"
    os.mkfifo(str(fifo))
    target = tmp_path / "target"
    target.write_text("keep\n")
    link = tmp_path / "link.prom"
    link.symlink_to(target)
    for path, what in ((fifo, "FIFO"), (link, "symlink to %s" % target), (tmp_path, "directory")):
        with pytest.raises(UsageError) as e:
            write_output(str(path), b"x 1\n", "the Prometheus textfile")
        assert str(path) in str(e.value), e.value
        assert what in str(e.value), e.value
        assert e.value.status == ExitStatus.USAGE
    assert stat.S_ISFIFO(os.lstat(str(fifo)).st_mode)
    assert os.path.islink(str(link))
    assert target.read_text() == "keep\n"


def test_a_regular_file_a_new_name_and_a_symlinked_parent_are_written(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "textfiles").symlink_to(real)  # a relocated textfile directory: followed, on purpose
    path = tmp_path / "textfiles" / "unitaudit.prom"
    write_textfile(str(path), "a 1\n")  # a new name
    write_textfile(str(path), "a 2\n")  # a regular file, replaced
    assert (real / "unitaudit.prom").read_text() == "a 2\n"
    assert not os.path.islink(str(real / "unitaudit.prom"))
    assert os.listdir(str(real)) == ["unitaudit.prom"]


def test_a_symlink_put_there_during_the_write_is_refused_before_the_rename(tmp_path, monkeypatch):
    from unitaudit.util import files

    path = tmp_path / "unitaudit.prom"
    target = tmp_path / "elsewhere"
    target.write_text("keep\n")
    real = files.atomic_write

    def racing(p, data, mode, owner=None, mtime_ns=None, run=0, before_rename=None):
        def swap():
            os.symlink(str(target), p)
            before_rename()

        return real(p, data, mode, owner=owner, mtime_ns=mtime_ns, run=run, before_rename=swap)

    monkeypatch.setattr(files, "atomic_write", racing)
    with pytest.raises(UsageError):
        write_output(str(path), b"x 1\n", "the Prometheus textfile")
    assert os.readlink(str(path)) == str(target)
    assert target.read_text() == "keep\n"
    assert sorted(os.listdir(str(tmp_path))) == ["elsewhere", "unitaudit.prom"]


def test_scan_prometheus_into_a_fifo_is_a_usage_error(tmp_path):
    fifo = tmp_path / "unitaudit.prom"
    os.mkfifo(str(fifo))
    p = cli("scan", "--journal-dir", SEED.parent, "--prometheus", fifo)
    assert p.returncode == ExitStatus.USAGE, p.stderr
    assert str(fifo) in p.stderr
    assert "FIFO" in p.stderr
    assert p.stdout == ""
    assert stat.S_ISFIFO(os.lstat(str(fifo)).st_mode)


# -- 6. damaged journal files are reported, per file ----------------------------------------------
def _damaged_copy(directory):
    directory.mkdir(parents=True, exist_ok=True)
    data = bytearray(SEED.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4096] = b"\xff" * 4096
    (directory / "system.journal").write_bytes(bytes(data))
    return directory


def test_a_directory_of_text_files_named_journal_is_an_error_not_no_loops(tmp_path):
    (tmp_path / "system.journal").write_text("not a journal\n")
    with pytest.raises(SourceError) as e:
        JournalSource(directory=str(tmp_path))
    assert str(tmp_path / "system.journal") in str(e.value)
    assert "not a journal file" in str(e.value)
    p = cli("scan", "--journal-dir", tmp_path)
    assert p.returncode == ExitStatus.INCOMPLETE, (p.stdout, p.stderr)
    assert "No loops" not in p.stdout, (p.stdout, p.stderr)


def test_a_text_file_beside_a_good_journal_is_skipped_with_a_warning(tmp_path):
    shutil.copy(str(SEED), str(tmp_path / "system.journal"))
    (tmp_path / "user-1000.journal").write_text("not a journal\n")
    src = JournalSource(directory=str(tmp_path))
    assert list(src.events())
    warnings = src.stats().warnings
    assert any(str(tmp_path / "user-1000.journal") in w and "not a journal file" in w for w in warnings), warnings


def test_a_journal_damaged_mid_file_warns_with_the_counts(tmp_path):
    d = _damaged_copy(tmp_path / "j")
    src = JournalSource(directory=str(d))
    list(src.events())
    [warning] = [w for w in src.stats().warnings if "damaged" in w]
    assert str(d / "system.journal") in warning
    assert " of the 714 entries its header lists" in warning
    p = cli("scan", "--journal-dir", d, "--json")
    doc = json.loads(p.stdout)
    assert warning in doc["warnings"]
    assert warning in doc["sources"][0]["warnings"]
    p = cli("scan", "--journal-dir", d, env={"COLUMNS": "400"})
    assert "damaged" in p.stdout + p.stderr
    assert str(d / "system.journal") in p.stdout + p.stderr


def test_a_truncated_journal_is_reported_and_alone_it_is_an_error(tmp_path):
    d = tmp_path / "j"
    d.mkdir()
    data = SEED.read_bytes()
    (d / "system@0001.journal").write_bytes(data[:len(data) // 2])
    with pytest.raises(SourceError) as e:
        list(JournalSource(directory=str(d)).events())
    assert "truncated to %d of" % (len(data) // 2) in str(e.value)
    shutil.copy(str(SEED), str(d / "system.journal"))  # beside a good file: read, with a warning
    src = JournalSource(directory=str(d))
    assert list(src.events())
    assert any("system@0001.journal: damaged, truncated" in w for w in src.stats().warnings)


# -- 7. an incremental run is recorded only after its outputs were written --------------------------
def _env(tmp_path, window='"3650d"'):
    config = tmp_path / "unitaudit.toml"
    config.write_text("[scan]\nwindow = %s\n" % window)
    return {"UNITAUDIT_STATE_DIR": str(tmp_path / "state"), "UNITAUDIT_CONFIG": str(config)}


def _ids(p):
    return sorted(f["id"] for f in json.loads(p.stdout)["findings"])


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_report_that_cannot_be_written_leaves_the_run_unrecorded(tmp_path):
    env = _env(tmp_path)
    with open("/dev/full", "w") as full:
        p = cli("scan", "--incremental", "--json", "--journal-dir", SEED.parent, env=env, stdout=full)
    assert p.returncode == ExitStatus.INCOMPLETE, p.stderr
    again = cli("scan", "--incremental", "--json", "--journal-dir", SEED.parent, env=env)
    assert again.returncode == ExitStatus.FINDINGS, again.stderr
    assert len(_ids(again)) == 3, again.stderr
    assert json.loads(again.stdout)["incremental"]["read_from"] == "window"  # no cursor was stored
    assert "not recorded" in p.stderr
    third = cli("scan", "--incremental", "--json", "--journal-dir", SEED.parent, env=env)
    assert third.returncode == ExitStatus.OK
    assert _ids(third) == []  # now it was


def test_a_textfile_that_cannot_be_written_leaves_the_run_unrecorded(tmp_path):
    env = _env(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("")
    p = cli("scan", "--incremental", "--json", "--journal-dir", SEED.parent, "--prometheus", blocker / "x.prom",
            env=env)
    assert p.returncode == ExitStatus.INCOMPLETE, p.stderr
    again = cli("scan", "--incremental", "--json", "--journal-dir", SEED.parent, env=env)
    assert len(_ids(again)) == 3
    assert "not recorded" in p.stderr


def test_a_window_longer_than_the_epoch_reads_everything(tmp_path):
    """The config caps [scan] window now (100 years); a caller passing more still gets a report."""
    import io
    import time

    from unitaudit.model import Thresholds
    from unitaudit.hourly.history import HistoryStore
    from unitaudit.hourly.incremental import IncrementalRequest, run_incremental
    from unitaudit.report import json_report

    store = HistoryStore(str(tmp_path / "state"))
    result, info = run_incremental(IncrementalRequest(thresholds=Thresholds(), now=time.time(), window=1e300,
                                                      retention=1e12, journal_dir=str(SEED.parent)), store=store)
    out = io.StringIO()
    json_report.write(result, out, incremental=info)  # overflowed before: after the run was recorded
    assert len(json.loads(out.getvalue())["findings"]) == 3
    store.close()
    p = cli("scan", "--incremental", "--json", "--journal-dir", SEED.parent, env=_env(tmp_path, '"36500d"'))
    assert p.returncode == ExitStatus.OK, p.stderr
    assert _ids(p) == [], p.stderr  # the run above was recorded


@pytest.fixture
def seed_rounds(tmp_path, monkeypatch):
    """Timer rounds (round.run_round) over the seed's recorded journal, with a state directory of
    their own, no bus and no journal to send to: the state directory's path."""
    from dataclasses import replace

    from unitaudit.hourly import incremental
    from unitaudit.hourly import round as timer_round
    from unitaudit.hourly.history import HistoryStore

    real = incremental.prepare_incremental
    state = str(tmp_path / "state")

    def on_the_seed(request, **k):
        return real(replace(request, journal_dir=str(SEED.parent)), store=HistoryStore(state), **k)

    monkeypatch.setattr(incremental, "prepare_incremental", on_the_seed)
    monkeypatch.setattr(timer_round, "live_parts", lambda *_a: None)  # no bus: the journal alone
    monkeypatch.setattr("unitaudit.hourly.outputs.send_summary", lambda *_a: None)
    return state


def test_a_timer_round_whose_outputs_failed_is_not_recorded(tmp_path, seed_rounds):
    from unitaudit.hourly import incremental
    from unitaudit.hourly import round as timer_round
    from unitaudit.model import Config
    from unitaudit.hourly.history import HistoryStore

    state = seed_rounds
    config = Config(window=1e10, prometheus_path=str(tmp_path / "file" / "x.prom"))
    (tmp_path / "file").write_text("")  # the textfile's directory is a file: the output fails
    first = timer_round.run_round(config)
    assert len(first.result.findings) == 3
    assert first.output_errors
    store = HistoryStore(state)
    assert store.position(incremental.source_key(str(SEED.parent))) is None
    assert store.scans() == []
    store.close()
    assert "not recorded" in first.output_errors[-1]
    (tmp_path / "file").unlink()
    second = timer_round.run_round(config)
    assert len(second.result.findings) == 3
    assert second.output_errors == ()
    third = timer_round.run_round(config)
    assert third.result.findings == ()
    assert third.output_errors == ()


def test_a_timer_round_whose_own_report_cannot_be_written_is_not_recorded(tmp_path, seed_rounds):
    """`unitaudit watch --json >/dev/full`: the report is written before the run is recorded."""
    import errno

    from unitaudit.hourly import round as timer_round
    from unitaudit.model import Config

    config = Config(window=1e10, prometheus_path=str(tmp_path / "x.prom"))
    shown = []

    def full_disk(outcome):
        raise OSError(errno.ENOSPC, "No space left on device")

    first = timer_round.run_round(config, emit=full_disk)
    assert len(first.result.findings) == 3
    assert first.output_errors
    assert "No space left on device" in first.output_errors[-1]
    assert "not recorded" in first.output_errors[-1]
    second = timer_round.run_round(config, emit=shown.append)
    assert len(second.result.findings) == 3
    assert second.output_errors == ()  # the same loops again
    assert [len(o.result.findings) for o in shown] == [3]
