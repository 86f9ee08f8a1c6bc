"""What differs between systemd 247, 252 and 257 where unitaudit reads it, held on text recorded
from each version in the lab (tests/fixtures/captured/debian11-247-lab, debian13-257-lab; their
SOURCES.md say how), replayed through the real journal reader.  252 is the default lab's and
examples/seed-loops' own version, covered by the rest of the suite."""
import json
import re

import pytest

from builders import by_kind, findings, fixture, unbatch, write_journal
from unitaudit.analysis.evidence import fold
from unitaudit.model import Kind
from unitaudit.sources.dbus import SERVICE_PROPERTIES
from unitaudit.sources.journal import JournalSource

VERSIONS = ("debian11-247-lab", "debian13-257-lab")
SPAWN_ID = "641257651c1b4ec9a8624d7a40a9e1e7"
AVAHI = "dbus-org.freedesktop.Avahi.service"


def entries(version: str):
    with open(str(fixture("captured", version, "seed-loops.json"))) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module", params=VERSIONS)
def recorded(request, tmp_path_factory):
    es = entries(request.param)
    path = write_journal(es, tmp_path_factory.mktemp(request.param) / "system.journal")
    evs = unbatch(JournalSource(files=[path]).events())
    return request.param, es, evs, findings(fold(evs))


def test_the_seed_loops_are_found_with_their_causes(recorded):
    version, es, _, found = recorded
    (restart,) = by_kind(found, "restart-loop")
    assert restart.unit == "deepin-anything-monitor.service"
    assert restart.trusted
    facts = dict(restart.cause.facts)
    assert restart.cause.kind.value == "execstartpre-failed"
    assert facts["command"] == "ExecStartPre"
    assert facts["program_line"].startswith("modprobe: FATAL: Module vfs_monitor not found in directory /lib/modules/")
    (activation,) = by_kind(found, "activation-loop")
    assert activation.unit == AVAHI
    assert activation.trusted
    assert dict(activation.cause.facts)["reason"] == "not-found"
    # counted from dbus-daemon's own lines only: on 247 busctl's stderr ("Call failed: Unit ... not
    # found.", a byte array with colour escapes, SYSLOG_IDENTIFIER=bash) is in the journal too
    daemon_lines = [e for e in es if e.get("_COMM") == "dbus-daemon"
                    and "Activation via systemd failed for unit '%s'" % AVAHI in str(e.get("MESSAGE"))]
    assert activation.count == len(daemon_lines) >= 5
    (logrotate,) = by_kind(found, "repeated-failure")
    assert logrotate.unit == "logrotate.service"
    classes = {e["class"]: e for e in dict(logrotate.cause.facts)["errors"]}
    assert classes["unexpected-text-after-brace"]["file"] == "/etc/logrotate.d/clink-agent"
    assert classes["unexpected-text-after-brace"]["line"] == 8
    assert classes["insecure-parent-directory"]["path"] == "/var/log/mirror/printer/printer.log"


def test_an_exec_failure_is_logged_by_the_units_child_and_read_as_trusted(recorded):
    """Not PID 1: on 247 the forked child (SYSLOG_IDENTIFIER=systemd, no ERRNO field, "Failed to
    locate executable X"), on 257 systemd-executor ("Unable to locate executable 'X'", ERRNO=2).
    Both run in the unit's cgroup as root, which is what makes them evidence."""
    version, es, evs, found = recorded
    logged = [e for e in es if e.get("MESSAGE_ID") == SPAWN_ID]
    assert logged
    assert (all(e["_PID"] != "1" and e["_SYSTEMD_UNIT"] == e["UNIT"] == "exec-missing.service"
                          for e in logged))
    if version.startswith("debian11"):
        assert {e["SYSLOG_IDENTIFIER"] for e in logged} == {"systemd"}
        assert not any("ERRNO" in e for e in logged)
    else:
        assert any(re.search(r"Unable to locate executable '/usr/sbin/no-such-helper'", e["MESSAGE"]) for e in logged)
    spawn = [e for e in evs if e.message.kind is Kind.SPAWN_FAILED]
    assert spawn
    assert all(e.message.trusted and e.message.unit == "exec-missing.service" for e in spawn)
    (failure,) = [f for f in by_kind(found, "failure") if f.unit == "exec-missing.service"]
    assert dict(failure.cause.facts)["executable"] == "/usr/sbin/no-such-helper"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_lookalike_exec_failure_from_an_ordinary_user_is_not_evidence(version, tmp_path):
    logged = next(e for e in entries(version) if e.get("MESSAGE_ID") == SPAWN_ID)
    forged = dict(logged, _UID="1000", _PID="4242", _SYSTEMD_UNIT="user@1000.service")
    path = write_journal([forged], tmp_path / "forged.journal")
    evs = unbatch(JournalSource(files=[path]).events())
    assert not [e for e in evs if e.message.kind is Kind.SPAWN_FAILED]


UNIT_PROPERTIES = {"LoadState": "s", "ActiveState": "s", "SubState": "s", "UnitFileState": "s",
                   "FragmentPath": "s", "Names": "as", "Description": "s", "LoadError": "(ss)",
                   "NeedDaemonReload": "b"}
SERVICE_SIGNATURES = {"NRestarts": "u", "Result": "s", "Restart": "s", "RestartUSec": "t",
                      "ExecStartPre": "a(sasbttttuii)", "ExecStopPost": "a(sasbttttuii)"}


@pytest.mark.parametrize("version", VERSIONS)
def test_every_property_the_audit_reads_exists_with_its_signature(version):
    assert set(SERVICE_SIGNATURES) == set(SERVICE_PROPERTIES)
    members, interface = {}, None
    for line in fixture("captured", version, "busctl-introspect.txt").read_text().splitlines():
        cols = line.split()
        if len(cols) >= 2 and cols[1] == "interface":
            interface = cols[0]
        elif len(cols) >= 3 and cols[1] == "property":
            members[(interface, cols[0].lstrip("."))] = cols[2]
    for name, sig in UNIT_PROPERTIES.items():
        assert members.get(("org.freedesktop.systemd1.Unit", name)) == sig, name
    for name, sig in SERVICE_SIGNATURES.items():
        assert members.get(("org.freedesktop.systemd1.Service", name)) == sig, name
