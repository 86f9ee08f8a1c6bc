"""Diagnosis against small root trees built from real files (tests/fixtures/system/SOURCES.md).

The real SystemProbe looks at each tree: the real dpkg-query reads its dpkg database, the real
modinfo its /lib/modules.  Every verdict once where it is given and once where the diagnosis
stays quiet or says something else.  The seed machine's own case is checked end to end from the
journal recorded in examples/seed-loops.
"""
import os
import shutil
import struct
import subprocess
from dataclasses import replace

import pytest

from builders import example, findings, fixture
from unitaudit.analysis.diagnosis import diagnose, diagnose_all
from unitaudit.analysis.evidence import fold
from unitaudit.model import (Cause, CauseKind, ExecStatus, Finding, FindingKind, LiveState, UnitFile,
                             UnitState)
from unitaudit.sources.probe import SystemProbe
from unitaudit.errors import ProbeUnavailable
from unitaudit.util.names import is_package_name, is_safe_path

AVAHI = "avahi-daemon.service"
ALIAS = "dbus-org.freedesktop.Avahi.service"
ALIAS_LINK = "/etc/systemd/system/" + ALIAS
RELEASE = "6.1.0-unitaudit-test"
MONITOR = "deepin-anything-monitor.service"
# the broken config installed in the lab when examples/seed-loops was recorded: line 8 is "} extra"
CLINK_AGENT_BROKEN = example("seed-loops", "units", "etc", "logrotate.d", "clink-agent").read_text()
DKMS_CONF = """\
PACKAGE_NAME="deepin-anything"
PACKAGE_VERSION="5.0.1"
MAKE[0]="make -C ${kernel_source_dir} M=${dkms_tree}/${PACKAGE_NAME}/${PACKAGE_VERSION}/build modules"
DEST_MODULE_LOCATION[0]="/updates/"
BUILT_MODULE_NAME[0]="vfs_monitor"
AUTOINSTALL="yes"
"""
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to other users needs root")


class Tree:
    """A root file system under tmp_path, usr-merged like Debian 12."""

    def __init__(self, base):
        self.base = base
        for d in ("usr/bin", "usr/sbin", "usr/lib"):
            (base / d).mkdir(parents=True)
        for top in ("bin", "sbin", "lib"):
            os.symlink("usr/" + top, str(base / top))

    def path(self, p):
        return self.base / p.lstrip("/")

    def write(self, p, text, mode=0o644):
        target = self.path(p)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        os.chmod(str(target), mode)

    def copy(self, name, p):
        self.write(p, fixture("system", name).read_text())

    def link(self, p, target):
        self.path(p).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, str(self.path(p)))

    def mkdir(self, p, mode=0o755, uid=None, gid=None):
        self.path(p).mkdir(parents=True, exist_ok=True)
        os.chmod(str(self.path(p)), mode)
        if uid is not None:
            os.chown(str(self.path(p)), uid, gid)

    def remove(self, p):
        os.unlink(str(self.path(p)))

    def add_package(self, name, version, files):
        """A generated dpkg entry beside the copied ones (for made-up packages only)."""
        with open(str(self.path("/var/lib/dpkg/status")), "a") as f:
            f.write("Package: %s\nStatus: install ok installed\nArchitecture: all\nVersion: %s\n"
                    "Description: test package\n\n" % (name, version))
        self.write("/var/lib/dpkg/info/%s.list" % name, "".join(p + "\n" for p in files))


@pytest.fixture
def tree(tmp_path):
    """The seed machine after `rm` of the alias link: avahi-daemon installed and enabled, the alias
    gone; the broken clink-agent config; a chmod 777 printer log directory."""
    t = Tree(tmp_path / "root")
    t.copy("avahi-daemon.service", "/usr/lib/systemd/system/avahi-daemon.service")
    t.copy("systemd-timesyncd.service", "/usr/lib/systemd/system/systemd-timesyncd.service")
    t.copy("logrotate.service", "/usr/lib/systemd/system/logrotate.service")
    t.copy("org.freedesktop.Avahi.service", "/usr/share/dbus-1/system-services/org.freedesktop.Avahi.service")
    # what `systemctl enable avahi-daemon.service` writes (absolute targets, as systemctl does)
    t.link("/etc/systemd/system/multi-user.target.wants/avahi-daemon.service", "/lib/systemd/system/" + AVAHI)
    t.link("/etc/systemd/system/dbus-org.freedesktop.timesync1.service",
           "/lib/systemd/system/systemd-timesyncd.service")
    t.copy("dpkg/status", "/var/lib/dpkg/status")
    t.copy("dpkg/info/avahi-daemon.list", "/var/lib/dpkg/info/avahi-daemon.list")
    t.copy("dpkg/info/logrotate.list", "/var/lib/dpkg/info/logrotate.list")
    t.write("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                           "printmirror:x:4242:4242::/nonexistent:/usr/sbin/nologin\n")
    t.write("/etc/group", "root:x:0:\nadm:x:4:\nprintmirror:x:4242:\n")
    t.copy("btmp", "/etc/logrotate.d/btmp")
    t.write("/etc/logrotate.d/clink-agent", CLINK_AGENT_BROKEN)
    t.mkdir("/var/log/mirror")
    t.mkdir("/var/log/mirror/printer", 0o777)
    t.write("/proc/sys/kernel/osrelease", RELEASE + "\n")  # a tree records its own kernel
    t.mkdir("/usr/lib/modules")
    return t


def probe(t):
    return SystemProbe(str(t.base))


def live(*unit_files, units=()):
    return LiveState("unix:path=/test", tuple(units), tuple(UnitFile(p, s) for p, s in unit_files), 0.0)


AVAHI_ENABLED = ("/lib/systemd/system/" + AVAHI, "enabled")


def finding(looping_unit, kind, cause_kind, **facts):
    cause = Cause(cause_kind, "test cause", tuple(facts.items()))
    return Finding("id", kind, looping_unit, 10, 60.0, None, None, True, (), cause, "test", "test")


def missing(unit=ALIAS, bus_name="org.freedesktop.Avahi"):
    return finding(unit, FindingKind.ACTIVATION_LOOP, CauseKind.MISSING_UNIT, unit=unit, bus_name=bus_name,
                   reason="not-found", daemon="dbus-daemon", requested_by=[])


# -- missing-unit ----------------------------------------------------------------------------

def test_alias_missing_names_the_unit_package_and_the_fix(tree):
    d = diagnose(missing(), probe(tree), live(AVAHI_ENABLED))
    facts = dict(d.facts)
    assert (d.kind, d.verdict) == (CauseKind.MISSING_UNIT, "alias-missing")
    assert d.summary == ("avahi-daemon.service (package avahi-daemon, enabled) declares "
                         "Alias=dbus-org.freedesktop.Avahi.service but "
                         "/etc/systemd/system/dbus-org.freedesktop.Avahi.service is missing: "
                         "run systemctl reenable avahi-daemon.service")
    assert facts["declared_by"] == AVAHI
    assert facts["declared_by_path"] == "/lib/systemd/system/" + AVAHI
    assert facts["package"] == "avahi-daemon"
    assert facts["package_lookup"] == "found"
    assert (facts["unit_file_state"], facts["unit_file_state_source"]) == ("enabled", "dbus")
    assert facts["alias_link_exists"] is False
    assert facts["alias_entries"] == []
    assert facts["bus_service_files"] == [{
        "path": "/usr/share/dbus-1/system-services/org.freedesktop.Avahi.service",
        "name": "org.freedesktop.Avahi", "package": "avahi-daemon", "package_lookup": "found"}]
    assert facts["suggested_command"] == "systemctl reenable avahi-daemon.service"


def test_alias_missing_offline_reads_enablement_from_the_links_on_disk(tree):
    d = diagnose(missing(), probe(tree), None)
    facts = dict(d.facts)
    assert d.verdict == "alias-missing"
    assert (facts["unit_file_state"], facts["unit_file_state_source"]) == ("enabled", "files")
    assert facts["declared_by_path"] == "/lib/systemd/system/" + AVAHI  # the unit path's spelling


def test_get_unit_file_links_shows_the_alias_is_not_among_the_links(tree):
    asked = []

    def links(names):
        asked.append(list(names))
        return {AVAHI: ("/etc/systemd/system/multi-user.target.wants/avahi-daemon.service",)}

    facts = dict(diagnose(missing(), probe(tree), live(AVAHI_ENABLED), links).facts)
    assert asked == [[AVAHI]]
    assert facts["alias_in_links"] is False
    assert len(facts["links"]) == 1


def test_a_failing_bus_call_is_a_fact_not_a_crash(tree):
    def links(names):
        raise ConnectionError("bus gone")

    d = diagnose(missing(), probe(tree), live(AVAHI_ENABLED), links)
    assert d.verdict == "alias-missing"
    assert dict(d.facts)["links_error"] == "bus gone"


def test_disabled_on_purpose_is_not_called_broken(tree):
    tree.remove("/etc/systemd/system/multi-user.target.wants/avahi-daemon.service")
    d = diagnose(missing(), probe(tree), live(("/lib/systemd/system/" + AVAHI, "disabled")))
    assert d.verdict == "disabled-on-purpose"
    assert "is disabled, so the alias is absent on purpose" in d.summary
    assert "asking for a disabled service" in d.summary
    assert dict(d.facts)["suggested_command"] is None
    # offline the same tree says the same, from the files
    assert diagnose(missing(), probe(tree), None).verdict == "disabled-on-purpose"


def test_masked_unit_is_disabled_on_purpose(tree):
    tree.link("/etc/systemd/system/" + AVAHI, "/dev/null")
    d = diagnose(missing(), probe(tree), live(("/etc/systemd/system/" + AVAHI, "masked")))
    assert d.verdict == "disabled-on-purpose"
    assert "masked" in d.summary
    assert dict(d.facts)["declared_by"] == AVAHI  # found in /lib although /etc masks it
    assert diagnose(missing(), probe(tree), None).verdict == "disabled-on-purpose"


def test_masked_alias_is_disabled_on_purpose(tree):
    tree.link(ALIAS_LINK, "/dev/null")
    assert diagnose(missing(), probe(tree), live(AVAHI_ENABLED)).verdict == "disabled-on-purpose"


def test_no_unit_declares_it_points_at_the_bus_service_file(tree):
    tree.remove("/usr/lib/systemd/system/avahi-daemon.service")
    d = diagnose(missing(), probe(tree), live())
    assert d.verdict == "no-unit-declares-it"
    assert d.summary == ("no installed unit file declares Alias=dbus-org.freedesktop.Avahi.service although "
                         "/usr/share/dbus-1/system-services/org.freedesktop.Avahi.service (package avahi-daemon) "
                         "asks for it: the service behind it is not installed")
    assert dict(d.facts)["declared_by"] is None
    assert dict(d.facts)["package"] is None


def test_alias_present_means_the_loop_is_something_else(tree):
    tree.link(ALIAS_LINK, "/lib/systemd/system/" + AVAHI)
    units = (UnitState(AVAHI, need_daemon_reload=True),)
    d = diagnose(missing(), probe(tree), live(AVAHI_ENABLED, units=units))
    assert d.verdict == "alias-present"
    assert "systemctl daemon-reload" in d.summary
    assert dict(d.facts)["alias_entries"] == [{"path": ALIAS_LINK, "link_target": "/lib/systemd/system/" + AVAHI,
                                               "resolves": True, "masked": False}]
    assert dict(d.facts)["suggested_command"] is None


def test_alias_dangling(tree):
    tree.link(ALIAS_LINK, "/lib/systemd/system/avahi-gone.service")
    d = diagnose(missing(), probe(tree), live(AVAHI_ENABLED))
    assert d.verdict == "alias-dangling"
    assert "leads nowhere" in d.summary


def test_the_declarer_of_that_alias_not_of_any_alias(tree):
    tree.remove("/etc/systemd/system/dbus-org.freedesktop.timesync1.service")
    d = diagnose(missing("dbus-org.freedesktop.timesync1.service", "org.freedesktop.timesync1"), probe(tree),
                 live(AVAHI_ENABLED, ("/lib/systemd/system/systemd-timesyncd.service", "enabled")))
    facts = dict(d.facts)
    assert d.verdict == "alias-missing"
    assert facts["declared_by"] == "systemd-timesyncd.service"
    # this tree's dpkg database has no systemd-timesyncd: said as such, not guessed
    assert (facts["package"], facts["package_lookup"]) == (None, "not-owned")
    assert facts["bus_service_files"] == []


def test_a_unit_name_from_log_text_that_is_not_one_is_never_looked_up(tree):
    assert diagnose(missing("../../../etc/shadow"), probe(tree), None) is None
    assert diagnose(replace(missing(), cause=None), probe(tree), None) is None


# -- execstartpre-failed ---------------------------------------------------------------------

def exec_status(path, *argv, code=1, status=1, exited=2.0):
    return ExecStatus(path, tuple(argv), False, 1.0, exited, 4242, code, status)


def monitor_live(*exec_start_pre, restart="always", restart_usec=5_000_000):
    unit = UnitState(MONITOR, sub_state="auto-restart", restart=restart, restart_usec=restart_usec,
                     exec_start_pre=tuple(exec_start_pre))
    return live(("/etc/systemd/system/" + MONITOR, "enabled"), units=(unit,))


MODPROBE_FAILED = exec_status("/usr/sbin/modprobe", "/usr/sbin/modprobe", "vfs_monitor")
PROGRAM_LINE = "modprobe: FATAL: Module vfs_monitor not found in directory /lib/modules/" + RELEASE


def exec_finding(**facts):
    base = {"command": "ExecStartPre", "command_source": "journal", "code": "exited", "status": 1,
            "program_line": PROGRAM_LINE}
    base.update(facts)
    return finding(MONITOR, FindingKind.RESTART_LOOP, CauseKind.EXECSTARTPRE_FAILED, **base)


def test_module_missing_for_the_running_kernel(tree):
    d = diagnose(exec_finding(), probe(tree), monitor_live(MODPROBE_FAILED))
    facts = dict(d.facts)
    assert (d.kind, d.verdict) == (CauseKind.EXECSTARTPRE_FAILED, "module-missing")
    assert facts["command_source"] == "live"
    assert facts["argv"] == ["/usr/sbin/modprobe", "vfs_monitor"]
    assert (facts["code"], facts["status"]) == ("exited", 1)
    assert (facts["module"], facts["kernel_release"], facts["module_found"]) == ("vfs_monitor", RELEASE, False)
    assert facts["modules_dir_exists"] is False
    assert facts["dkms_providers"] == []
    assert d.summary == ("deepin-anything-monitor.service: ExecStartPre=/usr/sbin/modprobe vfs_monitor failed "
                         "(exited, status=1): module vfs_monitor does not exist for the running kernel %s "
                         "(there is no /lib/modules/%s at all) and no dkms source provides it; "
                         "Restart=always repeats it every 5 s" % (RELEASE, RELEASE))


def test_module_missing_from_the_journal_alone(tree):
    d = diagnose(exec_finding(), probe(tree), None)
    facts = dict(d.facts)
    assert d.verdict == "module-missing"
    assert facts["command_source"] == "journal"
    assert facts["module"] == "vfs_monitor"
    assert facts["argv"] is None


def test_module_missing_dkms_available(tree):
    tree.write("/usr/src/deepin-anything-5.0.1/dkms.conf", DKMS_CONF)
    tree.add_package("deepin-anything-dkms", "5.0.1",
                     ["/usr", "/usr/src", "/usr/src/deepin-anything-5.0.1", "/usr/src/deepin-anything-5.0.1/dkms.conf"])
    d = diagnose(exec_finding(), probe(tree), monitor_live(MODPROBE_FAILED))
    facts = dict(d.facts)
    assert d.verdict == "module-missing-dkms-available"
    assert facts["dkms_providers"] == [{
        "source_dir": "/usr/src/deepin-anything-5.0.1", "package": "deepin-anything-dkms",
        "package_lookup": "found", "dkms_name": "deepin-anything", "dkms_version": "5.0.1",
        "built_for_running_kernel": False}]
    assert "dkms source deepin-anything/5.0.1 (package deepin-anything-dkms) provides it, not built for" in d.summary
    assert d.summary.endswith("run dkms autoinstall -k " + RELEASE)
    tree.mkdir("/var/lib/dkms/deepin-anything/5.0.1/%s/x86_64/module" % RELEASE)
    d = diagnose(exec_finding(), probe(tree), monitor_live(MODPROBE_FAILED))
    assert dict(d.facts)["dkms_providers"][0]["built_for_running_kernel"] is True
    assert "built for %s but not installed" % RELEASE in d.summary


def test_dkms_source_for_another_module_is_not_a_provider(tree):
    tree.write("/usr/src/other-1.0/dkms.conf", 'PACKAGE_NAME="other"\nPACKAGE_VERSION="1.0"\n')
    assert diagnose(exec_finding(), probe(tree), monitor_live(MODPROBE_FAILED)).verdict == "module-missing"


def tiny_module(name):
    """The smallest ELF object depmod and modinfo accept: a .modinfo section and its name table."""
    modinfo = b"license=GPL\0name=" + name.encode() + b"\0"
    names = b"\0.modinfo\0.shstrtab\0"
    header_size, section_size = 64, 64
    sections_at = (header_size + len(modinfo) + len(names) + 7) & ~7
    body = (modinfo + names).ljust(sections_at - header_size, b"\0")
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8  # 64-bit, little endian, version 1
    header = ident + struct.pack("<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, sections_at, 0, header_size, 0, 0,
                                 section_size, 3, 2)

    def section(name_at, kind, flags, offset, size):
        return struct.pack("<IIQQQQIIQQ", name_at, kind, flags, 0, offset, size, 0, 0, 1, 0)

    return (header + body + section(0, 0, 0, 0, 0) + section(1, 1, 2, header_size, len(modinfo))
            + section(10, 3, 0, header_size + len(modinfo), len(names)))


def depmod(tree, builtin=()):
    moddir = tree.path("/usr/lib/modules/" + RELEASE)
    moddir.mkdir(parents=True, exist_ok=True)
    (moddir / "modules.order").write_text("")
    (moddir / "modules.builtin").write_text("".join("kernel/%s.ko\n" % b for b in builtin))
    (moddir / "modules.builtin.modinfo").write_bytes(b"".join(b"%s.license=GPL\0" % b.encode() for b in builtin))
    subprocess.run(["depmod", "-b", str(tree.base), RELEASE], check=True, capture_output=True,
                   env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})


def test_module_present_means_loading_fails_not_finding(tree):
    tree.path("/usr/lib/modules/%s/updates/dkms" % RELEASE).mkdir(parents=True)
    tree.path("/usr/lib/modules/%s/updates/dkms/vfs_monitor.ko" % RELEASE).write_bytes(tiny_module("vfs_monitor"))
    depmod(tree)
    d = diagnose(exec_finding(), probe(tree), monitor_live(MODPROBE_FAILED))
    facts = dict(d.facts)
    assert d.verdict == "module-present"
    assert facts["module_file"] == "/lib/modules/%s/updates/dkms/vfs_monitor.ko" % RELEASE
    assert facts["modules_dir_exists"] is True


def test_builtin_module_is_present(tree):
    depmod(tree, builtin=("vfs_monitor",))
    d = diagnose(exec_finding(), probe(tree), monitor_live(MODPROBE_FAILED))
    assert d.verdict == "module-present"
    assert dict(d.facts)["module_file"] == "(builtin)"


def test_modprobe_options_are_skipped_and_removal_is_not_a_load(tree):
    with_options = exec_status("/sbin/modprobe", "modprobe", "-q", "-C", "/etc/modprobe.d", "vfs_monitor")
    assert dict(diagnose(exec_finding(), probe(tree), monitor_live(with_options)).facts)["module"] == "vfs_monitor"
    removal = exec_status("/sbin/modprobe", "modprobe", "-r", "vfs_monitor")
    tree.write("/usr/sbin/modprobe", "")
    assert diagnose(exec_finding(), probe(tree), monitor_live(removal)).verdict == "command-failed"


def test_command_failed_when_it_is_not_modprobe(tree):
    tree.write("/usr/bin/false", "")
    d = diagnose(exec_finding(program_line=None), probe(tree),
                 monitor_live(exec_status("/bin/false", "/bin/false")))
    assert d.verdict == "command-failed"
    assert dict(d.facts)["executable_exists"] is True
    assert d.summary.startswith("deepin-anything-monitor.service: ExecStartPre=/bin/false failed (exited, status=1)")


def test_executable_missing(tree):
    d = diagnose(exec_finding(program_line=None), probe(tree),
                 monitor_live(exec_status("/usr/bin/vendor-check", "/usr/bin/vendor-check")))
    assert d.verdict == "executable-missing"
    assert dict(d.facts)["package_lookup"] == "not-owned"


def test_not_failing_now_when_the_last_run_succeeded(tree):
    ok = exec_status("/usr/sbin/modprobe", "/usr/sbin/modprobe", "vfs_monitor", code=1, status=0)
    d = diagnose(exec_finding(), probe(tree), monitor_live(ok))
    assert d.verdict == "not-failing-now"


def test_a_module_name_from_log_text_that_is_not_one_is_never_looked_up(tree):
    d = diagnose(exec_finding(program_line="modprobe: FATAL: Module ../../x;rm not found in directory /x"),
                 probe(tree), None)
    assert d.verdict == "command-failed"
    assert "not a module name" in d.summary
    assert "kernel_release" not in dict(d.facts)


# -- logrotate-config ------------------------------------------------------------------------

def lr_error(cls, file=None, line=None, path=None):
    return {"file": None if file is None else ("/etc/logrotate.d/" + file if "/" not in file else file),
            "file_as_logged": file, "line": line, "class": cls, "path": path, "message": "error: ..."}


def lr_finding(*errors):
    return finding("logrotate.service", FindingKind.REPEATED_FAILURE, CauseKind.LOGROTATE_CONFIG,
                   errors=list(errors))


SEED_ERRORS = (lr_error("unexpected-text-after-brace", "clink-agent", 8),
               lr_error("insecure-parent-directory", path="/var/log/mirror/printer/printer.log"))


@needs_root
def test_config_error_and_insecure_directory(tree):
    d = diagnose(lr_finding(*SEED_ERRORS), probe(tree), None)
    facts = dict(d.facts)
    assert (d.kind, d.verdict) == (CauseKind.LOGROTATE_CONFIG, "config-error+insecure-directories")
    assert facts["configs"] == [{
        "file": "/etc/logrotate.d/clink-agent", "file_as_logged": "clink-agent", "exists": True, "line": 8,
        "line_text": "} extra", "class": "unexpected-text-after-brace", "package": None,
        "package_lookup": "not-owned"}]
    (directory,) = facts["directories"]
    assert directory["path"] == "/var/log/mirror/printer"
    assert (directory["mode"], directory["mode_text"]) == ("0777", "drwxrwxrwx")
    assert (directory["owner"], directory["group"]) == ("root", "root")
    assert directory["world_writable"]
    assert directory["insecure"]
    assert d.summary == ("logrotate: /etc/logrotate.d/clink-agent:8 unexpected-text-after-brace `} extra` "
                         "(not owned by any package); /var/log/mirror/printer is world-writable "
                         "(0777 root:root): logrotate skips 1 log(s) there")


def test_config_error_in_a_packaged_file(tree):
    d = diagnose(lr_finding(lr_error("unknown-option", "btmp", 3)), probe(tree), None)
    (config,) = dict(d.facts)["configs"]
    assert d.verdict == "config-error"
    assert (config["package"], config["line_text"]) == ("logrotate", "missingok")
    assert "(package logrotate)" in d.summary


def test_logrotate_conf_is_named_by_its_basename(tree):
    tree.write("/etc/logrotate.conf", "weekly\n")
    d = diagnose(lr_finding(lr_error("unknown-option", "logrotate.conf", 1)), probe(tree), None)
    assert dict(d.facts)["configs"][0]["file"] == "/etc/logrotate.conf"


@needs_root
def test_group_writable_directory_is_insecure_only_for_a_non_root_group(tree):
    tree.mkdir("/var/log/mirror/printer", 0o775, 0, 4242)
    d = diagnose(lr_finding(SEED_ERRORS[1]), probe(tree), None)
    (directory,) = dict(d.facts)["directories"]
    assert d.verdict == "insecure-directories"
    assert directory["group"] == "printmirror"
    assert directory["group_writable_by_non_root"]
    assert "group-writable by printmirror (0775 root:printmirror)" in d.summary
    tree.mkdir("/var/log/mirror/printer", 0o775, 0, 0)
    assert diagnose(lr_finding(SEED_ERRORS[1]), probe(tree), None).verdict == "no-longer-present"


def test_no_longer_present_when_fixed(tree):
    tree.remove("/etc/logrotate.d/clink-agent")
    tree.mkdir("/var/log/mirror/printer", 0o755)
    d = diagnose(lr_finding(*SEED_ERRORS), probe(tree), None)
    assert d.verdict == "no-longer-present"
    assert dict(d.facts)["configs"][0]["exists"] is False


def test_unexplained_and_paths_from_log_text_are_validated(tree):
    d = diagnose(lr_finding(lr_error("other"), lr_error("unknown-option", "../../shadow", 1),
                            lr_error("insecure-parent-directory", path="/var/log/../../etc/x")), probe(tree), None)
    assert d.verdict == "unexplained"
    assert dict(d.facts)["unlocated_errors"] == 3
    assert diagnose(lr_finding(), probe(tree), None) is None


# -- diagnose_all ----------------------------------------------------------------------------

def test_diagnose_all_sets_each_cause_once(tree):
    calls = []

    def links(names):
        calls.append(names)
        return {}

    loop, failure = missing(), replace(missing(), kind=FindingKind.FAILURE)
    plain = replace(missing(), cause=None)
    out = diagnose_all([loop, failure, plain], probe(tree), live(AVAHI_ENABLED), links)
    assert [f.diagnosis.verdict if f.diagnosis else None for f in out] == ["alias-missing", "alias-missing", None]
    assert len(calls) == 1
    assert out[2] is plain


class _BrokenProbe(SystemProbe):
    """The one stand-in here: a probe whose disk fails, to show a diagnosis never stops a scan."""

    def list_dir(self, path):
        raise OSError(5, "Input/output error", path)


def test_a_failing_probe_gives_diagnosis_failed(tree):
    d = diagnose(missing(), _BrokenProbe(str(tree.base)), None)
    assert d.verdict == "diagnosis-failed"
    assert "Input/output error" in d.summary


def test_the_seeds_recorded_loops_diagnosed_end_to_end(tree):
    """Findings from the journal of a real systemd running the seed's loops, on the seed's tree."""
    from unitaudit.sources.journal import JournalSource

    found = findings(fold(JournalSource(directory=str(example("seed-loops", "journal"))).events()))
    out = {f.kind.value: f.diagnosis for f in diagnose_all(found, probe(tree), None)}
    assert out["activation-loop"].verdict == "alias-missing"
    assert out["restart-loop"].verdict == "module-missing"
    assert dict(out["restart-loop"].facts)["module"] == "vfs_monitor"
    assert out["repeated-failure"].verdict.startswith("config-error")
    assert dict(out["repeated-failure"].facts)["configs"][0]["file"] == "/etc/logrotate.d/clink-agent"


# -- SystemProbe -----------------------------------------------------------------------------

def test_links_resolve_inside_the_root_never_into_this_machine(tree):
    tree.link("/etc/escape", "/etc/passwd")
    tree.link("/etc/climb", "../../../../../../../etc/passwd")
    p = probe(tree)
    assert p.read_text("/etc/escape").startswith("root:x:0:0")
    assert "printmirror" in p.read_text("/etc/escape")
    assert "printmirror" in p.read_text("/etc/climb")
    assert p.resolve("/lib/systemd/system/" + AVAHI) == "/usr/lib/systemd/system/" + AVAHI


def test_unsafe_paths_are_refused(tree):
    p = probe(tree)
    for bad in ("etc/passwd", "/etc/../etc/passwd", "/etc/./passwd", "//etc/passwd", "/etc/pass\0wd", "/etc/"):
        assert not is_safe_path(bad)
        with pytest.raises(ValueError):
            p.read_text(bad)
    with pytest.raises(ValueError):
        p.package_of("/lib/systemd/system/*.service")  # dpkg-query would read a pattern
    with pytest.raises(ValueError):
        p.module_file("vfs;reboot", RELEASE)
    with pytest.raises(ValueError):
        p.module_file("vfs_monitor", "../../x")
    assert is_package_name("avahi-daemon")
    assert not is_package_name("-rf")
    assert not is_package_name("Avahi")


def test_read_text_only_reads_regular_files(tree):
    os.mkfifo(str(tree.path("/etc/fifo")))
    p = probe(tree)
    assert p.read_text("/etc/fifo") is None  # would block forever if opened for reading naively
    assert p.read_text("/etc") is None
    assert p.read_text("/etc/missing") is None
    assert p.read_text("/etc/passwd", limit=4) == "root"


@needs_root
def test_owner_names_come_from_the_trees_passwd(tree):
    tree.mkdir("/var/log/mirror/printer", 0o750, 4242, 4242)
    info = probe(tree).stat("/var/log/mirror/printer")
    assert (info.owner, info.group, info.uid, info.mode_octal) == ("printmirror", "printmirror", 4242, "0750")
    assert info.is_dir
    assert not info.world_writable


def test_stat_of_a_link_and_of_what_it_leads_to(tree):
    tree.link(ALIAS_LINK, "/lib/systemd/system/" + AVAHI)
    p = probe(tree)
    own, followed = p.stat(ALIAS_LINK), p.stat(ALIAS_LINK, follow=True)
    assert own.is_symlink
    assert own.link_target == "/lib/systemd/system/" + AVAHI
    assert own.mode_text.startswith("l")
    assert followed.exists
    assert followed.mode_octal == "0644"
    assert followed.is_symlink
    assert not p.stat("/etc/missing").exists


def test_package_of_knows_both_usr_merge_spellings(tree):
    p = probe(tree)
    assert p.package_of("/lib/systemd/system/" + AVAHI) == "avahi-daemon"
    assert p.package_of("/usr/lib/systemd/system/" + AVAHI) == "avahi-daemon"  # dpkg lists /lib/...
    assert p.package_of("/etc/logrotate.d/btmp") == "logrotate"
    assert p.package_of("/etc/logrotate.d/clink-agent") is None
    shutil.rmtree(str(tree.path("/var/lib/dpkg")))
    with pytest.raises(ProbeUnavailable):
        p.package_of("/etc/logrotate.d/btmp")


def test_kernel_release_is_the_trees_own_or_this_machines(tree):
    assert probe(tree).kernel_release() == RELEASE
    tree.remove("/proc/sys/kernel/osrelease")  # a container's root: it runs on this kernel
    assert probe(tree).kernel_release() == os.uname().release
    assert SystemProbe("/").kernel_release() == os.uname().release


def test_dkms_conf_without_built_module_name_builds_the_package_name(tree):
    tree.write("/usr/src/vfs_monitor-2.0/dkms.conf", 'PACKAGE_NAME=vfs_monitor\nPACKAGE_VERSION=2.0\n')
    tree.write("/usr/src/anything-3/dkms.conf",
               'PACKAGE_NAME="vfs-monitor-src"\nPACKAGE_VERSION="3"\nBUILT_MODULE_NAME[0]="$PACKAGE_NAME"\n')
    providers = probe(tree).dkms_providers("vfs_monitor")
    assert [(p.source_dir, p.dkms_name, p.dkms_version, p.package) for p in providers] == [
        ("/usr/src/vfs_monitor-2.0", "vfs_monitor", "2.0", None)]
    assert [p.dkms_name for p in probe(tree).dkms_providers("vfs-monitor-src")] == ["vfs-monitor-src"]
