"""The Debian package (packaging/debian, built by `make deb`) installed on a real systemd: apt
resolves its dependencies from Debian, /usr/bin/unitaudit runs on Debian's python3 with its code
and the libraries it carries in /usr/share/unitaudit/lib and finds the seed's three loops with
the packaged recipes; the same tree runs on Python 3.7 (UOS 20, Deepin 20); the
postinst enables and starts the timer and does not run the service; a run of the service writes
the state and the textfile and its journal entry is explained by the packaged catalog; `dpkg -r`
leaves only the conffile and the state, `dpkg -P` removes those too.

The .deb is built once for the module from this checkout (`make deb`, lintian included), then
installed in one lab whose seed loops run from the start.  Nothing is installed on the host: the
lab is an overlay of its root, so apt there sees the host's package database and the python3-*
libraries `make system-packages` installed, and needs no network."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from unitaudit_lab import scenarios
from unitaudit_lab.support import DEB, ROOT, VERSION, boot_lab, in_ci

from unitaudit.errors import ExitStatus

LIB = "/usr/share/unitaudit/lib"  # the package's private directory: unitaudit and what it carries
LOCK = ROOT / "packaging" / "vendor" / "requirements.lock"
CARRIED = dict(re.findall(r"^([\w.-]+)==(\S+)", LOCK.read_text(), re.M))  # name -> pinned version

PKG = ROOT / "packaging" / "debian"
IN_LAB = "/srv/unitaudit-lab/" + DEB.name  # readable by apt's _apt user, unlike /root; not /tmp (nspawn's tmpfs)
SERVICE, TIMER = "unitaudit.service", "unitaudit.timer"
STATE = "/var/lib/unitaudit"
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
PROM = TEXTFILE_DIR + "/unitaudit.prom"
DROPIN = "/etc/systemd/system/unitaudit.service.d/slow.conf"
SUMMARY_MESSAGE_ID = "763ed56c1fec4f20bedf94e6a954a128"  # unitaudit.catalog's entry
AVAHI = "dbus-org.freedesktop.Avahi.service"
SEED_LOOPS = {("restart-loop", "deepin-anything-monitor.service"), ("activation-loop", AVAHI),
              ("repeated-failure", "logrotate.service")}
@pytest.fixture(scope="module")
def lab(request, deb):
    lab = boot_lab(request, "ua-pkg")
    scenarios.setup_seed_loops(lab.lab, {}, [], scenarios.FAST)  # they loop while the package installs
    # This host's image carries Docker's /usr/sbin/policy-rc.d ("exit 101": start no services),
    # which the overlay shows the lab; a booted Debian has none, and with it deb-systemd-invoke
    # would not start the timer.  Nothing the package ships; state left by other runs goes too.
    lab.run("rm", "-rf", "/usr/sbin/policy-rc.d", STATE, "/etc/unitaudit", "/var/lib/prometheus",
            "/var/lib/systemd/timers/stamp-unitaudit.timer")
    target = lab.root / IN_LAB.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(target.parent, 0o755)
    shutil.copyfile(str(deb), str(target))
    os.chmod(target, 0o644)
    t0 = time.monotonic()
    r = lab.run("apt-get", "install", "-y", "--no-install-recommends", IN_LAB, check=False, timeout=600,
                env={"DEBIAN_FRONTEND": "noninteractive"})
    print("apt-get install -> %d in %.1f s\n%s%s" % (r.returncode, time.monotonic() - t0, r.stdout[-3000:], r.stderr))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "unitaudit" in r.stdout, r.stderr
    assert "_apt" not in r.stderr, r.stderr  # "unsandboxed as root": unreadable .deb
    return lab


def sh(lab, script: str, check: bool = True) -> subprocess.CompletedProcess:
    """A command line inside the lab, run from / (not this checkout, which python3 -c would import)."""
    return lab.run("sh", "-c", "cd / && " + script, check=check)


def exists(lab, path: str) -> bool:
    """The path, or a symlink there (dangling or not)."""
    return lab.run("sh", "-c", 'test -e "$0" || test -L "$0"', path, check=False).returncode == 0


def timers(lab) -> str:
    return lab.run("systemctl", "list-timers", "--no-pager", check=False).stdout


# -- the built package, without installing it ------------------------------------------------------


def test_the_deb_holds_the_program_its_data_and_the_units(deb):
    files = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    paths = {line.split()[5].lstrip(".") for line in files.splitlines()}
    for path in ("/usr/bin/unitaudit",
                 LIB + "/unitaudit/cli/__init__.py", LIB + "/unitaudit/collect/run.py",
                 LIB + "/unitaudit/data/protected-units.toml",  # package data
                 LIB + "/typer/__init__.py", LIB + "/rich/__init__.py", LIB + "/dbus_next/__init__.py",
                 "/usr/share/unitaudit/remediations/restore-dbus-alias.toml",
                 "/etc/unitaudit/unitaudit.toml",
                 "/usr/lib/systemd/catalog/unitaudit.catalog",
                 "/usr/lib/tmpfiles.d/unitaudit.conf",
                 "/lib/systemd/system/unitaudit.service",
                 "/lib/systemd/system/unitaudit.timer",
                 "/usr/share/man/man1/unitaudit.1.gz",
                 "/usr/share/bash-completion/completions/unitaudit",
                 "/usr/share/zsh/vendor-completions/_unitaudit",
                 "/usr/share/fish/vendor_completions.d/unitaudit.fish",
                 "/usr/share/unitaudit/prometheus/unitaudit-rules.yml",  # the fleet's alerts
                 "/usr/share/unitaudit/prometheus/unitaudit-dashboard.json",  # and its Grafana dashboard
                 "/usr/share/doc/unitaudit/copyright"):
        assert path in paths, path
    recipes = {p.rsplit("/", 1)[1] for p in paths
               if p.startswith("/usr/share/unitaudit/remediations/") and p.endswith(".toml")}
    assert recipes == {p.name for p in (ROOT / "remediations").glob("*.toml")}
    # nothing of the checkout beyond the package: no tests, no recipes' README, no egg-info
    assert not [p for p in paths if "/tests/" in p or "egg-info" in p or p.endswith("README.md")]

    def field(name: str) -> str:
        return subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True, check=True).stdout
    depends = {d.strip().split()[0] for d in field("Depends").replace("\n", " ").split(",")}
    # only what every base of the fleet has (Debian 10 to 13, Deepin 23/25): no python3-typer & co.
    assert depends <= {"python3", "python3:any", "python3-systemd", "kmod"}, depends
    assert "python3-systemd" in depends, depends
    assert "python3 (>= 3.7)" in field("Depends")
    assert field("Architecture").strip() == "all"
    # every library of the lock file, at its pinned version (the dist-info directory's name),
    # with its licence in debian/copyright; nothing carried that the lock does not pin
    carried = {re.match(r"(.+)-([^-]+)\.dist-info$", p.rstrip("/").rsplit("/", 1)[1]).groups()
               for p in paths if p.startswith(LIB + "/") and p.rstrip("/").endswith(".dist-info")}
    norm = {(n.lower().replace("_", "-"), v) for n, v in carried}
    assert norm == {(n.lower(), v) for n, v in CARRIED.items()}
    copyright_text = (PKG / "copyright").read_text()
    for name, _ in carried:
        assert "Files: vendor/wheels/%s-*\n" % name in copyright_text, name
    # no byte code shipped (py3compile makes it at install, for the machine's python3)
    assert not [p for p in paths if p.endswith(".pyc")]
    control = subprocess.run(["dpkg-deb", "-I", str(deb), "conffiles"], capture_output=True, text=True, check=True).stdout
    assert control.split() == ["/etc/unitaudit/unitaudit.toml"]


def python37():
    """A Python 3.7 with nothing of unitaudit's installed: pyenv's, as the Makefile's 3.7 pass finds it."""
    if sys.version_info[:2] == (3, 7):
        return sys.executable
    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = sorted(glob.glob(os.path.join(pyenv, "versions", "3.7.*", "bin", "python3.7"))) or \
        [p for p in [shutil.which("python3.7")] if p]
    return found[-1] if found else None


def test_the_package_tree_runs_on_python_37(deb, tmp_path):
    """UOS 20 and Deepin 20 run Python 3.7.3: the package's own files, unpacked, scan a text log
    there with nothing but what the package carries (a text log needs no python3-systemd)."""
    py = python37()
    if py is None:
        if in_ci():
            pytest.fail("no Python 3.7 on this machine", pytrace=False)
        pytest.skip("no Python 3.7 on this machine")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path)], check=True)
    log = ROOT / "tests" / "fixtures" / "seed" / "logrotate-hourly.txt"
    # as on a desktop: not the suite's UNITAUDIT_CHECK_SCHEMAS (tests/conftest.py), whose jsonschema the package does not carry
    env = {k: v for k, v in os.environ.items() if k != "UNITAUDIT_CHECK_SCHEMAS"}
    r = subprocess.run([py, "-I", str(tmp_path / "usr/bin/unitaudit"), "scan", "--json", "--syslog", str(log)],
                       capture_output=True, text=True, cwd="/", timeout=120, env=env)
    assert r.returncode == ExitStatus.FINDINGS, "scan on %s: %d %s" % (py, r.returncode, r.stderr)
    doc = json.loads(r.stdout)
    assert {(f["kind"], f["unit"]) for f in doc["findings"]} == {("repeated-failure", "logrotate.service")}
    v = subprocess.run([py, "-I", "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
    assert v.stdout.strip() == "(3, 7)"


# -- installed -------------------------------------------------------------------------------------


def test_the_installed_program_runs_on_debians_python(lab):
    assert lab.run("head", "-n1", "/usr/bin/unitaudit").stdout.strip() == "#!/usr/bin/python3"
    assert sh(lab, "unitaudit --version").stdout.split() == ["unitaudit", VERSION]
    # Debian 12 ships typer, rich and dbus-next too (this machine has them installed): the
    # launcher must import the carried ones.  python -v names the file of every module imported.
    trace = sh(lab, "python3 -v /usr/bin/unitaudit scan 2>&1", check=False).stdout  # live: the bus, rich output
    loaded = re.findall(r"^# code object from '?([^'\s]+)", trace, re.M)
    for module in ("unitaudit", "typer", "click", "rich", "dbus_next"):
        found = [f for f in loaded if re.search(r"/%s/(__pycache__/)?__init__\." % module, f)]
        assert found, (module, found)
        assert all(f.startswith(LIB + "/") for f in found), (module, found)
    # byte-compiled by postinst for this python3
    assert exists(lab, LIB + "/unitaudit/__pycache__")
    assert lab.run("dpkg-query", "-W", "-f=${Status} ${Version}", "unitaudit").stdout == "install ok installed " + VERSION


def test_scan_finds_the_seed_loops_with_the_packaged_recipes(lab):
    scenarios.wait_for_seed_loops(lab.lab)
    r = sh(lab, "unitaudit scan --json", check=False)
    assert r.returncode == ExitStatus.FINDINGS, "scan: %d %s" % (r.returncode, r.stderr)
    doc = json.loads(r.stdout)
    assert {(f["kind"], f["unit"]) for f in doc["findings"]} >= SEED_LOOPS, doc["findings"]
    assert doc["live"] is not None
    assert doc["tool"]["version"] == VERSION
    r = sh(lab, "unitaudit recipes --json")
    sources = {x["id"]: x["source"] for x in json.loads(r.stdout)["recipes"]}
    assert sources == {p.stem: "/usr/share/unitaudit/remediations/" + p.name for p in (ROOT / "remediations").glob("*.toml")}
    # the plan: packaged recipes against the packaged protected-units list (package data)
    r = sh(lab, "unitaudit fix --dry-run --json", check=False)
    assert r.returncode == ExitStatus.FINDINGS, "fix --dry-run: %d %s" % (r.returncode, r.stderr)  # a plan shown
    assert "restore-dbus-alias" in r.stdout
    assert sh(lab, "unitaudit config check", check=False).returncode == ExitStatus.OK  # the conffile as shipped


def test_postinst_enabled_and_started_the_timer_not_the_service(lab):
    assert lab.run("systemctl", "is-enabled", TIMER, check=False).stdout.strip() == "enabled"
    assert lab.run("systemctl", "is-active", TIMER, check=False).stdout.strip() == "active"
    line = next((x for x in lab.run("systemctl", "list-timers", "--no-pager", TIMER).stdout.splitlines() if TIMER in x), "")
    print(line)
    assert line.split()[-1:] == [SERVICE], "no next run scheduled: %r" % line
    assert not line.startswith("-"), "no next run scheduled: %r" % line
    # never started (a oneshot that ran to the end is "inactive" too: its timestamps tell)
    assert lab.run("systemctl", "is-active", SERVICE, check=False).stdout.strip() == "inactive"
    assert lab.show(SERVICE, "InactiveExitTimestampMonotonic") == "0"
    assert not exists(lab, STATE)
    # the tmpfiles.d entry made the textfile directory
    assert lab.run("stat", "-c", "%U:%G %a", TEXTFILE_DIR).stdout.strip() == "root:root 755"


def test_a_run_of_the_service_writes_state_textfile_and_an_explained_summary(lab):
    r = lab.run("systemctl", "start", SERVICE, check=False, timeout=300)
    log = lab.run("journalctl", "--no-pager", "-u", SERVICE, "-n", "40", check=False).stdout
    assert r.returncode == 0, r.stderr + log
    assert lab.show(SERVICE, "Result") == "success", r.stderr + log
    assert lab.run("test", "-s", STATE + "/state.db", check=False).returncode == 0
    prom = lab.run("cat", PROM).stdout
    loops = {(m["kind"], m["unit"]) for m in (dict(re.findall(r'(\w+)="([^"]*)"', x))
                                               for x in prom.splitlines() if x.startswith("unitaudit_loop_active{"))}
    assert loops == SEED_LOOPS, prom
    # the catalog, installed under /usr/lib/systemd/catalog, was compiled by systemd's dpkg trigger
    explained = lab.run("journalctl", "-x", "--no-pager", "MESSAGE_ID=" + SUMMARY_MESSAGE_ID).stdout
    print(explained)
    subject = re.search(r"^Subject: (.*)$", (PKG / "unitaudit.catalog").read_text(), re.M).group(1)
    assert subject in explained


def test_the_man_page_and_the_completion_are_installed(lab):
    """All four generated at build time (tools/make_man.py, tools/make_completion.py); the
    completion answered by the installed program, through the installed script."""
    assert sh(lab, "man -w unitaudit").stdout.strip() == "/usr/share/man/man1/unitaudit.1.gz"
    page = sh(lab, "zcat /usr/share/man/man1/unitaudit.1.gz").stdout
    assert '"unitaudit 0.1.0"' in page and '.SS "collect [\\fIoptions\\fP]"' in page
    for path in ("/usr/share/bash-completion/completions/unitaudit", "/usr/share/zsh/vendor-completions/_unitaudit",
                 "/usr/share/fish/vendor_completions.d/unitaudit.fish"):
        assert exists(lab, path), path
    assert sh(lab, "head -1 /usr/share/zsh/vendor-completions/_unitaudit").stdout == "#compdef unitaudit\n"
    tab = ('. /usr/share/bash-completion/completions/unitaudit; COMP_WORDS=(unitaudit scan --jo); COMP_CWORD=2; '
           '_unitaudit_completion unitaudit; printf "%s\\n" "${COMPREPLY[@]}"')
    got = lab.run("bash", "--norc", "--noprofile", "-c", "cd / && " + tab).stdout.split()
    assert got == ["--journal-dir", "--journal-file", "--journal-summary"]


# -- removed, then purged --------------------------------------------------------------------------


def test_remove_leaves_only_the_conffile_and_the_state(lab):
    listed = lab.run("dpkg", "-L", "unitaudit").stdout.split("\n")
    conffiles = [line.split()[0] for line in
                 lab.run("dpkg-query", "-W", "-f=${Conffiles}", "unitaudit").stdout.splitlines() if line.strip()]
    assert conffiles == ["/etc/unitaudit/unitaudit.toml"]
    # an audit still running when the package goes (held up by a drop-in): prerm stops it
    lab.write(DROPIN, "[Service]\nExecStartPre=/bin/sleep 300\n")
    lab.run("systemctl", "daemon-reload")
    lab.run("systemctl", "start", "--no-block", SERVICE)
    lab.wait_for("unitaudit.service running", lambda: lab.show(SERVICE, "ActiveState") == "activating", timeout=30)
    t0 = time.monotonic()
    r = lab.run("dpkg", "-r", "unitaudit", check=False, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert time.monotonic() - t0 < 60
    assert lab.show(SERVICE, "ActiveState") == "inactive"
    assert SERVICE not in lab.run("systemctl", "--failed", "--no-pager").stdout  # stopped by removal, not failed
    lab.run("rm", "-rf", DROPIN.rsplit("/", 1)[0])
    lab.run("systemctl", "daemon-reload")
    left = [p for p in listed if p and p not in conffiles and p not in ("/etc/unitaudit",)
            and ("unitaudit" in p) and exists(lab, p)]
    assert left == [], "left behind by dpkg -r: %s" % left
    others = [p for p in listed if p and "unitaudit" not in p and exists(lab, p)
              and lab.run("test", "-d", p, check=False).returncode != 0]
    assert others == [], others  # every file is named unitaudit*; only shared directories remain
    assert not exists(lab, LIB)  # py3clean removed the byte code, so dpkg could remove the directory
    # stopped and its file gone; the enablement link stays until purge (the admin's choice is
    # configuration), so timers.target keeps a "not-found" unit of that name loaded (--all lists it)
    assert TIMER not in timers(lab)
    assert (lab.show(TIMER, "LoadState"), lab.show(TIMER, "ActiveState")) == ("not-found", "inactive")
    assert not exists(lab, PROM)  # no stale loops for node_exporter to export
    for path in ("/etc/unitaudit/unitaudit.toml", STATE + "/state.db"):
        assert exists(lab, path), path
    assert lab.run("dpkg-query", "-W", "-f=${Status}", "unitaudit").stdout == "deinstall ok config-files"


def test_purge_removes_the_config_and_the_state(lab):
    r = lab.run("dpkg", "-P", "unitaudit", check=False, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    gone = ["/etc/unitaudit", STATE, "/etc/systemd/system/timers.target.wants/" + TIMER,
            "/var/lib/systemd/timers/stamp-unitaudit.timer"]
    if lab.run("dpkg-query", "-S", TEXTFILE_DIR, check=False).returncode != 0:
        gone.append(TEXTFILE_DIR)  # made by unitaudit.tmpfiles, empty, and no package ships it
    for path in gone:
        assert not exists(lab, path), path
    assert lab.run("dpkg-query", "-W", "unitaudit", check=False).returncode != 0
    # the catalog entry went with the package (the trigger recompiled the database)
    explained = lab.run("journalctl", "-x", "--no-pager", "MESSAGE_ID=" + SUMMARY_MESSAGE_ID).stdout
    assert "Subject: unitaudit run summary" not in explained
