"""A central journal host, live (issue 18): three client labs ship their journals with
systemd-journal-upload to systemd-journal-remote on a fourth, and `unitaudit scan --journal-dir
/var/log/journal/remote` there reports each client's loops under its own host and machine id.

Two clients share the hostname uos-desk (cloned desktops) and both run a looping desk-agent.service
at different rhythms, besides a loop of their own; the third, uos-build, has an ExecStartPre loop.
journal-remote writes all three into one file (it splits by the sender's address, 127.0.0.1 for
every lab): only _MACHINE_ID tells them apart.  Each finding's count must equal the events its own
machine logged, which a mix-up of two machines' evidence would not."""
import json
import os
import re
import time

import pytest

from builders import report_fields
from unitaudit.model import FindingKind
from unitaudit_lab import fleet
from unitaudit_lab.support import boot_lab, in_ci

KINDS = {k.value for k in FindingKind}
CLIENTS = (  # lab name, hostname, loops
    ("ua-fleet-a", "uos-desk", (fleet.restart_loop("desk-a-sync.service"), fleet.restart_loop("desk-agent.service", 2))),
    ("ua-fleet-b", "uos-desk", (fleet.failing_job("desk-b-report.service"), fleet.restart_loop("desk-agent.service", 3))),
    ("ua-fleet-c", "uos-build", (fleet.execstartpre_loop("build-c-indexer.service", "build_c_fs"),)),
)


class Fleet:
    def __init__(self, central, clients):
        self.central = central
        self.clients = clients
        self.doc = None  # the scan's JSON document
        self.text = ""  # the scan's text report

    def label(self, client) -> str:
        """The host unitaudit gives a machine: its hostname, with its machine id's first 8 when
        another machine has the same hostname (sources/journal/reader.py)."""
        shared = sum(1 for c in self.clients if c.hostname == client.hostname) > 1
        return "%s/%s" % (client.hostname, client.machine_id[:8]) if shared else client.hostname


@pytest.fixture(scope="module")
def fleet_scan(request):
    missing = [b for b in (fleet.REMOTE_BIN, fleet.UPLOAD_BIN) if not os.path.exists(b)]
    if missing:  # Debian's systemd-journal-remote, which `make system-packages` installs
        (pytest.fail if in_ci() else pytest.skip)("missing: %s" % ", ".join(missing))
    t0 = time.monotonic()
    central = boot_lab(request, "ua-fleet-central")
    clients = [fleet.Client(boot_lab(request, name).lab, hostname, loops) for name, hostname, loops in CLIENTS]
    booted = time.monotonic() - t0
    port = fleet.start_remote(central.lab)
    for c in clients:
        fleet.rename(c.lab, c.hostname)  # before the loops: their every line carries the new name
        fleet.start_loops(c)
    backlog = [fleet.mark(c, "upload starts") for c in clients]  # the journal since boot, before it
    t_upload = time.monotonic()
    for c in clients:
        fleet.start_upload(c.lab, port)
    fleet.wait_delivered(central.lab, clients, backlog)
    first_seen = time.monotonic() - t_upload
    fleet.wait_for_loops(clients)
    markers = [fleet.stop_loops(c) for c in clients]
    marker_delay = fleet.wait_delivered(central.lab, clients, markers)
    delivered = time.monotonic() - t_upload

    f = Fleet(central, clients)
    # UNITAUDIT_CHECK_SCHEMAS: the document is checked against its schema (tests/conftest.py), which
    # the lab's environment does not inherit
    r = central.unitaudit("scan", "--journal-dir", fleet.REMOTE_DIR, "--json", env={"UNITAUDIT_CHECK_SCHEMAS": "1"})
    assert r.returncode == 1, "scan: %d (1: findings)\n%s" % (r.returncode, r.stderr)
    f.doc = json.loads(r.stdout)
    r = central.unitaudit("scan", "--journal-dir", fleet.REMOTE_DIR, env={"COLUMNS": "120"})
    assert r.returncode == 1, "scan: %d (1: findings)\n%s" % (r.returncode, r.stderr)
    f.text = r.stdout
    remote = central.root / fleet.REMOTE_DIR.lstrip("/")
    print("fleet: 4 labs booted in %.1f s (each: %s)" % (
        booted, ", ".join("%.1f" % lab.boot_seconds for lab in [central.lab] + [c.lab for c in clients])))
    print("fleet: every client's journal since boot on the central %.1f s after the uploads started; loops done and "
          "delivered after %.1f s (the last markers took %.2f s)" % (first_seen, delivered, marker_delay))
    entries = len(fleet.remote_journal(central.lab, "-o", "json", "--output-fields=_MACHINE_ID").splitlines())
    print("fleet: %s holds %s, %d entries, %d KiB on disk" % (
        fleet.REMOTE_DIR, sorted(p.name for p in remote.iterdir()), entries, fleet.du(remote) // 1024))
    print("fleet: events on the clients: %s" % [(f.label(c), c.counts) for c in clients])
    print(f.text)
    return f


def _findings_of(f: Fleet, client) -> list:
    return [x for x in f.doc["findings"] if x.get("machine_id") == client.machine_id]


def test_the_central_directory_holds_each_client_apart(fleet_scan):
    """The lab's premise, read with journalctl: journal-remote kept every client's entries with its
    own machine id and hostname, in one file, and nothing of the central itself."""
    f = fleet_scan
    central = f.central.lab
    assert fleet.remote_machine_ids(central) == {c.machine_id for c in f.clients}
    files = [p.name for p in (central.root / fleet.REMOTE_DIR.lstrip("/")).iterdir()]
    # one file (journal-remote names it after the sender's address, remote-127.0.0.1.journal here): the
    # machine id alone tells the clients apart
    assert len(files) == 1 and files[0].startswith("remote-"), files
    for c in f.clients:
        # its boot's first lines carry the name nspawn and /etc/hostname gave it (`vm` here)
        assert c.hostname in fleet.remote_values(central, "_HOSTNAME", "_MACHINE_ID=" + c.machine_id)
        for loop in c.loops:
            running = {o.machine_id for o in f.clients if loop.unit in [lp.unit for lp in o.loops]}
            assert fleet.remote_values(central, "_MACHINE_ID", "-u", loop.unit) == running


def test_each_machine_loops_are_found_under_its_own_host_and_machine_id(fleet_scan):
    f = fleet_scan
    assert all("machine_id" in x for x in f.doc["findings"]), "the scan's findings carry no machine_id"
    missing = [c.machine_id for c in f.clients if not _findings_of(f, c)]
    assert not missing, "no finding carries machine id %s: %s" % (
        missing, [(x["host"], x.get("machine_id"), x["unit"]) for x in f.doc["findings"]])
    for c in f.clients:
        for loop in c.loops:
            found = [x for x in _findings_of(f, c) if x["unit"] == loop.unit]
            assert len(found) == 1, (c.hostname, loop.unit, found)
            x = found[0]
            assert x["kind"] == loop.kind
            assert x["host"] == f.label(c)
            # the machine's own events, counted in its own journal: another machine's added in
            # (desk-agent.service runs on both uos-desk machines) would show here
            assert x["count"] == c.counts[loop.unit], (f.label(c), loop.unit, x["count"], c.counts)
            if loop.cause:
                assert x["cause"]["kind"] == loop.cause
    assert sorted(f.label(c) for c in f.clients) == sorted(
        ["uos-build"] + ["uos-desk/" + c.machine_id[:8] for c in f.clients if c.hostname == "uos-desk"])


def test_no_finding_is_attributed_to_another_machine(fleet_scan):
    f = fleet_scan
    by_id = {c.machine_id: c for c in f.clients}
    for x in f.doc["findings"]:
        assert re.fullmatch("[0-9a-f]{32}", x["machine_id"] or ""), x
        c = by_id.get(x["machine_id"])
        assert c is not None, "a finding of no client machine: %s" % x
        assert x["host"] == f.label(c), x
        assert x["unit"] in [loop.unit for loop in c.loops], \
            "%s on %s is none of its loops" % (x["unit"], f.label(c))
    assert len({x["id"] for x in f.doc["findings"]}) == len(f.doc["findings"])  # two desk-agent loops, two ids
    [source] = f.doc["sources"]
    assert sorted((m["host"], m["machine_id"]) for m in source["machines"]) == \
        sorted((f.label(c), c.machine_id) for c in f.clients)


def test_text_report_names_each_machine_beside_its_loops(fleet_scan):
    """The table: an `on HOST` line opens each machine's findings, which follow it; each finding's
    own block names its machine too."""
    f = fleet_scan
    sections, current = {}, None
    for line in f.text.splitlines():
        if line.startswith("  on "):
            current = line[len("  on "):].strip()
            sections[current] = []
        elif current is not None and line.startswith("  ") and line.split()[0] in KINDS:
            sections[current].append(line.split()[1])
        elif not line.strip():
            current = None  # the table ends at the first blank line after it
    assert set(sections) == {f.label(c) for c in f.clients}, f.text
    for c in f.clients:
        assert sorted(sections[f.label(c)]) == sorted(loop.unit for loop in c.loops), f.text
        for loop in c.loops:
            assert "\u25cf %s: %s on %s\n" % (loop.unit, loop.kind, f.label(c)) in f.text, f.text
    # every loop is a desktop's: its fix runs there, by unit (its own journal names it by another id)
    assert sorted(report_fields(f.text, "Fix")) == sorted(
        "on %s: unitaudit fix --unit %s --dry-run" % (f.label(c), loop.unit) for c in f.clients for loop in c.loops)
    assert not report_fields(f.text, "Every fix")


def test_fix_on_the_central_host_refuses_every_client_loop_and_changes_nothing(fleet_scan):
    """The clients' loops are not the central host's: `fix --yes` there plans nothing and says where
    each fix belongs (before, it wrote a drop-in for desk-a-sync.service on the central, which has
    no such unit, and called that fixed)."""
    f = fleet_scan
    central = f.central.lab
    before = central.run("sh", "-c", "find /etc/systemd/system -newer /etc/machine-id | sort").stdout
    r = f.central.unitaudit("fix", "--journal-dir", fleet.REMOTE_DIR, "--yes", "--json")
    assert r.returncode == 1, "fix: %d (1: a plan of refusals only)\n%s" % (r.returncode, r.stderr)
    plan = json.loads(r.stdout)
    assert plan["steps"] == []
    refused = {x["finding_id"]: x["reason"] for x in plan["refusals"]}
    for x in f.doc["findings"]:
        assert refused[x["id"]].startswith("the evidence is from another machine (%s, machine id %s)"
                                           % (x["host"], x["machine_id"])), refused
    assert central.run("sh", "-c", "find /etc/systemd/system -newer /etc/machine-id | sort").stdout == before
    assert central.run("sh", "-c", "ls /etc/systemd/system/*.d/50-unitaudit.conf 2>/dev/null || true").stdout == ""
