"""Parsers the audit reads (procfs, cgroups) on text captured from real kernels (tests/unit/fixtures)."""

from pathlib import Path

import pytest

from ansible.module_utils.nsverify import cgroups, procfs

FIXTURES = Path(__file__).parent / "fixtures"


def _mounts(name):
    return procfs.parse_mountinfo((FIXTURES / name).read_text())


@pytest.mark.parametrize(
    "fixture,layout",
    [
        ("mountinfo-hybrid-6.18.44-fc-v657.txt", "hybrid"),
        ("mountinfo-v2-debian12.txt", "v2"),
        ("mountinfo-v1-el7.txt", "v1"),
    ],
    ids=["hybrid-this-host", "v2-debian12", "v1-el7"],
)
def test_cgroup_layout(fixture, layout):
    assert cgroups.layout(_mounts(fixture)) == layout


def test_no_cgroup_mount_is_layout_none():
    assert cgroups.layout(procfs.parse_mountinfo("28 1 254:1 / / rw - ext4 /dev/vda1 rw\n")) == "none"


def test_v1_controllers_from_super_options_without_mount_flags():
    mounts = cgroups.describe_mounts(_mounts("mountinfo-v1-el7.txt"))
    by_point = {m["mount_point"]: m for m in mounts}
    assert by_point["/sys/fs/cgroup/cpu,cpuacct"]["controllers"] == ["cpu", "cpuacct"]
    assert by_point["/sys/fs/cgroup/systemd"]["controllers"] == ["name=systemd"]
    assert all(m["version"] == 1 for m in mounts) and "/sys/fs/cgroup" not in by_point  # the tmpfs is no cgroup


def test_this_hosts_hybrid_mounts_include_the_unified_v2_mount():
    mounts = cgroups.describe_mounts(_mounts("mountinfo-hybrid-6.18.44-fc-v657.txt"))
    assert {"mount_point": "/sys/fs/cgroup/unified", "fstype": "cgroup2", "version": 2} in mounts
    assert ["memory"] in [m.get("controllers") for m in mounts]


def test_mountinfo_optional_fields_and_octal_escapes():
    mounts = _mounts("mountinfo-v2-debian12.txt")
    blue = [m for m in mounts if m["fstype"] == "nsfs"]
    assert [m["mount_point"] for m in blue] == ["/run/netns/blue", "/run/netns/blue copy"]
    assert blue[0]["optional"] == ["shared:254"] and blue[0]["root"] == "net:[4026532291]"
    root = next(m for m in mounts if m["mount_point"] == "/")
    assert (root["fstype"], root["source"], root["super_options"]) == ("ext4", "/dev/vda1", "rw,errors=remount-ro")


def test_mountinfo_line_without_optional_fields():
    (m,) = procfs.parse_mountinfo("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue")
    assert m["optional"] == ["master:1"] and m["root"] == "/mnt1"
    (m,) = procfs.parse_mountinfo("36 35 98:0 / /mnt2 rw - ext3 /dev/root rw")
    assert m["optional"] == [] and m["fstype"] == "ext3"


@pytest.mark.parametrize(
    "text,expected",
    [
        (
            "BOOT_IMAGE=/vmlinuz-3.10.0 ro crashkernel=auto user_namespace.enable=1 namespace.unpriv_enable=1 quiet\n",
            {
                "BOOT_IMAGE": "/vmlinuz-3.10.0",
                "ro": True,
                "crashkernel": "auto",
                "user_namespace.enable": "1",
                "namespace.unpriv_enable": "1",
                "quiet": True,
            },
        ),
        ("console=ttyS0 quiet -- --firecracker-init --addr 0.0.0.0:2024", {"console": "ttyS0", "quiet": True}),
        ("", {}),
    ],
    ids=["el7", "init-args-after-dashdash", "empty"],
)
def test_parse_cmdline(text, expected):
    assert procfs.parse_cmdline(text) == expected


@pytest.mark.parametrize(
    "text,initial",
    [
        ("         0          0 4294967295\n", True),
        ("         0          0          1\n", False),  # unshare -Ur
        ("         0     100000      65536\n", False),  # a rootless container
    ],
    ids=["initial", "unshare-Ur", "subuid-range"],
)
def test_initial_user_namespace_from_uid_map(text, initial):
    assert procfs.is_initial_id_map(procfs.parse_id_map(text)) is initial


@pytest.mark.parametrize(
    "status,cap",
    [
        ("Name:\tbash\nCapEff:\t000001ffffffffff\n", 0x1FFFFFFFFFF),
        ("CapEff:\t0000000000000000\n", 0),
        ("Name:\tbash\n", None),
    ],
    ids=["root", "nobody", "absent"],
)
def test_parse_cap_eff(status, cap):
    assert procfs.parse_cap_eff(status) == cap
