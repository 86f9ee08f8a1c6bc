"""Host names, user names and addresses replaced in what `unitaudit collect --redact` writes.

A redacted bundle must scan to the same findings, so each token keeps the grammar of what it
replaces, and a value gets the same token everywhere (every member, text or journal field):
hosts `host-1`..., users `user-1`..., IPv4 198.18.0.1... (RFC 2544's benchmark range), IPv6
2001:db8::1... (RFC 3849), MACs 02:00:00:00:00:01... (locally administered), numbered in the
order first seen.  Every value found is replaced, one already in a token range too, so two
values never share a token.

Host and user names match only as whole words, the characters of a name being [A-Za-z0-9_.-]:
no match after one of them, nor before a letter, digit or "_", or before a "." or "-" that
another name character follows.  The Deepin lab's user is `deepin` and its units are
`deepin-anything-monitor.service`: a unit named after the user is not the user, and renaming it
would make the scan report another unit.  So "/home/deepin/x", "user deepin", "(deepin)",
"uid=1000(deepin)", "deepin:" and a sentence's final "deepin." match; "deepin-anything",
"deepin.service" and "xdeepin" do not.  Longest names first (an FQDN before its first label,
both one machine, one token); hosts in any case, users exactly; a name that is both gets the
host token.  "localhost" and "localhost.localdomain" are every machine's: never redacted.

Kept, because they identify nobody and the tools' own messages use them: 0.0.0.0, 127.0.0.0/8,
255.255.255.255 and every netmask, multicast groups (224.0.0.0/4, ff00::/8; a solicited-node
group carries 24 bits of a host's address: it becomes ff02::1:ff00:1...), ::, ::1, and the MACs
00:00:00:00:00:00 and ff:ff:ff:ff:ff:ff.  IPv4 is four decimal parts of at most 255, never
inside a longer dotted run or after "letter-" ("1.14.10", "252.39.1.2.3", "kernel-4.19.0.6"
are versions); a reversed address before ".in-addr.arpa" is redacted as the address it spells,
a partial one (zone 137.227.165.in-addr.arpa) is not.  IPv6 is eight groups or a form with
"::" holding a digit ("a::b" is C++), with its zone kept ("fe80::1%eth0") or in brackets; times
("13:01:33.020156"), PCI addresses, cursors, boot IDs and hashes never match.  A MAC is six
two-digit hex groups; iptables' MAC= (destination, source, ethertype) has its two replaced.
"""
import ipaddress
import json
import os
import re
from typing import Callable, Dict, Iterable, List, Optional, Pattern, Tuple

from unitaudit.errors import BundleError, UsageError
from unitaudit.util.files import fsync_dir, temp_name, unlink_quietly, write_all

NAME_CHARS = "A-Za-z0-9_.-"
# a sentence's full stop or a dash before a space is not part of the word before it
_WORD_AFTER = r"(?![A-Za-z0-9_]|[.-][%s])" % NAME_CHARS
NEVER_REDACTED_HOSTS = frozenset(("localhost", "localhost.localdomain"))

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_QUAD = r"%s(?:\.%s){3}" % (_OCTET, _OCTET)
_H16 = r"[0-9A-Fa-f]{1,4}"
_V6 = (r"(?:(?:{h}:){{7}}{h}|(?:{h}:){{6}}{q}"
       r"|(?:{h}(?::{h}){{0,6}})?::(?:(?:{h}:){{0,5}}{q}|{h}(?::{h}){{0,6}})?)").format(h=_H16, q=_QUAD)
# One pass finds every kind of address.  IPv6 is tried first: eight two-digit groups are an
# IPv6 address, six (or iptables' 14) a MAC run, which IPv6 cannot match (no "::", not 8).
# The IPv4 guards: not after a name character, nor after "letter-" (a package version
# "kernel-4.19.0.6"); not before a name character, ".digit" (a fifth part) or "-letter".
ADDRESS_RE = re.compile(
    r"(?<![A-Za-z0-9_.:])(?:(?P<v6>{v6})(?P<zone>%[A-Za-z0-9_.-]{{1,64}})?"
    r"|(?P<mac>[0-9A-Fa-f]{{2}}(?::[0-9A-Fa-f]{{2}}){{5,13}}))"
    r"(?![A-Za-z0-9_]|:[0-9A-Fa-f:]|\.[A-Za-z0-9_])"
    r"|(?<![A-Za-z0-9_.])(?<![A-Za-z_]-)(?P<v4>{q})(?P<arpa>\.in-addr\.arpa)?"
    r"(?![A-Za-z0-9_]|\.[A-Za-z0-9_]|[-+~][A-Za-z])".format(v6=_V6, q=_QUAD), re.ASCII)

# the first separator of an address: after a hex digit and before a hex digit or ":", or "::"
_SEPARATOR = re.compile(r"[.:](?:(?<=[0-9A-Fa-f].)(?=[0-9A-Fa-f:])|(?<=:)(?=:))", re.ASCII)
_HEX = frozenset("0123456789abcdefABCDEF")

_V4_TOKENS = ipaddress.IPv4Network("198.18.0.0/15")
_V6_TOKENS = ipaddress.IPv6Address("2001:db8::")
_SOLICITED_NODE = ipaddress.IPv6Network("ff02::1:ff00:0/104")
_CACHE_LIMIT = 1 << 20  # distinct matched strings remembered with their replacement


def word_pattern(names: Iterable[str], ignore_case: bool = False) -> Pattern:
    """The whole-word rule of the module docstring for `names`, longest first: what redaction
    replaces, and what a test searches a redacted bundle with (the same rule, so a name the
    redaction leaves inside a unit name is not counted as leaked).  Matches nothing if no name."""
    return _words_pattern([(n, ignore_case) for n in names])


def _words_pattern(names: "List[Tuple[str, bool]]") -> Pattern:
    """(name, in any case?) pairs as one pattern.  It begins with the class of the names' first
    characters, which the regex engine scans for in C (twice as fast as a pattern that begins
    with the lookbehind on Python 3.7): each alternative checks its first character, then the
    rest, then looks behind its whole length for a name character before it."""
    ordered = sorted({(n, ci) for n, ci in names if n}, key=lambda p: (-len(p[0]), p))
    if not ordered:
        return re.compile(r"(?!)")
    firsts, alternatives = set(), []
    for name, ignore_case in ordered:
        first = {name[0].lower(), name[0].upper()} if ignore_case else {name[0]}
        firsts |= first
        rest = re.escape(name[1:])
        alternatives.append("(?<=[%s])%s(?<![%s].{%d})" % (
            "".join(re.escape(c) for c in sorted(first)), "(?i:%s)" % rest if ignore_case and rest else rest,
            NAME_CHARS, len(name)))
    return re.compile("[%s](?:%s)%s" % ("".join(re.escape(c) for c in sorted(firsts)), "|".join(alternatives),
                                         _WORD_AFTER), re.ASCII)


def _host_names(hosts: Iterable[str]) -> Dict[str, str]:
    """Each name the machine goes by (lower case) -> the name its token is kept under: an FQDN
    and its first label are one machine, one token."""
    out: Dict[str, str] = {}
    for host in hosts:
        fqdn = host.strip().rstrip(".").lower()
        if not fqdn or fqdn in NEVER_REDACTED_HOSTS:
            continue
        out.setdefault(fqdn, fqdn)
        label = fqdn.split(".", 1)[0]
        if label and label not in NEVER_REDACTED_HOSTS:
            out.setdefault(label, out[fqdn])
    return out


def _v4_identifies_nobody(text: str) -> bool:
    value = int(ipaddress.IPv4Address(text))
    host_bits = ~value & 0xFFFFFFFF  # a netmask is ones then zeros: 0.0.0.0 and 255.255.255.255 too
    return value >> 24 == 127 or value >> 28 == 0xE or host_bits & (host_bits + 1) == 0


def _v6_identifies_nobody(address: ipaddress.IPv6Address) -> bool:
    if address.is_unspecified or address.is_loopback:
        return True
    return address.is_multicast and address not in _SOLICITED_NODE


class Redactor:
    """Replaces the machine's host names, the given user names and every address that
    identifies someone, consistently across all calls; `mapping()` says what became what."""

    def __init__(self, hosts: Iterable[str] = (), users: Iterable[str] = ()) -> None:
        self._hosts = _host_names(hosts)
        self._users = {u for u in users if u}
        self._names_re = _words_pattern([(h, True) for h in self._hosts] +
                                        [(u, False) for u in self._users - set(self._hosts)])
        # one numbering per token kind; what became what, by the mapping's three kinds
        self._tokens: Dict[str, Dict[str, str]] = {k: {} for k in ("hosts", "users", "v4", "v6", "sn", "mac")}
        self._shown: Dict[str, Dict[str, str]] = {"hosts": {}, "users": {}, "addresses": {}}
        self._cache: Dict[str, str] = {}

    # -- the two entry points ------------------------------------------------------------------
    def text(self, s: str) -> str:
        s = self._names_re.sub(self._name, s)
        return self._addresses(s) if "." in s or ":" in s else s

    def _addresses(self, s: str) -> str:
        """ADDRESS_RE.sub(self._address, s), five times as fast: ADDRESS_RE tried at every
        position runs at some 15 MB/s, so it is tried only where an address can begin, the run
        of at most four hex digits before a separator that _SEPARATOR (a character class
        first, which the regex engine scans for in C) finds."""
        pieces: List[str] = []
        done = 0
        hit = _SEPARATOR.search(s)
        while hit is not None:
            begin = hit.start()
            while begin > done and hit.start() - begin < 4 and s[begin - 1] in _HEX:
                begin -= 1
            match = ADDRESS_RE.match(s, begin)
            if match is None:
                hit = _SEPARATOR.search(s, hit.end())
                continue
            pieces += (s[done:begin], self._address(match))
            done = match.end()
            hit = _SEPARATOR.search(s, done)
        return "".join(pieces) + s[done:] if pieces else s

    def data(self, b: bytes) -> bytes:
        """A journal field value, text or not: bytes that are not UTF-8 come through as they are
        (surrogateescape), and, being no name character, end a word as any other byte would."""
        return self.text(b.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")

    # -- the mapping ---------------------------------------------------------------------------
    def mapping(self) -> Dict[str, Dict[str, str]]:
        """{"hosts": {name: token}, "users": {...}, "addresses": {...}}: only what was seen; host
        names and MACs in lower case, IPv6 addresses compressed."""
        return {kind: dict(seen) for kind, seen in self._shown.items()}

    def write_mapping(self, path: str, bundle_dir: Optional[str] = None) -> None:
        """The mapping as JSON, mode 0600, created whole or not at all (a complete temporary
        file linked to its name, which fails rather than replace a file already there).  It stays
        on the machine: refused inside `bundle_dir`, the directory the bundle is built in."""
        path = os.path.abspath(path)
        if bundle_dir is not None:
            inside = os.path.realpath(bundle_dir).rstrip("/") + "/"
            if os.path.realpath(path).startswith(inside):
                raise UsageError("refusing to write the redaction mapping %s into the bundle: it must "
                                 "stay on this machine" % path)
        data = (json.dumps(self.mapping(), indent=2, sort_keys=True) + "\n").encode("utf-8")
        directory = os.path.dirname(path)
        tmp = temp_name(directory, 0)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            try:
                write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.link(tmp, path)
        except FileExistsError:
            raise UsageError("the redaction mapping %s already exists: not overwritten (move it "
                             "aside or name another file)" % path) from None
        finally:
            unlink_quietly(tmp)
        fsync_dir(directory)

    # -- replacements --------------------------------------------------------------------------
    def _token(self, counter: str, kind: str, key: str, make: Callable[[int], str]) -> str:
        """The token of `key`, made from the next number of `counter` when `key` is new."""
        tokens = self._tokens[counter]
        token = tokens.get(key)
        if token is None:
            token = tokens[key] = make(len(tokens) + 1)
            self._shown[kind][key] = token
        return token

    def _name(self, match) -> str:
        name = match.group(0)
        key = self._hosts.get(name.lower())
        if key is None:
            return self._token("users", "users", name, lambda n: "user-%d" % n)
        token = self._token("hosts", "hosts", key, lambda n: "host-%d" % n)
        self._shown["hosts"].setdefault(name.lower(), token)  # the first label beside its FQDN
        return token

    def _address(self, match) -> str:
        found = match.group(0)
        done = self._cache.get(found)
        if done is None:
            if match.group("v4") is not None:
                done = self._ipv4(match.group("v4"), match.group("arpa"))
            elif match.group("mac") is not None:
                done = self._mac_run(found)
            else:
                done = self._ipv6(match.group("v6")) + (match.group("zone") or "")
            if len(self._cache) < _CACHE_LIMIT:
                self._cache[found] = done
        return done

    def _ipv4(self, text: str, arpa: Optional[str]) -> str:
        if arpa:  # 4.3.2.1.in-addr.arpa spells 1.2.3.4
            spelled = ".".join(reversed(text.split(".")))
            return ".".join(reversed(self._ipv4(spelled, None).split("."))) + arpa
        if _v4_identifies_nobody(text):
            return text
        return self._token("v4", "addresses", text, _v4_token)

    def _ipv6(self, text: str) -> str:
        try:
            address = ipaddress.IPv6Address(text)
        except ValueError:  # nine groups, two "::": not an address, left as it is
            return text
        mapped = address.ipv4_mapped
        if mapped is not None:  # ::ffff:10.0.0.1 is 10.0.0.1: the same token
            replaced = self._ipv4(str(mapped), None)
            return text if replaced == str(mapped) else "::ffff:" + replaced
        if _v6_identifies_nobody(address) or not any(c.isdigit() for c in text):
            return text  # no digit: a C++ or Perl name ("a::b"), not an address anyone uses
        if address in _SOLICITED_NODE:  # keeps its grammar: ff02::1:ffXX:XXXX
            return self._token("sn", "addresses", address.compressed, lambda n: str(_SOLICITED_NODE[n]))
        return self._token("v6", "addresses", address.compressed, lambda n: str(_V6_TOKENS + n))

    def _mac_run(self, run: str) -> str:
        """Six groups: a MAC.  12 or 14: iptables' MAC= (destination, source, ethertype)."""
        groups = run.split(":")
        if len(groups) not in (6, 12, 14):
            return run
        pieces = [self._mac(":".join(groups[i:i + 6])) for i in range(0, min(len(groups), 12), 6)]
        return ":".join(pieces + groups[12:])

    def _mac(self, mac: str) -> str:
        if mac.lower() in ("00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff"):
            return mac
        return self._token("mac", "addresses", mac.lower(), _mac_token)


def _v4_token(n: int) -> str:
    if n >= _V4_TOKENS.num_addresses - 1:
        raise BundleError("more than %d distinct IPv4 addresses to redact: the benchmark range "
                          "198.18.0.0/15 has no token left for the next" % (_V4_TOKENS.num_addresses - 2))
    return str(_V4_TOKENS.network_address + n)


def _mac_token(n: int) -> str:
    return "02:" + ":".join("%02x" % (n >> shift & 0xFF) for shift in (32, 24, 16, 8, 0))


def human_users(passwd_text: str, login_defs_text: Optional[str]) -> List[str]:
    """The names in /etc/passwd text whose UID is in login.defs' UID_MIN..UID_MAX (1000..60000
    when login.defs is missing or does not say): the accounts useradd gives to people, whose
    names are worth redacting; system accounts (root, daemon, nobody) identify nobody."""
    limits = {"UID_MIN": 1000, "UID_MAX": 60000}
    for line in (login_defs_text or "").splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] in limits:
            value = _login_defs_number(fields[1])
            if value is not None:
                limits[fields[0]] = value
    names: List[str] = []
    for line in passwd_text.splitlines():
        fields = line.split(":")
        # "+name" / "-name" are NIS compat entries, not accounts of this machine
        if len(fields) != 7 or not fields[0] or fields[0][0] in "+-#" or not fields[2].isdigit():
            continue
        if limits["UID_MIN"] <= int(fields[2]) <= limits["UID_MAX"] and fields[0] not in names:
            names.append(fields[0])
    return names


def _login_defs_number(text: str) -> Optional[int]:
    """A number as shadow's getdef reads it (strtol base 0): 0x hex, leading-0 octal, decimal."""
    base = 16 if text[:2].lower() == "0x" else 8 if text[:1] == "0" else 10
    try:
        return int(text, base)
    except ValueError:
        return None
