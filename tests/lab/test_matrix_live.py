"""The installed Debian package on other Debian releases: one lab per release of unitaudit_lab/roots.py
(Debian 11: systemd 247, Python 3.9; Debian 13: systemd 257, Python 3.13), booted over its
debootstrapped root with the seed's three loops running.  In each: apt installs the package from
the release's own archive (python3-systemd included), the packaged `unitaudit scan` on the
release's python3 finds the three loops with their causes and live diagnoses, the timer's service
writes the state, the textfile and its journal summary, `unitaudit fix` stops each loop and
`unitaudit undo` puts every changed file back byte for byte.

The labs run the installed package, not this checkout (nothing of it is bound into them).  Each
release's wall times (boot, install, the whole release) are printed for the CI log."""
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time

import pytest

from builders import loop_of, stable_findings
from unitaudit_lab import roots, scenarios
from unitaudit_lab.support import VERSION, boot_lab, in_ci

from unitaudit.errors import ExitStatus
from unitaudit.report.journal_summary import SUMMARY_MESSAGE_ID

pytestmark = [pytest.mark.lab, pytest.mark.matrix]

SUITES = sorted(roots.SUITES)
IN_LAB = "/srv/unitaudit-lab/"  # readable by apt's _apt user, unlike /root; not /tmp (nspawn's tmpfs)
AVAHI = "dbus-org.freedesktop.Avahi.service"
MONITOR = "deepin-anything-monitor.service"
SEED_LOOPS = {("restart-loop", MONITOR), ("activation-loop", AVAHI), ("repeated-failure", "logrotate.service")}
STATE = "/var/lib/unitaudit"
PROM = "/var/lib/prometheus/node-exporter/unitaudit.prom"
WATCHED = ("/etc/systemd/system", "/etc/logrotate.d", "/var/log/mirror")
CARRIED = ("python3-typer", "python3-click", "python3-rich", "python3-dbus-next", "python3-tomli")
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}


def expected(suite: str, what: str) -> str:
    """What roots.SUITES says the release has: `systemd` -> "247", `Python` -> "3.9"."""
    return re.search(r"%s (\d+(?:\.\d+)?)" % what, roots.SUITES[suite]).group(1)


def say(request, text: str) -> None:
    """A line for the CI log: printed (kept with the test's output) and written past the capture."""
    print(text)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capman = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capman is None:
        return
    with capman.global_and_fixture_disabled():
        if reporter.verbosity <= 0:
            reporter.write("\n")  # after the progress dots
        reporter.ensure_newline()
        reporter.write_line(text)


class Release:
    """One release's lab with the package installed, and what it took."""

    def __init__(self, suite, lab, install, times):
        self.suite, self.lab, self.install, self.times = suite, lab, install, times

    def sh(self, script: str, timeout: float = 300):
        """A command line inside, run from / (so that nothing of a checkout could be imported)."""
        return self.lab.run("sh", "-c", "cd / && " + script, check=False, timeout=timeout)

    def show(self, unit: str, prop: str) -> str:
        return self.lab.show(unit, prop)


@pytest.fixture(scope="module", params=SUITES)
def release(request, deb):
    suite = request.param
    if not roots.is_ready(suite):
        why = "no lab root for %s: `make lab-roots` (python3 -m unitaudit_lab.roots) builds it" % suite
        if in_ci():
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    times = {"start": time.monotonic()}

    def report():  # registered first: runs last, after the lab is torn down
        times["module"] = time.monotonic() - times["start"]
        say(request, "[matrix %s] boot %.1f s, apt-get update %s s, install %s s, whole release %.1f s (%s)" % (
            suite, times.get("boot", float("nan")), "%.1f" % times["update"] if "update" in times else "-",
            "%.1f" % times["install"] if "install" in times else "-", times["module"], roots.SUITES[suite]))

    request.addfinalizer(report)
    lab = boot_lab(request, "ua-mx-" + suite, lower=str(roots.root_path(suite)))
    times["boot"] = lab.boot_seconds
    scenarios.setup_seed_loops(lab.lab, {}, [], scenarios.FAST)  # they loop while the package installs
    target = lab.root / IN_LAB.lstrip("/") / deb.name
    target.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(str(target.parent), 0o755)
    shutil.copyfile(str(deb), str(target))
    os.chmod(str(target), 0o644)
    t0 = time.monotonic()
    r = lab.run("apt-get", "update", check=False, timeout=900, env=APT_ENV)
    times["update"] = time.monotonic() - t0
    assert r.returncode == 0, "apt-get update in the %s lab: %s%s" % (suite, r.stdout[-3000:], r.stderr)
    t0 = time.monotonic()
    install = lab.run("apt-get", "install", "-y", "--no-install-recommends", IN_LAB + deb.name, check=False,
                      timeout=900, env=APT_ENV)
    times["install"] = time.monotonic() - t0
    print("apt-get install -> %d in %.1f s\n%s%s" % (install.returncode, times["install"], install.stdout[-4000:],
                                                      install.stderr))
    assert install.returncode == 0, "apt-get install in the %s lab:\n%s%s" % (suite, install.stdout[-4000:], install.stderr)
    assert "_apt" not in install.stderr, install.stderr  # "unsandboxed as root": the .deb was unreadable
    return Release(suite, lab, install, times)


# -- installed from the release's archive ---------------------------------------------------------


def test_apt_installs_it_with_python3_systemd_from_the_release_archive(release):
    lab = release.lab
    assert lab.run("dpkg-query", "-W", "-f=${Status} ${Version}", "unitaudit").stdout == "install ok installed " + VERSION
    # python3-systemd is not in the root (roots.INCLUDE): apt fetched it from the release's mirror
    assert re.search(r"^Get:\d+ \S+ %s/main \S+ python3-systemd " % release.suite, release.install.stdout, re.M), \
        release.install.stdout
    assert lab.run("dpkg-query", "-W", "-f=${Status}", "python3-systemd").stdout == "install ok installed"
    # the pure-Python libraries are the package's own, not the release's
    for name in CARRIED:
        assert lab.run("dpkg-query", "-W", "-f=${Status}", name, check=False).stdout != "install ok installed", name
    systemd = lab.run("systemctl", "--version").stdout.split()[1]
    python = release.sh("python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'").stdout.strip()
    print("%s: systemd %s, python3 %s" % (release.suite, systemd, python))
    assert (systemd, python) == (expected(release.suite, "systemd"), expected(release.suite, "Python"))


def test_the_installed_program_runs_on_the_releases_python3(release):
    assert release.lab.run("head", "-n1", "/usr/bin/unitaudit").stdout.strip() == "#!/usr/bin/python3"
    r = release.sh("unitaudit --version")
    assert r.returncode == ExitStatus.OK, r.stdout + r.stderr
    assert r.stdout.split() == ["unitaudit", VERSION], r.stdout + r.stderr
    r = release.sh("unitaudit config check")
    assert r.returncode == ExitStatus.OK, r.stdout + r.stderr  # the conffile as shipped


def test_postinst_enabled_and_started_the_timer(release):
    assert release.lab.run("systemctl", "is-enabled", "unitaudit.timer", check=False).stdout.strip() == "enabled"
    assert release.lab.run("systemctl", "is-active", "unitaudit.timer", check=False).stdout.strip() == "active"
    assert release.show("unitaudit.service", "InactiveExitTimestampMonotonic") == "0"  # the service never ran


# -- the seed's loops, found by the packaged scan -------------------------------------------------


def _by(doc, kind, unit):
    found = [f for f in doc["findings"] if f["kind"] == kind and f["unit"] == unit]
    assert found, "no %s finding for %s in %s" % (kind, unit, [(f["kind"], f["unit"]) for f in doc["findings"]])
    return found[0]


@pytest.fixture(scope="module")
def scan(release):
    scenarios.wait_for_seed_loops(release.lab.lab, timeout=180)
    r = release.sh("unitaudit scan --json")
    assert r.returncode == ExitStatus.FINDINGS, "scan: %d %s" % (r.returncode, r.stderr)
    return json.loads(r.stdout)


def test_scan_finds_the_three_loops(release, scan):
    assert {(f["kind"], f["unit"]) for f in scan["findings"]} >= SEED_LOOPS, scan["findings"]
    assert scan["tool"]["version"] == VERSION
    assert scan["live"] is not None
    assert scan["live"]["units"] > 50
    assert scan["warnings"] == [], scan["warnings"]  # e.g. a unit property this systemd lacks


def test_restart_loop_has_the_modprobe_cause_and_the_missing_module_diagnosis(release, scan):
    f = _by(scan, "restart-loop", MONITOR)
    kernel = release.lab.run("uname", "-r").stdout.strip()
    assert f["trusted"] is True
    assert f["facts"]["live_n_restarts"] >= 6
    cause = f["cause"]
    assert (cause["kind"], cause["command"], cause["code"], cause["status"]) == (
        "execstartpre-failed", "ExecStartPre", "exited", 1), cause
    assert cause["program_line"] == "modprobe: FATAL: Module vfs_monitor not found in directory /lib/modules/" + kernel
    d = f["diagnosis"]
    assert d["kind"] == "execstartpre-failed", d
    assert d["verdict"].startswith("module-missing"), d
    assert d["argv"] == ["/usr/sbin/modprobe", "vfs_monitor"]
    assert d["module"] == "vfs_monitor"
    assert d["module_found"] is False
    assert d["kernel_release"] == kernel
    assert "vfs_monitor" in d["summary"]


def test_activation_loop_has_the_missing_alias_diagnosis(release, scan):
    f = _by(scan, "activation-loop", AVAHI)
    assert f["trusted"] is True
    cause = f["cause"]
    assert (cause["kind"], cause["bus_name"], cause["daemon"]) == ("missing-unit", "org.freedesktop.Avahi", "dbus-daemon")
    assert [x["program"] for x in cause["requested_by"]] == ["deepin-system-monitor"]
    d = f["diagnosis"]
    assert d["verdict"] == "alias-missing", d
    assert (d["declared_by"], d["package"], d["unit_file_state"]) == ("avahi-daemon.service", "avahi-daemon", "enabled")
    assert d["alias_link_exists"] is False
    assert d["alias_in_links"] is False
    assert d["suggested_command"] == "systemctl reenable avahi-daemon.service"


def test_logrotate_failure_has_the_config_line_and_the_insecure_directory(release, scan):
    f = _by(scan, "repeated-failure", "logrotate.service")
    assert f["trusted"] is True
    cause = f["cause"]
    assert cause["kind"] == "logrotate-config"
    classes = {(e["class"], e["file"], e["line"]) for e in cause["errors"]}
    assert ("unexpected-text-after-brace", "/etc/logrotate.d/clink-agent", 8) in classes, cause
    assert "insecure-parent-directory" in {c for c, _, _ in classes}, cause
    d = f["diagnosis"]
    assert (d["kind"], d["verdict"]) == ("logrotate-config", "config-error+insecure-directories"), d
    (config,) = [c for c in d["configs"] if c["file"] == "/etc/logrotate.d/clink-agent"]
    assert (config["line"], config["line_text"], config["package_lookup"]) == (8, "} extra", "not-owned")
    (printer,) = [x for x in d["directories"] if x["path"] == "/var/log/mirror/printer"]
    assert printer["mode"] == "0777"
    assert printer["insecure"]


# -- the timer's service ----------------------------------------------------------------------------


def prom_loops(release) -> set:
    text = release.lab.run("cat", PROM).stdout
    return {(m["kind"], m["unit"]) for m in (dict(re.findall(r'(\w+)="([^"]*)"', x))
                                             for x in text.splitlines() if x.startswith("unitaudit_loop_active{"))}


def test_the_timers_service_writes_state_textfile_and_an_explained_summary(release, scan):
    lab = release.lab
    r = lab.run("systemctl", "start", "unitaudit.service", check=False, timeout=600)
    log = lab.run("journalctl", "--no-pager", "-u", "unitaudit.service", "-n", "40", check=False).stdout
    assert r.returncode == 0, r.stderr + log
    assert release.show("unitaudit.service", "Result") == "success", r.stderr + log
    assert lab.run("test", "-s", STATE + "/state.db", check=False).returncode == 0
    assert prom_loops(release) == SEED_LOOPS, lab.run("cat", PROM).stdout
    out = lab.run("journalctl", "-o", "json", "--no-pager", "MESSAGE_ID=" + SUMMARY_MESSAGE_ID).stdout
    # this run's entry (the timer may have started one of its own by now: it runs hourly)
    invocation = release.show("unitaudit.service", "InvocationID")
    entries = [e for e in (json.loads(line) for line in out.splitlines() if line.strip())
               if e.get("_SYSTEMD_INVOCATION_ID") == invocation]
    assert len(entries) == 1, (invocation, out[-3000:])
    (entry,) = entries
    assert entry["SYSLOG_IDENTIFIER"] == "unitaudit"
    assert entry["_SYSTEMD_UNIT"] == "unitaudit.service"
    assert entry["UNITAUDIT_LOOPS"] == "3"
    assert AVAHI in entry["UNITAUDIT_UNITS"]
    # the packaged catalog, compiled by the release's systemd trigger, explains it
    explained = lab.run("journalctl", "-x", "--no-pager", "MESSAGE_ID=" + SUMMARY_MESSAGE_ID).stdout
    assert "Subject: unitaudit run summary" in explained, explained


# -- fix, then undo ---------------------------------------------------------------------------------


def test_the_installed_collect_makes_a_bundle_that_scans_the_same_here(release, scan):
    """`unitaudit collect` of the release's package (its python3, its systemd), read on this machine
    by `scan --bundle`: the findings of the scan collect ran there, field by field, and the loops,
    causes and verdicts of a separate `unitaudit scan` there for the same window."""
    until = "@%d" % (time.time() - 1)
    inside = release.sh("unitaudit scan --json --until %s" % until)
    assert inside.returncode == ExitStatus.FINDINGS, inside.stderr
    t0 = time.monotonic()
    made = release.sh("unitaudit collect --json -o %sbundle.tar.xz --until %s" % (IN_LAB, until), timeout=600)
    assert made.returncode == 0, made.stderr
    print("%s: collect %.1f s, %d bytes" % (release.suite, time.monotonic() - t0, json.loads(made.stdout)["size"]))
    bundle = release.lab.root / IN_LAB.lstrip("/") / "bundle.tar.xz"
    here = subprocess.run([sys.executable, "-m", "unitaudit", "scan", "--json", "--bundle", str(bundle)],
                          capture_output=True, text=True, timeout=300)
    assert here.returncode == ExitStatus.FINDINGS, here.stderr
    found = json.loads(here.stdout)
    with tarfile.open(str(bundle)) as tar:  # the scan collect ran there: field by field
        own = json.loads(tar.extractfile(next(n for n in tar.getnames() if n.endswith("/scan.json"))).read())
    assert found["findings"] == own["findings"]
    # a separate scan a moment earlier: the same loops, causes and verdicts (a looping unit's live
    # state can differ between two reads)
    again = stable_findings(json.loads(inside.stdout))
    assert {k: loop_of(f) for k, f in stable_findings(found).items()} == {k: loop_of(f) for k, f in again.items()}


def snapshot(release) -> dict:
    """path -> (type, mode, owner, link target, sha256) of everything under the watched directories."""
    script = ("find %s -xdev \\( -type f -o -type l -o -type d \\) -printf '%%p\\t%%y %%m %%u:%%g %%l\\n'; "
              "find %s -xdev -type f -exec sha256sum {} +") % (" ".join(WATCHED), " ".join(WATCHED))
    r = release.lab.run("sh", "-c", script)
    out = {}
    for line in r.stdout.splitlines():
        if "\t" in line:
            path, meta = line.split("\t", 1)
            out.setdefault(path, ["", ""])[0] = meta
        else:
            digest, path = line.split(None, 1)
            out.setdefault(path, ["", ""])[1] = digest
    return {p: tuple(v) for p, v in out.items()}


def _counts(release) -> dict:
    lab = release.lab
    return {"activation failures": lab.journal_count("Activation via systemd failed", "_COMM=dbus-daemon"),
            "restarts": release.show(MONITOR, "NRestarts"),
            "logrotate failed": lab.journal_count("logrotate.service: Failed with result", "_PID=1"),
            "logrotate ok": lab.journal_count("logrotate.service: ", "_PID=1", "MESSAGE_ID=7ad2d189f7e94e70a38c781354912448")}


@pytest.fixture(scope="module")
def fixed(release, scan):
    before = snapshot(release)
    t0 = time.monotonic()
    r = release.sh("unitaudit fix --yes --json", timeout=900)
    print("unitaudit fix -> %d in %.1f s" % (r.returncode, time.monotonic() - t0))
    return before, r, snapshot(release)


def test_fix_stops_each_loop_and_its_verification_says_so(release, fixed):
    _, r, _ = fixed
    assert r.returncode == ExitStatus.OK, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    outcomes = {o["unit"]: o for o in doc["outcomes"]}
    for o in outcomes.values():
        print("%s: %s (%s)" % (o["unit"], o["status"], o["detail"]))
    assert {u: o["status"] for u, o in outcomes.items()} == {AVAHI: "fixed", MONITOR: "fixed", "logrotate.service": "fixed"}
    assert all(o["detail"] and o["detail"] != "nothing to verify" for o in outcomes.values()), outcomes
    # checked here again, independently of unitaudit's own verification
    lab = release.lab
    assert lab.run("test", "-L", "/etc/systemd/system/" + AVAHI, check=False).returncode == 0
    before = _counts(release)
    time.sleep(15)  # the client calls every 2 s, the timer starts logrotate every 5 s, RestartSec=2
    after = _counts(release)
    assert after["activation failures"] == before["activation failures"], (before, after)
    assert after["restarts"] == before["restarts"], (before, after)
    assert release.show(MONITOR, "ActiveState") == "failed", (before, after)
    assert after["logrotate failed"] == before["logrotate failed"], lab.run(
        "journalctl", "--no-pager", "-n", "40", "-u", "logrotate.service", check=False).stdout
    assert after["logrotate ok"] >= before["logrotate ok"] + 2, (before, after)  # the timer's runs now succeed


def test_undo_restores_every_changed_file_byte_identical(release, fixed):
    before, _, after_fix = fixed
    changed = sorted(p for p in set(before) | set(after_fix) if before.get(p) != after_fix.get(p))
    print("changed by fix: %s" % changed)
    assert "/etc/logrotate.d/clink-agent" in changed, changed
    assert "/etc/systemd/system/" + AVAHI in changed, changed
    r = release.sh("unitaudit undo --yes", timeout=600)
    assert r.returncode == ExitStatus.OK, r.stdout + r.stderr
    assert "systemd reloaded" in r.stdout, r.stdout
    now = snapshot(release)
    for path in changed:
        assert now.get(path) == before.get(path), (path, before.get(path), now.get(path))
    assert now == before
    files = [p for p in changed if before.get(p, ("", ""))[1]]
    assert files, changed  # a file fix changed in place came back with the same sha256
    print("sha256 before = after undo: %s" % ", ".join("%s %s" % (p, before[p][1][:12]) for p in files))
