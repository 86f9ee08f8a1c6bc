"""The man page unitaudit(1) and the bash completion (packaging/debian) against the command line
they describe.

Both are written by hand, so both can drift from unitaudit/cli/: these tests read the commands
and options from the typer app itself (the click group typer builds) and fail when a command, an
option, its metavar or its default is missing or stale in either.  They also render the man page
with groff's warnings on, and run the completion function in bash, with bash-completion's
_init_completion and without it.
"""
import dataclasses
import os
import re
import shutil
import stat
import subprocess

import pytest
import typer
import typer.main

from builders import ROOT
import unitaudit.cli
from unitaudit.model import Thresholds

MAN = ROOT / "packaging" / "debian" / "unitaudit.1"
COMPLETION = ROOT / "packaging" / "debian" / "unitaudit.bash-completion"
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"


# --- the command line, from the typer app -------------------------------------------------

def _app():
    return typer.main.get_command(unitaudit.cli.app)


def _commands():
    """{"scan": click command, ..., "config": group, "config check": command}."""
    found = {}

    def walk(prefix, group):
        for name, cmd in group.commands.items():
            path = (prefix + " " + name).strip()
            found[path] = cmd
            if isinstance(getattr(cmd, "commands", None), dict):
                walk(path, cmd)

    walk("", _app())
    return found


def _options(cmd):
    return [p for p in cmd.params if p.param_type_name == "option"]


def _arguments(cmd):
    return [p for p in cmd.params if p.param_type_name == "argument"]


def _long(opt):
    return [o for o in list(opt.opts) + list(opt.secondary_opts) if o.startswith("--")]


def _short(opt):
    return [o for o in list(opt.opts) + list(opt.secondary_opts) if not o.startswith("--")]


def _is_group(cmd):
    return isinstance(getattr(cmd, "commands", None), dict)


LEAVES = sorted(path for path, cmd in _commands().items() if not _is_group(cmd))


def test_the_cli_is_what_these_tests_expect():
    """A guard on the introspection itself: an empty walk would make every test below vacuous."""
    commands = _commands()
    assert {"scan", "fix", "undo", "churn", "watch", "history", "config", "config check", "recipes"} <= set(commands)
    assert "--journal-dir" in _long(_options(commands["scan"])[0])
    assert [o.opts for o in _options(_app())] == [["--version"], ["--debug"]]


# --- the man page ---------------------------------------------------------------------------

def _plain(text):
    """Troff escapes this page uses, as the reader sees them."""
    text = re.sub(r"\\f[BIRP]", "", text)
    for escape, char in (("\\-", "-"), ("\\&", ""), ("\\ ", " "), ("\\:", ""), ("\\c", ""),
                         ("\\(lq", '"'), ("\\(rq", '"'), ("\\e", "\\")):
        text = text.replace(escape, char)
    return text


def _args(rest):
    """A macro's arguments: words, or double-quoted strings (where "" is a quote)."""
    return [m.group(1).replace('""', '"') if m.group(1) is not None else m.group(2)
            for m in re.finditer(r'"((?:[^"]|"")*)"|(\S+)', rest)]


def _text(line):
    """The words one man(7) line sets: font macros joined as troff joins them."""
    if not line.startswith("."):
        return _plain(line)
    name, _, rest = line[1:].partition(" ")
    args = [_plain(a) for a in _args(rest)]
    if name in ("B", "I", "SH", "SS", "TH"):
        return " ".join(args)
    if name in ("BI", "BR", "IB", "IR", "RB", "RI"):
        return "".join(args)
    return ""


@dataclasses.dataclass
class Item:
    section: str
    subsection: str
    tag: str
    body: str


def _page():
    """(section names, {subsection: header text}, [.TP items]) of the man page."""
    lines = [l for l in MAN.read_text(encoding="utf-8").splitlines() if not l.startswith('.\\"')]
    sections, subsections, items = [], {}, []
    section = subsection = ""
    item = None
    i = 0
    while i < len(lines):
        line = lines[i]
        macro = line.split(" ", 1)[0] if line.startswith(".") else ""
        if macro in (".SH", ".SS", ".TP", ".PP", ".IP", ".EX"):
            item = None
        if macro == ".SH":
            section, subsection = _text(line), ""
            sections.append(section)
        elif macro == ".SS":
            subsection = _text(line)
            subsections[subsection] = section
        elif macro == ".TP":
            i += 1
            item = Item(section, subsection, _text(lines[i]).strip(), "")
            items.append(item)
        elif item is not None:
            item.body = (item.body + " " + _text(line)).strip()
        i += 1
    return sections, subsections, items


def _command_of(subsection):
    """"config check [FILE]" -> "config check"; "scan [options]" -> "scan"."""
    return subsection.split("[", 1)[0].strip()


def _tag(opt):
    names = ", ".join(_short(opt) + _long(opt))
    return names if opt.is_flag else "%s %s" % (names, opt.metavar)


def test_man_page_sections():
    sections, _, _ = _page()
    for name in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "HOURLY TIMER", "FILES",
                 "ENVIRONMENT", "EXIT STATUS", "EXAMPLES", "SEE ALSO"):
        assert name in sections
    text = MAN.read_text(encoding="utf-8")
    # lintian's bad-whatis-entry: the NAME line is "name \- description"
    name = text.split(".SH NAME\n", 1)[1].split("\n", 1)[0]
    assert re.match(r"^unitaudit \\- \S", name), name


def test_every_command_and_option_is_in_the_man_page():
    text = _plain(MAN.read_text(encoding="utf-8"))
    synopsis = text.split("\n.SH SYNOPSIS\n", 1)[1].split("\n.SH ", 1)[0]
    for path, cmd in _commands().items():
        assert re.search(r"(?m)^\.B %s( |$)" % re.escape(path), synopsis), "%s is not in the SYNOPSIS" % path
        for opt in _options(cmd):
            for name in _long(opt) + _short(opt):
                assert name in text, "%s %s is not in the man page" % (path, name)
    for opt in _options(_app()):
        assert _long(opt)[0] in text


def test_each_command_documents_exactly_its_options():
    """Under COMMANDS, one subsection per command whose .TP tags are its options with their
    metavars, no more; its header names its arguments; every default is stated."""
    _, subsections, items = _page()
    documented = {_command_of(s): s for s, section in subsections.items() if section == "COMMANDS"}
    assert set(documented) == set(LEAVES)
    for path in LEAVES:
        cmd = _commands()[path]
        header = documented[path]
        for arg in _arguments(cmd):
            assert arg.metavar in header, "%s: %s not in the header %r" % (path, arg.metavar, header)
        tags = {it.tag: it for it in items if it.subsection == header}
        expected = {_tag(opt): opt for opt in _options(cmd)}
        assert set(tags) == set(expected), path
        for tag, opt in expected.items():
            if opt.is_flag or opt.default is None:
                continue
            value = "%g" % opt.default if isinstance(opt.default, float) else str(opt.default)
            assert re.search(r"Default: %s(\W|$)" % re.escape(value), tags[tag].body), \
                "%s %s: the default %s is not stated" % (path, tag, value)
    global_tags = {it.tag for it in items if it.section == "OPTIONS"}
    assert {_tag(opt) for opt in _options(_app())} <= global_tags


def test_thresholds_in_the_man_page():
    text = _plain(MAN.read_text(encoding="utf-8"))
    for field in dataclasses.fields(Thresholds):
        assert field.name in text


def test_option_dashes_are_escaped():
    """lintian's rule: an option's dashes are \\- (a minus), not - (a hyphen)."""
    for number, line in enumerate(MAN.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith('.\\"'):
            continue
        assert not re.search(r"(?<![\\\w])--?[A-Za-z]", line), "line %d: %s" % (number, line)


def test_man_page_renders_without_warnings():
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed (Debian package groff-base)")
    p = subprocess.run(["groff", "-man", "-ww", "-z", str(MAN)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stderr == "", p.stderr
    # as lintian runs it (man-db), at the two widths people read it at
    if shutil.which("man"):
        for width in ("80", "120"):
            env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH=width, MANROFFSEQ="")
            p = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", str(MAN)],
                               capture_output=True, text=True, env=env)
            assert p.returncode == 0, p.stderr
            assert p.stderr == "", p.stderr
    if shutil.which("lexgrog"):  # lintian's whatis check
        p = subprocess.run(["lexgrog", str(MAN)], capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr
        assert '"unitaudit - ' in p.stdout, p.stdout + p.stderr
    if shutil.which("mandoc"):
        p = subprocess.run(["mandoc", "-Tlint", str(MAN)], capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr
        assert p.stdout + p.stderr == "", p.stdout + p.stderr


# --- the bash completion ----------------------------------------------------------------------

MODES = ["plain", "bash-completion"]


@pytest.fixture(params=MODES)
def mode(request):
    if request.param == "bash-completion" and not os.path.exists(BASH_COMPLETION):
        pytest.skip("bash-completion is not installed (%s)" % BASH_COMPLETION)
    return request.param


@pytest.fixture
def env(tmp_path):
    """No installed recipes, no real systemctl: a fake one listing a few units."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "systemctl"
    fake.write_text(r"""#!/bin/sh
case "$1" in
list-units)
    echo 'deepin-anything-monitor.service loaded activating auto-restart deepin-anything monitor'
    echo 'logrotate.timer loaded active waiting Daily rotation of log files' ;;
list-unit-files)
    echo 'avahi-daemon.service enabled enabled'
    echo 'logrotate.timer enabled enabled'
    echo 'systemd-fsck@dev-disk-by\x2duuid-1234.service static -' ;;
esac
""")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    empty = tmp_path / "no-recipes"
    empty.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    return {"PATH": "%s:/usr/bin:/bin" % bindir, "HOME": str(home), "LC_ALL": "C",
            "UNITAUDIT_RECIPE_DIRS": str(empty)}


def _quote(word):
    return "'" + word.replace("'", "'\\''") + "'"


def _words(line):
    """COMP_WORDS as bash splits `line` (the cursor at its end): at blanks, and "=" apart."""
    words = []
    for token in line.split(" "):
        parts = re.split(r"(=)", token)
        words.extend(p for p in parts[:-1] if p != "")
        words.append(parts[-1])
    if line.endswith("="):
        words.pop()  # bash's word at the cursor is the "=" itself
    return words


def complete(line, mode, env, extra=None, setup=""):
    """COMPREPLY of _unitaudit for `line`, run in `bash --norc --noprofile` after `setup`."""
    words = _words(line)
    script = "\n".join([
        ". %s" % BASH_COMPLETION if mode == "bash-completion" else "",
        ". %s" % _quote(str(COMPLETION)),
        setup,
        "COMP_WORDS=(%s)" % " ".join(_quote(w) for w in words),
        "COMP_CWORD=%d" % (len(words) - 1),
        "COMP_LINE=%s" % _quote(line),
        "COMP_POINT=${#COMP_LINE}",
        "_unitaudit",
        'printf "%s\\n" "${COMPREPLY[@]}"',
    ])
    e = dict(env)
    e.update(extra or {})
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True, env=e)
    assert p.returncode == 0, p.stderr
    assert p.stderr == "", p.stderr
    return sorted(w for w in p.stdout.split("\n") if w)


def test_words_split_as_bash_splits_them():
    assert _words("unitaudit sc") == ["unitaudit", "sc"]
    assert _words("unitaudit config ") == ["unitaudit", "config", ""]
    assert _words("unitaudit scan --since=") == ["unitaudit", "scan", "--since", "="]
    assert _words("unitaudit scan --since=-2") == ["unitaudit", "scan", "--since", "=", "-2"]


def test_registered(mode, env):
    script = "%s\n. %s\ncomplete -p unitaudit" % (". " + BASH_COMPLETION if mode == "bash-completion" else "",
                                                  _quote(str(COMPLETION)))
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True, env=env)
    assert p.stdout.strip() == "complete -F _unitaudit unitaudit", p.stderr
    assert p.stderr == "", p.stderr


def test_commands(mode, env):
    top = sorted(name for name in _app().commands)
    assert complete("unitaudit ", mode, env) == top
    assert complete("unitaudit sc", mode, env) == ["scan"]
    assert complete("unitaudit --debug ", mode, env) == top
    assert complete("unitaudit config ", mode, env) == ["check"]
    assert complete("unitaudit config ch", mode, env) == ["check"]


def test_global_options(mode, env):
    expected = sorted([o for opt in _options(_app()) for o in _long(opt)] + ["--help"])
    assert complete("unitaudit --", mode, env) == expected


@pytest.mark.parametrize("path", sorted(_commands()))
def test_each_command_completes_exactly_its_options(path, mode, env):
    cmd = _commands()[path]
    longs = sorted([o for opt in _options(cmd) for o in _long(opt)] + ["--help"])
    assert complete("unitaudit %s --" % path, mode, env) == longs
    shorts = [o for opt in _options(cmd) for o in _short(opt)]
    assert complete("unitaudit %s -" % path, mode, env) == sorted(longs + shorts)


def test_option_prefix(mode, env):
    assert complete("unitaudit scan --jo", mode, env) == ["--journal-dir", "--journal-file", "--journal-summary"]
    assert complete("unitaudit scan --j", mode, env) == ["--journal-dir", "--journal-file",
                                                        "--journal-summary", "--json"]
    assert complete("unitaudit fix --d", mode, env) == ["--dry-run"]


def test_thresholds(mode, env):
    names = sorted(f.name + "=" for f in dataclasses.fields(Thresholds))
    assert complete("unitaudit scan --threshold ", mode, env) == names
    assert complete("unitaudit scan --threshold restart_", mode, env) == [
        "restart_burst=", "restart_counter=", "restart_quick_burst=", "restart_window="]
    assert complete("unitaudit scan --threshold restart_burst=", mode, env) == []


def test_since_and_until(mode, env):
    when = sorted(["-1h", "-24h", "-7d", "today", "yesterday"])
    assert complete("unitaudit scan --since ", mode, env) == when
    assert complete("unitaudit scan --until -", mode, env) == ["-1h", "-24h", "-7d"]
    assert complete("unitaudit history --since=", mode, env) == when
    assert complete("unitaudit fix --since=-2", mode, env) == ["-24h"]
    assert complete("unitaudit churn --since t", mode, env) == ["today"]


def test_recipe_ids_from_the_recipe_files(mode, env, tmp_path):
    admin, packaged = tmp_path / "etc", tmp_path / "usr"
    admin.mkdir()
    packaged.mkdir()
    (packaged / "restore-dbus-alias.toml").write_text('# a comment\nid = "restore-dbus-alias"\ntitle = "x"\n')
    (packaged / "restart-loop-rate-limit.toml").write_text('id="restart-loop-rate-limit"\n[applies]\n')
    (packaged / "logrotate-syntax-error.toml").write_text('title = "no id line"\n[steps]\nid = "not-this"\n')
    (admin / "restore-dbus-alias.toml").write_text('id = "restore-dbus-alias"\n')  # an override: once
    (admin / ".restore-dbus-alias.toml.swp").write_text('id = "swap-file"\n')
    (admin / "notes.txt").write_text('id = "not-a-recipe"\n')
    dirs = {"UNITAUDIT_RECIPE_DIRS": "%s %s %s" % (admin, packaged, tmp_path / "missing")}
    assert complete("unitaudit fix --recipe ", mode, env, dirs) == [
        "logrotate-syntax-error", "restart-loop-rate-limit", "restore-dbus-alias"]
    assert complete("unitaudit fix --recipe rest", mode, env, dirs) == [
        "restart-loop-rate-limit", "restore-dbus-alias"]
    assert complete("unitaudit fix --recipe=resto", mode, env, dirs) == ["restore-dbus-alias"]
    assert complete("unitaudit fix --recipe ", mode, env) == []  # no recipe directory


def test_the_shipped_recipes(mode, env):
    shipped = sorted(p.stem for p in (ROOT / "remediations").glob("*.toml"))
    assert shipped
    got = complete("unitaudit fix --recipe ", mode, env, {"UNITAUDIT_RECIPE_DIRS": str(ROOT / "remediations")})
    assert got == shipped


def test_unit_names(mode, env):
    assert complete("unitaudit churn deep", mode, env) == ["deepin-anything-monitor.service"]
    assert complete("unitaudit churn --since 2h deep", mode, env) == ["deepin-anything-monitor.service"]
    assert complete("unitaudit churn --measure a", mode, env) == ["avahi-daemon.service"]
    assert complete("unitaudit fix --unit=av", mode, env) == ["avahi-daemon.service"]
    # loaded or not, each once; names with \x escapes left out
    assert complete("unitaudit history --unit ", mode, env) == [
        "avahi-daemon.service", "deepin-anything-monitor.service", "logrotate.timer"]
    # churn takes one UNIT: after it, the options
    after = complete("unitaudit churn deepin-anything-monitor.service ", mode, env)
    assert "--measure" in after
    assert "avahi-daemon.service" not in after


def test_files_and_directories(mode, env, tmp_path):
    evidence = tmp_path / "evidence"
    (evidence / "journal").mkdir(parents=True)
    (evidence / "syslog.1.gz").write_text("")
    (evidence / "system.journal").write_text("")
    d = str(evidence) + "/"
    every = [d + "journal", d + "syslog.1.gz", d + "system.journal"]
    assert complete("unitaudit scan --journal-file " + d, mode, env) == every
    assert complete("unitaudit scan --syslog " + d + "sys", mode, env) == every[1:]
    assert complete("unitaudit scan --prometheus=" + d + "syslog", mode, env) == [d + "syslog.1.gz"]
    assert complete("unitaudit config check " + d, mode, env) == every
    assert complete("unitaudit scan --journal-dir " + d, mode, env) == [d + "journal"]
    assert complete("unitaudit churn --root=" + d, mode, env) == [d + "journal"]


def test_values_not_completed(mode, env):
    for line in ("unitaudit fix --finding ", "unitaudit scan --bus-address ", "unitaudit churn --seconds ",
                 "unitaudit undo 1 ", "unitaudit config check x ", "unitaudit nosuchcommand "):
        got = complete(line, mode, env)
        assert not [w for w in got if not w.startswith("-")], (line, got)


def test_whatever_the_users_shell_options(mode, env, tmp_path):
    """Globbing options a user may set change nothing (failglob would abort a plain glob)."""
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "restore-dbus-alias.toml").write_text('id = "restore-dbus-alias"\n')
    (tmp_path / "no-toml").mkdir()
    (tmp_path / "a*b").write_text("")
    setup = "shopt -s failglob nullglob dotglob nocaseglob extglob"
    dirs = {"UNITAUDIT_RECIPE_DIRS": "%s %s" % (tmp_path / "no-toml", recipes)}
    assert complete("unitaudit fix --recipe ", mode, env, dirs, setup) == ["restore-dbus-alias"]
    assert complete("unitaudit scan --since ", mode, env, setup=setup) == ["-1h", "-24h", "-7d", "today", "yesterday"]
    assert complete("unitaudit scan --syslog %s/a" % tmp_path, mode, env, setup=setup) == ["%s/a*b" % tmp_path]
    assert complete("unitaudit ", mode, env, setup=setup) == sorted(_app().commands)
