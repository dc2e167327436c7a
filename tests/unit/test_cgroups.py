"""cgroups engine: layout detection from mountinfo, per-controller placement, limit files.

The v1 (el7) and pure v2 (Debian 12) layouts are simulated from captured mountinfo lines; the
hybrid layout is this host's."""

import os

import pytest

from ansible.module_utils.nsverify import cgroups, procfs

V1_EL7 = """\
25 20 0:21 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755
26 25 0:22 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
29 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,cpuacct,cpu
30 25 0:26 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,memory
33 25 0:29 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids
"""
V2_DEBIAN12 = """\
22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 22 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
"""
HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
ESCAPED = "50 25 0:40 / /sys/fs/cgroup/my\\040cg rw - cgroup cgroup rw,pids\n"


@pytest.mark.parametrize(
    "text,expected",
    [
        (
            V1_EL7,
            [
                (1, "/sys/fs/cgroup/systemd", []),
                (1, "/sys/fs/cgroup/cpu,cpuacct", ["cpuacct", "cpu"]),
                (1, "/sys/fs/cgroup/memory", ["memory"]),
                (1, "/sys/fs/cgroup/pids", ["pids"]),
            ],
        ),
        (V2_DEBIAN12, [(2, "/sys/fs/cgroup", [])]),
        (
            HYBRID,
            [
                (1, "/sys/fs/cgroup/cpu", ["cpu"]),
                (1, "/sys/fs/cgroup/memory", ["memory"]),
                (1, "/sys/fs/cgroup/pids", ["pids"]),
                (1, "/sys/fs/cgroup/systemd", []),
                (2, "/sys/fs/cgroup/unified", []),
            ],
        ),
        (ESCAPED, [(1, "/sys/fs/cgroup/my cg", ["pids"])]),
    ],
    ids=["v1-el7", "v2-debian12", "hybrid-6.18", "octal-escaped-path"],
)
def test_parse_mountinfo_cgroups(text, expected):
    got = [(m["version"], m["mount_point"], m["controllers"]) for m in cgroups.parse_mountinfo_cgroups(text)]
    assert got == expected


def _layout(tmp_path, text, v2_controllers=None):
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "mountinfo").write_text(text)
    layout = cgroups.read_layout(str(proc))
    if v2_controllers is not None:
        layout["v2_controllers"] = v2_controllers
    return layout


@pytest.mark.parametrize(
    "text,v2ctl,kind,placement",
    [
        (
            V1_EL7,
            None,
            "v1",
            {
                "memory": (1, "/sys/fs/cgroup/memory/nsv-x/payload"),
                "pids": (1, "/sys/fs/cgroup/pids/nsv-x"),
                "cpu": (1, "/sys/fs/cgroup/cpu,cpuacct/nsv-x"),
            },
        ),
        (
            V2_DEBIAN12,
            ["cpu", "memory", "pids"],
            "v2",
            {
                "memory": (2, "/sys/fs/cgroup/nsv-x"),
                "pids": (2, "/sys/fs/cgroup/nsv-x"),
                "cpu": (2, "/sys/fs/cgroup/nsv-x"),
            },
        ),
        (
            HYBRID,
            [],
            "hybrid",
            {
                "memory": (1, "/sys/fs/cgroup/memory/nsv-x/payload"),
                "pids": (1, "/sys/fs/cgroup/pids/nsv-x"),
                "cpu": (1, "/sys/fs/cgroup/cpu/nsv-x"),
            },
        ),
    ],
    ids=["simulated-v1-el7", "simulated-v2-debian12", "hybrid-this-host"],
)
def test_layout_and_placement(tmp_path, text, v2ctl, kind, placement):
    layout = _layout(tmp_path, text, v2ctl)
    assert layout["layout"] == kind
    plan = cgroups.plan_paths("x", layout)
    assert {c: (plan[c]["version"], plan[c]["path"]) for c in cgroups.CONTROLLERS} == placement


def test_v2_without_controllers_places_nothing(tmp_path):
    plan = cgroups.plan_paths("x", _layout(tmp_path, V2_DEBIAN12, []))
    assert all(plan[c] is None for c in cgroups.CONTROLLERS) and plan["v2"] == "/sys/fs/cgroup/nsv-x"


@pytest.mark.parametrize(
    "version,expected",
    [
        (
            1,
            [
                ("memory", "memory.limit_in_bytes", "67108864"),
                ("memory", "memory.memsw.limit_in_bytes", "67108864"),
                ("pids", "pids.max", "64"),
                ("cpu", "cpu.cfs_period_us", "100000"),
                ("cpu", "cpu.cfs_quota_us", "50000"),
            ],
        ),
        (
            2,
            [
                ("memory", "memory.max", "67108864"),
                ("memory", "memory.swap.max", "0"),
                ("pids", "pids.max", "64"),
                ("cpu", "cpu.max", "50000 100000"),
            ],
        ),
    ],
    ids=["v1", "v2"],
)
def test_limit_files(version, expected):
    assert cgroups.limit_files(64 * 1024 * 1024, 0.5, 64, version) == expected


def test_enable_v2_controllers_writes_the_missing_ones_once(tmp_path):
    # simulated subtree_control file (a real one shows the enabled set when read back)
    ctl = tmp_path / "cgroup.subtree_control"
    ctl.write_text("cpu\n")
    assert cgroups.enable_v2_controllers(str(tmp_path), ["cpu", "memory", "pids"]) == ["memory", "pids"]
    assert ctl.read_text() == "+memory +pids"
    ctl.write_text("cpu memory pids\n")
    assert cgroups.enable_v2_controllers(str(tmp_path), ["memory"]) == []
    assert ctl.read_text() == "cpu memory pids\n"


def test_remove_tolerates_missing_dirs(tmp_path):
    d = tmp_path / "nsv-gone"
    d.mkdir()
    assert cgroups.remove({"dirs": [str(d), str(tmp_path / "never")]}) == []
    assert not d.exists()


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.isdir("/sys/fs/cgroup/pids"), reason="needs root and v1 pids")
def test_create_and_remove_on_this_host():
    info = cgroups.create("unit-%d" % os.getpid(), memory=8 << 20, pids=10, cpus=0.25)
    try:
        assert cgroups.read_limits(info)["/sys/fs/cgroup/pids/nsv-unit-%d/pids.max" % os.getpid()] == "10"
        assert all(os.path.isdir(d) for d in info["dirs"])
    finally:
        assert cgroups.remove(info) == []
    assert not any(os.path.isdir(d) for d in info["dirs"])


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.isdir("/sys/fs/cgroup/pids"), reason="needs root and v1 pids")
def test_create_reuses_an_empty_leftover_cgroup():
    name = "unit-left-%d" % os.getpid()
    first = cgroups.create(name, pids=10)
    try:
        again = cgroups.create(name, pids=12)  # a container that died without its stop left these
        assert again["dirs"] == first["dirs"]
        assert cgroups.read_value("/sys/fs/cgroup/pids/nsv-%s/pids.max" % name) == "12"
    finally:
        assert cgroups.remove(first) == []


class _FakeV2Kernel:
    """Simulates cgroupfs v2 for create(): mkdir populates a child with the interface files of
    the controllers enabled in the parent's cgroup.subtree_control (cgroups(7), cgroup-v2.rst)."""

    FILES = {"memory": ("memory.max", "memory.swap.max", "memory.events"), "pids": ("pids.max",), "cpu": ("cpu.max",)}

    def __init__(self, root, controllers):
        self.root = root
        (root / "cgroup.controllers").write_text(" ".join(controllers) + "\n")
        (root / "cgroup.subtree_control").write_text("")
        self.real_mkdir = os.mkdir

    def mkdir(self, path, mode=0o777):
        self.real_mkdir(path, mode)
        enabled = (self.root / "cgroup.subtree_control").read_text().replace("+", " ").split()
        for ctrl in enabled:
            for f in self.FILES.get(ctrl, ()):
                with open(os.path.join(path, f), "w") as fh:
                    fh.write("max\n")
        open(os.path.join(path, "cgroup.procs"), "w").close()


def test_create_on_simulated_pure_v2_enables_controllers_then_writes_limits(tmp_path, monkeypatch):
    kernel = _FakeV2Kernel(tmp_path, ["cpuset", "cpu", "io", "memory", "pids"])
    monkeypatch.setattr(cgroups.os, "mkdir", kernel.mkdir)
    layout = {
        "layout": "v2",
        "v1": {},
        "v2": str(tmp_path),
        "v2_controllers": ["cpuset", "cpu", "io", "memory", "pids"],
    }
    info = cgroups.create("x", memory=64 << 20, cpus=0.5, pids=64, layout=layout)
    d = tmp_path / "nsv-x"
    assert info["dirs"] == [str(d)]
    assert (d / "memory.max").read_text() == str(64 << 20) and (d / "memory.swap.max").read_text() == "0"
    assert (d / "pids.max").read_text() == "64" and (d / "cpu.max").read_text() == "50000 100000"


def test_create_on_simulated_v2_without_a_controller_fails_and_cleans_up(tmp_path, monkeypatch):
    kernel = _FakeV2Kernel(tmp_path, ["cpu", "pids"])  # no memory controller offered
    monkeypatch.setattr(cgroups.os, "mkdir", kernel.mkdir)
    layout = {"layout": "v2", "v1": {}, "v2": str(tmp_path), "v2_controllers": ["cpu", "pids"]}
    with pytest.raises(cgroups.CgroupError, match="memory controller is not available"):
        cgroups.create("x", memory=64 << 20, layout=layout)
    assert not (tmp_path / "nsv-x").exists()


# ---------------------------------------------------------------- layout and mounts for reports (audit uses them)
FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def _fixture_mounts(name):
    with open(os.path.join(FIXTURES, name)) as fh:
        return procfs.parse_mountinfo(fh.read())


@pytest.mark.parametrize(
    "fixture,kind",
    [
        ("mountinfo-hybrid-6.18.44-fc-v657.txt", "hybrid"),
        ("mountinfo-v2-debian12.txt", "v2"),
        ("mountinfo-v1-el7.txt", "v1"),
    ],
    ids=["hybrid-this-host", "v2-debian12", "v1-el7"],
)
def test_layout_from_captured_mountinfo(fixture, kind):
    assert cgroups.layout(_fixture_mounts(fixture)) == kind


def test_layout_without_cgroup_mounts_is_none():
    assert cgroups.layout(procfs.parse_mountinfo("28 1 254:1 / / rw - ext4 /dev/vda1 rw\n")) == "none"


def test_describe_mounts_v1_controllers_without_mount_flags():
    by_point = {m["mount_point"]: m for m in cgroups.describe_mounts(_fixture_mounts("mountinfo-v1-el7.txt"))}
    assert by_point["/sys/fs/cgroup/cpu,cpuacct"]["controllers"] == ["cpu", "cpuacct"]
    assert by_point["/sys/fs/cgroup/systemd"]["controllers"] == ["name=systemd"]
    assert all(m["version"] == 1 for m in by_point.values()) and "/sys/fs/cgroup" not in by_point


def test_describe_mounts_of_this_hosts_hybrid_layout_has_the_unified_v2_mount():
    mounts = cgroups.describe_mounts(_fixture_mounts("mountinfo-hybrid-6.18.44-fc-v657.txt"))
    assert {"mount_point": "/sys/fs/cgroup/unified", "fstype": "cgroup2", "version": 2} in mounts
    assert ["memory"] in [m.get("controllers") for m in mounts]
    assert [m["mount_point"] for m in mounts] == sorted(m["mount_point"] for m in mounts)
