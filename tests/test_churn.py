"""The churn estimator on the seed's loops recorded from a real systemd (examples/seed-loops:
RestartSec=5, an Avahi client every 5 s, logrotate every 30 s), and the seed's own numbers."""
from dataclasses import replace

import pytest

from unitaudit.analysis.churn import NODES_PER_DIRECTORY, estimate
from unitaudit.model import KernelFacts, UnitCgroupNodes

# What this machine's hybrid layout has (the lab's systemd 252 runs on it)
HYBRID = KernelFacts(release="6.18.44-fc-v595", kernfs_object_size=136, cgroup_layout="hybrid")
MEASURED = UnitCgroupNodes("deepin-anything-monitor.service", "deepin-anything-monitor.service", (
    ("unified", "/sys/fs/cgroup/unified/system.slice/deepin-anything-monitor.service", 19),
    ("name=systemd", "/sys/fs/cgroup/systemd/system.slice/deepin-anything-monitor.service", 5),
    ("pids", "/sys/fs/cgroup/pids/system.slice/deepin-anything-monitor.service", 8)))


@pytest.fixture(scope="module")
def seed(seed):
    """The recorded loops' findings (conftest.py's scan), by kind."""
    return {f.kind.value: f for f in seed.findings}


def test_restart_loop_churn_from_its_rate_and_the_nodes_counted_live(seed):
    f = seed["restart-loop"]
    c = estimate(f, HYBRID, MEASURED)
    assert 500 < f.rate_per_hour < 800  # RestartSec=5 plus the failing start: ~6 s a cycle
    assert c.starts_per_hour == round(f.rate_per_hour, 2)
    assert c.cgroups_per_hour == pytest.approx(3 * f.rate_per_hour, rel=1e-3)
    assert c.kernfs_nodes_per_hour == pytest.approx(32 * f.rate_per_hour, rel=1e-3)
    assert c.bytes_per_day == pytest.approx(32 * f.rate_per_hour * 24 * 136, rel=1e-3)
    basis = dict(c.basis)
    assert basis["nodes_per_start"].startswith("measured: 32 kernfs nodes")
    assert basis["bytes_per_node"].startswith("measured: kernfs_node_cache objects of 136 bytes")


def test_a_sibling_count_says_so(seed):
    sibling = replace(MEASURED, measured_on="cron.service")
    assert "its sibling cron.service" in dict(estimate(seed["restart-loop"], HYBRID, sibling).basis)["nodes_per_start"]


def test_activation_of_a_missing_unit_creates_no_cgroup(seed):
    c = estimate(seed["activation-loop"], HYBRID, None)
    assert (c.starts_per_hour, c.cgroups_per_hour, c.kernfs_nodes_per_hour, c.bytes_per_day) == (0, 0, 0, 0)
    assert "creates no cgroup" in dict(c.basis)["starts_per_hour"]


def test_timer_unit_churns_once_per_run_from_the_table_when_nothing_is_counted(seed):
    f = seed["repeated-failure"]
    c = estimate(f, None, None)
    per_start = sum(NODES_PER_DIRECTORY[n] + 1 for n in ("unified", "name=systemd", "pids"))
    assert c.cgroups_per_hour == pytest.approx(3 * f.rate_per_hour, rel=1e-3)
    assert c.kernfs_nodes_per_hour == pytest.approx(per_start * f.rate_per_hour, rel=1e-2)
    assert dict(c.basis)["cgroups_per_start"].startswith("table: hybrid")
    assert "assumed" in dict(c.basis)["cgroups_per_start"]
    assert dict(c.basis)["bytes_per_node"].startswith("table: 136 bytes")


def test_unified_layout_is_one_directory_per_start(seed):
    c = estimate(seed["restart-loop"], KernelFacts(release="x", cgroup_layout="unified"), None)
    assert c.cgroups_per_hour == pytest.approx(seed["restart-loop"].rate_per_hour, rel=1e-3)


def test_the_seeds_own_numbers(seed):
    """README's worked example: deepin-anything-monitor at RestartSec=10 on the seed's 4.19 arm64
    (hybrid, systemd 241 with memory and tasks accounting: ~60 nodes a start; 0.48K objects)."""
    f = replace(seed["restart-loop"], rate_per_hour=360.0)  # one start every 10 s
    seed_nodes = UnitCgroupNodes(f.unit, f.unit, (("unified", "-", 19), ("name=systemd", "-", 5), ("pids", "-", 8),
                                                  ("memory", "-", 28)))
    c = estimate(f, KernelFacts(release="4.19.90-2305-arm64-desktop", kernfs_object_size=492, cgroup_layout="hybrid"),
                 seed_nodes)
    assert (c.cgroups_per_hour, c.kernfs_nodes_per_hour) == (1440.0, 21600.0)
    assert c.bytes_per_day == 21600 * 24 * 492  # 255 MB of kernfs_node_cache allocated and freed a day
    avahi = estimate(replace(seed["activation-loop"], rate_per_hour=143146 / 18.5), None, None)
    assert avahi.cgroups_per_hour == 0


def test_old_kernels_add_the_per_memcg_slab_cache_directories(seed):
    """The seed's 4.19: /sys/kernel/slab/*/cgroup/ exists; 600 entries over 20 memory cgroups is 30
    caches a memcg, each a directory of ~31 nodes, on top of the cgroup directories."""
    old = KernelFacts(release="4.19.90", kernfs_object_size=492, cgroup_layout="hybrid",
                      cgroups=(("memory", 4, 20, True),), memcg_slab_caches=600)
    with_caches = estimate(seed["restart-loop"], old, MEASURED)
    plain = estimate(seed["restart-loop"], replace(old, memcg_slab_caches=None), MEASURED)
    rate = seed["restart-loop"].rate_per_hour
    assert with_caches.kernfs_nodes_per_hour - plain.kernfs_nodes_per_hour == pytest.approx(30 * 31 * rate, rel=1e-3)
    assert "600 per-memcg slab cache entries" in dict(with_caches.basis)["memcg_slab_caches"]
    assert "memcg_slab_caches" not in dict(plain.basis)
