"""Workload inspection on captured /proc text and simulated trees: the parsers, the reference search,
per-target errors, sharing and a process match bounded at max_targets."""

import errno
import json
import os

import pytest

from ansible.module_utils.nsverify import catalog, nslist, userns, workload

# captured on this host (kernel 6.18, hybrid cgroups) from a podman container and a bwrap sandbox
STATUS = """Name:\tsleep
Umask:\t0022
State:\tS (sleeping)
Tgid:\t4242
NSpid:\t4242\t1
PPid:\t4230
Uid:\t0\t0\t0\t0
CapInh:\t0000000000000000
CapPrm:\t00000000800405fb
CapEff:\t00000000800405fb
CapBnd:\t00000000800405fb
CapAmb:\t0000000000000000
NoNewPrivs:\t1
Seccomp:\t2
Seccomp_filters:\t1
"""
CGROUP_HYBRID = """12:pids:/machine.slice/libpod-0123.scope
11:memory:/machine.slice/libpod-0123.scope
10:cpu:/machine.slice/libpod-0123.scope
9:name=systemd:/machine.slice/libpod-0123.scope
0::/machine.slice/libpod-0123.scope
"""


def test_parse_status_by_key():
    s = workload.parse_status(STATUS)
    assert s["NSpid"] == "4242\t1" and s["Seccomp_filters"] == "1" and s["State"] == "S (sleeping)"


@pytest.mark.parametrize(
    "hex_text,names",
    [
        ("0000000000000000", []),
        ("0000000000000021", ["chown", "kill"]),
        ("00000000800405fb", ["chown", "dac_override", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
                              "net_bind_service", "sys_chroot", "setfcap"]),
        ("000001ffffffffff", workload.CAPABILITIES),
    ],
    ids=["none", "two", "podman-default", "all-41"],
)  # fmt: skip
def test_decode_caps(hex_text, names):
    assert workload.decode_caps(hex_text) == list(names)


def test_decode_caps_beyond_the_table_and_cut_at_last_cap():
    assert workload.decode_caps("%x" % (1 << 45)) == ["cap_45"]
    assert workload.decode_caps("000001ffffffffff", last_cap=1) == ["chown", "dac_override"]


def test_parse_cgroup_keeps_colons_in_paths():
    entries = workload.parse_cgroup(CGROUP_HYBRID + "7:cpuset:/a:b\n")
    assert entries[0] == {"hierarchy": 12, "controllers": ["pids"], "path": "/machine.slice/libpod-0123.scope"}
    assert entries[4] == {"hierarchy": 0, "controllers": [], "path": "/machine.slice/libpod-0123.scope"}
    assert entries[-1]["path"] == "/a:b"


def test_parse_timens_offsets():
    text = "monotonic           1000         0\nboottime               0         0\n"
    assert workload.parse_timens_offsets(text) == {
        "monotonic": {"seconds": 1000, "nanoseconds": 0},
        "boottime": {"seconds": 0, "nanoseconds": 0},
    }


@pytest.mark.parametrize(
    "id_map,inside,outside",
    [([[0, 0, 4294967295]], 0, 0), ([[0, 100000, 65536]], 0, 100000), ([[0, 1000, 1]], 5, None), ([], 0, None)],
    ids=["initial", "shifted", "unmapped", "empty"],
)
def test_maps_to(id_map, inside, outside):
    assert workload.maps_to(id_map, inside) == outside


def test_stat_flags_tell_kernel_threads():
    kthread = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 3 0 0"
    user = "4242 (sle ep) (x) S 4230 4242 4230 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 883 0 0"
    assert userns.parse_stat_flags(kthread) & userns.PF_KTHREAD
    assert not userns.parse_stat_flags(user) & userns.PF_KTHREAD


# ---------------------------------------------------------------- simulated /proc trees


def fake_proc(tmp_path, pid, status=STATUS, comm="sleep", flags=4194560, start=883, links=None, files=None):
    d = tmp_path / str(pid)
    (d / "ns").mkdir(parents=True, exist_ok=True)
    (d / "status").write_text(status)
    (d / "comm").write_text(comm + "\n")
    (d / "stat").write_text("%s (%s) S 1 1 1 0 -1 %d 0 0 0 0 0 0 0 0 20 0 1 0 %d 0 0\n" % (pid, comm, flags, start))
    for name, ino in (links or {}).items():
        os.symlink("%s:[%d]" % (catalog.get(name).proc_entry, ino), d / "ns" / catalog.get(name).proc_entry)
    for name, text in (files or {}).items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(text)
    return d


LINKS = {n: 4026531832 + i for i, n in enumerate(catalog.TYPE_NAMES)}


def test_a_gone_pid_and_a_kernel_thread_are_target_errors(tmp_path):
    fake_proc(tmp_path, 2, comm="kthreadd", flags=2129984, links=LINKS)
    with pytest.raises(workload.TargetError) as gone:
        workload.read_process(99, proc=str(tmp_path))
    assert gone.value.kind == "gone"
    with pytest.raises(workload.TargetError) as kthread:
        workload.read_process(2, proc=str(tmp_path))
    assert kthread.value.kind == "kernel-thread"


def test_unreadable_links_and_exit_during_inspection(tmp_path, monkeypatch):
    fake_proc(tmp_path, 50)  # no ns links at all: what a process we may not ptrace looks like
    with pytest.raises(workload.TargetError) as unreadable:
        workload.read_process(50, proc=str(tmp_path))
    assert unreadable.value.kind == "unreadable" and "run as root" in str(unreadable.value)
    fake_proc(tmp_path, 51, links=LINKS)
    times = iter([883, 990])  # the PID was reused while we read it
    monkeypatch.setattr(workload, "start_time", lambda pid, proc: next(times))
    layout = {"layout": "v1", "v1": {}, "v2": None, "v2_controllers": []}
    with pytest.raises(workload.TargetError) as exited:
        workload.read_process(51, proc=str(tmp_path), layout=layout, ioctl=_eperm)
    assert exited.value.kind == "exited"


def _eperm(fd, request):
    raise OSError(errno.EPERM, "outside the caller's namespace scope")


def test_cgroup_limits_on_a_simulated_hybrid_tree(tmp_path):
    fake_proc(tmp_path, 60, files={"cgroup": CGROUP_HYBRID})
    sys_fs = tmp_path / "sys"
    scope = "machine.slice/libpod-0123.scope"
    for ctrl, files in {
        "memory": {"memory.limit_in_bytes": "67108864\n"},
        "pids": {"pids.max": "max\n"},
        "cpu": {"cpu.cfs_quota_us": "50000\n", "cpu.cfs_period_us": "100000\n"},
    }.items():
        (sys_fs / ctrl / scope).mkdir(parents=True)
        for name, text in files.items():
            (sys_fs / ctrl / scope / name).write_text(text)
    layout = {"layout": "hybrid", "v1": {c: str(sys_fs / c) for c in ("memory", "pids", "cpu")},
              "v2": str(sys_fs / "unified"), "v2_controllers": []}  # fmt: skip
    out = workload.cgroup_limits(60, proc=str(tmp_path), layout=layout)
    assert out["limits"]["memory"]["value"] == 64 << 20 and out["limits"]["memory"]["version"] == 1
    assert out["limits"]["pids"]["value"] is None and out["limits"]["cpu"]["value"] == 0.5
    assert out["systemd_path"] == "/" + scope and out["v2_path"] == "/" + scope


@pytest.mark.parametrize(
    "spec,text,value",
    [("memory.max", "max\n", None), ("memory.max", "1048576\n", 1048576), ("pids.max", "64\n", 64),
     ("cpu.max", "max 100000\n", None), ("cpu.max", "25000 100000\n", 0.25),
     ("memory.limit_in_bytes", "9223372036854771712\n", None)],
    ids=["v2-mem-max", "v2-mem", "pids", "v2-cpu-max", "v2-cpu", "v1-mem-unlimited"],
)  # fmt: skip
def test_limit_values(spec, text, value):
    assert workload.limit_value(spec, text) == value


def _simulated_host(tmp_path, uid_map="0 0 4294967295\n", kthread_user=None):
    """self/ns/{user,pid} as plain files (their inodes stand for nsfs inodes), kthreadd's links to them."""
    self_dir = tmp_path / "self"
    (self_dir / "ns").mkdir(parents=True)
    for name in ("user", "pid"):
        (self_dir / "ns" / name).write_text("")
    (self_dir / "uid_map").write_text(uid_map)
    inodes = dict(LINKS, user=os.stat(self_dir / "ns" / "user").st_ino, pid=os.stat(self_dir / "ns" / "pid").st_ino)
    if kthread_user is not None:
        inodes["user"] = kthread_user
    fake_proc(tmp_path, 2, comm="kthreadd", flags=2129984, links=inodes)
    return inodes


def test_reference_is_kthreadd_when_the_walk_proves_the_roots(tmp_path):
    inodes = _simulated_host(tmp_path)
    ref = userns.find_reference(proc=str(tmp_path), ioctl=_eperm)
    assert ref["pid"] == 2 and ref["basis"] == "kthreadd" and ref["inodes"] == inodes
    assert ref["tree"]["user"]["walk_ended_with"] == "EPERM"


@pytest.mark.parametrize(
    "uid_map,kthread_user", [("0 1000 1\n", None), ("0 0 4294967295\n", 4026531837)], ids=["map", "kthreadd"]
)
def test_reference_is_refused_in_a_nested_user_namespace(tmp_path, uid_map, kthread_user):
    _simulated_host(tmp_path, uid_map, kthread_user)
    with pytest.raises(userns.NoReference, match="nested user namespace.*reference_pid"):
        userns.find_reference(proc=str(tmp_path), ioctl=_eperm)


def test_explicit_reference_must_be_readable(tmp_path):
    _simulated_host(tmp_path)
    with pytest.raises(userns.NoReference, match="reference_pid 77"):
        userns.find_reference(77, proc=str(tmp_path), ioctl=_eperm)


# ---------------------------------------------------------------- sharing


def _target(name, own=(), peer_inode=None, **extra):
    inodes = {n: LINKS[n] + (1000 if n in own else 0) for n in catalog.TYPE_NAMES}
    if peer_inode:
        inodes.update(peer_inode)
    t = {"name": name, "pid": 10, "inodes": inodes, "user_namespace": {"root_is_host_root": False},
         "time": {"zero": True}, "security": {"no_new_privs": True, "seccomp": {"mode": "filter", "filters": 1}},
         "capabilities": {"effective": ["kill"], "bounding": ["kill"], "full_bounding": False},
         "cgroup": {"limits": {"memory": {"value": 1 << 26, "file": "m"}, "pids": {"value": 64, "file": "p"}}}}  # fmt: skip
    t.update(extra)
    return t


def test_sharing_names_the_host_and_peers():
    ref = {"inodes": LINKS}
    a = _target("podman:a", own=("mnt", "net", "time"))
    b = _target("podman:b", own=("mnt",), peer_inode={"net": a["inodes"]["net"]})
    b["inodes"]["mnt"] += 1
    workload.sharing([a, b], ref, others=[{"name": "docker:c", "inodes": dict(LINKS, uts=LINKS["uts"])}])
    assert a["namespaces"]["net"] == {"status": "own", "inode": LINKS["net"] + 1000, "reference_inode": LINKS["net"],
                                      "shared_with": ["podman:b"], "pod_peers": [],
                                      "relation": "shared with podman:b"}  # fmt: skip
    assert a["namespaces"]["mnt"]["shared_with"] == [] and b["namespaces"]["uts"]["shared_with"] == ["host"]
    assert a["notes"] == ["own time namespace, offsets are zero"]
    row = workload.table([a])[0]
    assert row["net"] == "own (podman:b)" and row["uts"] == "shared" and row["process"] == 10
    assert b["namespaces"]["uts"]["relation"] == "shared with the host" and a["namespaces"]["mnt"]["relation"] == "own"


def test_sharing_names_pod_peers_of_the_same_runtime_s_pod():
    """Holders of one runtime's pod are pod peers; the same pod name of another runtime is not."""
    ref = {"inodes": LINKS}
    net = {"net": LINKS["net"] + 1000}
    a = _target("nsverify:a", own=("mnt", "net"), runtime="nsverify", pod="a")
    b = _target("nsverify:b", own=("mnt", "net"), peer_inode=net, runtime="nsverify", pod="a")
    b["inodes"]["mnt"] += 1
    other = {"name": "podman:a", "runtime": "podman", "pod": "a", "inodes": dict(LINKS, **net)}
    workload.sharing([a, b], ref, others=[other])
    ns = b["namespaces"]["net"]
    assert ns["shared_with"] == ["nsverify:a", "podman:a"] and ns["pod_peers"] == ["nsverify:a"]
    assert ns["relation"] == "shared with pod peer nsverify:a, podman:a"
    assert b["namespaces"]["mnt"]["relation"] == "own" and b["namespaces"]["uts"]["relation"] == "shared with the host"
    assert workload.table([b])[0]["net"] == "own (pod peer nsverify:a, podman:a)"


# ---------------------------------------------------------------- listing and the bounded match


def test_nsfs_mounts_from_mountinfo():
    text = (
        "631 30 0:4 net:[4026532300] /run/netns/blue rw shared:263 - nsfs nsfs rw\n"
        "640 30 0:4 uts:[4026532400] /run/nsverify/ns/a\\040b/uts rw - nsfs nsfs rw\n"
        "25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    )
    assert nslist.nsfs_mounts(text) == [
        ("net", 4026532300, "/run/netns/blue"),
        ("uts", 4026532400, "/run/nsverify/ns/a b/uts"),
    ]


def test_a_match_of_10000_processes_is_bounded(tmp_path):
    for pid in range(100, 10100):
        d = tmp_path / str(pid)
        d.mkdir()
        (d / "comm").write_text("worker\n")
    with pytest.raises(nslist.TooMany, match=r"found 10000 processes, more than max_targets=256"):
        nslist.match(command="worker", limit=256, proc=str(tmp_path))
    assert nslist.match(command="nomatch", proc=str(tmp_path)) == []


def test_match_by_unit_and_cgroup(tmp_path):
    fake_proc(tmp_path, 70, files={"cgroup": "0::/system.slice/ssh.service\n"})
    fake_proc(tmp_path, 71, files={"cgroup": "0::/user.slice/user-0.slice/session-1.scope\n"})
    assert nslist.match(unit="ssh.service", proc=str(tmp_path)) == [70]
    assert nslist.match(cgroup="user.slice", proc=str(tmp_path)) == [71]
    assert nslist.match(command="sleep", unit="ssh.service", proc=str(tmp_path)) == [70]


def test_listing_counts_processes_and_marks_kept_alive_ones(tmp_path):
    fake_proc(tmp_path, 80, links=LINKS)
    fake_proc(tmp_path, 81, links=dict(LINKS, net=4026532999))
    (tmp_path / "81" / "fd").mkdir()
    os.symlink("net:[4026533111]", tmp_path / "81" / "fd" / "5")
    (tmp_path / "80" / "mountinfo").write_text("631 30 0:4 net:[4026532300] /run/netns/blue rw - nsfs nsfs rw\n")
    rows = {(r["type"], r["inode"]): r for r in nslist.list_namespaces(proc=str(tmp_path), ioctl=_eperm)["namespaces"]}
    assert rows[("net", LINKS["net"])]["nprocs"] == 1 and rows[("mnt", LINKS["mnt"])]["nprocs"] == 2
    assert rows[("net", 4026532300)]["held_by"] == ["mount:/run/netns/blue"]
    assert rows[("net", 4026533111)]["held_by"] == ["fd:81/fd/5"] and rows[("net", 4026533111)]["only_by_mount_or_fd"]
    assert rows[("mnt", LINKS["mnt"])]["pid"] == 80 and rows[("mnt", LINKS["mnt"])]["command"] == "sleep"


def test_the_parsers_are_json_clean(tmp_path):
    fake_proc(tmp_path, 90, links=LINKS)
    json.dumps(nslist.list_namespaces(proc=str(tmp_path), ioctl=_eperm))
