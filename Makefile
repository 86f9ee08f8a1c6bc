# Everything a fresh Debian 12 machine needs, installed by the targets that need it.
# Run as root for the system packages (apt-get); the Python side lives in .venv.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# systemd-python builds against libsystemd; bench and tests build journal files
# with systemd-journal-remote; the lab (tests/lab, examples/record_lab.py) boots
# a real systemd with systemd-nspawn.
APT_PACKAGES := python3 python3-venv python3-dev gcc pkg-config libsystemd-dev \
	systemd systemd-journal-remote grep gzip \
	systemd-container dbus kmod logrotate avahi-daemon strace util-linux \
	python3-typer python3-rich python3-dbus-next python3-systemd python3-pytest \
	groff-base bash-completion \
	dpkg-dev lintian debhelper dh-python pybuild-plugin-pyproject python3-all python3-setuptools
# The python3-* packages: the same tests also run on Debian's own python3 and the
# library versions Debian 12 ships (typer 0.7, rich 13.3, dbus-next 0.2.3,
# systemd-python 235), which is what the .deb runs on.  groff-base and bash-completion: the man
# page and the completion are checked against the CLI; dpkg-dev .. python3-setuptools: `make deb`
# (tests/lab/test_package_live.py builds the package and installs it in the lab).

.PHONY: all setup system-packages demo demo-offline test bench deb clean

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

setup: system-packages $(VENV)/.ready

# The main job: boot the lab (a real systemd in systemd-nspawn), reproduce the seed's
# three loops, scan it live from inside, print the report, tear the lab down.
# Exit status 1 means "findings": that is the demo working; 2 and up fail it.
demo: setup
	@$(PY) examples/demo.py; test $$? -le 1

# The same report from evidence recorded earlier (no root needed to read it).
demo-offline: setup
	@$(VENV)/bin/unitaudit scan --journal-dir examples/seed-loops/journal; test $$? -le 1

test: setup
	$(VENV)/bin/pytest -q -rs
	@echo "== the same tests on Debian's python3 and its packaged libraries"
	/usr/bin/python3 -m pytest -q -rs -p no:cacheprovider

bench: setup
	$(PY) bench/generate.py --out /tmp/unitaudit-bench
	UNITAUDIT=$(CURDIR)/$(VENV)/bin/unitaudit $(PY) bench/run.py --data /tmp/unitaudit-bench

# The Debian package (packaging/debian: dh + pybuild), built from what a fresh clone of this
# working tree holds: the files git tracks or would track (untracked ones not ignored, so
# uncommitted work is in it; .venv, build/, caches and egg-info are not), copied to
# build/deb/unitaudit-VERSION/ with packaging/debian as its debian/, so the top level stays as
# it is.  Source and binary are both built so lintian checks debian/control, copyright and rules
# too.  Build dependencies come from debian/control (apt-get build-dep), installed as root when
# missing; lintian's errors fail the target, its warnings and infos are printed.
DEB_VERSION := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' packaging/debian/changelog)
DEB_OUT     := build/deb
DEB_TREE    := $(DEB_OUT)/unitaudit-$(DEB_VERSION)
DEB_TOOLS   := dpkg-dev lintian git
# Debian's own tools and python3 only: pybuild runs the first python3.X on PATH, and a pyenv or
# virtual environment ahead of /usr/bin would build (and fail) with another interpreter.
DEB_ENV     := env -u PYTHONPATH -u PYTHONHOME -u VIRTUAL_ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin

deb:
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
	rm -rf $(VENV) build *.egg-info .pytest_cache
