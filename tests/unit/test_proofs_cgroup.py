"""The cgroup proof's choices on captured mountinfo (issue 12): where the scratch cgroup goes (cgroup2 when
mounted, else a v1 hierarchy: a named one first, never cpuset), the mount options a v1 remount needs, and how
the view of a hierarchy mounted from inside is judged. The real kernel: tests/integration/test_proof_cgroup_v1.py."""

import pytest

from ansible.module_utils.nsverify.proofs import base
from ansible.module_utils.nsverify.proofs import cgroup as cgroup_proof

HYBRID = r"""31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
# the molecule guest nsv-cgv1 (guest-setup.sh): one hierarchy per controller, cpu and cpuacct together, no cgroup2
PURE_V1 = r"""25 20 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec - tmpfs cgroup rw,mode=755
26 25 0:23 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset
27 25 0:24 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
28 25 0:25 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
29 25 0:26 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
"""
CPUSET_ONLY = "26 25 0:23 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n"
# a container's view: a hierarchy mounted from below its root is no place for a scratch cgroup at the root
BIND_OF_A_SUBTREE = "28 25 0:25 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"


@pytest.mark.parametrize(
    "text,expected",
    [
        (HYBRID, {"version": 2, "mount_point": "/sys/fs/cgroup/unified", "fstype": "cgroup2", "options": None}),
        (
            HYBRID.replace("41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n", ""),
            {"version": 1, "mount_point": "/sys/fs/cgroup/systemd", "fstype": "cgroup", "options": "none,name=systemd"},
        ),
        (PURE_V1, {"version": 1, "mount_point": "/sys/fs/cgroup/pids", "fstype": "cgroup", "options": "pids"}),
        (
            PURE_V1.replace("29 25 0:26 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n", ""),
            {"version": 1, "mount_point": "/sys/fs/cgroup/cpu,cpuacct", "fstype": "cgroup", "options": "cpu,cpuacct"},
        ),
        (CPUSET_ONLY, None),
        (BIND_OF_A_SUBTREE, None),
    ],
    ids=[
        "hybrid-uses-cgroup2",
        "v1-named-first",
        "pure-v1-guest-pids",
        "pure-v1-cpu-cpuacct",
        "cpuset-never",
        "subtree",
    ],
)
def test_scratch_goes_to_cgroup2_else_a_v1_hierarchy(text, expected):
    assert cgroup_proof.scratch_spec(base.parse_mountinfo(text)) == expected


def test_pure_v1_in_the_root_cgroup_without_a_hierarchy_skips_with_the_reason():
    with pytest.raises(base.ProofSkip) as err:
        cgroup_proof.scratch_cgroup(
            [{"id": 1, "controllers": "cpuset", "path": "/"}], base.parse_mountinfo(CPUSET_ONLY)
        )
    assert err.value.verdict == "unknown" and "no cgroup hierarchy to make one in" in err.value.reason


HOST = {"scratch_inode": 8, "hierarchy_root_inode": 1}


@pytest.mark.parametrize(
    "view,shown,words",
    [
        ({"root": "/", "inode": 8, "fstype": "cgroup"}, True, None),
        ({"root": "/", "inode": 1, "fstype": "cgroup"}, False, "at the hierarchy's root"),
        ({"root": "/..", "inode": 8, "fstype": "cgroup"}, False, "shows root '/..'"),
        ({"error": "EPERM", "fstype": "cgroup"}, None, None),
        (None, None, None),
    ],
    ids=["rooted-at-scratch", "rooted-at-hierarchy-root", "host-namespace-root", "mount-refused", "not-tried"],
)
def test_mount_view_is_judged_by_root_and_inode(view, shown, words):
    got, reason = cgroup_proof.judge_mount_view(dict(HOST, mount_view=view))
    assert got is shown
    assert (reason is None) if words is None else (words in reason)
