"""The lab: a real systemd booted in systemd-nspawn, for the lab tests (tests/lab), `make demo`
(examples/demo.py), the evidence recorder (examples/record_lab.py) and bench/live.py.

Part of the checkout, not of the package: neither the wheel nor the .deb carries it.  Imported
from the checkout's top directory (pytest's `pythonpath`, `python -m examples.demo`).

    machine    Lab and booted(): the overlay, the boot, the teardown
    units      what a lab masks: the units its root enabled that the lab does not need
    host       commands on the host, mounts and nspawn processes
    cgroups    a cgroup of each lab's own
    reap       labs a killed run left behind
    scenarios  the seed's three loops and the healthy controls
    roots      debootstrapped roots of other Debian releases
    support    what the lab tests share (pytest)
"""
