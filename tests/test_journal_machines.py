"""A journal directory holding several machines (what systemd-journal-remote keeps on a central
host): each machine's loops under its own host and machine id, two machines of one hostname
kept apart, none mixed up.

The machines are the seed lab's recorded journal (examples/seed-loops/journal.export) written
three times through systemd-journal-remote with _MACHINE_ID and _HOSTNAME changed, as
journal-remote would receive them from three desktops; the third lacks the Avahi client's
entries, so a loop that leaks from one machine into another shows.  The live proof, with
systemd-journal-upload between real machines, is tests/lab/test_journal_remote_live.py."""
import json
import os

import pytest
import subprocess
import sys

from builders import ROOT, example, export_entries, report_fields, write_journal

SEED = example("seed-loops", "journal.export")
MACHINES = (("uos-desk", "0a" * 16), ("uos-desk", "1b" * 16), ("deepin-pc", "2c" * 16))
SEED_LOOPS = {("restart-loop", "deepin-anything-monitor.service"),
              ("activation-loop", "dbus-org.freedesktop.Avahi.service"),
              ("repeated-failure", "logrotate.service")}


def _machine_journal(directory, hostname, machine_id, without_avahi):
    entries = []
    for e in export_entries(SEED):
        if without_avahi and b"Avahi" in e.get("MESSAGE", b""):
            continue
        e = dict(e, _MACHINE_ID=machine_id.encode(), _HOSTNAME=hostname.encode())
        entries.append(e)
    return write_journal(entries, directory / ("remote-%s-%s.journal" % (hostname, machine_id[:4])))


def _scan(directory) -> dict:
    p = subprocess.run([sys.executable, "-m", "unitaudit", "scan", "--journal-dir", str(directory), "--json"],
                       cwd=str(ROOT), capture_output=True, text=True)
    assert p.returncode == 1, p.stderr
    return json.loads(p.stdout)


def test_each_machine_keeps_its_loops_its_host_and_its_machine_id(tmp_path):
    for n, (hostname, machine_id) in enumerate(MACHINES):
        _machine_journal(tmp_path, hostname, machine_id, without_avahi=(n == 2))
    doc = _scan(tmp_path)
    by_machine = {}
    for f in doc["findings"]:
        by_machine.setdefault((f["host"], f["machine_id"]), set()).add((f["kind"], f["unit"]))
    assert by_machine == {
        ("uos-desk/" + "0a" * 4, "0a" * 16): SEED_LOOPS,
        ("uos-desk/" + "1b" * 4, "1b" * 16): SEED_LOOPS,
        ("deepin-pc", "2c" * 16): SEED_LOOPS - {("activation-loop", "dbus-org.freedesktop.Avahi.service")},
    }
    # a finding's id is its machine's: the same loop on two desktops is two findings
    assert len({f["id"] for f in doc["findings"]}) == len(doc["findings"]) == 8
    (source,) = doc["sources"]
    assert sorted((m["host"], m["machine_id"]) for m in source["machines"]) == sorted(
        (h if h == "deepin-pc" else "%s/%s" % (h, m[:8]), m) for h, m in MACHINES)


def test_one_machine_keeps_its_hostname_and_its_machine_id(tmp_path):
    _machine_journal(tmp_path, "uos-desk", "0a" * 16, without_avahi=False)
    doc = _scan(tmp_path)
    assert {(f["kind"], f["unit"], f["host"], f["machine_id"]) for f in doc["findings"]} == {
        (kind, unit, "uos-desk", "0a" * 16) for kind, unit in SEED_LOOPS}
    assert doc["sources"][0]["machines"] == [{"host": "uos-desk", "machine_id": "0a" * 16}]


def _central_host(tmp_path):
    """The three desktops' journals in one directory, and a root whose machine id is deepin-pc's
    (given as --root: the machine a fix would act on)."""
    journals = tmp_path / "remote"
    journals.mkdir()
    for n, (hostname, machine_id) in enumerate(MACHINES):
        _machine_journal(journals, hostname, machine_id, without_avahi=(n == 2))
    central = tmp_path / "central"
    (central / "etc").mkdir(parents=True)
    (central / "etc" / "machine-id").write_text("2c" * 16 + "\n")
    return journals, central


def test_fix_acts_only_on_the_loops_of_the_machine_it_runs_on(tmp_path):
    """A central journal host holds its desktops' loops: fix there refuses them (the plan is
    worked out on the central host's files, and would change the central host), and says where
    to run it.  The machine planned on is --root's (its /etc/machine-id)."""
    journals, central = _central_host(tmp_path)
    p = subprocess.run([sys.executable, "-m", "unitaudit", "fix", "--dry-run", "--json", "--journal-dir",
                        str(journals), "--root", str(central)], cwd=str(ROOT), capture_output=True, text=True)
    assert p.returncode == 1, p.stderr
    plan = json.loads(p.stdout)
    refused = {r["finding_id"]: r["reason"] for r in plan["refusals"]}
    findings = _scan(journals)["findings"]
    elsewhere = {f["id"]: f for f in findings if f["machine_id"] != "2c" * 16}
    assert len(elsewhere) == 6
    for finding_id, f in elsewhere.items():
        assert refused[finding_id] == ("the evidence is from another machine (%s, machine id %s): run unitaudit "
                                       "fix there" % (f["host"], f["machine_id"]))
    # deepin-pc's own loops are planned, or refused for a reason of their own
    assert not any("another machine" in refused.get(f["id"], "") for f in findings if f["machine_id"] == "2c" * 16)


def _limited(soft: int, hard: int):
    import resource
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


MANY = 80


@pytest.fixture(scope="module")
def many_machines(tmp_path_factory):
    """80 desktops' journal files, one each (the seed's journal under 80 machine ids), in one
    directory, as on a central journal-remote host."""
    from concurrent.futures import ThreadPoolExecutor

    directory = tmp_path_factory.mktemp("remote")
    seed = export_entries(SEED)

    def one(n):
        machine_id = "%032x" % (0xabc000 + n)
        write_journal([dict(e, _MACHINE_ID=machine_id.encode(), _HOSTNAME=b"pc%03d" % n) for e in seed],
                      directory / ("remote-10.0.0.%d.journal" % n))
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(MANY)))
    return directory


@pytest.mark.parametrize("hard", [4096, 64], ids=["soft-limit-raised", "hard-limit-warned"])
def test_a_directory_of_more_files_than_the_open_file_limit(many_machines, hard):
    """sd_journal skips, without a word, every file past the process's open-file limit (a soft
    limit of 1,024 is common; 32 here, against 80 files).  The scan raises the soft limit to the
    hard one and reads every desktop; when the hard limit is too low it says entries are missing."""
    p = subprocess.run([sys.executable, "-m", "unitaudit", "scan", "--journal-dir", str(many_machines), "--json"],
                       cwd=str(ROOT), capture_output=True, text=True, preexec_fn=_limited(32, hard))
    assert p.returncode == 1, p.stderr
    doc = json.loads(p.stdout)
    hosts = {f["host"] for f in doc["findings"]}
    warned = [w for w in doc["warnings"] if "this process may open only" in w]
    if hard == 4096:
        assert len(hosts) == MANY and len(doc["findings"]) == 3 * MANY and not warned
    else:
        assert len(hosts) < MANY  # what sd_journal could open, read; the rest missing...
        assert warned == ["%s: %d journal files, and this process may open only 64 files (ulimit -n; hard "
                          "limit 64): sd_journal skips the files past it, so some entries are missing; raise "
                          "the limit (ulimit -Hn) or scan the directory in parts" % (many_machines, MANY)]


def test_the_report_on_a_central_host_says_where_each_fix_runs(tmp_path):
    """Scanned where fix would act on deepin-pc (--root's machine id): deepin-pc's loops get the
    fix command of this scan's evidence; the other desktops' get the command to run on them (by
    unit: there, their own journal gives the finding another id)."""
    journals, central = _central_host(tmp_path)
    p = subprocess.run([sys.executable, "-m", "unitaudit", "scan", "--journal-dir", str(journals), "--root",
                        str(central)], cwd=str(ROOT), capture_output=True, text=True, env=dict(os.environ, COLUMNS="200"))
    assert p.returncode == 1, p.stderr
    findings = _scan(journals)["findings"]
    assert sorted(report_fields(p.stdout, "Fix")) == sorted(
        "unitaudit fix --journal-dir %s --root %s --finding %s --dry-run" % (journals, central, f["id"])
        if f["machine_id"] == "2c" * 16 else "on %s: unitaudit fix --unit %s --dry-run" % (f["host"], f["unit"])
        for f in findings)
    assert report_fields(p.stdout, "Every fix") == [
        "unitaudit fix --dry-run --journal-dir %s --root %s" % (journals, central)]
