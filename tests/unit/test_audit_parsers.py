"""Parsers the audit reads (procfs) on text captured from real kernels (tests/unit/fixtures)."""

from pathlib import Path

import pytest

from ansible.module_utils.nsverify import procfs

FIXTURES = Path(__file__).parent / "fixtures"


def _mounts(name):
    return procfs.parse_mountinfo((FIXTURES / name).read_text())


# The cgroup layout and mounts the audit reports are cgroups.layout/describe_mounts (tests/unit/test_cgroups.py).


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
