"""read_sos on a real sos report: examples/sos-seed/, made by Debian's `sos report` (sos 4.0) inside
the lab while the seed's three loops ran (examples/record_sos.py; its MANIFEST.md says how).

The tarball is unpacked with plain tarfile into a temporary directory.  The quiet case is the
same report with every journal line of the three loops taken out (the lines that name their
units, programs or the Avahi bus name): the rest of a real machine's journal must give no finding.
"""
import glob
import os
import re
import shutil
import tarfile
from pathlib import Path

import pytest

from unitaudit.model import CauseKind, FindingKind, Thresholds
from unitaudit.services.scan import scan
from unitaudit.sources.bundle.sos import read_sos
from unitaudit.sources.probe import SystemProbe
from unitaudit.sources.textlog import TextLogSource

RECORDING = Path(__file__).resolve().parent.parent / "examples" / "sos-seed"
# what the three loops log, and nothing else does (examples/sos-seed/MANIFEST.md, key lines)
LOOP_WORDS = ("deepin-anything-monitor", "modprobe", "rmmod", "Avahi", "logrotate", "deepin-system-monitor")


@pytest.fixture(scope="module")
def top(tmp_path_factory) -> str:
    tarballs = glob.glob(str(RECORDING / "sosreport-*.tar.xz"))
    assert len(tarballs) == 1, tarballs
    out = tmp_path_factory.mktemp("sos")
    with tarfile.open(tarballs[0]) as tar:
        tar.extractall(str(out))  # our own recording; Python 3.7 has no filter=
    # sos keeps proc/ and sys/ read-only (dr-xr-xr-x): made writable so that pytest can remove them
    for directory, _subdirs, _files in os.walk(str(out)):
        os.chmod(directory, 0o755)
    (found,) = os.listdir(str(out))
    return str(out / found)


@pytest.fixture(scope="module")
def evidence(top):
    return read_sos(top)


def manifest_value(label: str) -> str:
    """A `- label: `value`` line of the recording's MANIFEST (what the recorder saw in the lab)."""
    m = re.search(r"^- %s: `([^`]*)`" % re.escape(label), (RECORDING / "MANIFEST.md").read_text(), re.M)
    assert m, label
    return m.group(1)


def scan_logs(paths, now):
    return scan([TextLogSource(p) for p in paths], Thresholds(), now=now)


def test_the_journal_text_is_the_one_text_log(evidence, top):
    assert evidence.text_logs == (os.path.join(top, "sos_commands/logs/journalctl_--no-pager"),)
    with open(evidence.text_logs[0], encoding="utf-8", errors="replace") as f:
        text = f.read()
    assert "Scheduled restart job" in text and "logrotate" in text


def test_collected_at_is_when_sos_ran_after_the_last_journal_line(evidence):
    end = scan_logs(evidence.text_logs, now=evidence.collected_at).evidence_end
    assert end is not None and end <= evidence.collected_at < end + 60


def test_kernel_systemd_and_host_are_those_the_lab_had(evidence):
    assert evidence.kernel_release == manifest_value("kernel (shared with the host)")
    assert evidence.systemd_version == int(manifest_value("systemd").split()[1])
    assert evidence.hostname == manifest_value("container hostname")


def test_copied_files_read_at_their_paths(evidence):
    probe = SystemProbe(evidence.root)
    assert probe.read_text("/etc/logrotate.d/clink-agent").splitlines()[7] == "} extra"
    assert "ExecStartPre=/usr/sbin/modprobe vfs_monitor" in probe.read_text(
        "/etc/systemd/system/deepin-anything-monitor.service")
    # /lib is a link to usr/lib inside the report, as on the machine
    assert "Alias=dbus-org.freedesktop.Avahi.service" in probe.read_text("/lib/systemd/system/avahi-daemon.service")
    assert not probe.stat("/etc/systemd/system/dbus-org.freedesktop.Avahi.service").exists
    assert probe.stat("/etc/systemd/system/multi-user.target.wants/avahi-daemon.service").is_symlink


def test_module_answers_and_what_sos_cannot_say_of_vfs_monitor(evidence):
    answers = evidence.module_answers
    assert answers and "vfs_monitor" not in answers
    probe = SystemProbe(evidence.root)
    for name, answer in answers.items():
        assert answer == "(builtin)" or answer.endswith((".ko", ".ko.xz", ".ko.zst", ".ko.gz"))
        if answer == "(builtin)":
            assert "initstate" not in probe.list_dir("/sys/module/" + name)
    facts = dict(evidence.lacks)
    assert "modinfo of a module neither loaded nor built in" in facts
    assert {"package owners", "D-Bus service files", "dkms sources"} <= set(facts)
    assert "log directory modes" not in facts  # its `ls -alRh /var/log/` shows them (sources/bundle/listing.py)
    assert "kernel release" not in facts and "when sos ran" not in facts and "journal" not in facts


def test_unit_states_from_systemctl_show(evidence):
    units = {u.name: u for u in evidence.unit_states}
    monitor = units["deepin-anything-monitor.service"]
    assert (monitor.sub_state, monitor.result, monitor.restart) == ("auto-restart", "exit-code", "always")
    assert monitor.restart_usec == 2000000 and monitor.n_restarts >= 3
    assert monitor.seen_in == "sos report" and not monitor.trusted
    (pre,) = monitor.exec_start_pre
    assert pre.argv == ("/usr/sbin/modprobe", "vfs_monitor") and pre.failed and pre.status == 1
    assert units["logrotate.service"].result == "exit-code"


def test_the_three_seed_loops_are_found(evidence):
    result = scan_logs(evidence.text_logs, now=evidence.collected_at)
    found = {(f.kind, f.unit): f for f in result.findings}
    restart = found[(FindingKind.RESTART_LOOP, "deepin-anything-monitor.service")]
    activation = found[(FindingKind.ACTIVATION_LOOP, "dbus-org.freedesktop.Avahi.service")]
    logrotate = found[(FindingKind.REPEATED_FAILURE, "logrotate.service")]
    assert restart.cause.kind == CauseKind.EXECSTARTPRE_FAILED
    assert activation.cause.kind == CauseKind.MISSING_UNIT
    assert logrotate.cause.kind == CauseKind.LOGROTATE_CONFIG
    assert {f.host for f in result.findings} == {evidence.hostname}
    # the journal's restarts are the ones systemd counted (show ran a moment before journalctl)
    shown = {u.name: u for u in evidence.unit_states}["deepin-anything-monitor.service"].n_restarts
    assert abs(restart.count - shown) <= 2


def test_a_report_without_the_loops_is_quiet(top, tmp_path):
    quiet = tmp_path / "quiet"
    shutil.copytree(top, str(quiet), symlinks=True)
    journal = quiet / "sos_commands/logs/journalctl_--no-pager"
    lines = journal.read_text(errors="replace").splitlines(True)
    kept = [line for line in lines if not any(w in line for w in LOOP_WORDS)]
    assert len(kept) > 50 and len(lines) - len(kept) > 300  # the lab boots few services
    journal.write_text("".join(kept))
    evidence = read_sos(str(quiet))
    assert evidence.text_logs == (str(journal),)
    assert scan_logs(evidence.text_logs, now=evidence.collected_at).findings == ()


def test_a_link_out_of_the_report_is_not_read(top, tmp_path):
    report = tmp_path / "linked"
    shutil.copytree(top, str(report), symlinks=True)
    journal = report / "sos_commands/logs/journalctl_--no-pager"
    journal.unlink()
    journal.symlink_to("../../../../../../../../../etc/passwd")  # resolved inside the report: no etc/passwd
    evidence = read_sos(str(report))
    assert all(os.path.realpath(p).startswith(str(report) + os.sep) for p in evidence.text_logs)
    assert not any("passwd" in p for p in evidence.text_logs)


def test_an_empty_directory_lacks_everything(tmp_path):
    evidence = read_sos(str(tmp_path))
    assert evidence.text_logs == () and evidence.unit_states == () and evidence.module_answers == {}
    assert evidence.collected_at is None and evidence.kernel_release is None and evidence.hostname == ""
    assert {"journal", "when sos ran", "kernel release", "unit states"} <= set(dict(evidence.lacks))
