"""The man page unitaudit(1) and the bash, zsh and fish completion, generated as the package
build generates them (tools/make_man.py, tools/make_completion.py), against the command line
they come from.

The commands and options are read here from the typer app itself (the click group typer
builds), independently of the generators: a command or an option the generator misses, or one
whose metavar or default it states wrongly, fails.  The page is rendered with groff's and man's
warnings on; the completion scripts are run in bash, zsh and fish, calling back into this
checkout's unitaudit.
"""
import dataclasses
import os
import re
import shutil
import stat
import subprocess
import sys

import pytest
import typer
import typer.main

from builders import ROOT
import unitaudit.cli
from unitaudit.model import Thresholds

TOOLS = ROOT / "tools"
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
            if _is_group(cmd):
                walk(path, cmd)

    walk("", _app())
    return found


def _is_group(cmd):
    return isinstance(getattr(cmd, "commands", None), dict)


def _options(cmd):
    return [p for p in cmd.params if p.param_type_name == "option"]


def _arguments(cmd):
    return [p for p in cmd.params if p.param_type_name == "argument"]


def _long(opt):
    return [o for o in list(opt.opts) + list(opt.secondary_opts) if o.startswith("--")]


def _short(opt):
    return [o for o in list(opt.opts) + list(opt.secondary_opts) if not o.startswith("--")]


LEAVES = sorted(path for path, cmd in _commands().items() if not _is_group(cmd))


def test_the_cli_is_what_these_tests_expect():
    """A guard on the introspection itself: an empty walk would make every test below vacuous."""
    commands = _commands()
    assert {"scan", "fix", "undo", "churn", "watch", "history", "config", "config check", "recipes",
            "collect"} <= set(commands)
    assert "--journal-dir" in _long(_options(commands["scan"])[0])
    assert [o.opts for o in _options(_app())] == [["--version"], ["--debug"]]


# --- generated as the package build generates them -----------------------------------------

def _run(argv, **kwargs):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, **kwargs)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


@pytest.fixture(scope="module")
def man(tmp_path_factory):
    path = tmp_path_factory.mktemp("man") / "unitaudit.1"
    _run([sys.executable, str(TOOLS / "make_man.py"), "--date", "2026-01-01", "--output", str(path)])
    return path


@pytest.fixture(scope="module")
def scripts(tmp_path_factory):
    out = tmp_path_factory.mktemp("completion")
    _run([sys.executable, str(TOOLS / "make_completion.py"), str(out)])
    assert sorted(os.listdir(str(out))) == ["_unitaudit", "unitaudit", "unitaudit.fish"]
    return out


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """PATH with this checkout's unitaudit first (run by this interpreter), and no other."""
    bindir = tmp_path_factory.mktemp("bin")
    exe = bindir / "unitaudit"
    exe.write_text('#!/bin/sh\nPYTHONPATH=%s exec %s -m unitaudit "$@"\n' % (ROOT, sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    home = tmp_path_factory.mktemp("home")
    return {"PATH": "%s:/usr/bin:/bin" % bindir, "HOME": str(home), "LC_ALL": "C.UTF-8"}


# --- the man page ---------------------------------------------------------------------------

def _plain(text):
    """Troff escapes the page uses, as the reader sees them."""
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


def _page(man):
    """(section names, {subsection: its section}, [.TP items]) of the man page."""
    lines = [l for l in man.read_text(encoding="utf-8").splitlines() if not l.startswith('.\\"')]
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


def _words(text):
    return " ".join(text.split())


def test_man_page_sections(man):
    sections, _, _ = _page(man)
    for name in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "HOURLY TIMER", "FILES",
                 "ENVIRONMENT", "EXIT STATUS", "EXAMPLES", "SEE ALSO"):
        assert name in sections
    text = man.read_text(encoding="utf-8")
    # lintian's bad-whatis-entry: the NAME line is "name \- description"
    name = text.split(".SH NAME\n", 1)[1].split("\n", 1)[0]
    assert re.match(r"^unitaudit \\- \S", name), name
    assert '.TH UNITAUDIT 1 2026-01-01 "unitaudit %s"' % unitaudit.__version__ in text
    assert "@" + "VERSION@" not in text and "@" + "DATE@" not in text


def test_every_command_is_in_the_synopsis(man):
    text = _plain(man.read_text(encoding="utf-8"))
    synopsis = text.split("\n.SH SYNOPSIS\n", 1)[1].split("\n.SH ", 1)[0]
    for path in _commands():
        assert re.search(r"(?m)^\.B %s( |$)" % re.escape(path), synopsis), "%s is not in the SYNOPSIS" % path


def test_each_command_documents_exactly_its_options(man):
    """Under COMMANDS, one subsection per command whose .TP tags are its options with their
    metavars, no more, each with its help text; its header names its arguments; every default
    is stated."""
    _, subsections, items = _page(man)
    documented = {_command_of(s): s for s, section in subsections.items() if section == "COMMANDS"}
    assert set(documented) == set(LEAVES)
    for path in LEAVES:
        cmd = _commands()[path]
        header = documented[path]
        for arg in _arguments(cmd):
            assert arg.metavar.strip("[]") in header, "%s: %s not in the header %r" % (path, arg.metavar, header)
        tags = {it.tag: it for it in items if it.subsection == header}
        expected = {_tag(opt): opt for opt in _options(cmd)}
        assert set(tags) == set(expected), path
        for tag, opt in expected.items():
            assert _words(opt.help) in _words(tags[tag].body), (path, tag)
            if opt.is_flag or opt.default is None:
                continue
            value = "%g" % opt.default if isinstance(opt.default, float) else str(opt.default)
            assert re.search(r"[Dd]efault:? %s(\W|$)" % re.escape(value), tags[tag].body), \
                "%s %s: the default %s is not stated" % (path, tag, value)
    global_tags = {it.tag for it in items if it.section == "OPTIONS"}
    assert {_tag(opt) for opt in _options(_app())} | {"--help"} == global_tags


def test_each_command_help_is_in_the_man_page(man):
    text = _words(_plain("\n".join(l for l in man.read_text(encoding="utf-8").splitlines() if not l.startswith("."))))
    for path in LEAVES:
        first = _commands()[path].help.split("\n\n", 1)[0].replace("`", "")  # `quoted`: set in bold
        assert _words(first) in text, path


def test_thresholds_in_the_man_page(man):
    text = _plain(man.read_text(encoding="utf-8"))
    for field in dataclasses.fields(Thresholds):
        assert field.name in text


def test_option_dashes_are_escaped(man):
    """lintian's rule: an option's dashes are \\- (a minus), not - (a hyphen)."""
    for number, line in enumerate(man.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith('.\\"'):
            continue
        assert not re.search(r"(?<![\\\w])--?[A-Za-z]", line), "line %d: %s" % (number, line)


def test_a_note_for_an_option_the_program_lacks_fails_the_build(tmp_path):
    """The prose cannot outlive the option it describes."""
    template = tmp_path / "unitaudit.1.in"
    text = (TOOLS / "unitaudit.1.in").read_text(encoding="utf-8")
    template.write_text(text + '.\\" @@ option scan --no-such-option\nWhatever.\n', encoding="utf-8")
    code = "import sys; sys.path.insert(0, %r); import make_man; make_man.render('2026-01-01', %r)" % (
        str(TOOLS), str(template))
    p = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    assert p.returncode != 0
    assert "option scan --no-such-option" in p.stderr


def test_man_page_renders_without_warnings(man):
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed (Debian package groff-base)")
    p = subprocess.run(["groff", "-man", "-ww", "-z", str(man)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stderr == "", p.stderr
    # as lintian runs it (man-db), at the two widths people read it at
    if shutil.which("man"):
        for width in ("80", "120"):
            env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH=width, MANROFFSEQ="")
            p = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", str(man)],
                               capture_output=True, text=True, env=env)
            assert p.returncode == 0, p.stderr
            assert p.stderr == "", p.stderr
    if shutil.which("lexgrog"):  # lintian's whatis check
        p = subprocess.run(["lexgrog", str(man)], capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr
        assert '"unitaudit - ' in p.stdout, p.stdout + p.stderr
    if shutil.which("mandoc"):
        p = subprocess.run(["mandoc", "-Tlint", str(man)], capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr
        assert p.stdout + p.stderr == "", p.stdout + p.stderr


# --- bash -------------------------------------------------------------------------------------

MODES = ["plain", "bash-completion"]


@pytest.fixture(params=MODES)
def mode(request):
    if request.param == "bash-completion" and not os.path.exists(BASH_COMPLETION):
        pytest.skip("bash-completion is not installed (%s)" % BASH_COMPLETION)
    return request.param


def _quote(word):
    return "'" + word.replace("'", "'\\''") + "'"


def bash(line, mode, env, scripts):
    """COMPREPLY of the generated function for `line` (the cursor at its end), as bash would call
    it on TAB, in `bash --norc --noprofile`."""
    words = line.split(" ")
    script = "\n".join([
        ". %s" % BASH_COMPLETION if mode == "bash-completion" else "",
        ". %s" % _quote(str(scripts / "unitaudit")),
        "COMP_WORDS=(%s)" % " ".join(_quote(w) for w in words),
        "COMP_CWORD=%d" % (len(words) - 1),
        "COMP_LINE=%s" % _quote(line),
        "COMP_POINT=${#COMP_LINE}",
        "_unitaudit_completion unitaudit %s %s" % (_quote(words[-1]), _quote(words[-2])),
        'printf "%s\\n" "${COMPREPLY[@]}"',
    ])
    p = _run(["bash", "--norc", "--noprofile", "-c", script], env=env)
    assert p.stderr == "", p.stderr
    return sorted(w for w in p.stdout.split("\n") if w)


def test_bash_registered(mode, env, scripts):
    script = "%s\n. %s\ncomplete -p unitaudit" % (". " + BASH_COMPLETION if mode == "bash-completion" else "",
                                                  _quote(str(scripts / "unitaudit")))
    p = _run(["bash", "--norc", "--noprofile", "-c", script], env=env)
    # -o default: bash completes file names when the program offers nothing (an option's value)
    assert p.stdout.strip() == "complete -o default -F _unitaudit_completion unitaudit", p.stderr
    assert p.stderr == "", p.stderr


def test_bash_commands(mode, env, scripts):
    top = sorted(_app().commands)
    assert bash("unitaudit ", mode, env, scripts) == top
    assert bash("unitaudit sc", mode, env, scripts) == ["scan"]
    assert bash("unitaudit --debug ", mode, env, scripts) == top
    assert bash("unitaudit config ", mode, env, scripts) == ["check"]


def test_bash_global_options(mode, env, scripts):
    expected = sorted([o for opt in _options(_app()) for o in _long(opt)] + ["--help"])
    assert bash("unitaudit --", mode, env, scripts) == expected


@pytest.mark.parametrize("path", sorted(_commands()))
def test_bash_each_command_completes_exactly_its_options(path, env, scripts):
    cmd = _commands()[path]
    names = [o for opt in _options(cmd) for o in _long(opt) + _short(opt)] + ["--help"]
    assert bash("unitaudit %s -" % path, "plain", env, scripts) == sorted(names)


def test_bash_option_prefix(mode, env, scripts):
    assert bash("unitaudit scan --jo", mode, env, scripts) == ["--journal-dir", "--journal-file", "--journal-summary"]
    assert bash("unitaudit fix --d", mode, env, scripts) == ["--dry-run"]


def test_bash_values_the_program_knows(env, scripts):
    """Threshold names with their defaults, the usual --since words, recipe ids, unit names: asked
    of the program (unitaudit/cli/completion.py) at each TAB."""
    assert bash("unitaudit scan --threshold restart_b", "plain", env, scripts) == ["restart_burst=5"]
    assert bash("unitaudit scan --threshold ", "plain", env, scripts) == sorted(
        "%s=%s" % (f.name, ("%g" % v) if isinstance(v, float) else v)
        for f in dataclasses.fields(Thresholds) for v in [getattr(Thresholds(), f.name)])
    assert bash("unitaudit history --since to", "plain", env, scripts) == ["today"]
    ids = sorted(p.stem for p in (ROOT / "remediations").glob("*.toml"))
    assert bash("unitaudit fix --recipe ", "plain", env, scripts) == ids
    assert bash("unitaudit fix --recipe logrotate-s", "plain", env, scripts) == ["logrotate-syntax-error"]
    # systemd's own unit, known to `systemctl list-unit-files` on any machine with systemd installed
    assert bash("unitaudit churn --measure systemd-journald.se", "plain", env, scripts) == ["systemd-journald.service"]
    assert bash("unitaudit churn systemd-journald.se", "plain", env, scripts) == ["systemd-journald.service"]


def test_bash_values_left_to_file_names(env, scripts):
    """A file or directory: the program offers nothing, and bash's -o default completes the name."""
    for line in ("unitaudit scan --journal-dir ", "unitaudit churn --root /", "unitaudit config check /etc/"):
        assert bash(line, "plain", env, scripts) == [], line


# --- zsh and fish -----------------------------------------------------------------------------

def _needs(shell):
    if shutil.which(shell) is None:
        pytest.skip("%s is not installed" % shell)


def zsh(line, env, scripts, autoload=False):
    """What the generated zsh function hands to _arguments for `line` (or "_files"), with zsh's
    completion system loaded (compinit) and those two functions reporting instead of completing."""
    _needs("zsh")
    words = line.split(" ")
    load = ("fpath=(%s $fpath); autoload -U _unitaudit" % _quote(str(scripts)) if autoload
            else "source %s" % _quote(str(scripts / "_unitaudit")))
    script = "\n".join([
        "autoload -U compinit && compinit -u -D",
        load,
        "_arguments() { print -rl -- \"$@\" }",
        "_files() { print -r -- _files }",
        "words=(%s)" % " ".join(_quote(w) for w in words),
        "CURRENT=%d" % len(words),
        "_unitaudit" if autoload else "_unitaudit_completion",
    ])
    p = _run(["zsh", "-f", "-c", script], env=env)
    assert p.stderr == "", p.stderr
    return p.stdout


def _zsh_values(out):
    """The values of `_arguments '*: :(("value":"help" "value":"help"))'` (each help after a colon)."""
    return sorted(re.findall(r'(?:\(\(|\s)"([^"]+)"', out))


def test_zsh_first_line_is_compdef(scripts):
    assert (scripts / "_unitaudit").read_text().split("\n", 1)[0] == "#compdef unitaudit"


def test_zsh(env, scripts):
    assert _zsh_values(zsh("unitaudit sc", env, scripts)) == ["scan"]
    assert _zsh_values(zsh("unitaudit scan --jo", env, scripts)) == [
        "--journal-dir", "--journal-file", "--journal-summary"]
    assert _zsh_values(zsh("unitaudit scan --threshold restart_b", env, scripts)) == ["restart_burst=5"]
    assert zsh("unitaudit scan --syslog ", env, scripts).strip() == "_files"  # a file: zsh completes its name
    # shown as written: no rich markup read into the help (typer would drop "[...]" words)
    assert "Only the latest boot in the journal." in zsh("unitaudit scan --bo", env, scripts)


def test_zsh_from_its_completion_directory(env, scripts):
    """Loaded by compinit from fpath, as /usr/share/zsh/vendor-completions is: the first TAB completes."""
    assert _zsh_values(zsh("unitaudit config ", env, scripts, autoload=True)) == ["check"]


def fish(line, env, scripts):
    _needs("fish")
    script = "source %s; complete --do-complete %s" % (_quote(str(scripts / "unitaudit.fish")), _quote(line))
    p = _run(["fish", "--no-config", "-c", script], env=env)
    assert p.stderr == "", p.stderr
    return sorted(l.split("\t", 1)[0] for l in p.stdout.split("\n") if l)


def test_fish(env, scripts, tmp_path):
    assert fish("unitaudit sc", env, scripts) == ["scan"]
    assert fish("unitaudit scan --jo", env, scripts) == ["--journal-dir", "--journal-file", "--journal-summary"]
    assert fish("unitaudit config ", env, scripts) == ["check"]
    assert fish("unitaudit fix --recipe logrotate-s", env, scripts) == ["logrotate-syntax-error"]
    (tmp_path / "syslog.1.gz").write_text("")
    # the program offers nothing for a file: fish completes the file name
    assert fish("unitaudit scan --syslog %s/sys" % tmp_path, env, scripts) == ["%s/syslog.1.gz" % tmp_path]
