"""The shape of the package, checked: short modules and functions, imports that point one way,
no cycles, no imports hidden in functions (the cli package excepted, for start-up time), no
repeated code.

The layers (README, "Layout"), each importing only from those below it and from itself:

    cli
    services, hourly, collect             what a command does
    sources, analysis, store,             the parts; reporters word the model only
    remediation, report, config
    model, util, errors                   types, grammars, files and times
"""
import ast
import sys
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

# The shape is the same code on every Python; the main pass checks it (ast has end_lineno from 3.8).
pytestmark = [pytest.mark.main_pass,  # make test's Python 3.7 pass leaves it out (-m 'not main_pass')
              pytest.mark.skipif(sys.version_info < (3, 8), reason="ast records where a node ends from Python 3.8 on")]

PACKAGE = Path(__file__).resolve().parent.parent / "unitaudit"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
REPEAT_LINES = 6

BASE = {"unitaudit", "unitaudit.model", "unitaudit.errors", "unitaudit.util"}
PARTS = {"unitaudit.sources", "unitaudit.analysis", "unitaudit.store", "unitaudit.remediation", "unitaudit.report",
         "unitaudit.config"}
# package -> the packages it may import (besides itself)
ALLOWED: Dict[str, Set[str]] = {
    "unitaudit.errors": set(),
    "unitaudit.model": {"unitaudit.errors"},
    "unitaudit.util": {"unitaudit.errors"},
    "unitaudit.sources": BASE,
    "unitaudit.analysis": BASE,
    "unitaudit.store": BASE,
    "unitaudit.report": BASE,
    "unitaudit.config": BASE,
    # a plan reads the system through the probe, and a fix acts over the bus connection sources open
    "unitaudit.remediation": BASE | {"unitaudit.sources"},
    "unitaudit.services": BASE | PARTS,
    "unitaudit.hourly": BASE | PARTS | {"unitaudit.services"},
    "unitaudit.collect": BASE | PARTS | {"unitaudit.services"},
    "unitaudit.cli": BASE | PARTS | {"unitaudit.services", "unitaudit.hourly", "unitaudit.collect"},
    "unitaudit.__main__": {"unitaudit.cli"},
}


def _modules() -> Dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _tree(name: str) -> ast.Module:
    return ast.parse(MODULES[name].read_text(), str(MODULES[name]))


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"


def _imported(name: str, node: ast.AST) -> List[str]:
    """The unitaudit modules an import statement names, resolved to modules that exist."""
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "unitaudit"]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = package.split(".")[: len(package.split(".")) - node.level + 1]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module or ""
    if module.split(".")[0] != "unitaudit":
        return []
    out = []
    for alias in node.names:
        sub = "%s.%s" % (module, alias.name)
        out.append(sub if sub in MODULES else module)
    return out


def _imports(name: str) -> List[Tuple[int, str]]:
    """(line, module) of every unitaudit import, in functions too; not those only a type checker reads."""
    found = []
    for node in _tree(name).body:
        if _type_checking_only(node):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, (ast.Import, ast.ImportFrom)):
                found += [(inner.lineno, m) for m in _imported(name, inner)]
    return found


def _functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def _layer(module: str) -> str:
    for prefix in sorted(ALLOWED, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return prefix
    return module


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_longer_than_400_lines(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, "%s has %d lines: split it by responsibility" % (name, lines)


def test_no_function_is_longer_than_60_lines():
    long = ["%s.%s: %d lines" % (name, f.name, f.end_lineno - f.lineno + 1)
            for name in MODULES for f in _functions(_tree(name)) if f.end_lineno - f.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == []


def test_every_package_imports_only_from_the_layers_below_it():
    wrong = []
    for name in MODULES:
        if name == "unitaudit":
            continue
        own = _layer(name)
        assert own in ALLOWED, "%s belongs to no layer: add it to ALLOWED and README's layout" % name
        for line, target in _imports(name):
            theirs = _layer(target)
            if theirs != own and theirs not in ALLOWED[own] and target not in ALLOWED[own]:
                wrong.append("%s:%d imports %s" % (name, line, target))
    assert wrong == []


def test_there_is_no_import_cycle():
    graph = {name: {t for _l, t in _imports(name) if t in MODULES and t != name} for name in MODULES}
    # a package's __init__ is imported with any of its modules: an edge to it counts
    cycles = []
    for start in graph:
        stack, seen = [(start, (start,))], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start and len(path) > 1:
                    cycles.append(" -> ".join(path + (start,)))
                elif nxt not in seen and nxt not in path:
                    seen.add(nxt)
                    stack.append((nxt, path + (nxt,)))
    assert sorted(set(cycles)) == []


# Beside the cli, the modules that import inside a function, and why: the schema check the test
# suite turns on (UNITAUDIT_CHECK_SCHEMAS) needs jsonschema, a test dependency no run may load;
# the scan imports only the sources a request names (start-up time: test_cli's module checks).
LAZY = {"unitaudit.report.json_out", "unitaudit.report.schemas", "unitaudit.services.scan"}


def test_imports_inside_functions_only_in_the_cli_each_with_its_reason():
    hidden = []
    for name in MODULES:
        source = MODULES[name].read_text().splitlines()
        for f in _functions(_tree(name)):
            for node in ast.walk(f):
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                where = "%s:%d" % (name, node.lineno)
                if name not in LAZY and name != "unitaudit.cli" and not name.startswith("unitaudit.cli."):
                    hidden.append(where)
                elif "#" not in source[node.lineno - 1] and not source[node.lineno - 2].strip().startswith("#"):
                    hidden.append(where + " (no comment saying why)")
    assert hidden == []


def _shape(line: str) -> str:
    return line.strip()


def test_no_six_lines_repeat_within_the_package():
    """Six non-trivial lines in a row, the same to the letter but for indentation, in two places."""
    seen: Dict[Tuple[str, ...], str] = {}
    repeats = []
    for name, path in MODULES.items():
        lines = [(i + 1, _shape(l)) for i, l in enumerate(path.read_text().splitlines())]
        lines = [(i, l) for i, l in lines if len(l) > 3 and not l.startswith(("#", "from ", "import ", '"""'))]
        for k in range(len(lines) - REPEAT_LINES + 1):
            window = tuple(l for _i, l in lines[k:k + REPEAT_LINES])
            where = "%s:%d" % (name, lines[k][0])
            if window in seen and not seen[window].startswith(name + ":"):
                repeats.append("%s ~ %s" % (seen[window], where))
            seen.setdefault(window, where)
    assert repeats == []


def test_the_readme_layout_lists_every_module():
    """README's tree of unitaudit/ (the lines indented under it) names every module, one per line."""
    readme = (PACKAGE.parent / "README.md").read_text()
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    tree = section.split("\nunitaudit/\n", 1)[1].split("\n```", 1)[0]
    rows = [line.split()[0] for line in tree.splitlines() if line.startswith("  ") and line[2] != " "]
    present = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"}
    assert sorted(present - set(rows)) == []
    assert sorted(r for r in rows if r.endswith(".py") and r not in present) == []
