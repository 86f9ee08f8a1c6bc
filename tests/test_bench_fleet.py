"""bench/fleet.py's journal-remote directory, small: what the fleet figures of bench/README.md rest on.

Three desktops of a few hours each go through a real systemd-journal-remote (--split-mode=host,
one connection per machine from its own loopback address); the directory must hold one
remote-ADDRESS.journal per machine with that machine's entries only, and a scan must find every
planted loop under its machine's host with the count the generator counted, and nothing else.
Machines 1 and 2 share the hostname uos-pc, so their findings are told apart by machine id."""
import json
import subprocess
import sys

from bench.fleet import check_findings, fleet_plan, write_fleet
from builders import ROOT


def _fields(path, field):
    out = subprocess.run(["journalctl", "--file", str(path), "-F", field], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_three_machines_each_loop_under_its_own_host(tmp_path):
    meta = write_fleet(str(tmp_path), fleet_plan(3), "test", 0.25, 1000)
    machines = meta["machines"]
    remote = tmp_path / "remote"
    # journal-remote names each file after the peer's address, and each holds one machine
    assert sorted(p.name for p in remote.iterdir()) == [
        "remote-127.1.0.1.journal", "remote-127.1.0.2.journal", "remote-127.1.0.3.journal"]
    for m in machines:
        assert _fields(remote / m["file"], "_MACHINE_ID") == {m["machine_id"]}
        assert _fields(remote / m["file"], "_HOSTNAME") == {m["host"]}
    assert [m["host_label"] for m in machines] == [
        "desk-000", "uos-pc/" + machines[1]["machine_id"][:8], "uos-pc/" + machines[2]["machine_id"][:8]]
    assert [len(m["loops"]) for m in machines] == [3, 1, 1]
    assert all(loop["count"] >= 3 for m in machines for loop in m["loops"])

    p = subprocess.run([sys.executable, "-m", "unitaudit", "scan", "--journal-dir", str(remote), "--json"],
                       cwd=str(ROOT), capture_output=True, text=True)
    assert p.returncode == 1, p.stderr
    doc = json.loads(p.stdout)
    assert check_findings(doc, machines) == []
    assert len(doc["findings"]) == 5

    # the check itself: a finding missing, or one under another machine's host, is reported
    assert check_findings(dict(doc, findings=doc["findings"][1:]), machines) != []
    moved = [dict(f, host="desk-000") if f["host"].startswith("uos-pc/") else f for f in doc["findings"]]
    assert check_findings(dict(doc, findings=moved), machines) != []
