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
	python3-typer python3-rich python3-dbus-next python3-systemd python3-pytest
# The python3-* packages: the same tests also run on Debian's own python3 and the
# library versions Debian 12 ships (typer 0.7, rich 13.3, dbus-next 0.2.3,
# systemd-python 235), which is what the .deb will run on.

.PHONY: all setup system-packages demo demo-offline test bench clean

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
	$(VENV)/bin/pytest -q
	@echo "== the same tests on Debian's python3 and its packaged libraries"
	/usr/bin/python3 -m pytest -q -p no:cacheprovider

bench: setup
	$(PY) bench/generate.py --out /tmp/unitaudit-bench
	UNITAUDIT=$(CURDIR)/$(VENV)/bin/unitaudit $(PY) bench/run.py --data /tmp/unitaudit-bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
