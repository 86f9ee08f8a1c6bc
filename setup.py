"""The part of the build pyproject.toml cannot declare: the recipes ship inside the package.

Their one source is the top-level remediations/ (the Debian package installs it to
/usr/share/unitaudit/remediations, the docs point there); package_dir maps it to
unitaudit/remediations/ of a wheel and an sdist, where unitaudit.remediation.recipes finds it with
importlib.resources.  [tool.setuptools.packages.find] can only list directories under unitaudit/,
so the package list is made here, with the mapped one added.  Everything else is in pyproject.toml.
"""
from setuptools import find_packages, setup

setup(
    # the lab harness (unitaudit_lab: tests/lab, make demo, bench/live.py) is the checkout's, not the package's
    packages=find_packages(include=["unitaudit", "unitaudit.*"]) + ["unitaudit.remediations"],
    package_dir={"unitaudit.remediations": "remediations"},
)
