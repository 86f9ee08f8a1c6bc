"""The diagnosis against a real systemd: the lab's findings (from its journal), its unit states
(over its bus, from the host), and its files (SystemProbe on the container's root seen from the
host), each fact checked against what the container itself says (systemctl, modinfo, stat inside).
"""
import pytest

from builders import findings
from unitaudit.analysis.diagnosis import diagnose_all
from unitaudit.analysis.evidence import fold
from unitaudit.sources.wordings import classify_logrotate
from unitaudit.sources.dbus import DBusSource
from unitaudit.sources.journal import JournalSource
from unitaudit.sources.probe import SystemProbe

ALIAS = "dbus-org.freedesktop.Avahi.service"
MONITOR = "deepin-anything-monitor.service"


def diagnosed(lab):
    """Every finding of the lab's journal, diagnosed from the host, by unit."""
    lab.run("journalctl", "--sync", check=False)
    found = findings(fold(JournalSource(directory=str(lab.journal_dir())).events()))
    bus = DBusSource(lab.bus_address)
    live = bus.read(with_unit_files=True)
    out = {}
    for f in diagnose_all(found, SystemProbe(str(lab.root)), live, links=bus.unit_file_links):
        out.setdefault(f.unit, f)
    return out


@pytest.fixture(scope="module")
def seed(seed_lab):
    return diagnosed(seed_lab)


def inside(lab, *cmd):
    return lab.run(*cmd, check=False, record=False).stdout.strip()


def test_missing_alias_of_an_enabled_unit(seed_lab, seed):
    d = seed[ALIAS].diagnosis
    facts = dict(d.facts)
    assert d.verdict == "alias-missing"
    assert facts["declared_by"] == "avahi-daemon.service"
    assert facts["package"] == "avahi-daemon"
    assert (facts["unit_file_state"], facts["unit_file_state_source"]) == ("enabled", "dbus")
    assert facts["alias_link_exists"] is False
    assert facts["bus_service_files"][0]["name"] == "org.freedesktop.Avahi"
    # GetUnitFileLinks: the enablement links that exist; the alias is not among them
    assert facts["alias_in_links"] is False
    assert any(p.endswith(".wants/avahi-daemon.service") for p in facts["links"])
    assert d.summary.endswith("run systemctl reenable avahi-daemon.service")
    # what the container says
    assert inside(seed_lab, "systemctl", "is-enabled", "avahi-daemon.service") == "enabled"
    assert seed_lab.run("test", "-e", "/etc/systemd/system/" + ALIAS, check=False).returncode == 1
    assert inside(seed_lab, "dpkg-query", "-S", "/lib/systemd/system/avahi-daemon.service").startswith("avahi-daemon:")


def test_modprobe_loop_wants_a_module_the_running_kernel_does_not_have(seed_lab, seed):
    # PID 1 clears a command's status when it runs it again: a read that lands while
    # ExecStartPre runs sees no failure (the diagnosis then takes the journal's word).  Read
    # again until it lands between two starts, where the loop spends nearly all its time.
    for _ in range(20):
        d = seed[MONITOR].diagnosis
        if dict(d.facts)["command_source"] == "live":
            break
        seed = diagnosed(seed_lab)
    facts = dict(d.facts)
    assert d.verdict in ("module-missing", "module-missing-dkms-available")
    assert facts["command_source"] == "live"
    assert facts["argv"] == ["/usr/sbin/modprobe", "vfs_monitor"]
    assert (facts["code"], facts["status"]) == ("exited", 1)
    assert facts["module"] == "vfs_monitor"
    assert facts["module_found"] is False
    assert facts["kernel_release"] == inside(seed_lab, "uname", "-r")  # the container runs this kernel
    assert seed_lab.run("modinfo", "vfs_monitor", check=False).returncode != 0
    assert "vfs_monitor" in d.summary


def test_logrotate_config_line_and_world_writable_directory(seed_lab, seed):
    d = seed["logrotate.service"].diagnosis
    facts = dict(d.facts)
    assert d.verdict == "config-error+insecure-directories"
    (config,) = [c for c in facts["configs"] if c["file"] == "/etc/logrotate.d/clink-agent"]
    logged = classify_logrotate("error: clink-agent:8, unexpected text after }", None, True)
    assert config["line"] == 8
    assert config["class"] == logged.fact("class") == "unexpected-text-after-brace"
    assert config["line_text"] == "} extra"
    assert (config["package"], config["package_lookup"]) == (None, "not-owned")
    (printer,) = [x for x in facts["directories"] if x["path"] == "/var/log/mirror/printer"]
    assert (printer["mode"], printer["owner"], printer["group"]) == ("0777", "root", "root")
    assert printer["world_writable"]
    assert printer["insecure"]
    assert inside(seed_lab, "stat", "-c", "%a %U %G", "/var/log/mirror/printer") == "777 root root"


def test_disabled_avahi_is_said_to_be_disabled_on_purpose(controls_lab):
    out = diagnosed(controls_lab)
    assert ALIAS in out, "the caller of the disabled service should be a finding: %s" % sorted(out)
    d = out[ALIAS].diagnosis
    facts = dict(d.facts)
    assert d.verdict == "disabled-on-purpose"
    assert facts["unit_file_state"] == "disabled"
    assert facts["package"] == "avahi-daemon"
    assert facts["suggested_command"] is None
    assert "disabled" in d.summary
    assert inside(controls_lab, "systemctl", "is-enabled", "avahi-daemon.service") == "disabled"
    assert "logrotate.service" not in out  # its config is valid there: nothing to diagnose
