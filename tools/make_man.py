"""Write the man page unitaudit(1) from the command line's own definitions.

The commands, their arguments, options, metavars, defaults and help texts come from the typer
app (the click tree typer builds: typer.main.get_command), so the page cannot drift from the
program.  What the program does not say about itself (DESCRIPTION, HOURLY TIMER, FILES,
ENVIRONMENT, EXIT STATUS, EXAMPLES, SEE ALSO, and longer notes on a command or an option) is
man(7) prose in tools/unitaudit.1.in, beside this script:

    .\\" @synopsis, .\\" @options, .\\" @commands   where the generated parts go
    .\\" @@ command PATH                          prose after PATH's own help ("config check")
    .\\" @@ option PATH --NAME                    prose after that option's help

A note for a command or option the program does not have is an error, so a removed option
cannot leave its prose behind.  Run at build time (debian/rules), with the libraries the
package carries on PYTHONPATH; no click-man: it writes a page per subcommand, without the
prose, and imports a top-level click that typer 0.29 does not install (it vendors click).

    python3 tools/make_man.py [--date YYYY-MM-DD] > unitaudit.1
"""
import argparse
import datetime
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # this checkout's unitaudit, when not installed

import typer.main  # noqa: E402

import unitaudit  # noqa: E402
import unitaudit.cli  # noqa: E402

TEMPLATE = os.path.join(HERE, "unitaudit.1.in")
NOTE = re.compile(r'^\.\\" @@ (command|option) (.+)$')
MAX_SYNOPSIS_OPTIONS = 3  # more than these, and the SYNOPSIS line says [options]


def command_tree():
    """[(path, click command)] of every command, groups included, in the order --help lists them."""
    found = []

    def walk(prefix, group):
        for name, cmd in group.commands.items():
            if getattr(cmd, "hidden", False):
                continue
            path = (prefix + " " + name).strip()
            found.append((path, cmd))
            if is_group(cmd):
                walk(path, cmd)

    walk("", root_command())
    return found


def root_command():
    return typer.main.get_command(unitaudit.cli.app)


def is_group(cmd):
    return isinstance(getattr(cmd, "commands", None), dict)


def options(cmd):
    return [p for p in cmd.params if p.param_type_name == "option" and not getattr(p, "hidden", False)]


def arguments(cmd):
    return [p for p in cmd.params if p.param_type_name == "argument"]


def option_names(opt):
    """Short names first, as the page lists them: -o, --output."""
    names = list(opt.opts) + list(opt.secondary_opts)
    return [n for n in names if not n.startswith("--")] + [n for n in names if n.startswith("--")]


def roff(text):
    """Plain text (a help string) as man(7) text: backslashes and dashes escaped (lintian wants
    an option's dashes as minus signs), `quoted` words bold, no line taken for a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    text = re.sub(r"`([^`]+)`", r"\\fB\1\\fR", text)
    return "\n".join("\\&" + line if line[:1] in (".", "'") else line for line in text.split("\n"))


def paragraphs(help_text):
    """click's help text as paragraphs: what follows \\f is not shown, \\b marks are dropped."""
    text = (help_text or "").split("\f", 1)[0]
    found = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [line.strip() for line in block.split("\n") if line.strip() != "\b"]
        if lines:
            found.append(" ".join(lines))
    return found


def metavar(param):
    """An argument's metavar without click's brackets: [UNIT] -> UNIT."""
    return (param.metavar or param.name.upper()).strip("[]")


def header(path, cmd):
    """The .SS line of a command: "scan [options]", "churn [options] [UNIT]"."""
    words = [path]
    if options(cmd):
        words.append("[\\fIoptions\\fP]")
    words.extend("[\\fI%s\\fP]" % roff(metavar(a)) for a in arguments(cmd))
    return '.SS "%s"' % " ".join(words)


def synopsis(tree):
    out = []
    for path, cmd in tree:
        if is_group(cmd):
            continue
        out.extend([".B unitaudit", ".RB [ \\-\\-debug ]", ".B %s" % path])
        opts = options(cmd)
        if len(opts) > MAX_SYNOPSIS_OPTIONS:
            out.append(".RI [ options ]")
        for opt in opts if len(opts) <= MAX_SYNOPSIS_OPTIONS else ():
            name = roff(option_names(opt)[-1])
            out.extend([".RB [ %s ]" % name] if opt.is_flag else [".RB [ %s" % name, ".IR %s ]" % roff(opt.metavar)])
        out.extend(".RI [ %s ]" % roff(metavar(a)) for a in arguments(cmd))
        out.append(".PP")
    out.append(".B unitaudit \\-\\-version")
    return out


def option_item(opt, note):
    """One .TP item: the names and metavar, the help, the default, the template's note."""
    names = [roff(n) for n in option_names(opt)]
    if opt.is_flag:  # bold names, roman commas: .BR \-v ", " \-\-verbose
        tag = ".B " + names[0] if len(names) == 1 else ".BR " + ' ", " '.join(names)
    else:
        tag = '.BI "%s " %s' % (", ".join(names), roff(opt.metavar))
    body = [roff(p) for p in paragraphs(opt.help)]
    if not opt.is_flag and opt.default is not None and "default" not in (opt.help or "").lower():
        value = "%g" % opt.default if isinstance(opt.default, float) else str(opt.default)
        body.append("Default: %s." % roff(value))
    return [".TP", tag] + body + note


def option_note(notes, path, opt):
    return notes.pop(("option", ("%s %s" % (path, option_names(opt)[-1])).strip()), [])


def global_options(root, notes):
    out = []
    for opt in options(root):
        out.extend(option_item(opt, option_note(notes, "", opt)))
    return out + [".TP", ".B \\-\\-help", "Print the usage of", ".B unitaudit", "or, after a command, of that command."]


def commands(tree, notes):
    out = []
    for path, cmd in tree:
        if is_group(cmd):
            continue
        out.append(header(path, cmd))
        out.extend(roff(p) + "\n.PP" for p in paragraphs(cmd.help))
        if out[-1].endswith("\n.PP"):
            out[-1] = out[-1][:-len("\n.PP")]
        out.extend(notes.pop(("command", path), []))
        for opt in options(cmd):
            out.extend(option_item(opt, option_note(notes, path, opt)))
    return out


def read_template(path):
    """(the page's lines, {("command", path) or ("option", "path --name"): [lines]})."""
    page, notes, current = [], {}, None
    with open(path, encoding="utf-8") as f:
        for line in f.read().splitlines():
            match = NOTE.match(line)
            if match:
                current = notes.setdefault((match.group(1), match.group(2).strip()), [])
            elif current is not None:
                current.append(line)
            else:
                page.append(line)
    return page, notes


def render(date, template=TEMPLATE):
    page, notes = read_template(template)
    tree = command_tree()
    parts = {
        '.\\" @synopsis': synopsis(tree),
        '.\\" @options': global_options(root_command(), notes),
        '.\\" @commands': commands(tree, notes),
    }
    if notes:  # a note for a command or an option the program does not have (any more)
        raise SystemExit("make_man: %s: notes for what the command line does not have: %s"
                         % (template, ", ".join(" ".join(k) for k in sorted(notes))))
    out = []
    for line in page:
        out.extend(parts.pop(line, [line]))
    if parts:
        raise SystemExit("make_man: %s lacks the markers %s" % (template, ", ".join(sorted(parts))))
    text = "\n".join(out) + "\n"
    return text.replace("@VERSION@", unitaudit.__version__).replace("@DATE@", date)


def build_date():
    """SOURCE_DATE_EPOCH (dpkg-buildpackage sets it from debian/changelog): the same page for the
    same source, whenever it is built."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = datetime.datetime.utcfromtimestamp(int(epoch)) if epoch else datetime.datetime.utcnow()
    return when.strftime("%Y-%m-%d")


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write unitaudit(1) from the command line's definitions.")
    parser.add_argument("--date", default=None, help="the page's date (default: SOURCE_DATE_EPOCH, else today)")
    parser.add_argument("--output", "-o", default="-", help="the file to write (default: standard output)")
    args = parser.parse_args(argv)
    text = render(args.date or build_date())
    if args.output == "-":
        sys.stdout.write(text)
    else:
        if os.path.dirname(args.output) and not os.path.isdir(os.path.dirname(args.output)):
            os.makedirs(os.path.dirname(args.output))
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
