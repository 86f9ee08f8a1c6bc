"""The kernel evidence source on trees built from real files (tests/fixtures/kernel/SOURCES.md)
and, once, on this machine."""
import builtins
import os
import shutil

import pytest

from builders import fixture
from unitaudit.model import KernelFacts, UnitCgroupNodes
from unitaudit.sources import kernel as kernel_module
from unitaudit.sources.kernel import KernelSource

UNIT = "deepin-anything-monitor.service"


def names(hierarchy: str):
    """Real file names of one cgroup directory (cgroup-dirs/<hierarchy>.txt)."""
    return fixture("kernel", "cgroup-dirs", hierarchy + ".txt").read_text().split()


def layout_tree(tmp_path, layout: str):
    root = tmp_path / layout
    shutil.copytree(str(fixture("kernel", layout)), str(root))
    return root


def cgroup_dir(root, path: str, hierarchy: str):
    d = root / path.lstrip("/")
    d.mkdir(parents=True)
    for n in names(hierarchy):
        (d / n).write_text("")
    return d


# -- facts ---------------------------------------------------------------------------------------
def test_hybrid_this_machine():
    f = KernelSource(str(fixture("kernel", "hybrid"))).facts()
    assert f.release == "6.18.44-fc-v595"
    assert (f.slab_kb, f.sreclaimable_kb, f.sunreclaim_kb) == (231320, 201460, 29860)
    # "kernfs_node_cache  17170  17370    136   30    1 : tunables ..."
    assert (f.kernfs_active_objects, f.kernfs_objects, f.kernfs_object_size) == (17170, 17370, 136)
    assert f.cgroup_layout == "hybrid"
    assert ("name=systemd", "/sys/fs/cgroup/systemd") in f.hierarchies
    assert ("unified", "/sys/fs/cgroup/unified") in f.hierarchies
    assert ("memory", "/sys/fs/cgroup/memory") in f.hierarchies
    assert len(f.hierarchies) == 10
    assert ("memory", 4, 23, True) in f.cgroups
    assert ("net_cls", 0, 4, True) in f.cgroups
    assert f.dying_descendants == 0
    assert f.memcg_slab_caches is None
    assert f.unreadable == ("/sys/kernel/slab: missing: per-memcg slab caches unknown",)


def test_unified_layout():
    f = KernelSource(str(fixture("kernel", "unified"))).facts()
    assert f.cgroup_layout == "unified"
    assert f.hierarchies == (("unified", "/sys/fs/cgroup"),)
    assert f.dying_descendants is None
    assert "/sys/fs/cgroup/cgroup.stat: missing: nr_dying_descendants unknown" in f.unreadable


def test_legacy_layout_controllers_from_super_options():
    f = KernelSource(str(fixture("kernel", "legacy"))).facts()
    assert f.cgroup_layout == "legacy"
    # /proc/cgroups absent from this tree: xattr, release_agent=... are not controllers
    assert f.hierarchies == (("name=systemd", "/sys/fs/cgroup/systemd"), ("net_cls", "/sys/fs/cgroup/net_cls"),
                             ("blkio", "/sys/fs/cgroup/blkio"), ("cpuacct,cpu", "/sys/fs/cgroup/cpu,cpuacct"))
    assert f.dying_descendants is None
    assert any(u.startswith("nr_dying_descendants: no cgroup2 hierarchy") for u in f.unreadable)


def test_unified_mounted_twice_is_one_hierarchy(tmp_path):
    root = layout_tree(tmp_path, "unified")
    line = (root / "proc/self/mountinfo").read_text()
    (root / "proc/self/mountinfo").write_text(line + line.replace("27 175", "175 21", 1))
    (root / "sys/fs/cgroup").mkdir(parents=True)
    (root / "sys/fs/cgroup/cgroup.stat").write_text("nr_descendants 40\nnr_dying_descendants 7\n")
    f = KernelSource(str(root)).facts()
    assert f.hierarchies == (("unified", "/sys/fs/cgroup"),)
    assert f.dying_descendants == 7


def test_no_cgroup_mount_is_unknown(tmp_path):
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/self/mountinfo").write_text("27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n")
    f = KernelSource(str(tmp_path)).facts()
    assert f.cgroup_layout == "unknown"
    assert f.hierarchies == ()
    assert "/proc/self/mountinfo: no cgroup file system mounted: cgroup layout unknown" in f.unreadable


def test_slabinfo_permission_denied(tmp_path, monkeypatch):
    root = layout_tree(tmp_path, "hybrid")
    target = os.path.join(str(root), "proc/slabinfo")

    def fake_open(path, *a, **kw):  # as root a mode-0400 file would still open
        if os.fspath(path) == target:
            raise PermissionError(13, "Permission denied", target)
        return builtins.open(path, *a, **kw)

    monkeypatch.setattr(kernel_module, "open", fake_open, raising=False)
    f = KernelSource(str(root)).facts()
    assert (f.kernfs_active_objects, f.kernfs_objects, f.kernfs_object_size) == (None, None, None)
    assert "/proc/slabinfo: permission denied (root only): kernfs_node_cache unknown" in f.unreadable
    assert f.slab_kb == 231320  # the rest is still read


def test_slabinfo_without_kernfs_line(tmp_path):
    root = layout_tree(tmp_path, "hybrid")
    text = (root / "proc/slabinfo").read_text()
    (root / "proc/slabinfo").write_text("".join(l for l in text.splitlines(True) if "kernfs" not in l))
    f = KernelSource(str(root)).facts()
    assert f.kernfs_object_size is None
    assert "/proc/slabinfo: no kernfs_node_cache line: kernfs_node_cache unknown" in f.unreadable


def test_memcg_slab_caches_counted(tmp_path):
    root = layout_tree(tmp_path, "hybrid")
    slab = root / "sys/kernel/slab"
    for cache, n in (("kernfs_node_cache", 3), (":a-0000192", 2)):
        (slab / cache / "cgroup").mkdir(parents=True)
        for i in range(n):
            (slab / cache / "cgroup" / ("%s(%d:deepin-anything-monitor.service)" % (cache, i))).mkdir()
    (slab / "object_size_only").mkdir()
    os.symlink(":a-0000192", str(slab / "dentry"))  # an alias: not counted twice
    f = KernelSource(str(root)).facts()
    assert f.memcg_slab_caches == 5
    assert f.unreadable == ()


def test_memcg_slab_caches_none_on_new_kernels(tmp_path):
    root = layout_tree(tmp_path, "hybrid")
    (root / "sys/kernel/slab/kernfs_node_cache").mkdir(parents=True)
    f = KernelSource(str(root)).facts()
    assert f.memcg_slab_caches is None
    assert any(u.startswith("/sys/kernel/slab/*/cgroup: none") for u in f.unreadable)


# -- unit_nodes ----------------------------------------------------------------------------------
def test_unit_nodes_own_directories(tmp_path):
    root = layout_tree(tmp_path, "hybrid")
    # the lab's shape: v1 controller hierarchies read-only, no per-unit directory there
    cgroup_dir(root, "/sys/fs/cgroup/systemd/system.slice/" + UNIT, "name=systemd")
    cgroup_dir(root, "/sys/fs/cgroup/unified/system.slice/" + UNIT, "unified")
    (root / "sys/fs/cgroup/memory/system.slice").mkdir(parents=True)
    n = KernelSource(str(root)).unit_nodes(UNIT)
    assert isinstance(n, UnitCgroupNodes)
    assert n.unit == n.measured_on == UNIT
    assert n.per_hierarchy == (
        ("name=systemd", "/sys/fs/cgroup/systemd/system.slice/" + UNIT, 5),
        ("unified", "/sys/fs/cgroup/unified/system.slice/" + UNIT, 19))
    assert n.nodes == 24


def test_unit_nodes_v1_controller_and_subcgroup(tmp_path):
    root = layout_tree(tmp_path, "hybrid")
    cgroup_dir(root, "/sys/fs/cgroup/memory/system.slice/" + UNIT, "memory")
    d = cgroup_dir(root, "/sys/fs/cgroup/unified/system.slice/" + UNIT, "unified")
    sub = d / ".control"
    sub.mkdir()
    for name in names("unified"):
        (sub / name).write_text("")
    n = KernelSource(str(root)).unit_nodes(UNIT)
    assert dict((h, c) for h, _d, c in n.per_hierarchy) == {"memory": 32, "unified": 19 + 19}


def test_unit_nodes_sibling_when_unit_has_no_directory(tmp_path):
    root = layout_tree(tmp_path, "hybrid")
    for svc in ("console-getty.service", "dbus.service", "systemd-logind.service"):
        cgroup_dir(root, "/sys/fs/cgroup/systemd/system.slice/" + svc, "name=systemd")
        cgroup_dir(root, "/sys/fs/cgroup/unified/system.slice/" + svc, "unified")
    cgroup_dir(root, "/sys/fs/cgroup/memory/system.slice/odd.service", "memory")
    n = KernelSource(str(root)).unit_nodes(UNIT)
    assert n.unit == UNIT
    assert n.measured_on == "systemd-logind.service"
    assert n.nodes == 24
    assert [h for h, _d, _c in n.per_hierarchy] == ["name=systemd", "unified"]


def test_unit_nodes_nothing_to_count(tmp_path):
    root = layout_tree(tmp_path, "hybrid")
    assert KernelSource(str(root)).unit_nodes(UNIT) is None
    assert KernelSource(str(tmp_path / "empty")).unit_nodes(UNIT) is None


@pytest.mark.parametrize("bad", ["", "../../etc", "a/b.service", "deepin-anything-monitor", "x.service\n"])
def test_unit_nodes_refuses_non_unit_names(tmp_path, bad):
    with pytest.raises(ValueError):
        KernelSource(str(tmp_path)).unit_nodes(bad)


# -- this machine ----------------------------------------------------------------------------------
def test_live_machine():
    f = KernelSource("/").facts()
    assert isinstance(f, KernelFacts)
    assert isinstance(f.release, str)
    assert f.cgroup_layout in ("unified", "hybrid", "legacy", "unknown")
    text = " ".join(f.unreadable)
    checks = {
        "release": (f.release == "", "osrelease"),
        "slab": (None in (f.slab_kb, f.sreclaimable_kb, f.sunreclaim_kb), "meminfo"),
        "kernfs": (None in (f.kernfs_active_objects, f.kernfs_objects, f.kernfs_object_size), "slabinfo"),
        "layout": (f.cgroup_layout == "unknown", "cgroup layout unknown"),
        "dying": (f.dying_descendants is None, "nr_dying_descendants"),
        "memcg": (f.memcg_slab_caches is None, "/sys/kernel/slab"),
    }
    for what, (missing, said) in checks.items():
        if missing:
            assert said in text, (what, f.unreadable)
    for v in (f.slab_kb, f.kernfs_active_objects, f.dying_descendants, f.memcg_slab_caches):
        assert v is None or (isinstance(v, int) and v >= 0)
    n = KernelSource("/").unit_nodes("dbus.service")
    assert n is None or (isinstance(n, UnitCgroupNodes) and n.nodes > 0)
