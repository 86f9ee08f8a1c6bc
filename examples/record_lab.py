#!/usr/bin/env python3
"""Record real systemd evidence of the seed investigation's three loops (and healthy controls).

Boots a real systemd (the machine's own, 252 on Debian 12) in systemd-nspawn over a throwaway overlay
of the machine's root filesystem, exactly as /work/shared/LAB.md describes, reproduces the loops of
the seed case, lets them run, and saves the container's journal plus readable renderings under
OUT/<scenario>/.

Scenarios (one boot each):
  seed-loops  avahi alias missing + a client calling org.freedesktop.Avahi every 5 s (D-Bus
              activation loop); deepin-anything-monitor.service whose ExecStartPre=modprobe
              vfs_monitor fails, Restart=always RestartSec=5 (restart loop); logrotate failing on
              'clink-agent:8, unexpected text after }' and a world-writable log directory, started by
              a 30 s timer (timer unit failing on every run).
  controls    healthy cases a loop detector must NOT flag.

Usage (root, stdlib only):
  python3 -m examples.record_lab --minutes 4 --out examples/
  python3 -m examples.record_lab --scenario controls --controls-minutes 1.5 --out examples/
(from the checkout's top directory: the lab is the unitaudit_lab package there)

The lab is always torn down (nspawn killed, overlay unmounted, temp dir removed), also on
SIGINT/SIGTERM. Needs: systemd-container, dbus, kmod, logrotate, avahi-daemon, systemd-journal-remote.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from unitaudit_lab.host import HOST_ENV, log, mounted_under, other_nspawn_running, shquote
from unitaudit_lab.machine import Interrupted, Lab
from unitaudit_lab.scenarios import controls_timeline, setup_controls, setup_seed_loops, sleep_until

JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
EXPORT_MAX_BYTES = 2 * 1024 * 1024
JOURNAL_TARGET_BYTES = 3 * 1024 * 1024

KEY_UNITS = {
    "seed-loops": ["deepin-anything-monitor.service", "deepin-system-monitor-sim.service",
                   "avahi-daemon.service", "avahi-daemon.socket", "dbus-org.freedesktop.Avahi.service",
                   "logrotate.service", "logrotate.timer"],
    "controls": ["flaky-once.service", "healthy-daemon.service", "fail-once.service",
                 "avahi-daemon.service", "avahi-daemon.socket", "logrotate.service", "logrotate.timer"],
}
SHOW_PROPS = ("Id,Names,Description,LoadState,LoadError,ActiveState,SubState,Result,UnitFileState,"
              "FragmentPath,DropInPaths,NeedDaemonReload,NRestarts,Restart,RestartUSec,"
              "StartLimitIntervalUSec,StartLimitBurst,ExecMainCode,ExecMainStatus,InvocationID,"
              "ActiveEnterTimestamp,InactiveEnterTimestamp,LastTriggerUSec,NextElapseUSecRealtime,Triggers")



def snapshot_state(lab: Lab, scenario: str) -> dict:
    units = {}
    for u in KEY_UNITS[scenario]:
        r = lab.run("systemctl", "show", "-p", SHOW_PROPS, u, check=False, record=False)
        props = {}
        for line in r.stdout.splitlines():
            k, _, v = line.partition("=")
            props[k] = v
        units[u] = props
    enabled = {u: lab.run("systemctl", "is-enabled", u, check=False, record=False).stdout.strip()
               for u in KEY_UNITS[scenario]}
    status = ""
    for u in KEY_UNITS[scenario]:
        r = lab.run("systemctl", "status", "--no-pager", "-l", "-n", "12", u, check=False, record=False)
        status += f"$ systemctl status {u}\n{r.stdout}{r.stderr}\n"
    listing = lab.run("systemctl", "list-units", "--all", "--no-legend", "--plain", "--no-pager",
                      check=False, record=False).stdout.splitlines()
    failed = lab.run("systemctl", "--failed", "--no-legend", "--plain", "--no-pager",
                     check=False, record=False).stdout.splitlines()
    state = lab.run("systemctl", "is-system-running", check=False, record=False).stdout.strip()
    return {"units": units, "is_enabled": enabled, "status_text": status, "list_units": listing,
            "failed_units": failed, "is_system_running": state}


# --------------------------------------------------------------------------------------------------
# Journal: export, compact, verify, render
# --------------------------------------------------------------------------------------------------


def truncate_journal_file(path: Path) -> tuple[int, int]:
    """Cut the preallocated tail (journal files grow in 8 MiB steps) the way journald truncates
    archived files (journald_file_truncate): end = tail object offset + its 8-aligned size; set the
    header's arena_size to end - header_size, then ftruncate. Only for an offline file."""
    with open(path, "r+b") as f:
        hdr = f.read(160)
        if hdr[:8] != b"LPKSHHRH":
            raise RuntimeError(f"{path}: not a journal file")
        state = hdr[16]
        if state != 0:  # STATE_OFFLINE
            raise RuntimeError(f"{path}: journal file not offline (state {state})")
        header_size, = struct.unpack_from("<Q", hdr, 88)
        tail, = struct.unpack_from("<Q", hdr, 136)
        if tail == 0:
            end = header_size
        else:
            f.seek(tail + 8)
            size, = struct.unpack("<Q", f.read(8))
            end = tail + ((size + 7) & ~7)
        before = os.fstat(f.fileno()).st_size
        if end > before:
            raise RuntimeError(f"{path}: tail end {end} beyond file size {before}")
        f.seek(96)
        f.write(struct.pack("<Q", end - header_size))
        f.flush()
        os.ftruncate(f.fileno(), end)
        os.fsync(f.fileno())
    return before, end


def journal_lines(args: list[str]) -> int:
    p = subprocess.run(["journalctl", "--no-pager", *args, "-o", "short-iso"], env=HOST_ENV,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
    return p.stdout.count(b"\n")


def build_journal(src_dir: Path, until_epoch: str, out_dir: Path) -> dict:
    """src_dir: copy of the container's journal directory (offline files). Writes
    out_dir/journal/system.journal and the text renderings."""
    jdir = out_dir / "journal"
    jdir.mkdir(parents=True, exist_ok=True)
    out = jdir / "system.journal"
    for stale in jdir.glob("*.journal*"):
        stale.unlink()  # journal-remote would append to an existing file
    until = f"--until=@{until_epoch}"
    src_export = src_dir.parent / "source.export"
    with open(src_export, "wb") as f:
        subprocess.run(["journalctl", "--no-pager", "-D", str(src_dir), until, "-o", "export"], stdout=f,
                       check=True, env=HOST_ENV)
    export_len = src_export.stat().st_size
    # journal-remote 252 has no MaxFileSize=: it derives the file's maximum size (and from that the
    # size of the data hash table, ~2.8% of it) from the size of the file system it writes to
    # (max_use = fs/10, max_size = max_use/8, capped at 128 MiB: a 3.6 MB hash table on a big disk).
    # So it writes onto a tmpfs sized 80 x the wanted maximum, in a private mount namespace (the
    # mount vanishes with the process), then the file is copied out.
    mib = 1024 * 1024
    max_size = max(4 * mib, -(-2 * export_len // mib) * mib)
    tmpfs = src_dir.parent / "remote-tmpfs"
    tmpfs.mkdir(exist_ok=True)
    script = ('mount -t tmpfs -o size="$1" tmpfs "$2" && "$3" -o "$2/system.journal" - < "$4" '
              '&& ls "$2" && cp "$2/system.journal" "$5"')
    rem = subprocess.run(["unshare", "-m", "--propagation", "private", "--", "sh", "-c", script, "sh",
                          str(max_size * 80), str(tmpfs), JOURNAL_REMOTE, str(src_export), str(out)],
                         capture_output=True, text=True, env=HOST_ENV)
    how = f"on a {max_size * 80 // mib} MiB tmpfs (file max size {max_size // mib} MiB)"
    if rem.returncode != 0 or rem.stdout.split() != ["system.journal"]:
        log(f"journal-remote on tmpfs failed ({rem.returncode}: {rem.stdout} {rem.stderr}); plain run")
        out.unlink(missing_ok=True)
        with open(src_export, "rb") as f:
            rem = subprocess.run([JOURNAL_REMOTE, "-o", str(out), "-"], stdin=f, capture_output=True,
                                 text=True, env=HOST_ENV)
        how = "directly (file max size derived from the disk)"
        if rem.returncode != 0:
            raise RuntimeError(f"journal-remote failed: {rem.stderr}")
    if mounted_under(str(tmpfs)):
        raise RuntimeError(f"tmpfs leaked at {tmpfs}")
    before, after = truncate_journal_file(out)
    os.chmod(out, 0o644)
    verify = subprocess.run(["journalctl", "--verify", "--file", str(out)], capture_output=True,
                            text=True, env=HOST_ENV)
    src_lines = journal_lines(["-D", str(src_dir), until])
    out_lines = journal_lines(["--file", str(out)])
    info = {
        "remote_stderr": rem.stderr.strip(),
        "remote_how": how,
        "source_export_bytes": export_len,
        "size_before_truncate": before,
        "size": after,
        "verify_rc": verify.returncode,
        "verify_out": (verify.stdout + verify.stderr).strip(),
        "source_lines": src_lines,
        "out_lines": out_lines,
    }
    for fmt, name in (("short-iso", "journal.short-iso.txt"), ("short", "journal.short.txt")):
        with open(out_dir / name, "wb") as f:
            subprocess.run(["journalctl", "--no-pager", "--file", str(out), "-o", fmt], stdout=f,
                           check=True, env=HOST_ENV)
    export = subprocess.run(["journalctl", "--no-pager", "--file", str(out), "-o", "export"],
                            stdout=subprocess.PIPE, check=True, env=HOST_ENV).stdout
    info["export_bytes"] = len(export)
    exp_path = out_dir / "journal.export"
    if len(export) < EXPORT_MAX_BYTES:
        exp_path.write_bytes(export)
        info["export_saved"] = True
    else:
        if exp_path.exists():
            exp_path.unlink()
        info["export_saved"] = False
    info["entries"] = parse_export(export)
    return info


def parse_export(data: bytes) -> list[dict[str, str]]:
    """Journal export format: KEY=value lines, or KEY\\n<le64 size><bytes>\\n; blank line ends an entry."""
    entries, cur, i, n = [], {}, 0, len(data)
    while i < n:
        j = data.find(b"\n", i)
        if j < 0:
            j = n
        line = data[i:j]
        if not line:
            if cur:
                entries.append(cur)
                cur = {}
            i = j + 1
            continue
        eq = line.find(b"=")
        if eq >= 0:
            cur[line[:eq].decode()] = line[eq + 1:].decode("utf-8", "replace")
            i = j + 1
        else:
            size, = struct.unpack_from("<Q", data, j + 1)
            start = j + 9
            cur[line.decode()] = data[start:start + size].decode("utf-8", "replace")
            i = start + size + 1
    if cur:
        entries.append(cur)
    return entries


# --------------------------------------------------------------------------------------------------
# Counting the key lines
# --------------------------------------------------------------------------------------------------

TEXT_PATTERNS = [
    ("dbus activation requested (Avahi)",
     "[system] Activating via systemd: service name='org.freedesktop.Avahi' unit='dbus-org.freedesktop.Avahi.service' requested by"),
    ("dbus activation failed (Avahi not found)",
     "[system] Activation via systemd failed for unit 'dbus-org.freedesktop.Avahi.service': Unit dbus-org.freedesktop.Avahi.service not found."),
    ("client 'Call failed' lines", "Call failed: Unit dbus-org.freedesktop.Avahi.service not found."),
    ("restart scheduled (any unit)", "Scheduled restart job, restart counter is at"),
    ("deepin-anything-monitor restart scheduled", "deepin-anything-monitor.service: Scheduled restart job, restart counter is at"),
    ("Control process exited status=1", "Control process exited, code=exited, status=1/FAILURE"),
    ("modprobe FATAL vfs_monitor", "modprobe: FATAL: Module vfs_monitor not found in directory /lib/modules/"),
    ("rmmod ERROR vfs_monitor", "rmmod: ERROR: Module vfs_monitor is not currently loaded"),
    ("logrotate error: clink-agent:8", "error: clink-agent:8, unexpected text after }"),
    ("logrotate error: insecure parent dir", "because parent directory has insecure permissions"),
    ("logrotate.service failed (exit-code)", "logrotate.service: Failed with result 'exit-code'."),
    ("logrotate.service started", "Starting logrotate.service - Rotate log files..."),
    ("logrotate.service finished OK", "Finished logrotate.service - Rotate log files."),
    ("any unit 'Failed with result'", "Failed with result '"),
    ("start-limit-hit", "Start request repeated too quickly."),
]

MID_RESTART = "5eb03494b6584870a536b337290809b3"
MID_FAILED = "d9b373ed55a64feb8242e02dbe79a49c"
MID_EXITED = "98e322203f7a4ed290d09fe03c09fe15"


def text_counts(text: str) -> list[tuple[str, str, int]]:
    lines = text.splitlines()
    out = []
    for label, pat in TEXT_PATTERNS:
        out.append((label, pat, sum(1 for l in lines if pat in l)))
    out.append(("logrotate 'error:' lines (all)", "logrotate[PID]: error:",
                sum(1 for l in lines if re.search(r" logrotate\[\d+\]: error: ", l))))
    return out


def structured_counts(entries: list[dict[str, str]]) -> dict:
    def trusted_pid1(e):
        return e.get("_PID") == "1" and e.get("_UID") == "0"

    c: dict = {"entries": len(entries)}
    restart = [e for e in entries if e.get("MESSAGE_ID") == MID_RESTART and trusted_pid1(e)]
    c["restart_scheduled_by_unit"] = _by(restart, "UNIT")
    c["max_N_RESTARTS_by_unit"] = {}
    for e in restart:
        u = e.get("UNIT", "?")
        c["max_N_RESTARTS_by_unit"][u] = max(c["max_N_RESTARTS_by_unit"].get(u, 0), int(e.get("N_RESTARTS", "0")))
    failed = [e for e in entries if e.get("MESSAGE_ID") == MID_FAILED and trusted_pid1(e)]
    c["unit_failed_by_unit_result"] = _by(failed, "UNIT", "UNIT_RESULT")
    exited = [e for e in entries if e.get("MESSAGE_ID") == MID_EXITED and trusted_pid1(e)]
    c["process_exited_by_unit_command_status"] = _by(exited, "UNIT", "COMMAND", "EXIT_STATUS")
    dbus = [e for e in entries if e.get("_COMM") == "dbus-daemon"]
    c["dbus_activation_requested"] = sum(1 for e in dbus if e.get("MESSAGE", "").startswith(
        "[system] Activating via systemd: service name='org.freedesktop.Avahi'"))
    c["dbus_activation_failed"] = sum(1 for e in dbus if e.get("MESSAGE", "").startswith(
        "[system] Activation via systemd failed for unit 'dbus-org.freedesktop.Avahi.service'"))
    req = [e.get("MESSAGE", "") for e in dbus if "requested by" in e.get("MESSAGE", "")]
    c["dbus_requesters"] = sorted({re.sub(r"':1\.\d+'|pid=\d+", "*", m.split("requested by ", 1)[1]) for m in req})
    mp = [e for e in entries if e.get("MESSAGE", "").startswith("modprobe: FATAL: Module vfs_monitor not found")]
    c["modprobe_fatal_by__SYSTEMD_UNIT"] = _by(mp, "_SYSTEMD_UNIT")
    lr = [e for e in entries if e.get("_SYSTEMD_UNIT") == "logrotate.service" and e.get("_COMM") == "logrotate"
          and e.get("MESSAGE", "").startswith("error: ")]
    c["logrotate_errors_by_class"] = {}
    for e in lr:
        m = e["MESSAGE"]
        cls = ("unexpected text after }" if "unexpected text after }" in m else
               "insecure parent directory" if "insecure permissions" in m else m[:60])
        c["logrotate_errors_by_class"][cls] = c["logrotate_errors_by_class"].get(cls, 0) + 1
    return c


def _by(entries, *keys) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in entries:
        k = " | ".join(e.get(x, "-") for x in keys)
        out[k] = out.get(k, 0) + 1
    return dict(sorted(out.items()))


EXPECT = {
    "seed-loops": {
        "dbus activation failed (Avahi not found)": ">0",
        "dbus activation requested (Avahi)": ">0",
        "deepin-anything-monitor restart scheduled": ">0",
        "modprobe FATAL vfs_monitor": ">0",
        "Control process exited status=1": ">0",
        "logrotate error: clink-agent:8": ">0",
        "logrotate error: insecure parent dir": ">0",
        "logrotate.service failed (exit-code)": ">0",
        "start-limit-hit": "=0",
    },
    "controls": {
        "dbus activation requested (Avahi)": "=0",
        "dbus activation failed (Avahi not found)": "=0",
        "restart scheduled (any unit)": "=0",
        "modprobe FATAL vfs_monitor": "=0",
        "logrotate 'error:' lines (all)": "=0",
        "logrotate.service failed (exit-code)": "=0",
        "logrotate.service finished OK": "=3",
        "any unit 'Failed with result'": "=2",
        "start-limit-hit": "=0",
    },
}


def check_expectations(scenario: str, counts: list[tuple[str, str, int]]) -> list[str]:
    got = {label: n for label, _, n in counts}
    problems = []
    for label, rule in EXPECT[scenario].items():
        n = got[label]
        ok = n > 0 if rule == ">0" else n == int(rule[1:])
        if not ok:
            problems.append(f"{label}: {n} (expected {rule})")
    return problems


# --------------------------------------------------------------------------------------------------
# MANIFEST
# --------------------------------------------------------------------------------------------------

DESCRIPTIONS = {
    "seed-loops": """\
Reproduces the three loops of the seed investigation (`shared/reference/seed-kernfs-node-cache-investigation.txt`)
on a real systemd booted in systemd-nspawn over an overlay of the machine's root (see `shared/LAB.md`).

- **D-Bus activation loop (missing Avahi alias).** avahi-daemon stays enabled, but its `Alias=` symlink
  `/etc/systemd/system/dbus-org.freedesktop.Avahi.service` was removed, then `systemctl daemon-reload`, then
  `avahi-daemon.socket` and `avahi-daemon.service` stopped. `deepin-system-monitor-sim.service` (user `deepin`)
  calls `busctl call org.freedesktop.Avahi / org.freedesktop.Avahi.Server GetVersionString` every 5 s through a
  symlink named `/usr/local/bin/deepin-system-monitor`; dbus-daemon (`SystemdService=` of
  `/usr/share/dbus-1/system-services/org.freedesktop.Avahi.service`) logs "Activating via systemd" and
  "Activation via systemd failed ... not found." for every call.
- **Restart loop (failing ExecStartPre).** `deepin-anything-monitor.service` (in `/etc/systemd/system`, enabled):
  `ExecStartPre=/usr/sbin/modprobe vfs_monitor` fails (no such module), `ExecStopPost=/usr/sbin/rmmod vfs_monitor`
  fails too, `Restart=always`, `RestartSec=5`: the unit never reaches `start-limit-hit` and loops forever.
- **Timer unit failing on every run.** `/etc/logrotate.d/clink-agent` has `} extra` on line 8 and
  `/etc/logrotate.d/mirror-printer` rotates `/var/log/mirror/printer/printer.log` in a `chmod 777` directory.
  A drop-in makes `logrotate.timer` fire every 30 s (the seed's vendor timer was hourly);
  Debian's `logrotate.service` fails with result `exit-code` on every run.

Exact files: `units/` (paths mirror the container's).""",
    "controls": """\
Healthy cases a loop detector must NOT flag (a separate boot of the same lab):

- `flaky-once.service`: oneshot, fails on its first start, succeeds on its second start 10 s later.
- `healthy-daemon.service`: long-running (`sleep infinity`), restarted by hand (`systemctl restart`) 3 times, 10 s apart.
- `logrotate.service`: a normal, successful run (valid `/etc/logrotate.d/clink-agent`, secure directories),
  started by hand 3 times, 20 s apart; `logrotate.timer` left daily.
- avahi-daemon disabled on purpose (`systemctl disable --now avahi-daemon.service avahi-daemon.socket`, which also
  removes the alias), and nobody calls `org.freedesktop.Avahi`.
- `fail-once.service`: an ordinary unit that fails exactly once (exit status 3), `Restart=no`.

Exact files: `units/` (paths mirror the container's).""",
}


def versions(lab: Lab) -> dict[str, str]:
    def first(*cmd):
        r = lab.run(*cmd, check=False, record=False)
        return ((r.stdout or r.stderr).strip().splitlines() or ["?"])[0]
    return {
        "systemd": first("systemctl", "--version"),
        "dbus-daemon": first("dbus-daemon", "--version"),
        "logrotate": first("logrotate", "--version"),
        "kmod": first("kmod", "--version"),
        "avahi-daemon": first("avahi-daemon", "--version"),
        "os": first("sh", "-c", ". /etc/os-release; echo \"$PRETTY_NAME\""),
        "kernel (shared with the host)": first("uname", "-r"),
    }


def fmt_ts(epoch: float, precise: bool = False) -> str:
    fmt = "%Y-%m-%d %H:%M:%S.%f UTC" if precise else "%Y-%m-%d %H:%M:%S UTC"
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime(fmt)


def write_manifest(out_dir: Path, scenario: str, meta: dict) -> None:
    jinfo = meta["journal"]
    tcounts = meta["text_counts"]
    s = meta["structured"]
    lines = [
        f"# Lab recording: {scenario}",
        "",
        f"Recorded by `examples/record_lab.py` on {meta['date']} (command: `{meta['command']}`).",
        "",
        DESCRIPTIONS[scenario],
        "",
        "## Environment",
        "",
    ]
    for k, v in meta["versions"].items():
        lines.append(f"- {k}: `{v}`")
    lines += [
        f"- machine-id (fresh, container): `{meta['machine_id']}`; boot ID: `{meta['boot_id']}`",
        f"- container boot to `{meta['system_state']}`: {meta['boot_seconds']:.1f} s",
        f"- recording window: {fmt_ts(meta['t_start'])} to {fmt_ts(meta['t_end'])} "
        f"({(meta['t_end'] - meta['t_start']) / 60:.2f} min after setup; the journal runs from boot to the end "
        f"of the window, the container's shutdown afterwards is not included)",
        f"- `systemctl is-system-running` at the end: `{meta['state']['is_system_running']}`; failed units: "
        + (", ".join(f"`{l.split()[0]}`" for l in meta["state"]["failed_units"] if l.strip()) or "none"),
        "",
        "## Files",
        "",
        f"- `journal/system.journal`: the container's whole journal (system + user journals, merged) from boot to "
        f"the end of the window, {jinfo['size']:,} bytes: `journalctl -D <container journal dir> "
        f"--until=@{meta['until']} -o export | systemd-journal-remote -o system.journal -`, run "
        f"{jinfo['remote_how']} so that it sizes its hash table for a small file; then the preallocated empty tail "
        f"was cut as journald does for archived files ({jinfo['size_before_truncate']:,} -> {jinfo['size']:,} bytes). "
        f"`journalctl --verify`: rc {jinfo['verify_rc']}. Lines (`-o short-iso`): source {jinfo['source_lines']}, "
        f"file {jinfo['out_lines']}.",
        "- `journal.short-iso.txt`, `journal.short.txt`: `journalctl --file journal/system.journal -o short-iso` / "
        "`-o short` (TZ=UTC).",
        ("- `journal.export`: `-o export` of the same file "
         f"({jinfo['export_bytes']:,} bytes)." if jinfo["export_saved"] else
         f"- `journal.export` not saved: {jinfo['export_bytes']:,} bytes is over the 2 MB limit."),
        "- `unit-state.json`: `systemctl show` of the key units, `is-enabled`, `list-units --all`, captured "
        f"from {fmt_ts(meta['t_snap'], True)} to {fmt_ts(meta['t_end'], True)}, where the journal ends (before "
        "shutdown). A restart inside those "
        f"{(meta['t_end'] - meta['t_snap']) * 1000:.0f} ms can appear in the journal but not in `NRestarts`.",
        "- `systemctl-status.txt`: `systemctl status` of the key units at the same moment.",
        "- `units/`: the unit files, drop-ins and logrotate configs installed for this scenario.",
        "",
        "## Key lines (counted in `journal.short-iso.txt`)",
        "",
        "| what | substring | count |",
        "|---|---|---|",
    ]
    for label, pat, n in tcounts:
        cell = pat.replace("|", "\\|")
        lines.append(f"| {label} | `{cell}` | {n} |")
    lines += [
        "",
        "## Structured counts (from the export fields; systemd lines only with trusted `_PID=1`, `_UID=0`)",
        "",
        "```json",
        json.dumps(s, indent=2, ensure_ascii=False),
        "```",
        "",
        "## Unit state at the end of the window",
        "",
        "| unit | load | active/sub | result | NRestarts | unit file state |",
        "|---|---|---|---|---|---|",
    ]
    for u, p in meta["state"]["units"].items():
        lines.append(f"| {u} | {p.get('LoadState', '')} | {p.get('ActiveState', '')}/{p.get('SubState', '')} | "
                     f"{p.get('Result', '')} | {p.get('NRestarts', '')} | {meta['state']['is_enabled'].get(u, '')} |")
    lines += ["", "## Notes", ""]
    lines += [f"- {n}" for n in meta["notes"]]
    if meta["problems"]:
        lines += ["", "## Expectation check FAILED", ""] + [f"- {p}" for p in meta["problems"]]
    else:
        lines += ["", "Expectation check: all expected counts hold (" +
                  "; ".join(f"{k} {v}" for k, v in EXPECT[scenario].items()) + ")."]
    lines += ["", "## Commands run (inside the container via `nsenter -t LEADER -a`, in order)", "", "```"]
    lines += meta["commands"]
    lines += ["```", ""]
    (out_dir / "MANIFEST.md").write_text("\n".join(lines))


# --------------------------------------------------------------------------------------------------
# One scenario = one boot
# --------------------------------------------------------------------------------------------------


def record(scenario: str, minutes: float, out_root: Path, command: str) -> list[str]:
    out_dir = out_root / scenario
    lab = Lab(f"ua-{scenario}-{os.getpid()}")
    staging = Path(tempfile.mkdtemp(prefix=f"unitaudit-journal-{scenario}-"))
    installed: dict[str, str] = {}
    notes: list[str] = []
    meta: dict = {"command": command}
    try:
        try:
            lab.boot()
            meta["versions"] = versions(lab)
            meta["boot_id"] = lab.run("cat", "/proc/sys/kernel/random/boot_id", record=False).stdout.strip()
            if scenario == "seed-loops":
                setup_seed_loops(lab, installed, notes)
            else:
                setup_controls(lab, installed, notes)
            t_start = time.time()
            log(f"{scenario}: set up; recording for {minutes} min")
            if scenario == "controls":
                controls_timeline(lab, t_start, notes)
            t_stop = t_start + minutes * 60
            while time.time() < t_stop:
                sleep_until(min(t_stop, time.time() + 30))
                if scenario == "seed-loops":
                    r = lab.run("systemctl", "show", "-p", "SubState,NRestarts", "deepin-anything-monitor.service",
                                check=False, record=False)
                    log(f"seed-loops: {int(t_stop - time.time())} s left; deepin-anything-monitor "
                        + r.stdout.strip().replace("\n", " "))
            t_snap = time.time()
            meta["state"] = snapshot_state(lab, scenario)
            lab.run("journalctl", "--sync", check=False, record=False)
            # the journal is cut here (--until, microseconds): the state snapshot lies inside it
            t_end = time.time()
            meta.update(t_start=t_start, t_snap=t_snap, t_end=t_end, until=f"{t_end:.6f}")
            log(f"{scenario}: stopping the container (clean halt, journald closes its files)")
            lab.shutdown(timeout=30)
            src = lab.journal_dir()
            shutil.copytree(src, staging / "journal")
            meta.update(machine_id=lab.machine_id, boot_seconds=lab.boot_seconds,
                        system_state=lab.system_state, commands=list(lab.commands))
        finally:
            lab.teardown()
            left = mounted_under(str(lab.dir)) if lab.dir else []
            log(f"findmnt after teardown: {'CLEAN' if not left else left}")

        # outputs (the lab is gone; everything below reads the copied, offline journal files)
        out_dir.mkdir(parents=True, exist_ok=True)
        for old in ("unit-state.json", "systemctl-status.txt", "MANIFEST.md"):
            (out_dir / old).unlink(missing_ok=True)
        units_dir = out_dir / "units"
        if units_dir.exists():
            shutil.rmtree(units_dir)
        for path, text in installed.items():
            p = units_dir / path.lstrip("/")
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        jinfo = build_journal(staging / "journal", meta["until"], out_dir)
        entries = jinfo.pop("entries")
        if jinfo["source_lines"] != jinfo["out_lines"]:
            notes.append(f"LINE COUNT MISMATCH: source {jinfo['source_lines']} vs file {jinfo['out_lines']}")
        if jinfo["size"] > JOURNAL_TARGET_BYTES:
            notes.append(f"journal file is {jinfo['size']:,} bytes, over the ~3 MB target")
        state = meta["state"]
        (out_dir / "systemctl-status.txt").write_text(state.pop("status_text"))
        (out_dir / "unit-state.json").write_text(json.dumps(
            {"captured_from": fmt_ts(meta["t_snap"], True), "captured_to": fmt_ts(meta["t_end"], True),
             **state}, indent=2, ensure_ascii=False) + "\n")
        text = (out_dir / "journal.short-iso.txt").read_text(errors="replace")
        meta.update(
            journal=jinfo, text_counts=text_counts(text), structured=structured_counts(entries),
            notes=notes, date=fmt_ts(meta["t_start"]),
        )
        meta["problems"] = check_expectations(scenario, meta["text_counts"])
        if jinfo["source_lines"] != jinfo["out_lines"] or jinfo["verify_rc"] != 0:
            meta["problems"].append(f"journal check: lines {jinfo['source_lines']}/{jinfo['out_lines']}, "
                                    f"verify rc {jinfo['verify_rc']}: {jinfo['verify_out']}")
        write_manifest(out_dir, scenario, meta)
        for label, _, n in meta["text_counts"]:
            log(f"{scenario}: {label}: {n}")
        log(f"{scenario}: journal {jinfo['size']:,} bytes, lines {jinfo['source_lines']}/{jinfo['out_lines']}, "
            f"verify rc {jinfo['verify_rc']}")
        return [f"{scenario}: {p}" for p in meta["problems"]]
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=4.0, help="seed-loops recording window (default 4)")
    ap.add_argument("--controls-minutes", type=float, default=1.5, help="controls window (default 1.5, min 1)")
    ap.add_argument("--scenario", choices=("all", "seed-loops", "controls"), default="all")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                    help="output directory (default: the script's directory, examples/)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("record_lab.py: must run as root (mount, systemd-nspawn, nsenter)", file=sys.stderr)
        return 2
    missing = [b for b in ("systemd-nspawn", "nsenter", "journalctl", "busctl", "modprobe", "logrotate",
                           "avahi-daemon", "dbus-daemon") if shutil.which(b, path=HOST_ENV["PATH"]) is None]
    if not os.access(JOURNAL_REMOTE, os.X_OK):
        missing.append(JOURNAL_REMOTE)
    if missing:
        print(f"record_lab.py: missing: {', '.join(missing)} (packages systemd-container, dbus, kmod, "
              f"logrotate, avahi-daemon, systemd-journal-remote)", file=sys.stderr)
        return 3
    busy = other_nspawn_running()
    if busy:
        print(f"record_lab.py: another systemd-nspawn is running (pids {busy}); one lab at a time",
              file=sys.stderr)
        return 3

    def on_term(signum, frame):
        raise Interrupted(f"signal {signum}")
    # SIGINT too: a background job of a non-interactive shell starts with SIGINT ignored
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_term)

    command = "python3 -m examples.record_lab " + " ".join(shquote(a) for a in sys.argv[1:])
    scenarios = ["seed-loops", "controls"] if args.scenario == "all" else [args.scenario]
    problems = []
    try:
        for sc in scenarios:
            minutes = args.minutes if sc == "seed-loops" else max(1.0, args.controls_minutes)
            problems += record(sc, minutes, args.out.resolve(), command)
    except (KeyboardInterrupt, Interrupted) as e:
        print(f"record_lab.py: interrupted ({e or 'SIGINT'}); lab torn down", file=sys.stderr)
        return 130
    if problems:
        print("record_lab.py: expectation check FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    log("all expectations hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
