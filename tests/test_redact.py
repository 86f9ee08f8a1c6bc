"""collect --redact: host names, user names and addresses replaced consistently, on the lab's
recorded journal (host `vm`, user `deepin`) and on captured syslog pastes, so that a scan of the
redacted text finds the same loops under the new names.  Nothing else may change: the redacted
text, its tokens put back, must be the original to the byte."""
import json
import os
import re
import stat
import time
from dataclasses import replace

import pytest

from builders import example, fixture
from unitaudit.collect.redact import ADDRESS_RE, Redactor, human_users, word_pattern
from unitaudit.errors import BundleError, UsageError
from unitaudit.model import Thresholds
from unitaudit.services.scan import scan
from unitaudit.sources.journal import JournalSource
from unitaudit.sources.journal.export import entries
from unitaudit.sources.textlog import TextLogSource

EXPORT = example("seed-loops", "journal.export")
SHORT_ISO = example("seed-loops", "journal.short-iso.txt")
LAB_HOST, LAB_USER = "vm", "deepin"  # _HOSTNAME= of every entry; the user MANIFEST.md names
LAB_ADDRESSES = ("192.0.2.2", "fd00::2")  # avahi's "Registering new address record for ..."
LAB_END = 1795611693.020156  # MANIFEST.md: the recording window's end


def lab_redactor() -> Redactor:
    return Redactor(hosts=[LAB_HOST], users=[LAB_USER])


def redact_export(redactor: Redactor, path) -> bytes:
    """The export written back field by field, each value through data(), as collect writes it."""
    out = bytearray()
    with open(str(path), "rb") as f:
        for entry in entries(f, str(path)):
            for name, values in entry.items():
                for value in values:
                    value = redactor.data(value)
                    if b"\n" in value:
                        out += name + b"\n" + len(value).to_bytes(8, "little") + value + b"\n"
                    else:
                        out += name + b"=" + value + b"\n"
            out += b"\n"
    return bytes(out)


def restore(redacted: str, mapping) -> str:
    """The tokens of `mapping` put back (hosts in the lower case the mapping keeps them in)."""
    names = {t: o for kind in ("hosts", "users") for o, t in mapping[kind].items()}
    text = word_pattern(names).sub(lambda m: names[m.group(0)], redacted)
    addresses = {t: o for o, t in mapping["addresses"].items()}
    if not addresses:
        return text
    body = "|".join(re.escape(t) for t in sorted(addresses, key=len, reverse=True))
    tokens = re.compile(r"(?<![0-9A-Fa-f.:])(?:%s)(?![0-9A-Fa-f]|\.[0-9])" % body)
    return tokens.sub(lambda m: addresses[m.group(0)], text)


# -- the word rule --------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("/home/deepin/x", "/home/user-1/x"),
    ("user deepin", "user user-1"),
    ("(deepin)", "(user-1)"),
    ("uid=1000(deepin)", "uid=1000(user-1)"),
    ("deepin:", "user-1:"),
    ("session opened for deepin.", "session opened for user-1."),
    ("deepin-anything-monitor.service", "deepin-anything-monitor.service"),
    ("deepin.service", "deepin.service"),
    ("xdeepin", "xdeepin"),
    ("Deepin", "Deepin"),  # user names exactly
    ("com.deepin.dde.Welcome", "com.deepin.dde.Welcome"),
])
def test_a_user_name_matches_as_a_whole_word_only(text, expected):
    assert lab_redactor().text(text) == expected
    assert bool(word_pattern([LAB_USER]).search(text)) == (expected != text)


def test_unit_names_holding_the_user_name_are_left_as_they_are():
    original = EXPORT.read_bytes()
    redacted = redact_export(lab_redactor(), EXPORT)
    for unit in (b"deepin-anything-monitor.service", b"deepin-system-monitor-sim.service", b"deepin-system-monitor"):
        assert redacted.count(unit) == original.count(unit) > 10
    assert b"home=/home/user-1," in redacted and b"name=user-1, UID=1001" in redacted


def test_host_names_match_in_any_case_fqdn_and_first_label_alike():
    r = Redactor(hosts=["Web03.bitpitt.com"])
    path = fixture("captured", "corpus", "busrot-047-status-ssh-ascii-fallback-reload-fail.txt")
    original = path.read_text()
    redacted = r.text(original)
    assert r.mapping()["hosts"] == {"web03.bitpitt.com": "host-1", "web03": "host-1"}
    assert "root@host-1:~#" in redacted and "host-1 sshd-session[62495]" in redacted
    assert not word_pattern(["web03.bitpitt.com", "web03"], ignore_case=True).search(redacted)
    assert r.text("WEB03 web03.BitPitt.COM.") == "host-1 host-1."
    assert r.text("web03.example.org vm.web03") == "web03.example.org vm.web03"  # another machine's names


def test_localhost_is_never_redacted():
    path = fixture("captured", "rsyslog-rfc3339-hiprec-plus0800-docker-host.txt")
    r = Redactor(hosts=["localhost.localdomain"], users=[])
    assert r.text(path.read_text()) == path.read_text()
    assert r.mapping()["hosts"] == {}


def test_longest_names_first():
    r = Redactor(hosts=["ip-10-0-4-236"], users=["ip", "ip-10"])
    path = fixture("captured", "rhcos-239-journal-json-pretty-bootkube-loop.txt")
    redacted = r.text(path.read_text())
    assert '"_HOSTNAME" : "host-1"' in redacted and "ip-10-0-4-236" not in redacted
    assert r.mapping()["users"] == {}


# -- addresses ------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "1.14.10", "252.39.1.2.3", "systemd 252 (252.39-1~deb12u2)", "kernel-4.19.0.6", "v1.2.3.4",
    "12:57:32", "2026-11-25T13:01:33.020156+0000", "52:54:00:12:34:5",
    "__CURSOR=s=45b225683c584493b21dfa286c23f820;i=1;b=d49fd7e6d98f46f3ba52e7e5f0d57226;m=67e50b37;t=661195e9f2800",
    "d49fd7e6-d98f-46f3-ba52-e7e5f0d57226", "/devices/pci0000:00/0000:00:1c.0/0000:01", "std::string a::b",
    "0.0.0.0:10002", "127.0.0.1", "255.255.255.255", "netmask 255.255.255.0", "224.0.0.251", "::", "[::1]:53",
    "1.0.0.127.in-addr.arpa", "137.227.165.in-addr.arpa", "ff02::fb", "00:00:00:00:00:00",
    "43:51:43:a1:b5:fc:8b:b7:0a:3a:a9:b1:0f:66:73:a8",  # an ssh key's MD5 fingerprint: 16 groups
])
def test_what_is_no_address_or_identifies_nobody_is_left(text):
    assert Redactor().text(text) == text


@pytest.mark.parametrize("text, expected", [
    ("10.0.2.15", "198.18.0.1"),
    ("10.0.2.15:53", "198.18.0.1:53"),
    ("from 165.227.137.94#53: connected using 10.0.0.4#54200", "from 198.18.0.1#53: connected using 198.18.0.2#54200"),
    ("range 10.0.0.100-10.0.0.200.", "range 198.18.0.1-198.18.0.2."),
    ("PTR 4.2.188.218.in-addr.arpa", "PTR 1.0.18.198.in-addr.arpa"),
    ("fe80::1%eth0", "2001:db8::1%eth0"),
    ("[2001:db8::5]:443", "[2001:db8::1]:443"),
    ("2001:DB8:0:0::5 2001:db8::5", "2001:db8::1 2001:db8::1"),
    ("connect to fe80::1: refused", "connect to 2001:db8::1: refused"),
    ("::ffff:10.0.0.1 10.0.0.1", "::ffff:198.18.0.1 198.18.0.1"),
    ("2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:db8::1"),
    ("ff02::1:ff12:3456", "ff02::1:ff00:1"),
    ("link/ether 52:54:00:12:34:56 brd ff:ff:ff:ff:ff:ff", "link/ether 02:00:00:00:00:01 brd ff:ff:ff:ff:ff:ff"),
    ("MAC=52:54:00:12:34:56:52:54:00:AB:CD:EF:08:00 SRC=192.168.1.9",
     "MAC=02:00:00:00:00:01:02:00:00:00:00:02:08:00 SRC=198.18.0.1"),
    ("198.18.0.2 10.1.1.1 198.18.0.1", "198.18.0.1 198.18.0.2 198.18.0.3"),  # tokens never shared
])
def test_addresses_become_tokens_of_their_own_grammar(text, expected):
    assert Redactor().text(text) == expected


def test_captured_syslog_addresses_are_all_replaced_ports_and_times_kept():
    r = Redactor(hosts=["ns2", "combo", "dietrpi4b"])
    names = ("locale-047-tr-named-clean-start-html-escaped.txt", "busrot-014-loghub-linux-cron-logrotate-alert-nightly.txt",
             "restart-025-timesyncd-bg-clean-restarts.txt")
    for name in names:
        original = fixture("captured", "corpus", name).read_text()
        redacted = r.text(original)
        assert restore(redacted, r.mapping()) == original
        assert [m.group(0) for m in ADDRESS_RE.finditer(redacted) if not m.group(0).startswith("198.18.")] == []
    seen = r.mapping()["addresses"]
    assert set(seen) == {"165.227.137.94", "10.0.0.4", "40.121.48.54", "218.188.2.4", "77.236.182.128", "91.210.88.37"}
    assert sorted(seen.values()) == ["198.18.0.%d" % n for n in range(1, 7)]
    assert "time server 198.18.0.5:123 (0.debian.pool.ntp.org)" in r.text(original)


# -- the lab's journal: nothing left, nothing else changed, the same findings -------------------
def test_the_lab_export_keeps_no_name_or_address_and_changes_nothing_else():
    r = lab_redactor()
    original = EXPORT.read_bytes().decode("utf-8", "surrogateescape")
    redacted = redact_export(r, EXPORT).decode("utf-8", "surrogateescape")
    assert not word_pattern([LAB_HOST], ignore_case=True).search(redacted)
    assert not word_pattern([LAB_USER]).search(redacted)
    assert all(a not in redacted for a in LAB_ADDRESSES)
    assert r.mapping() == {"hosts": {"vm": "host-1"}, "users": {"deepin": "user-1"},
                           "addresses": {"fd00::2": "2001:db8::1", "192.0.2.2": "198.18.0.1"}}
    assert redacted.count("_HOSTNAME=host-1\n") == original.count("_HOSTNAME=vm\n") == 714
    assert restore(redacted, r.mapping()) == original  # cursors, boot IDs, times, versions, units


def test_one_token_per_value_across_calls_members_text_and_data():
    r = lab_redactor()
    redact_export(r, EXPORT)
    first = r.mapping()
    text = r.text(SHORT_ISO.read_text())
    assert r.mapping() == first  # the text member met the same values and got the same tokens
    assert text.count(" host-1 ") == 714
    assert "for 198.18.0.1 on eth0.IPv4" in text and "for 2001:db8::1 on eth0.*" in text
    assert r.data(b"uid=1001(deepin) on vm at 192.0.2.2") == b"uid=1001(user-1) on host-1 at 198.18.0.1"
    assert r.text("uid=1001(deepin) on vm at 192.0.2.2") == "uid=1001(user-1) on host-1 at 198.18.0.1"


@pytest.mark.parametrize("source", ["export", "text"])
def test_a_scan_of_the_redacted_journal_finds_the_same_loops(tmp_path, source):
    r = lab_redactor()
    if source == "export":
        (tmp_path / "journal.export").write_bytes(redact_export(r, EXPORT))
        before, after = JournalSource(export=str(EXPORT)), JournalSource(export=str(tmp_path / "journal.export"))
    else:
        (tmp_path / "log.txt").write_text(r.text(SHORT_ISO.read_text()))
        before, after = TextLogSource(str(SHORT_ISO)), TextLogSource(str(tmp_path / "log.txt"))
    found = scan([before], Thresholds(), now=LAB_END).findings
    again = scan([after], Thresholds(), now=LAB_END).findings
    assert {(f.kind.value, f.unit) for f in found} == {
        ("restart-loop", "deepin-anything-monitor.service"), ("activation-loop", "dbus-org.freedesktop.Avahi.service"),
        ("repeated-failure", "logrotate.service")}
    assert [f.host for f in again] == ["host-1"] * 3 and [f.host for f in found] == ["vm"] * 3
    # the text scan quotes its lines as evidence: the same lines but for the names
    assert [replace(g, host=f.host, id=f.id, evidence=tuple(restore(line, r.mapping()) for line in g.evidence))
            for f, g in zip(found, again)] == list(found)


def test_values_that_are_not_utf8_keep_every_byte():
    r = lab_redactor()
    value = b"\xff\xfe deepin\x00vm\n\xc3(\x80 192.0.2.2 \xe9deepin\xe9 \xc3\xa9"
    assert r.data(value) == b"\xff\xfe user-1\x00host-1\n\xc3(\x80 198.18.0.1 \xe9user-1\xe9 \xc3\xa9"
    raw = bytes(range(256)) * 4
    assert r.data(raw) == raw


def test_the_fast_address_pass_is_the_regex_tried_everywhere():
    """text() tries ADDRESS_RE only before separators: on every captured text it must replace
    exactly what ADDRESS_RE.sub does."""
    paths = sorted(fixture("captured").rglob("*.txt")) + [SHORT_ISO, EXPORT]
    for path in paths:
        text = path.read_bytes().decode("utf-8", "surrogateescape")
        plain = Redactor()
        assert Redactor().text(text) == ADDRESS_RE.sub(plain._address, text), path


def test_the_benchmark_range_running_out_is_an_error_not_a_shared_token():
    r = Redactor()
    many = " ".join("10.%d.%d.%d" % (n >> 16, n >> 8 & 255, n & 255) for n in range(1, 131071))
    r.text(many)
    assert r.text("10.0.0.1") == "198.18.0.1" and r.text("10.1.255.254") == "198.19.255.254"
    with pytest.raises(BundleError, match="198.18.0.0/15"):
        r.text("192.168.0.1")


def test_time_grows_linearly_with_the_journal():
    """Eight journals in one text take about eight times as long as one: a quadratic pass (a
    regex backtracking over the whole value) would take 64 times.  Bound loose for busy machines."""
    one = EXPORT.read_bytes().decode("utf-8", "surrogateescape")
    eight = one * 8
    r = lab_redactor()
    r.text(one)

    def seconds(text, times):
        best = float("inf")
        for _ in range(times):
            start = time.perf_counter()
            r.text(text)
            best = min(best, time.perf_counter() - start)
        return best

    assert seconds(eight, 3) < 8 * 3 * seconds(one, 5)


# -- the mapping file -----------------------------------------------------------------------------
def test_the_mapping_is_written_0600_whole_and_never_over_a_file(tmp_path):
    r = lab_redactor()
    r.text("vm deepin 192.0.2.2")
    path = tmp_path / "redaction-map.json"
    old = os.umask(0)
    try:
        r.write_mapping(str(path))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == r.mapping()
    r.text("10.9.9.9")
    with pytest.raises(UsageError, match="already exists"):
        r.write_mapping(str(path))
    assert json.loads(path.read_text())["addresses"] == {"192.0.2.2": "198.18.0.1"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["redaction-map.json"]  # no temporary left


def test_the_mapping_is_refused_inside_the_bundle(tmp_path):
    bundle = tmp_path / "unitaudit-bundle-host-1-20261125T130133Z"
    (bundle / "root").mkdir(parents=True)
    (tmp_path / "link").symlink_to(bundle)
    for path in (bundle / "map.json", bundle / "root" / "map.json", tmp_path / "link" / "map.json"):
        with pytest.raises(UsageError, match="stay on this machine"):
            lab_redactor().write_mapping(str(path), bundle_dir=str(bundle))
    lab_redactor().write_mapping(str(tmp_path / "map.json"), bundle_dir=str(bundle))
    assert list(bundle.rglob("*.json")) == []


# -- who is a person ------------------------------------------------------------------------------
# Debian's base-passwd passwd.master (first and last lines), then the account the lab's journal
# records ("new user: name=deepin, UID=1001, GID=1001, home=/home/deepin, shell=/bin/bash") as
# useradd writes it, then NIS compat lines.
PASSWD = """root:*:0:0:root:/root:/bin/sh
daemon:*:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:*:2:2:bin:/bin:/usr/sbin/nologin
nobody:*:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
deepin:x:1001:1001::/home/deepin:/bin/bash
+alice::::::
-bob:x:1002:1002::/home/bob:/bin/bash
"""
# Debian's /etc/login.defs, the lines about UIDs
LOGIN_DEFS = """#
# Min/max values for automatic uid selection in useradd(8)
#
UID_MIN			 1000
UID_MAX			60000
# System accounts
#SYS_UID_MIN		  101
#SYS_UID_MAX		  999
"""


def test_human_users_are_those_in_the_uid_range_of_login_defs():
    assert human_users(PASSWD, LOGIN_DEFS) == ["deepin"]
    assert human_users(PASSWD, None) == ["deepin"]
    assert human_users(PASSWD, "UID_MIN 500\nUID_MAX 0x10000\n") == ["nobody", "deepin"]
    assert human_users(PASSWD, "UID_MIN 1002\n") == []
    assert human_users(PASSWD + "deepin:x:1001:1001::/home/deepin:/bin/bash\nbroken:x:12x:1\n", LOGIN_DEFS) == ["deepin"]
