"""The configuration file: /etc/unitaudit/unitaudit.toml, or the file $UNITAUDIT_CONFIG names.

Every setting has a default, so a missing default file means the defaults; a file someone named
(the variable, or a path passed in) and is missing is an error, since they meant something by it.
Unknown tables and keys are errors too: a misspelt setting silently ignored is a setting silently
left at its default.

[auto_apply] decides which recipes the hourly timer applies unattended, as root, so as root the
file must be root's and writable by no one else: the check recipe files get, reused.
"""
import json
import math
import os
import re
import stat
from dataclasses import fields
from typing import Any, Dict, List, Optional, Sequence, Tuple

from unitaudit.errors import ConfigError, RecipeError
from unitaudit.model import Config, Thresholds
from unitaudit.util.names import is_unit_name
from unitaudit.util.files import refuse_unsafe
from unitaudit.util.times import duration_seconds

try:
    import tomllib as _toml  # Python 3.11+
except ImportError:  # pragma: no cover - Python < 3.11
    try:
        import tomli as _toml  # type: ignore[no-redef]
    except ImportError:  # a broken installation: said when a config file is read, not at import
        _toml = None  # type: ignore[assignment]

DEFAULT_PATH = "/etc/unitaudit/unitaudit.toml"
MAX_BYTES = 1 << 20  # the file is a few hundred bytes; more is not a configuration


# table -> its keys; None: any key (the [protected] globs)
TABLES: Dict[str, Optional[Tuple[str, ...]]] = {
    "scan": ("window",),
    "thresholds": tuple(f.name for f in fields(Thresholds)),
    "history": ("retention",),
    "prometheus": ("path",),
    "protected": None,
    "auto_apply": ("recipes",),
}
# The longest duration: "36500d" (100 years) keeps everything a machine ever logged, and `now`
# minus it is still a time every part of unitaudit can print, store and hand to the journal.
MAX_DURATION = 36500 * 86400.0


def config_path() -> Tuple[str, bool]:
    """(the file to read, whether someone named it): $UNITAUDIT_CONFIG if set, else DEFAULT_PATH."""
    named = os.environ.get("UNITAUDIT_CONFIG")
    if named:  # set but empty counts as unset, as with most variables a shell exports
        return named, True
    return DEFAULT_PATH, False


def load_config(path: Optional[str] = None) -> Config:
    """The configuration in `path` (named, so it must exist), else in config_path()'s file."""
    how = "" if path is not None else " (named by UNITAUDIT_CONFIG)"
    explicit = True
    if path is None:
        path, explicit = config_path()
    try:
        # O_NONBLOCK: a FIFO put in its place must not hang the open; the checks below run on the
        # descriptor that is read, so the file cannot be swapped in between
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        if not explicit:
            return Config()
        raise ConfigError("%s: cannot read the configuration%s: no such file" % (path, how)) from None
    except OSError as e:
        raise ConfigError("%s: cannot read the configuration: %s" % (path, e.strerror or e)) from None
    try:
        info = os.fstat(fd)  # before fdopen(), which refuses a directory with its own error
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError("%s: cannot read the configuration: not a regular file" % path)
        if os.geteuid() == 0:
            try:
                refuse_unsafe(path, info, "configuration file")
            except RecipeError as e:
                raise ConfigError(str(e)) from None
        with os.fdopen(fd, "rb", closefd=False) as f:
            raw = f.read(MAX_BYTES + 1)
    finally:
        os.close(fd)
    if len(raw) > MAX_BYTES:
        raise ConfigError("%s: larger than %d bytes: not a configuration file" % (path, MAX_BYTES))
    if _toml is None:
        raise ConfigError("%s: cannot read it: neither tomllib (Python 3.11+) nor tomli is installed" % path)
    try:
        data = _toml.loads(raw.decode("utf-8"))
    except RecursionError:  # tomllib and tomli recurse once per nested array or inline table
        raise ConfigError("%s: %snot valid TOML: arrays or inline tables nested too deeply (a configuration "
                          "nests none)" % (path, _deep_key(raw.decode("utf-8", "replace")))) from None
    except UnicodeDecodeError as e:
        raise ConfigError("%s: not UTF-8 text (byte %d)" % (path, e.start)) from None
    except _toml.TOMLDecodeError as e:
        raise ConfigError("%s: not valid TOML: %s" % (path, e)) from None  # the message says line and column
    except ValueError as e:  # Python 3.11+: an integer of more than 4300 digits, refused by int() itself
        raise ConfigError("%s: not valid TOML: %s" % (path, str(e).split(":")[0])) from None
    return parse_config(data, path)


def parse_config(data: Dict[str, Any], where: str) -> Config:
    """The Config a parsed TOML document describes; `where` (the file) starts every error."""
    tables: Dict[str, Dict[str, Any]] = {}
    for name, value in data.items():
        if name not in TABLES:
            raise ConfigError("%s: [%s]: unknown table (known: %s)" % (where, name, ", ".join(sorted(TABLES))))
        if not isinstance(value, dict):
            raise ConfigError("%s: [%s]: must be a table, got %s" % (where, name, _show(value)))
        known = TABLES[name]
        for key in value:
            if known is not None and key not in known:
                raise ConfigError("%s: [%s] %s: unknown key (known: %s)" % (where, name, key, ", ".join(known)))
        tables[name] = value
    scan, history, prometheus = tables.get("scan", {}), tables.get("history", {}), tables.get("prometheus", {})
    default = Config()

    th: Dict[str, Any] = {}
    for f in fields(Thresholds):
        if f.name in tables.get("thresholds", {}):
            value, at = tables["thresholds"][f.name], "%s: [thresholds] %s" % (where, f.name)
            # the windows are the float fields (seconds), the rest are counts
            th[f.name] = parse_duration(value, at) if isinstance(f.default, float) else _positive_int(value, at)

    prom = prometheus.get("path", default.prometheus_path)
    if not isinstance(prom, str) or (prom and (not prom.startswith("/") or "\0" in prom)):
        raise ConfigError('%s: [prometheus] path: must be an absolute path, or "" to disable the textfile, got %s'
                          % (where, _show(prom)))

    protected = []
    for glob, reason in tables.get("protected", {}).items():
        if not glob or not isinstance(reason, str) or not reason.strip():
            raise ConfigError("%s: [protected] %s: must map a unit glob to the reason it is protected (a non-empty "
                              "string: the refusal quotes it), got %s" % (where, _show(glob), _show(reason)))
        protected.append((glob, reason))

    recipes = tables.get("auto_apply", {}).get("recipes", [])
    if not isinstance(recipes, list) or not all(isinstance(r, str) and r for r in recipes):
        raise ConfigError("%s: [auto_apply] recipes: must be a list of recipe ids (strings), got %s"
                          % (where, _show(recipes)))

    return Config(
        path=where,
        window=parse_duration(scan["window"], "%s: [scan] window" % where) if "window" in scan else default.window,
        thresholds=Thresholds(**th),
        retention=(parse_duration(history["retention"], "%s: [history] retention" % where)
                   if "retention" in history else default.retention),
        prometheus_path=prom,
        protected=tuple(protected),
        auto_apply=tuple(dict.fromkeys(recipes)),  # a repeated id means nothing more
    )


def parse_duration(value: Any, where_key: str) -> float:
    """Seconds from "24h", "7d", "90min", "2 hours" (the relative forms --since takes, without the
    sign: util.times.duration_seconds) or a bare number of seconds (a TOML integer or float);
    positive and at most MAX_DURATION, else a ConfigError starting `where_key`."""
    seconds = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):  # TOML true is no duration
        seconds = float(value) if abs(value) < 1e300 else (1e300 if value > 0 else -1e300)  # float(10**400) overflows
    elif isinstance(value, str):
        seconds = duration_seconds(value)
    if seconds is None or math.isnan(seconds) or seconds <= 0:
        raise ConfigError('%s: must be a positive duration such as "24h", "7d", "90min" or a number of seconds, '
                          'got %s' % (where_key, _show(value)))
    if seconds > MAX_DURATION:  # inf included
        raise ConfigError('%s: must be a positive duration of at most 100 years ("36500d"), got %s'
                          % (where_key, _show(value)))
    return seconds


def _deep_key(text: str) -> str:
    """ "line N, key K: " for the first run of a hundred opening brackets, where the parser gave up."""
    run = re.search(r"[\[{](?:\s*[\[{]){99}", text)
    if run is None:
        return ""
    line = text.count("\n", 0, run.start()) + 1
    keys = re.findall(r"(?m)^\s*([A-Za-z0-9_.\"'-]+?)\s*=", text[:run.start()])
    return "line %d%s: " % (line, ", key %s" % keys[-1] if keys else "")


def _positive_int(value: Any, where_key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:  # TOML true is no count
        raise ConfigError("%s: must be a positive integer, got %s" % (where_key, _show(value)))
    return value


def check_config(config: Config, recipe_ids: Sequence[str]) -> List[str]:
    """Problems only the rest of the installation shows (the recipes loaded), or that are odd but not
    wrong; one line each, empty when all is well."""
    at = config.path + ": " if config.path else ""
    known = set(recipe_ids)
    problems = ["%s[auto_apply] recipes: no recipe %r (unitaudit recipes lists them)" % (at, r)
                for r in config.auto_apply if r not in known]
    for glob, _reason in config.protected:
        # fnmatch's [...] and ? stand for one character, * for any run, the suffix included
        # ("systemd-*"): the glob is plausible when some valid unit name matches it
        one = re.sub(r"\[[^\]]*\]", "x", glob).replace("?", "x")
        if not (is_unit_name(one.replace("*", "x")) or is_unit_name(one.replace("*", "x.service"))):
            problems.append('%s[protected] %s: matches no unit name (unit globs look like "my-app.service" or '
                            '"my-*.service")' % (at, _show(glob)))
    if config.prometheus_path and not config.prometheus_path.endswith(".prom"):
        problems.append("%s[prometheus] path: node_exporter's textfile collector reads only *.prom files, so %s "
                        "is never exported" % (at, _show(config.prometheus_path)))
    return problems


def _show(value: Any) -> str:
    """A value as the TOML file spells it, so the message quotes what the admin wrote."""
    if isinstance(value, (str, bool)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int) and abs(value) >= 10 ** 40:  # repr() refuses past 4300 digits (3.11+)
        return "%san integer of %s digits" % ("minus " if value < 0 else "",
                                              len(str(abs(value))) if abs(value) < 10 ** 4000 else "more than 4000")
    return repr(value)
