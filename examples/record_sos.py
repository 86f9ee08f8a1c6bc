#!/usr/bin/env python3
"""Record a sos report of the seed investigation's three loops, made by Debian's own `sos report`.

Boots the lab (a real systemd in systemd-nspawn over an overlay of this machine's root, as
/work/shared/LAB.md describes), sets up the seed's loops at the lab's fast periods
(unitaudit_lab.scenarios.FAST), lets them run for a few minutes, then runs `sos report --batch`
INSIDE the container, the way a support engineer would on the machine itself.  The tarball it
leaves is copied, byte for byte, to OUT/sos-seed/ with a MANIFEST.md: how, when, which versions,
which plugins, what the lab ran and how often each loop shows in the report's journal text.

Usage (root, from the checkout's top directory):
  python3 -m examples.record_sos --out examples/
Needs the lab's packages and `sosreport` (the Makefile's APT_PACKAGES): sos runs from this
machine's root, which the container sees through its overlay.

The plugin selection keeps the archive small (a few hundred KB instead of tens of MB) and still
holds what a diagnosis reads; a plugin is dropped rather than the archive edited.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import sys
import tarfile
import time
from pathlib import Path

from examples.record_lab import check_expectations, fmt_ts, text_counts, versions
from unitaudit_lab.host import HOST_ENV, log, mounted_under, other_nspawn_running, shquote
from unitaudit_lab.machine import CHECKOUT, Interrupted, Lab
from unitaudit_lab.scenarios import FAST, setup_seed_loops, sleep_until, wait_for_seed_loops

# What each plugin brings that a diagnosis reads (Debian's sos 4.0, sos/report/plugins/):
#   systemd    systemctl status --all / show *service --all / list-units, copies of /etc/systemd
#              and /lib/systemd/system (unit files, Alias= of avahi-daemon.service)
#   logs       journalctl (whole journal, this boot with -x), ls -alRh /var/log (directory modes)
#   logrotate  copies of /etc/logrotate.conf and /etc/logrotate.d, logrotate --debug
#   kernel     uname -a, lsmod, modinfo of the loaded modules, /proc/modules, dmesg
#   memory     /proc/meminfo and /proc/slabinfo (kernfs_node_cache)
#   dbus       /etc/dbus-1, busctl list
#   dpkg       dpkg -l (which packages are installed; not which package owns a file)
#   host       hostname, uptime;  release: /etc/os-release, lsb_release
PLUGINS = ("systemd", "logs", "logrotate", "kernel", "memory", "dbus", "dpkg", "host", "release")
SOS_DIR = "/var/tmp/unitaudit-sos"  # inside the container: the overlay, not nspawn's /tmp tmpfs
SIZE_LIMIT = 3 * 1024 * 1024
OUT_NAME = "sos-seed"
BUNDLE_OUT = "bundle-seed"  # `unitaudit collect` of the same lab, beside the sos report
BUNDLE_NAME = "unitaudit-bundle-seed.tar.xz"


def run_sos(lab: Lab, plugins: tuple, timeout: float) -> tuple:
    """`sos report --batch` inside; returns (the tarball's path on the host, sos's output, seconds)."""
    lab.run("mkdir", "-p", SOS_DIR)
    t0 = time.monotonic()
    r = lab.run("sos", "report", "--batch", "-o", ",".join(plugins), "--tmp-dir", SOS_DIR,
                "--label", "unitaudit", "-z", "xz", check=False, timeout=timeout)
    seconds = time.monotonic() - t0
    out = (r.stdout + r.stderr).strip()
    # read through the container's own root: whatever nspawn mounted over /var/tmp, this is it
    inside = Path(f"/proc/{lab.leader}/root{SOS_DIR}")
    found = sorted(inside.glob("sosreport-*.tar.xz"))
    if r.returncode != 0 or len(found) != 1:
        raise RuntimeError(f"sos report: rc {r.returncode}, tarballs {[p.name for p in found]}\n{out[-3000:]}")
    return found[0], out, seconds


def inspect_tarball(path: Path) -> dict:
    """What the archive holds: member count, top directory, the journal text and key files."""
    with tarfile.open(path) as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        top = names[0].split("/")[0]
        journal = [m for m in members if "/sos_commands/logs/journalctl_--no-pager" in m.name
                   and m.name.endswith("journalctl_--no-pager") and m.isfile()]
        text = tar.extractfile(journal[0]).read().decode("utf-8", "replace") if journal else ""
        unpacked = sum(m.size for m in members if m.isfile())
        lsmod = [m for m in members if m.name == top + "/sos_commands/kernel/lsmod"]
        lsmod_text = tar.extractfile(lsmod[0]).read(400).decode("utf-8", "replace") if lsmod else ""
    wanted = ["etc/logrotate.d/clink-agent", "etc/logrotate.d/mirror-printer",
              "etc/systemd/system/deepin-anything-monitor.service",
              # usr-merged Debian 12: sos copies /lib/... under usr/lib/ and keeps lib -> usr/lib
              "usr/lib/systemd/system/avahi-daemon.service", "proc/slabinfo", "proc/meminfo",
              "sos_commands/kernel/modinfo_ALL_MODULES", "sos_commands/logrotate/logrotate_debug",
              "sos_commands/systemd/systemctl_status_--all", "sos_commands/kernel/uname_-a",
              "sos_commands/kernel/lsmod", "sos_commands/logs/ls_-alRh_.var.log",
              "sos_reports/manifest.json", "sos_logs/sos.log"]
    present = {w: (top + "/" + w) in names for w in wanted}
    return {"members": len(members), "top": top, "unpacked": unpacked, "journal_member": bool(journal),
            "journal_lines": text.count("\n"), "counts": text_counts(text), "present": present,
            "lsmod_head": (lsmod_text.splitlines() or [""])[0]}


def write_manifest(out_dir: Path, meta: dict) -> None:
    t = meta["tar"]
    lines = [
        "# Lab recording: sos-seed (a sos report of the seed's loops)",
        "",
        f"Recorded by `examples/record_sos.py` on {fmt_ts(meta['t_start'])} (command: `{meta['command']}`).",
        "",
        "The lab (see `seed-loops/MANIFEST.md` for the three loops and `shared/LAB.md` for the boot) ran the seed's "
        f"loops at the fast periods of `unitaudit_lab.scenarios.FAST` (RestartSec={FAST.restart_sec}, an Avahi client "
        f"every {FAST.client_every} s, logrotate.timer every {FAST.timer_every} s) for {meta['minutes']:.1f} min; then "
        "Debian's `sos report` ran inside the container while the loops went on.",
        "",
        "## The report",
        "",
        f"- `{meta['tarball']}`: {meta['size']:,} bytes (xz), {t['members']} members, {t['unpacked']:,} bytes "
        f"unpacked; top directory `{t['top']}/`; sha256 `{meta['sha256']}`.",
        f"- command (inside, via `nsenter -t LEADER -a`): `{meta['sos_command']}`, {meta['sos_seconds']:.0f} s.",
        f"- plugins: {', '.join(f'`{p}`' for p in meta['plugins'])} (what each brings: the comment on `PLUGINS` "
        "in `examples/record_sos.py`).",
        f"- sos started {fmt_ts(meta['t_sos'])}, {(meta['t_sos'] - meta['t_start']) / 60:.2f} min after the loops "
        "were set up.",
        "",
        "Files a diagnosis reads, present in the archive:",
        "",
    ]
    lines += [f"- `{w}`: {'yes' if ok else 'NO'}" for w, ok in t["present"].items()]
    lines += ["", f"`lsmod` as recorded, first line: `{t['lsmod_head']}`"]
    if not meta["host_modules"]:
        lines += ["", "This machine's kernel has no `/proc/modules` and no `/lib/modules/<release>`: lsmod fails, "
                  "and `modinfo` answers \"not found\" for every name sos gives it (the built-in modules listed "
                  "in `/sys/module`).  `/sys/module/*` (copied by the kernel plugin) is what tells built in from "
                  "loaded there: a loaded module has an `initstate`, a built-in one does not."]
    lines += ["", "## Environment", ""]
    lines += [f"- {k}: `{v}`" for k, v in meta["versions"].items()]
    lines += [f"- sos: `{meta['sos_version']}`",
              f"- container hostname: `{meta['hostname']}`; machine-id `{meta['machine_id']}`",
              f"- container boot to `{meta['system_state']}`: {meta['boot_seconds']:.1f} s",
              "", "## Key lines in the report's journal text (`sos_commands/logs/journalctl_--no-pager`, "
              f"{t['journal_lines']} lines)", "", "| what | substring | count |", "|---|---|---|"]
    for label, pat, n in t["counts"]:
        lines.append(f"| {label} | `{pat.replace('|', chr(92) + '|')}` | {n} |")
    lines += ["", "## Unit state just before sos ran (`systemctl show`)", "", "```", meta["state"], "```"]
    lines += ["", "## Notes", ""] + [f"- {n}" for n in meta["notes"]]
    if meta["problems"]:
        lines += ["", "## Expectation check FAILED", ""] + [f"- {p}" for p in meta["problems"]]
    else:
        lines += ["", "Expectation check: each loop shows in the report's journal text; no start-limit-hit."]
    lines += ["", "## Commands run (inside the container via `nsenter -t LEADER -a`, in order)", "", "```"]
    lines += meta["commands"] + ["```", "", "## sos's own output (its last lines)", "", "```",
                                 meta["sos_output"], "```", ""]
    (out_dir / "MANIFEST.md").write_text("\n".join(lines))


def run_collect(lab: Lab, staging: Path) -> dict:
    """This checkout's `unitaudit collect` and `unitaudit scan --json` inside the same lab, both
    ending at the same second: the bundle, and the live scan a scan of the bundle must equal."""
    until = "@%d" % (time.time() - 1)
    # Debian's python3 with the libraries the package carries (make vendor), as the .deb runs
    env = {"PYTHONPATH": "%s:%s" % (CHECKOUT / "build/vendor/lib", CHECKOUT)}
    inside = lab.run("/usr/bin/python3", "-B", "-m", "unitaudit", "scan", "--json", "--until", until,
                     check=False, env=env, timeout=300)
    t0 = time.time()
    made = lab.run("/usr/bin/python3", "-B", "-m", "unitaudit", "collect", "-o", SOS_DIR + "/" + BUNDLE_NAME,
                   "--until", until, "--json", check=False, env=env, timeout=600)
    seconds = time.time() - t0
    if made.returncode != 0 or inside.returncode not in (0, 1):
        raise RuntimeError(f"collect rc {made.returncode}: {made.stderr[-2000:]}; scan rc {inside.returncode}: "
                           f"{inside.stderr[-2000:]}")
    shutil.copy2(lab.root / SOS_DIR.lstrip("/") / BUNDLE_NAME, staging / BUNDLE_NAME)
    (staging / "scan-inside.json").write_text(inside.stdout)
    return {"until": until, "collect_seconds": seconds, "collect": made.stdout}


def write_bundle_manifest(out_dir: Path, meta: dict) -> None:
    b = meta["bundle"]
    said = json.loads(b["collect"])
    lines = [
        "# Lab recording: bundle-seed (`unitaudit collect` of the seed's loops)",
        "",
        "Recorded by `examples/record_sos.py` in the same lab and minute as `../sos-seed/` "
        f"(command: `{meta['command']}`).",
        "",
        f"- `{BUNDLE_NAME}`: {said['size']:,} bytes, made by `unitaudit collect --until {b['until']}` inside the "
        f"lab in {b['collect_seconds']:.1f} s: {said['journal_entries']} journal entries, {said['files']} files, "
        f"{said['findings']} findings at collect time; left out: "
        + ("; ".join(f"{x['what']} ({x['why']})" for x in said["left_out"]) or "nothing") + ".",
        f"- `scan-inside.json`: `unitaudit scan --json --until {b['until']}` inside the lab just before: "
        "the findings a scan of the bundle must give (tests/test_bundle_scan.py).",
        "",
    ]
    (out_dir / "MANIFEST.md").write_text("\n".join(lines))


def record(out_root: Path, minutes: float, plugins: tuple, command: str) -> list:
    lab = Lab(f"ua-sos-{os.getpid()}")
    installed: dict = {}
    notes: list = []
    meta: dict = {"command": command, "minutes": minutes, "plugins": plugins}
    staging = Path(os.environ.get("TMPDIR", "/var/tmp")) / f"unitaudit-sos-{os.getpid()}"
    try:
        lab.boot()
        meta["versions"] = versions(lab)
        meta["sos_version"] = lab.run("dpkg-query", "-W", "-f", "${Package} ${Version}", "sosreport",
                                      record=False).stdout.strip()
        meta["hostname"] = lab.run("hostname", record=False).stdout.strip()
        meta["host_modules"] = os.path.exists("/proc/modules") and os.path.isdir("/lib/modules/" + os.uname().release)
        notes.append(f"The lab masks the {len(lab.masked)} units this machine's root enabled that it does not need "
                     "(unitaudit_lab/units.py): those links to /dev/null in etc/systemd/system/ are the lab's, "
                     "not the seed's.")
        setup_seed_loops(lab, installed, notes, FAST)
        meta["t_start"] = time.time()
        wait_for_seed_loops(lab)
        t_stop = meta["t_start"] + minutes * 60
        while time.time() < t_stop:
            sleep_until(min(t_stop, time.time() + 30))
            log(f"sos-seed: {int(t_stop - time.time())} s left")
        meta["state"] = lab.run("systemctl", "show", "-p", "Id,ActiveState,SubState,Result,NRestarts",
                                "deepin-anything-monitor.service", "logrotate.service", "logrotate.timer",
                                "dbus-org.freedesktop.Avahi.service", check=False, record=False).stdout.strip()
        lab.run("journalctl", "--sync", check=False, record=False)
        meta["t_sos"] = time.time()
        src, out, meta["sos_seconds"] = run_sos(lab, plugins, timeout=900)
        meta["sos_command"] = lab.commands[-1]
        meta["sos_output"] = "\n".join(out.splitlines()[-12:])
        staging.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, staging / src.name)  # before the teardown removes the overlay
        meta["bundle"] = run_collect(lab, staging)
        meta.update(machine_id=lab.machine_id, boot_seconds=lab.boot_seconds, system_state=lab.system_state,
                    commands=list(lab.commands))
    finally:
        lab.teardown()
        left = mounted_under(str(lab.dir)) if lab.dir else []
        log(f"findmnt after teardown: {'CLEAN' if not left else left}")
    try:
        tarball = next(staging.glob("sosreport-*.tar.xz"))
        out_dir = out_root / OUT_NAME
        out_dir.mkdir(parents=True, exist_ok=True)
        for old in list(out_dir.glob("sosreport-*")) + [out_dir / "MANIFEST.md"]:
            old.unlink(missing_ok=True)
        dest = out_dir / tarball.name
        shutil.copyfile(tarball, dest)
        os.chmod(dest, 0o644)
        meta.update(tarball=tarball.name, size=dest.stat().st_size, tar=inspect_tarball(dest),
                    sha256=hashlib.sha256(dest.read_bytes()).hexdigest(), notes=notes)
        problems = check_expectations("seed-loops", meta["tar"]["counts"])
        problems += [f"missing from the archive: {w}" for w, ok in meta["tar"]["present"].items() if not ok]
        if meta["size"] > SIZE_LIMIT:
            problems.append(f"tarball is {meta['size']:,} bytes, over the {SIZE_LIMIT:,} limit: drop a plugin")
        meta["problems"] = problems
        write_manifest(out_dir, meta)
        bundle_dir = out_root / BUNDLE_OUT
        bundle_dir.mkdir(parents=True, exist_ok=True)
        for name in (BUNDLE_NAME, "scan-inside.json"):
            shutil.copyfile(staging / name, bundle_dir / name)
            os.chmod(bundle_dir / name, 0o644)
        write_bundle_manifest(bundle_dir, meta)
        log(f"sos-seed: {dest} {meta['size']:,} bytes; problems: {problems or 'none'}")
        return problems
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=2.5, help="how long the loops run before sos (default 2.5)")
    ap.add_argument("--plugins", default=",".join(PLUGINS), help="sos plugins (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                    help="output directory (default: the script's directory, examples/)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("record_sos.py: must run as root (mount, systemd-nspawn, nsenter)", file=sys.stderr)
        return 2
    missing = [b for b in ("systemd-nspawn", "nsenter", "sos", "modprobe", "logrotate", "avahi-daemon")
               if shutil.which(b, path=HOST_ENV["PATH"]) is None]
    if missing:
        print(f"record_sos.py: missing: {', '.join(missing)} (make system-packages)", file=sys.stderr)
        return 3
    busy = other_nspawn_running()
    if busy:
        print(f"record_sos.py: another systemd-nspawn is running (pids {busy}); one lab at a time", file=sys.stderr)
        return 3

    def on_term(signum, frame):
        raise Interrupted(f"signal {signum}")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_term)

    plugins = tuple(p for p in args.plugins.split(",") if p)
    command = "python3 -m examples.record_sos " + " ".join(shquote(a) for a in sys.argv[1:])
    try:
        problems = record(args.out.resolve(), args.minutes, plugins, command)
    except (KeyboardInterrupt, Interrupted) as e:
        print(f"record_sos.py: interrupted ({e or 'SIGINT'}); lab torn down", file=sys.stderr)
        return 130
    if problems:
        print("record_sos.py: expectation check FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
