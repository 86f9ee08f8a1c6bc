# Everything a fresh Debian 12 machine needs, installed by the targets that need it.
# Run as root for the system packages (apt-get); the Python side lives in .venv.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# systemd-python builds against libsystemd; bench and tests build journal files
# with systemd-journal-remote; the lab (unitaudit_lab: tests/lab, make demo,
# examples/record_lab.py) boots a real systemd with systemd-nspawn.
APT_PACKAGES := python3 python3-venv python3-dev gcc pkg-config libsystemd-dev \
	systemd systemd-journal-remote grep gzip \
	systemd-container dbus kmod logrotate avahi-daemon strace util-linux \
	python3-systemd debootstrap sosreport tmux prometheus prometheus-node-exporter \
	groff-base bash-completion zsh fish locales python3-matplotlib \
	dpkg-dev lintian debhelper dh-python python3-all python3-pip python3-setuptools python3-wheel
# python3-systemd: the one library the .deb takes from the distribution (it is compiled); the
# package lab installs it in an overlay of this machine.  debootstrap: the lab's Debian 11 and 13
# roots (unitaudit_lab/roots.py).  groff-base, bash-completion, zsh and fish: the man page and the
# completion scripts generated from the CLI are rendered and driven in each shell; locales: glibc's locale sources, from which tests/test_line_forms.py
# regenerates unitaudit/data/months.tsv to check it; dpkg-dev .. python3-wheel: `make deb` (tests/lab/test_package_live.py
# builds the package and installs it in the lab).  sosreport: Debian's `sos report`, which
# examples/record_sos.py runs inside the lab to record examples/sos-seed/ (scan --bundle reads sos reports).
# tmux: the terminal tests/test_terminal_report.py runs the report in, at 80, 120 and 200 columns;
# python3-setuptools and python3-wheel also build the wheel tests/test_wheel_install.py installs.
# prometheus: its promtool checks and tests packaging/prometheus/unitaudit-rules.yml; with
# prometheus-node-exporter it is the live stack tests/lab/test_prometheus_live.py starts in its lab
# (every other lab masks both, as every unit this machine enabled).  python3-matplotlib: bench/plot.py
# draws the scale bench's PNG under Debian's python3; tests/test_bench_scale.py draws one.

# The Python 3.7 pass (UOS 20 and Deepin 20 run 3.7.3): pyenv's 3.7 where there is one, else a
# python3.7 on PATH.  It runs with the library set the package carries (packaging/vendor/requirements.lock)
# and the oldest systemd-python the fleet has (234, Debian 10 and 11).
PY37   ?= $(firstword $(wildcard $(or $(PYENV_ROOT),$(HOME)/.pyenv)/versions/3.7.*/bin/python3.7) $(shell command -v python3.7))
VENV37 := .venv37
LOCK   := packaging/vendor/requirements.lock

.PHONY: all setup setup37 vendor system-packages lab-roots demo demo-offline test bench bench-pkg bench-scale deb clean

all: test

system-packages:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages: $$missing (run make as root, or apt-get install them)"; exit 1; fi; \
		echo "installing: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(VENV)/.ready: pyproject.toml | system-packages
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

setup: system-packages $(VENV)/.ready vendor

# The libraries the package carries (packaging/vendor/requirements.lock), fetched once: the wheels
# by their hashes, checked against Python 3.7 too (a release that dropped 3.7 is refused here), in
# build/vendor/wheels for `make deb`; unpacked in build/vendor/lib for the lab's units, which run
# this checkout the way the package runs (unitaudit_lab/support.py).  Debian's own python3 and pip.
VENDOR := build/vendor
$(VENDOR)/.ready: $(LOCK) | system-packages
	rm -rf $(VENDOR)
	$(DEB_ENV) python3 -m pip download --quiet --disable-pip-version-check --require-hashes --no-deps \
		--only-binary=:all: --python-version 3.7 --implementation py --abi none --platform any \
		-d $(VENDOR)/wheels -r $(LOCK)
	$(DEB_ENV) PIP_CONFIG_FILE=/dev/null python3 -m pip install --quiet --disable-pip-version-check \
		--no-index --find-links=$(VENDOR)/wheels --require-hashes --no-deps --no-compile \
		--no-warn-script-location --target=$(VENDOR)/lib -r $(LOCK)
	touch $@

vendor: $(VENDOR)/.ready

$(VENV37)/.ready: pyproject.toml $(LOCK) | system-packages
	@test -n "$(PY37)" || { echo "no Python 3.7 found (pyenv's versions/3.7.*, or python3.7 on PATH)"; exit 1; }
	$(PY37) -m venv $(VENV37)
	$(VENV37)/bin/python -m pip install -q --require-hashes --no-deps -r $(LOCK)
	$(VENV37)/bin/python -m pip install -q 'systemd-python==234' 'pytest==7.4.4' 'hypothesis==6.79.4' 'jsonschema==4.17.3' 'prometheus_client==0.17.1' 'PyYAML==6.0.1'
	$(VENV37)/bin/python -m pip install -q --no-deps -e .
	touch $@

setup37: $(VENV37)/.ready

# The lab's Debian 11 and 13 roots, debootstrapped once per machine into /var/cache/unitaudit-lab.
# examples/, bench/ and the lab harness (unitaudit_lab) run as modules from the checkout's top
# directory, where make runs: `python -m` imports from there, no path to set.
lab-roots: system-packages
	@if [ "$$(id -u)" = 0 ]; then $(PYTHON) -m unitaudit_lab.roots; else $(PYTHON) -m unitaudit_lab.roots --check || echo "(run make as root to build them)"; fi

# The main job: boot the lab (a real systemd in systemd-nspawn), reproduce the seed's
# three loops, scan it live from inside, print the report, tear the lab down.
# Exit status 1 means "findings": that is the demo working; 2 and up fail it.
demo: setup
	@$(PY) -m examples.demo; test $$? -le 1

# The same report from evidence recorded earlier (no root needed to read it).
demo-offline: setup
	@$(VENV)/bin/unitaudit scan --journal-dir examples/seed-loops/journal; test $$? -le 1

# The suite twice: the newest PyPI libraries, then Python 3.7 with the set the package carries
# (the version-matrix labs test the installed package, whatever runs pytest: once is enough; the
# code's shape, tests/test_layout.py, is the same on every Python: main pass only).
# Without a Python 3.7 the second pass is left out with a message, except in CI, where it fails.
test: setup lab-roots
	$(VENV)/bin/pytest -q -rs
	@if [ -z "$(PY37)" ] && [ "$$CI" != true ]; then echo "== no Python 3.7 here: the 3.7 pass is left out"; exit 0; fi; \
	$(MAKE) --no-print-directory setup37 && \
	echo "== the same tests on Python 3.7 with the library set the package carries" && \
	$(VENV37)/bin/pytest -q -rs -p no:cacheprovider -m 'not matrix and not main_pass'

# The scanner the bench times runs the way the package runs it: Debian's python3, the launcher,
# the carried libraries and this checkout's unitaudit in one private directory, byte-compiled
# (py3compile does that at install; without it every run compiles typer, click and rich anew).
BENCH_PKG := build/bench-pkg
bench-pkg: vendor
	rm -rf $(BENCH_PKG)
	mkdir -p $(BENCH_PKG)/usr/bin $(BENCH_PKG)/usr/share/unitaudit/lib
	cp -r $(VENDOR)/lib/. $(BENCH_PKG)/usr/share/unitaudit/lib/
	cp -r unitaudit $(BENCH_PKG)/usr/share/unitaudit/lib/
	find $(BENCH_PKG) -name __pycache__ -prune -exec rm -rf {} +
	install -m 755 packaging/debian/launcher $(BENCH_PKG)/usr/bin/unitaudit
	$(DEB_ENV) python3 -m compileall -q $(BENCH_PKG)/usr/share/unitaudit/lib > /dev/null

bench: setup bench-pkg
	$(PY) -m bench.generate --out /tmp/unitaudit-bench
	UNITAUDIT=$(CURDIR)/$(BENCH_PKG)/usr/bin/unitaudit $(PY) -m bench.run --data /tmp/unitaudit-bench \
		--json build/bench.json --markdown build/bench.md

# 1M, 3M and 10M entries (about 12 min to generate the first time, 5.9 GB in /tmp/unitaudit-scale,
# kept): time and peak RSS of the text and journal scans; bench/scale.md, .json and .png.
bench-scale: setup bench-pkg
	UNITAUDIT=$(CURDIR)/$(BENCH_PKG)/usr/bin/unitaudit $(PY) -m bench.scale --keep --out bench

# The Debian package (packaging/debian: plain dh, the carried libraries from build/vendor/wheels), built from what a fresh clone of this
# working tree holds: the files git tracks or would track (untracked ones not ignored, so
# uncommitted work is in it; .venv, build/, caches and egg-info are not), copied to
# build/deb/unitaudit-VERSION/ with packaging/debian as its debian/, so the top level stays as
# it is.  Source and binary are both built so lintian checks debian/control, copyright and rules
# too.  Build dependencies come from debian/control (apt-get build-dep), installed as root when
# missing; lintian's errors fail the target, its warnings and infos are printed.
DEB_VERSION := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' packaging/debian/changelog)
DEB_OUT     := build/deb
DEB_TREE    := $(DEB_OUT)/unitaudit-$(DEB_VERSION)
DEB_TOOLS   := dpkg-dev lintian git python3-pip
# Debian's own tools, python3 and pip only: a pyenv or virtual environment ahead of /usr/bin
# would run the build (and dh_python3) with another interpreter.
DEB_ENV     := env -u PYTHONPATH -u PYTHONHOME -u VIRTUAL_ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin

deb: vendor
	@missing=$$(for p in $(DEB_TOOLS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages: $$missing (run make as root, or apt-get install them)"; exit 1; fi; \
		echo "installing: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@git rev-parse --is-inside-work-tree >/dev/null || { echo "make deb builds from a git checkout (it copies what git lists)"; exit 1; }
	rm -rf $(DEB_OUT)
	mkdir -p $(DEB_TREE)
	@# tracked files deleted in the working tree are listed too: copy only what exists
	git ls-files -z --cached --others --exclude-standard \
		| xargs -0 -r sh -c 'for f; do if [ -e "$$f" ] || [ -L "$$f" ]; then printf "%s\0" "$$f"; fi; done' sh \
		| tar --null -T - -cf - | tar -xf - -C $(DEB_TREE)
	cp -a $(DEB_TREE)/packaging/debian $(DEB_TREE)/debian
	@# the libraries the package carries: debian/rules installs them from vendor/wheels (--no-index)
	mkdir -p $(DEB_TREE)/vendor && cp -r $(VENDOR)/wheels $(DEB_TREE)/vendor/
	@cd $(DEB_TREE) && if ! dpkg-checkbuilddeps 2>/dev/null; then \
		if [ "$$(id -u)" != 0 ]; then dpkg-checkbuilddeps; echo "run make as root to install them"; exit 1; fi; \
		echo "installing the build dependencies (debian/control)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq --no-install-recommends ./; \
	fi
	cd $(DEB_TREE) && $(DEB_ENV) dpkg-buildpackage -us -uc
	@echo "== lintian"
	@cd $(DEB_OUT) && $(DEB_ENV) lintian --display-info --fail-on error unitaudit_$(DEB_VERSION)_*.changes; \
		rc=$$?; if [ $$rc != 0 ]; then echo "lintian reported errors (exit $$rc)"; exit 1; fi; \
		echo "lintian: no errors"
	@echo "built: $(CURDIR)/$(DEB_OUT)/unitaudit_$(DEB_VERSION)_all.deb"

clean:
	rm -rf $(VENV) $(VENV37) build *.egg-info .pytest_cache
