#!/usr/bin/env python3
"""Record the seed's loops in every text form a support case brings, on every systemd the lab boots.

Public excerpts rarely show `journalctl -o short-unix`, `-o with-unit`, `-o export`, a whole
`systemctl status` of a unit in auto-restart, or rsyslog's RFC 5424 files.  This boots the lab
(unitaudit_lab) over each root it knows (this machine's Debian 12, and the debootstrapped Debian 11
and 13 of unitaudit_lab/roots.py), sets up the seed's three loops (scenarios.setup_seed_loops, FAST
periods) plus a unit that hits its start limit after automatic restarts, installs rsyslog into the
overlay when apt can, and saves under OUT/<version>/:

  journalctl-<form>.txt       `journalctl -o <form>` of the loops' units over one window, for every
                              form of WANTED_FORMS the version's journalctl lists in `-o help`
                              (verbose and export: the restart loop's unit only, a shorter window)
  status-<what>-<variant>.txt `systemctl status` of each loop's unit, on an 80-column terminal with
                              and without --no-pager and -l, and piped (no terminal)
  rsyslog-<format>.log        what rsyslog wrote in the same window, in three file formats
  SOURCES.md                  how each file was recorded: command, scenario, date, versions

Usage (root, from the checkout's top directory):
  python3 -m examples.record_forms [--out tests/fixtures/captured/lab-forms] [--only debian11-247]

Every lab is torn down (unitaudit_lab.machine.booted), also on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shlex
import sys
import time
from pathlib import Path

from unitaudit_lab import roots, scenarios
from unitaudit_lab.host import log
from unitaudit_lab.machine import booted

WANTED_FORMS = ("short", "short-iso", "short-iso-precise", "short-precise", "short-monotonic", "short-unix",
                "short-full", "with-unit", "verbose", "cat", "json", "export")
BULKY_FORMS = ("verbose", "export")  # dozens of lines per entry: the restart loop only, two cycles

LOOPING = "deepin-anything-monitor.service"
START_LIMIT = "vfs-watch.service"
CLIENT = "deepin-system-monitor-sim.service"
UNITS_IN_WINDOW = (LOOPING, START_LIMIT, "logrotate.service", "dbus.service", CLIENT)
WINDOW_SECONDS = 16.0
BULKY_SECONDS = 5.5  # two restart cycles of RestartSec=2
NEEDED_RESTARTS = 20  # one "restart counter is at N" with N >= 20 proves a loop on its own

# A unit that fails fast: RestartSec=100ms makes the 6th start within 10 s trip the default
# start limit (StartLimitBurst=5, StartLimitIntervalSec=10s), so systemd gives up on it.
VFS_WATCH = """\
[Unit]
Description=Lab: vfs watcher that fails fast and hits its start limit

[Service]
Type=simple
ExecStartPre=/usr/sbin/modprobe vfs_watch
ExecStart=/bin/sleep infinity
Restart=always
RestartSec=100ms
"""

# Three file formats of the same events; only the programs of the seed's loops, to keep them small.
RSYSLOG_FORMS = {"traditional": "RSYSLOG_TraditionalFileFormat", "rfc3339": "RSYSLOG_FileFormat",
                 "rfc5424": "RSYSLOG_SyslogProtocol23Format"}
RSYSLOG_DIR = "/var/log/unitaudit-forms"
RSYSLOG_PROGRAMS = ("systemd", "dbus-daemon", "logrotate", "modprobe", "rmmod", "deepin-system-monitor", "bash")
# Debian 13's journald no longer forwards to syslog by default; rsyslog's imuxsock needs it.
JOURNALD_FORWARD = "[Journal]\nForwardToSyslog=yes\n"

STATUS_OF = {  # what -> the unit whose status shows it
    "restart-loop": LOOPING,
    "start-limit": START_LIMIT,
    "dbus": "dbus.service",
    "avahi-alias": "dbus-org.freedesktop.Avahi.service",
    "avahi-daemon": "avahi-daemon.service",
    "logrotate": "logrotate.service",
}
STATUS_VARIANTS = {  # variant -> (systemctl options, on an 80-column terminal?)
    "tty80": ((), True),
    "no-pager-tty80": (("--no-pager",), True),
    "no-pager-l-tty80": (("--no-pager", "-l"), True),
    "piped": ((), False),
}
# before the status is taken: each loop in the state its paste would show (property, value, and
# the words `systemctl status` then prints); the restart loop is there for 2 s of every cycle
STATUS_WAIT = {LOOPING: ("SubState", "auto-restart", "(auto-restart)"),
               START_LIMIT: ("ActiveState", "failed", "failed"),
               "logrotate.service": ("ActiveState", "failed", "failed")}
STATUS_TRIES = 5


def versions_to_record() -> dict:
    """version dir -> root the lab overlays."""
    return {"debian12-252": "/", "debian11-247": str(roots.root_path("bullseye")),
            "debian13-257": str(roots.root_path("trixie"))}


def utc(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def inside(lab, *cmd, env=None) -> str:
    r = lab.run(*cmd, check=False, record=False, env=env)
    return r.stdout + r.stderr


# -- rsyslog in the overlay ---------------------------------------------------------------------


def rsyslog_conf() -> str:
    cond = " or ".join('$programname == "%s"' % p for p in RSYSLOG_PROGRAMS)
    actions = "".join('  action(type="omfile" file="%s/%s.log" template="%s")\n' % (RSYSLOG_DIR, name, tpl)
                      for name, tpl in RSYSLOG_FORMS.items())
    return "# unitaudit lab: the seed's loops in three file formats\nif (%s) then {\n%s}\n" % (cond, actions)


def install_rsyslog(lab, notes: list) -> str:
    """rsyslog from the release's own archive into the overlay; its version, or '' if apt could not."""
    lab.write("/etc/systemd/journald.conf.d/unitaudit-forms.conf", JOURNALD_FORWARD)
    lab.write("/etc/rsyslog.d/10-unitaudit-forms.conf", rsyslog_conf())
    lab.run("systemctl", "restart", "systemd-journald.service", check=False)
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    cmd = ("apt-get", "install", "-y", "--no-install-recommends", "-o", "Dpkg::Options::=--force-confold", "rsyslog")
    r = lab.run(*cmd, check=False, timeout=600, env=env)
    if r.returncode != 0:
        lab.run("apt-get", "update", check=False, timeout=600, env=env)
        r = lab.run(*cmd, check=False, timeout=600, env=env)
    if r.returncode != 0:
        notes.append("rsyslog could not be installed: " + (r.stdout + r.stderr).strip().splitlines()[-1])
        return ""
    lab.run("systemctl", "restart", "rsyslog.service", check=False)
    version = inside(lab, "rsyslogd", "-v").splitlines()[0].strip()
    notes.append("rsyslog installed in the overlay with `%s`: %s" % (" ".join(cmd), version))
    return version


def rsyslog_sizes(lab) -> dict:
    out = {}
    for name in RSYSLOG_FORMS:
        p = lab.root / RSYSLOG_DIR.lstrip("/") / (name + ".log")
        out[name] = p.stat().st_size if p.exists() else 0
    return out


# -- the window ----------------------------------------------------------------------------------


def set_up(lab, notes: list) -> None:
    scenarios.setup_seed_loops(lab, {}, notes, scenarios.FAST)
    lab.write("/etc/systemd/system/" + START_LIMIT, VFS_WATCH)
    lab.run("systemctl", "daemon-reload")
    scenarios.wait_for_seed_loops(lab, restarts=NEEDED_RESTARTS, timeout=240)


def run_window(lab) -> tuple:
    """The loops run for WINDOW_SECONDS; the start-limit unit is started 3 s in. (start, end)."""
    t0 = time.time()
    scenarios.sleep_until(t0 + 3)
    lab.run("systemctl", "start", "--no-block", START_LIMIT)
    scenarios.sleep_until(t0 + WINDOW_SECONDS)
    lab.run("journalctl", "--sync", check=False, record=False)
    return t0, time.time()


def journal_forms(lab) -> list:
    """The forms of WANTED_FORMS this journalctl lists in `journalctl -o help`."""
    listed = set(inside(lab, "journalctl", "-o", "help").split())
    return [f for f in WANTED_FORMS if f in listed]


def record_journal(lab, out: Path, t0: float, t1: float, sources: dict) -> None:
    for form in journal_forms(lab):
        if form in BULKY_FORMS:
            units, since = (LOOPING,), t1 - BULKY_SECONDS
        else:
            units, since = UNITS_IN_WINDOW, t0
        cmd = ["journalctl", "--no-pager", "-o", form, "--since", "@%.6f" % since, "--until", "@%.6f" % t1]
        for u in units:
            cmd += ["-u", u]
        r = lab.run(*cmd, check=False, record=False)
        name = "journalctl-%s.txt" % form
        (out / name).write_text(r.stdout)
        shows = ("two restart cycles of %s only" % LOOPING) if form in BULKY_FORMS else \
            "every entry of the window's units: the four loops"
        sources[name] = "`%s`: %s; %d lines; first line: %s" % (
            " ".join(shlex.quote(c) for c in cmd), shows, r.stdout.count("\n"), first_line(r.stdout))


def wait_state(lab, unit: str) -> str:
    prop, want, _ = STATUS_WAIT.get(unit, ("", "", ""))
    if not prop:
        return ""

    def there():
        value = inside(lab, "systemctl", "show", "-p", prop, "--value", unit).strip()
        return value == want
    try:
        lab.wait_for("%s %s=%s" % (unit, prop, want), there, timeout=20, every=0.05)
        return "%s=%s" % (prop, want)
    except RuntimeError:
        return "%s was not %s within 20 s" % (prop, want)


def status_text(lab, unit: str, options: tuple, tty: bool) -> tuple:
    """`systemctl status` as a user sees it: in an 80-column terminal (script(1) gives it a pty;
    the pager is cat, so what would be on screen is captured), or piped.  (text, command)"""
    cmd = "systemctl status %s%s" % ("".join(o + " " for o in options), unit)
    if not tty:
        return inside(lab, "sh", "-c", cmd + " 2>&1 | cat"), cmd + " | cat"
    text = inside(lab, "script", "-qec", "stty cols 80 rows 50; " + cmd, "/dev/null")
    return text.replace("\r\n", "\n"), cmd


def record_status(lab, out: Path, sources: dict) -> None:
    for what, unit in STATUS_OF.items():
        for variant, (options, tty) in STATUS_VARIANTS.items():
            for _ in range(STATUS_TRIES):  # the state can change between `show` and `status`
                state = wait_state(lab, unit)
                text, cmd = status_text(lab, unit, options, tty)
                if STATUS_WAIT.get(unit, ("", "", ""))[2] in "\n".join(text.split("\n")[:3]):
                    break
            name = "status-%s-%s.txt" % (what, variant)
            (out / name).write_text(text)
            where = "on an 80-column terminal (script -qec 'stty cols 80 rows 50; ...'; CR LF of the pty " \
                    "turned into LF; SYSTEMD_PAGER=cat)" if tty else "piped, no terminal"
            sources[name] = "`%s` %s, at %s%s. %s" % (cmd, where, utc(time.time()),
                                                      (", once " + state) if state else "", status_shows(text))


def record_rsyslog(lab, out: Path, sizes: tuple, sources: dict) -> None:
    """`sizes`: each file's size at the start of the window and 1 s after its end."""
    start_sizes, end_sizes = sizes
    for name, tpl in RSYSLOG_FORMS.items():
        p = lab.root / RSYSLOG_DIR.lstrip("/") / (name + ".log")
        if not p.exists():
            continue
        with open(str(p), "rb") as f:
            f.seek(start_sizes.get(name, 0))
            data = f.read(max(0, end_sizes.get(name, 0) - start_sizes.get(name, 0)))
        fname = "rsyslog-%s.log" % name
        (out / fname).write_bytes(data)
        sources[fname] = ("rsyslog `omfile` with `template=\"%s\"` (%s, rsyslog.d below), the bytes it wrote "
                          "from the start of the window until 1 s after its end: the four loops; %d lines; first "
                          "line: %s" % (tpl, RSYSLOG_DIR + "/" + name + ".log", data.count(b"\n"),
                                        first_line(data.decode("utf-8", "replace"))))


def first_line(text: str) -> str:
    line = text.split("\n", 1)[0]
    return "`%s`" % (line if len(line) <= 140 else line[:140] + " [...]")


def status_shows(text: str) -> str:
    """What a status paste says, for SOURCES.md: its Active: line, its log tail, what was cut."""
    lines = text.rstrip("\n").split("\n")
    active = [l.strip() for l in lines if l.strip().startswith("Active:")]
    tail = lines[lines.index("") + 1:] if "" in lines else []
    tail = [l for l in tail if not l.startswith("Hint:")]
    cut = sum(1 for l in lines if "\u2026" in l)
    return "%s; log tail: %d lines; lines cut with \"\u2026\": %d" % (
        ("`%s`" % active[0]) if active else "first line `%s`" % lines[0], len(tail), cut)


def versions(lab, rsyslog: str) -> list:
    def first(*cmd):
        return (inside(lab, *cmd).strip().splitlines() or ["?"])[0]
    out = [("systemd", first("systemctl", "--version")),
           ("os", first("sh", "-c", '. /etc/os-release; echo "$PRETTY_NAME"')),
           ("dbus-daemon", first("dbus-daemon", "--version")),
           ("logrotate", first("logrotate", "--version")),
           ("kmod", first("kmod", "--version")),
           ("journalctl -o help", " ".join(inside(lab, "journalctl", "-o", "help").split())),
           ("hostname", first("hostname")),
           ("kernel (the host's)", first("uname", "-r"))]
    if rsyslog:
        out.append(("rsyslog", rsyslog))
    return out


# -- one version ---------------------------------------------------------------------------------


def record_version(version: str, lower: str, out_root: Path, command: str) -> None:
    out = out_root / version
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*"):
        old.unlink()
    notes, sources = [], {}
    with booted("ua-forms-%s-%d" % (version.split("-")[0], os.getpid()), lower=lower) as lab:
        rsyslog = install_rsyslog(lab, notes)
        set_up(lab, notes)
        start_sizes = rsyslog_sizes(lab)
        t0, t1 = run_window(lab)
        log("%s: window %s .. %s" % (version, utc(t0), utc(t1)))
        time.sleep(1.0)  # journald forwards, rsyslog writes: let the window's last lines land
        end_sizes = rsyslog_sizes(lab)
        record_journal(lab, out, t0, t1, sources)
        if rsyslog:
            record_rsyslog(lab, out, (start_sizes, end_sizes), sources)
        record_status(lab, out, sources)
        meta = {"versions": versions(lab, rsyslog), "t0": t0, "t1": t1, "notes": notes,
                "nrestarts": inside(lab, "systemctl", "show", "-p", "NRestarts", "--value", LOOPING).strip()}
    write_sources(out, version, command, meta, sources)


def write_sources(out: Path, version: str, command: str, meta: dict, sources: dict) -> None:
    lines = ["# %s: the seed's loops in every text form, recorded in the lab" % version, "",
             "Recorded by `%s` on %s (window %s to %s). Nothing was edited; the files are what the "
             "commands printed (inside the lab, `nsenter -t LEADER -a`, env TZ=UTC LANG=C.UTF-8 "
             "SYSTEMD_COLORS=0 SYSTEMD_PAGER=cat). Licence: recorded by this project in its own lab (no "
             "third-party text); the programs' messages are those of the Debian packages named below."
             % (command, utc(meta["t0"])[:10], utc(meta["t0"]), utc(meta["t1"])),
             "", "## Versions", ""]
    lines += ["- %s: `%s`" % kv for kv in meta["versions"]]
    lines += ["", "## Lab scenario", "",
              "- `unitaudit_lab.scenarios.setup_seed_loops(lab, {}, notes, scenarios.FAST)`: %s "
              "(ExecStartPre=/usr/sbin/modprobe vfs_monitor, Restart=always, RestartSec=2); the Avahi alias "
              "removed and %s calling org.freedesktop.Avahi every 2 s; logrotate.timer every 5 s with "
              "`clink-agent:8` broken and a chmod 777 log directory." % (LOOPING, CLIENT),
              "- `%s`, started once 3 s into the window, hits its start limit:" % START_LIMIT, "", "```",
              VFS_WATCH.rstrip(), "```", "",
              "- The window opened once %s had restarted %d times (`scenarios.wait_for_seed_loops`); "
              "NRestarts at the end: %s." % (LOOPING, NEEDED_RESTARTS, meta["nrestarts"]), ""]
    lines += ["- rsyslog (when installed) got `/etc/rsyslog.d/10-unitaudit-forms.conf`, and journald "
              "`/etc/systemd/journald.conf.d/unitaudit-forms.conf` (`ForwardToSyslog=yes`, the default before "
              "Debian 13) before rsyslog was installed:", "", "```", rsyslog_conf().rstrip(), "```", ""]
    lines += ["## Notes", ""] + ["- " + n for n in meta["notes"]] + ["", "## Files", ""]
    lines += ["- `%s`: %s" % (name, how) for name, how in sorted(sources.items())]
    (out / "SOURCES.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("tests/fixtures/captured/lab-forms"))
    ap.add_argument("--only", action="append", help="a version dir (debian12-252, debian11-247, debian13-257)")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("record_forms: must run as root (mount, systemd-nspawn, nsenter)", file=sys.stderr)
        return 2
    command = "python3 -m examples.record_forms " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    failed = []
    for version, lower in versions_to_record().items():
        if args.only and version not in args.only:
            continue
        if lower != "/" and not roots.is_ready(re.sub(r"^.*/", "", lower)):
            failed.append("%s: root %s not built (python3 -m unitaudit_lab.roots)" % (version, lower))
            continue
        try:
            record_version(version, lower, args.out.resolve(), command.strip())
        except (RuntimeError, OSError) as e:
            failed.append("%s: %s" % (version, e))
    for f in failed:
        print("record_forms: " + f, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
