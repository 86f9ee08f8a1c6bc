"""`pip install unitaudit` carries its recipes: the sdist of a copy of the checkout, the wheel built
from that sdist, installed in a fresh virtual environment outside the checkout with only the
libraries the Debian package carries (packaging/vendor/requirements.lock: no systemd-python, which
a venv gets only where it can compile it), then run from a directory outside the checkout.  It
lists every recipe of remediations/ from its own copy and plans the seed's recorded loops
(examples/bundle-seed) exactly as the checkout does.

Offline: the wheel is built by Debian's python3 with python3-setuptools and python3-wheel, and
the libraries come from build/vendor/wheels (both from `make setup`).  The virtual environment is
made with the Python running the suite, so the Python 3.7 pass installs and runs it on 3.7."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from builders import ROOT, example

VENDOR_WHEELS = ROOT / "build" / "vendor" / "wheels"
LOCK = ROOT / "packaging" / "vendor" / "requirements.lock"
# Debian's python3 builds: .venv's setuptools has no bdist_wheel (no `wheel` package) and .venv37's
# is older than pyproject.toml's [project] table; `make deb` uses Debian's tools the same way.
BUILDER = "/usr/bin/python3"
# what the build reads (pyproject.toml, setup.py) and packs: the rest of the checkout is not the package's
SOURCES = ("pyproject.toml", "setup.py", "README.md", "unitaudit", "remediations")
RECIPE_IDS = sorted(p.stem for p in (ROOT / "remediations").glob("*.toml"))
BUNDLE = example("bundle-seed", "unitaudit-bundle-seed.tar.xz")
SEED_FINDINGS = [f["id"] for f in json.loads(example("bundle-seed", "scan-inside.json").read_text())["findings"]]


def _run(argv, cwd, env, ok=(0,), hint=""):
    p = subprocess.run([str(a) for a in argv], cwd=str(cwd), env=env, capture_output=True, text=True)
    assert p.returncode in ok, "%s: exit %d %s\n%s%s" % (" ".join(map(str, argv)), p.returncode, hint, p.stdout,
                                                          p.stderr)
    return p


def _clean_env(path, **more):
    """Nothing of this session's environment: no PYTHONPATH to reach the checkout, no pip
    configuration naming an index, no UNITAUDIT_CHECK_SCHEMAS (jsonschema is not installed)."""
    env = {"PATH": path, "LANG": "C.UTF-8", "NO_COLOR": "1", "PIP_CONFIG_FILE": os.devnull,
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INDEX": "1"}
    env.update(more)
    return env


def _build_wheel(top: Path) -> Path:
    src, dist = top / "src", top / "dist"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(str(ROOT / name), str(src / name), ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy(str(ROOT / name), str(src / name))
    env = _clean_env("/usr/bin:/bin", HOME=str(top))
    hint = "(the build needs Debian's python3-setuptools and python3-wheel: make system-packages)"
    if not os.access(BUILDER, os.X_OK):
        pytest.fail("%s is missing %s" % (BUILDER, hint))
    sdist = _run([BUILDER, "-c", "import sys\nfrom setuptools import build_meta\n"
                  "print(build_meta.build_sdist(sys.argv[1]))", dist], src, env, hint=hint).stdout.split()[-1]
    _run([BUILDER, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
          "--wheel-dir", dist, dist / sdist], top, env, hint=hint)
    (wheel,) = dist.glob("unitaudit-*.whl")
    return wheel


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """The fresh virtual environment with the wheel and the carried libraries installed; returns
    (its directory, an environment for running it, a working directory outside the checkout)."""
    if not VENDOR_WHEELS.is_dir():
        pytest.fail("%s is missing: run `make vendor` (part of make setup) to fetch the wheels of %s"
                    % (VENDOR_WHEELS, LOCK.relative_to(ROOT)))
    top = tmp_path_factory.mktemp("wheel-install")
    assert ROOT not in top.parents, "the test must run outside the checkout"
    wheel = _build_wheel(top)
    base_python = os.path.join(sys.base_prefix, "bin", "python%d.%d" % sys.version_info[:2])
    env = _clean_env("/usr/bin:/bin", HOME=str(top))
    _run([base_python, "-m", "venv", top / "venv"], top, env)
    python = top / "venv" / "bin" / "python"
    _run([python, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", VENDOR_WHEELS,
          "--require-hashes", "--no-deps", "-r", LOCK], top, env)
    # --no-deps: the wheel's metadata asks for systemd-python too, which is not in the lock
    _run([python, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", wheel], top, env)
    work = top / "work"
    work.mkdir()
    (top / "tmp").mkdir()
    return top / "venv", _clean_env("%s:/usr/bin:/bin" % (top / "venv" / "bin"), HOME=str(top),
                                    TMPDIR=str(top / "tmp")), work


def test_the_installed_package_is_the_venvs_not_the_checkouts(venv):
    directory, env, work = venv
    code = ("import importlib.util, unitaudit\n"
            "from unitaudit.remediation.recipes import SEARCH_PATH\n"
            "print(unitaudit.__file__)\n"
            "print(SEARCH_PATH[-1])\n"
            "print(importlib.util.find_spec('systemd'))\n")
    package, own_copy, systemd = _run([directory / "bin" / "python", "-c", code], work, env).stdout.splitlines()
    assert directory in Path(package).parents, package
    assert ROOT not in Path(package).resolve().parents
    # the recipes that came with the wheel, inside the installed package
    assert Path(own_copy) == Path(package).parent / "remediations"
    assert sorted(p[:-len(".toml")] for p in os.listdir(own_copy) if p.endswith(".toml")) == RECIPE_IDS
    assert systemd == "None", "systemd-python is not to be installed here: what follows runs without it"


def _expected_source(directory: Path, recipe_id: str) -> str:
    """Where the installed unitaudit must have read a recipe: this machine's admin or Debian
    directory when either holds one of that id (they come first), else the wheel's own copy."""
    for d in ("/etc/unitaudit/remediations.d", "/usr/share/unitaudit/remediations"):
        if os.path.isfile(os.path.join(d, recipe_id + ".toml")):
            return os.path.join(d, recipe_id + ".toml")
    (own,) = directory.glob("lib/python*/site-packages/unitaudit/remediations")
    return str(own / (recipe_id + ".toml"))


def test_installed_recipes_lists_every_recipe_of_remediations(venv):
    directory, env, work = venv
    text = _run(["unitaudit", "recipes"], work, env).stdout
    assert sorted(line for line in text.splitlines() if line and not line.startswith(" ")) == RECIPE_IDS, text
    doc = json.loads(_run(["unitaudit", "recipes", "--json"], work, env).stdout)
    assert sorted(r["id"] for r in doc["recipes"]) == RECIPE_IDS
    for r in doc["recipes"]:
        assert r["source"] == _expected_source(directory, r["id"])
        assert "from " + r["source"] in " ".join(text.split())  # the text names it too (wrapped at 80)


def test_installed_fix_plans_the_seed_loops_as_the_checkout_does(venv, tmp_path):
    directory, env, work = venv
    bundle = shutil.copy(str(BUNDLE), str(work / BUNDLE.name))
    args = ["fix", "--dry-run", "--json", "--bundle", bundle]
    installed = json.loads(_run(["unitaudit"] + args, work, env, ok=(1,)).stdout)  # 1: a plan shown
    assert {s["finding_id"] for s in installed["steps"]} == set(SEED_FINDINGS)  # a step for each loop
    checkout = _run([sys.executable, "-m", "unitaudit"] + args, tmp_path,
                    dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1"), ok=(1,))
    assert installed == json.loads(checkout.stdout)
    plain = _run(["unitaudit", "fix", "--dry-run", "--bundle", bundle], work, env, ok=(1,)).stdout
    assert "nothing was changed" in plain
    assert os.listdir(env["TMPDIR"]) == []  # the bundle's extraction was removed
