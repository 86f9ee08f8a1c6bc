"""Finding the recipe files, reading them safely, and saying what each one fixes.

Search path, first match of an id wins (ids equal file names, so an override is a file of the
same name): the admin's /etc/unitaudit/remediations.d, the Debian package's /usr/share/unitaudit/
remediations, then the copy that came with this code: remediations/ inside the installed package
(a wheel's package data: pip install, pipx install), or the checkout's top-level remediations/
when running from the source tree.  No recipe in any of them is an error naming each place.

`unitaudit fix` runs as root and acts on what these files say, so as root a file (or the
directory holding it) that anyone but root owns or could write is refused, not skipped: a
silently missing recipe would hide the tampering.
"""
import os
import stat
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from unitaudit.errors import RecipeError
from unitaudit.model import Applies, Recipe, Step
from unitaudit.remediation.schema import parse_recipe
from unitaudit.util.files import refuse_unsafe

try:
    from importlib.resources import files as _package_files  # Python 3.9+
except ImportError:  # Python 3.7, 3.8: the package's directory from __file__ (_package_copy)
    _package_files = None  # type: ignore[assignment]
try:
    import tomllib as _toml  # Python 3.11+
except ImportError:  # pragma: no cover - Python < 3.11
    try:
        import tomli as _toml  # type: ignore[no-redef]
    except ImportError:  # a broken installation: said when recipes are loaded, not at import
        _toml = None  # type: ignore[assignment]

ADMIN_DIR = "/etc/unitaudit/remediations.d"
PACKAGED_DIR = "/usr/share/unitaudit/remediations"  # where the Debian package installs them
MAX_BYTES = 1 << 20  # a recipe is a few hundred bytes; more is not a recipe


def _package_copy() -> str:
    """remediations/ inside the installed package, where a wheel puts the recipes (setup.py maps
    the top-level remediations/ there); it need not exist (the checkout, the Debian package)."""
    if _package_files is None:  # no files(): a package installed from a wheel is a directory on disk
        return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "remediations")
    # str(): the loader reads with os calls (O_NONBLOCK, fstat, ownership); a package installed
    # from a wheel is a plain directory, so files() gives a pathlib.Path
    return str(_package_files("unitaudit").joinpath("remediations"))


def _own_copy() -> str:
    """The recipes that came with this code: the package's copy when it holds one, else the
    checkout's remediations/ when running from the source tree (the suite, `python -m unitaudit`
    there, the lab, an editable install: their package directory is the checkout's unitaudit/,
    which has no copy), else the package's path all the same, so that an installation without
    recipes names where they should have been."""
    packaged = _package_copy()
    if os.path.isdir(packaged):
        return packaged
    return _repository_dir() or packaged


def _repository_dir() -> Optional[str]:
    """remediations/ of the checkout this package runs from; None when installed.  The
    pyproject.toml beside it tells a checkout from a site-packages that happens to hold one."""
    root = Path(__file__).resolve().parent.parent.parent
    if (root / "pyproject.toml").is_file() and (root / "remediations").is_dir():
        return str(root / "remediations")
    return None


SEARCH_PATH: Tuple[str, ...] = (ADMIN_DIR, PACKAGED_DIR, _own_copy())


def load_recipes(dirs: Optional[Sequence[str]] = None, euid: Optional[int] = None) -> Tuple[Recipe, ...]:
    """Every recipe on the search path (or in `dirs`), an earlier directory's recipe replacing a
    later one of the same id, sorted by (priority, id): the order the planner tries them in.
    Any broken file is a RecipeError, and so is finding none at all: fix would plan nothing and
    say nothing was wrong, `recipes` would list nothing, on an installation that lost its recipes."""
    as_root = (os.geteuid() if euid is None else euid) == 0
    searched = SEARCH_PATH if dirs is None else tuple(dirs)
    chosen: Dict[str, Recipe] = {}
    for directory in searched:
        for path in _recipe_files(directory):
            stem = os.path.basename(path)[:-len(".toml")]
            if stem in chosen:
                continue  # overridden by an earlier directory: not even read, so an override can replace a broken file
            chosen[stem] = parse_recipe(_read_toml(path, as_root), path)
    if not chosen:
        raise RecipeError("no recipes found: no *.toml file in %s (reinstall unitaudit, or add recipes to %s)"
                          % (", ".join(searched), ADMIN_DIR))
    return tuple(sorted(chosen.values(), key=lambda r: (r.priority, r.id)))


def describe(recipe: Recipe) -> str:
    """One line: what the recipe is for and what it does, e.g. `activation-loop, failure with
    cause missing-unit (alias-missing): reenable {declared_by}, restart {declared_by}; then
    activation-succeeds over 15 s; fallback apt-reinstall {package}`."""
    out = "%s: %s; then %s over %g s" % (describe_applies(recipe.applies), _describe_steps(recipe.steps),
                                         recipe.verify.check.value, recipe.verify.seconds)
    if recipe.fallback:
        out += "; fallback " + _describe_steps(recipe.fallback)
    return out


def describe_applies(applies: Applies) -> str:
    """`restart-loop with cause execstartpre-failed (module-missing)`; `restart-loop` for any cause."""
    out = ", ".join(k.value for k in applies.findings)
    if applies.cause:
        out += " with cause " + applies.cause.value
    if applies.verdicts:
        out += " (%s)" % " or ".join(applies.verdicts)
    return out


def _describe_steps(steps: Sequence[Step]) -> str:
    words = []
    for s in steps:
        args = [template for _name, template in s.params] + ["%s=%s" % kv for kv in s.settings]
        words.append(" ".join([s.action.value] + args))
    return ", ".join(words)


def _recipe_files(directory: str) -> List[str]:
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []  # every directory on the path is optional
    except OSError as e:
        raise RecipeError("%s: cannot list the recipes: %s" % (directory, e.strerror or e)) from None
    # dot files are editors' locks and swap files (.#x.toml, .x.toml.swp), never recipes
    return [os.path.join(directory, n) for n in names if n.endswith(".toml") and not n.startswith(".")]


def _read_toml(path: str, as_root: bool) -> dict:
    if _toml is None:
        raise RecipeError("%s: cannot read recipes: neither tomllib (Python 3.11+) nor tomli is installed" % path)
    try:
        # O_NONBLOCK: a FIFO put in place of a recipe must not hang the open; the checks below
        # run on the descriptor that is read, so the file cannot be swapped in between
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise RecipeError("%s: cannot read the recipe: %s" % (path, e.strerror or e)) from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise RecipeError("%s: not a regular file" % path)
        if as_root:
            refuse_unsafe(path, info, "recipe file")
            # the directory that holds the file itself, wherever a symlink led
            real_dir = os.path.dirname(os.path.realpath(path))
            refuse_unsafe(real_dir, os.stat(real_dir), "directory")
        raw = f.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise RecipeError("%s: larger than %d bytes: not a recipe" % (path, MAX_BYTES))
    try:
        return _toml.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise RecipeError("%s: not UTF-8 text (byte %d)" % (path, e.start)) from None
    except _toml.TOMLDecodeError as e:
        raise RecipeError("%s: not valid TOML: %s" % (path, e)) from None  # the message says line and column
    except (ValueError, RecursionError) as e:  # an integer past Python's digit limit, nesting past the stack
        raise RecipeError("%s: not a recipe: %s" % (path, str(e).split("\n", 1)[0] or type(e).__name__)) from None
