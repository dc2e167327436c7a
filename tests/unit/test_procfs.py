"""The /proc parsers, on lines captured from real kernels."""

import pytest

from ansible.module_utils.nsverify import procfs

# Captured on this host (6.18, hybrid cgroups) and on a Debian 12 guest (6.1); the last line is a
# mount point with a space, escaped by the kernel as \040.
MOUNTINFO = """\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
35 22 0:30 / /sys/fs/cgroup/memory rw,relatime shared:12 - cgroup cgroup rw,memory
41 22 0:35 / /sys/fs/cgroup/unified rw,relatime shared:18 - cgroup2 cgroup2 rw
612 22 0:61 / /run/nsverify/ns rw,nosuid,nodev - tmpfs tmpfs rw,size=2426260k,mode=755
613 612 0:4 net:[4026532290] /run/nsverify/ns/a/net rw shared:300 master:7 - nsfs nsfs rw
614 22 0:62 / /tmp/nsv\\040dir rw,relatime unbindable - tmpfs nsv\\040src rw
615 22 0:63 / /mnt/slave rw,relatime master:9 propagate_from:2 - tmpfs nsvs rw
garbage line without separator
"""


def test_mountinfo_fields_by_grammar():
    mounts = procfs.parse_mountinfo(MOUNTINFO)
    assert len(mounts) == 7
    root = mounts[0]
    assert root == dict(
        root,
        mount_id=22,
        parent_id=1,
        major_minor="254:0",
        root="/",
        mount_point="/",
        options="rw,relatime",
        optional=["shared:1"],
        fstype="ext4",
        source="/dev/vda",
        super_options="rw",
    )
    assert mounts[1]["super_options"] == "rw,memory"
    assert mounts[4]["root"] == "net:[4026532290]" and mounts[4]["optional"] == ["shared:300", "master:7"]


@pytest.mark.parametrize(
    "index, propagation",
    [(0, "shared"), (3, "private"), (4, "shared"), (5, "unbindable"), (6, "slave")],
    ids=["shared", "private", "shared-slave", "unbindable", "slave"],
)
def test_mountinfo_propagation(index, propagation):
    assert procfs.parse_mountinfo(MOUNTINFO)[index]["propagation"] == propagation


def test_mountinfo_octal_escapes():
    m = procfs.parse_mountinfo(MOUNTINFO)[5]
    assert m["mount_point"] == "/tmp/nsv dir" and m["source"] == "nsv src"


def test_mountinfo_of_this_process_has_root():
    assert any(m["mount_point"] == "/" for m in procfs.read_mountinfo())


@pytest.mark.parametrize(
    "text, expected",
    [
        ("         0          0 4294967295\n", [[0, 0, 4294967295]]),
        ("0 100000 65536\n1000 1000 1\n", [[0, 100000, 65536], [1000, 1000, 1]]),
        ("", []),
        ("0 x 1\n0 1\n", []),
    ],
    ids=["initial", "two-lines", "empty", "malformed"],
)
def test_id_map(text, expected):
    assert procfs.parse_id_map(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "1234 (sleep) S 1 1234 1234 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 2 3",
            {"state": "S", "ppid": 1, "starttime": 98765},
        ),
        (
            "77 (a) b (c)) Z 12 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555 0 0",
            {"state": "Z", "ppid": 12, "starttime": 555},
        ),
        ("9 (x) R 3", {"state": "R", "ppid": 3, "starttime": None}),
    ],
    ids=["plain", "comm-with-parens", "cut-short"],
)
def test_stat(text, expected):
    assert procfs.parse_stat(text) == expected
