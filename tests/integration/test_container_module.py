"""busybox_rootfs, busybox_container and busybox_container_exec for real on this host.

Triads (check mode reports changed and does nothing, real run, again -> not changed), the stop
paths, and bad input (clear failure, nothing left behind). The modules' main() run in-process
through patch_module_args: the same code Ansible runs, seconds faster per call. Each test uses
its own container name and removes it.
"""

import json
import os
import time

import busybox_container
import busybox_container_exec
import busybox_container_verify
import busybox_rootfs
import pytest
from conftest import container_name_fixture, container_traces, run_module_main

from ansible.module_utils.nsverify import cgroups, container

SUFFIX = "%d" % (os.getpid() % 100000)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


run_module = run_module_main


host_traces = container_traces


name = container_name_fixture("t")


# ---------------------------------------------------------------- busybox_rootfs


def test_rootfs_triad(tmp_path):
    base = str(tmp_path / "rootfs")
    check = run_module(busybox_rootfs, {"base": base}, check=True)
    assert check["changed"] and not os.path.exists(base)
    real = run_module(busybox_rootfs, {"base": base})
    assert real["changed"] and real["path"] == os.path.join(base, "busybox-%s" % real["version"])
    assert os.path.islink(os.path.join(real["path"], "bin/sh"))
    assert os.path.isfile(os.path.join(real["path"], "bin/busybox"))
    again = run_module(busybox_rootfs, {"base": base})
    assert not again["changed"] and again["actions"] == []


def test_rootfs_repairs_a_removed_applet_link(tmp_path):
    base = str(tmp_path / "rootfs")
    path = run_module(busybox_rootfs, {"base": base})["path"]
    os.unlink(os.path.join(path, "bin/ls"))
    res = run_module(busybox_rootfs, {"base": base})
    assert res["changed"] and res["actions"] == ["link bin/ls"]
    assert os.readlink(os.path.join(path, "bin/ls")) == "busybox"


def test_rootfs_refuses_a_dynamic_busybox(tmp_path):
    res = run_module(busybox_rootfs, {"base": str(tmp_path / "rootfs"), "binary": "/bin/ls"})
    assert res["failed"] and "dynamically linked" in res["msg"]
    assert not os.path.exists(tmp_path / "rootfs")


def test_rootfs_refuses_a_hostname_that_is_no_host_name(tmp_path):
    res = run_module(busybox_rootfs, {"base": str(tmp_path), "hostname": "bad_host!"})
    assert res["failed"] and "not a valid host name" in res["msg"]
    assert not os.listdir(str(tmp_path))


def test_rootfs_refuses_a_missing_binary(tmp_path):
    res = run_module(busybox_rootfs, {"base": str(tmp_path / "rootfs"), "binary": str(tmp_path / "nope")})
    assert res["failed"] and "does not exist" in res["msg"]
    assert not os.path.exists(tmp_path / "rootfs")


# ---------------------------------------------------------------- busybox_container


def test_container_start_triad(name, rootfs_path):
    args = {"name": name, "rootfs": rootfs_path, "memory": "32M", "pids": 32}
    check = run_module(busybox_container, args, check=True, diff=True)
    assert check["changed"] and check["state"] == "absent" and "state: running" in check["diff"]["after"]
    assert host_traces(name) == {}
    real = run_module(busybox_container, args)
    assert real["changed"] and real["state"] == "running"
    pid = real["container"]["init_pid"]
    assert container.init_alive(real["container"])
    assert os.path.isfile(os.path.join(container.RUN_DIR, name, "state.json"))
    again = run_module(busybox_container, args)
    assert not again["changed"] and again["container"]["init_pid"] == pid


def test_container_stop_triad_keeps_upper_layer(name, rootfs_path):
    run_module(busybox_container, {"name": name, "rootfs": rootfs_path, "pids": 16})
    st = container.status(name)["state"]
    container.exec_in(st, ["/bin/sh", "-c", "echo kept > /root/note"])
    check = run_module(busybox_container, {"name": name, "state": "stopped"}, check=True)
    assert check["changed"] and container.init_alive(st)
    real = run_module(busybox_container, {"name": name, "state": "stopped"})
    assert real["changed"] and real["state"] == "stopped" and not container.init_alive(st)
    assert real["removed"]["cgroups"] and not any(os.path.isdir(d) for d in real["removed"]["cgroups"])
    with open(os.path.join(container.DATA_DIR, name, "upper/root/note")) as fh:
        assert fh.read() == "kept\n"
    again = run_module(busybox_container, {"name": name, "state": "stopped"})
    assert not again["changed"]


def test_container_restart_after_stop_sees_upper_layer(name, rootfs_path):
    args = {"name": name, "rootfs": rootfs_path}
    run_module(busybox_container, args)
    container.exec_in(container.status(name)["state"], ["/bin/sh", "-c", "echo kept > /root/note"])
    run_module(busybox_container, {"name": name, "state": "stopped"})
    res = run_module(busybox_container, args)
    assert res["changed"]
    out = container.exec_in(res["container"], ["/bin/cat", "/root/note"])
    assert out["stdout"] == "kept\n"


def test_container_absent_triad(name, rootfs_path):
    run_module(busybox_container, {"name": name, "rootfs": rootfs_path, "veth": True, "network": "10.213.0.8/30"})
    assert host_traces(name)
    check = run_module(busybox_container, {"name": name, "state": "absent"}, check=True)
    assert check["changed"] and container.status(name)["running"]
    real = run_module(busybox_container, {"name": name, "state": "absent"})
    assert real["changed"] and real["state"] == "absent"
    assert host_traces(name) == {}
    again = run_module(busybox_container, {"name": name, "state": "absent"})
    assert not again["changed"]


def test_container_stop_kills_a_workload_that_ignores_sigterm(name, rootfs_path):
    stubborn = ["/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"]
    run_module(busybox_container, {"name": name, "rootfs": rootfs_path, "command": stubborn})
    st = container.status(name)["state"]
    t0 = time.monotonic()
    res = run_module(busybox_container, {"name": name, "state": "stopped", "stop_timeout": 1})
    assert res["changed"] and not container.init_alive(st)
    assert time.monotonic() - t0 < 8


def test_container_init_stops_cleanly_on_sigterm(name, rootfs_path):
    run_module(busybox_container, {"name": name, "rootfs": rootfs_path})
    st = container.status(name)["state"]
    t0 = time.monotonic()
    container.stop(name, timeout=5)
    assert time.monotonic() - t0 < 3  # no SIGKILL needed: init forwarded SIGTERM and exited
    assert not container.init_alive(st)


def test_container_time_namespace_offsets_apply_inside(name, rootfs_path):
    res = run_module(busybox_container, {"name": name, "rootfs": rootfs_path, "time_offsets": {"monotonic": 86400 * 3}})
    assert "time" in res["container"]["namespaces"]
    out = container.exec_in(res["container"], ["/bin/cat", "/proc/uptime"])
    with open("/proc/uptime") as fh:
        host_uptime = float(fh.read().split()[0])
    # /proc/uptime follows CLOCK_BOOTTIME, which is not shifted; the monotonic offset shows in timens_offsets
    offsets = container.exec_in(res["container"], ["/bin/cat", "/proc/self/timens_offsets"])["stdout"]
    assert "monotonic" in offsets and "259200" in offsets
    assert abs(float(out["stdout"].split()[0]) - host_uptime) < 60


def test_container_name_taken_by_another_config_fails(name, rootfs_path):
    first = run_module(busybox_container, {"name": name, "rootfs": rootfs_path})
    res = run_module(busybox_container, {"name": name, "rootfs": rootfs_path, "hostname": "other-box"})
    assert res["failed"] and "already running with another config" in res["msg"]
    now = container.status(name)
    assert now["running"] and now["state"]["init_pid"] == first["container"]["init_pid"]
    assert now["state"]["config"]["hostname"] == "isolated-box"


BAD = [
    ({"rootfs": "/nonexistent/rootfs"}, "does not exist"),
    ({"hostname": "h" * 65}, "1 to 64 characters"),
    ({"hostname": "bad_host!"}, "not a valid host name"),
    ({"hostname": "-leading"}, "not a valid host name"),
    ({"memory": "3M"}, "below the 4 MiB floor"),
    ({"memory": "lots"}, "is not a size"),
    ({"pids": 1}, "below"),
    ({"veth": True, "veth_host_name": "nsv-far-too-long0"}, "1 to 15 characters"),
    ({"veth": True, "veth_container_name": "eth0"}, "must start with 'nsv'"),
    ({"veth": True, "network": "10.213.0.0/24"}, "private IPv4 /30"),
    ({"veth": True, "network": "8.8.8.0/30"}, "private IPv4 /30"),
    ({"command": ["sh"]}, "absolute path"),
    ({"capabilities": ["CAP_FLY"]}, "unknown capability"),
]


@pytest.mark.parametrize(
    "extra,message",
    BAD,
    ids=[
        "rootfs-missing",
        "hostname-65",
        "hostname-invalid-chars",
        "hostname-leading-dash",
        "memory-3M",
        "memory-unreadable",
        "pids-1",
        "veth-name-16",
        "veth-name-no-prefix",
        "network-24",
        "network-public",
        "command-relative",
        "capability-unknown",
    ],
)
def test_container_bad_input_fails_and_leaves_nothing(name, rootfs_path, extra, message):
    args = dict({"name": name, "rootfs": rootfs_path}, **extra)
    res = run_module(busybox_container, args)
    assert res.get("failed") and message in res["msg"], res
    assert host_traces(name) == {}
    assert not [d for d in cgroups.find_named() if d.endswith("/nsv-%s" % name)]


def test_container_bad_name_fails():
    res = run_module(busybox_container, {"name": "Bad/Name", "rootfs": "/"})
    assert res["failed"] and "container name" in res["msg"]


def test_container_failure_inside_init_is_reported_and_cleaned_up(name, rootfs_path, tmp_path):
    # a comma in the lower layer's path splits overlayfs' mount options: mount(2) fails inside
    # init, after namespaces and cgroups were made; all of it must be gone again
    odd = tmp_path / "a,b"
    (odd / "bin").mkdir(parents=True)
    os.symlink(os.path.join(rootfs_path, "bin/busybox"), str(odd / "bin/busybox"))
    os.symlink("busybox", str(odd / "bin/sh"))
    res = run_module(busybox_container, {"name": name, "rootfs": str(odd), "rootfs_base": str(tmp_path), "pids": 8})
    assert res["failed"] and "did not start" in res["msg"] and res["report"]["stage"] == "init"
    assert host_traces(name) == {}


def test_container_ends_when_its_workload_ends(name, rootfs_path):
    res = run_module(busybox_container, {"name": name, "rootfs": rootfs_path, "command": ["/bin/true"]})
    deadline = time.monotonic() + 5
    while container.init_alive(res["container"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not container.init_alive(res["container"])


# ---------------------------------------------------------------- busybox_container_exec


def test_exec_runs_inside(name, rootfs_path):
    run_module(busybox_container, {"name": name, "rootfs": rootfs_path, "hostname": "exec-box"})
    res = run_module(busybox_container_exec, {"name": name, "argv": ["/bin/hostname"]})
    assert res["rc"] == 0 and res["stdout_lines"] == ["exec-box"]


def test_exec_failure_is_reported(name, rootfs_path):
    run_module(busybox_container, {"name": name, "rootfs": rootfs_path})
    res = run_module(busybox_container_exec, {"name": name, "cmd": "exit 3"})
    assert res["failed"] and res["rc"] == 3


@pytest.mark.parametrize("module", [busybox_container_exec, busybox_container_verify], ids=["exec", "verify"])
@pytest.mark.parametrize("bad", ["../containers/x", "a/b", "Box"], ids=["dotdot", "slash", "upper-case"])
def test_a_name_that_is_no_container_name_is_refused_before_any_lookup(module, bad):
    args = {"name": bad, "argv": ["/bin/true"]} if module is busybox_container_exec else {"name": bad}
    res = run_module(module, args)
    assert res["failed"] and "container name %r" % bad in res["msg"], res


def test_exec_into_a_stopped_container_fails(name):
    res = run_module(busybox_container_exec, {"name": name, "argv": ["/bin/true"]})
    assert res["failed"] and "not running" in res["msg"]


def test_container_check_mode_accepts_a_rootfs_not_built_yet(name, tmp_path):
    # in a --check run of container.yml the rootfs task only reports what it would build
    args = {"name": name, "rootfs": str(tmp_path / "later"), "rootfs_base": str(tmp_path)}
    res = run_module(busybox_container, args, check=True)
    assert res["changed"] and not res.get("failed") and "does not exist yet" in json.dumps(res.get("warnings"))
    assert host_traces(name) == {}


def _touch_and_owner(state, name):
    res = container.exec_in(state, ["/bin/sh", "-c", "echo x > /tmp/owned && cat /proc/self/uid_map"])
    assert res["rc"] == 0, res
    return res["stdout"].split(), os.stat(os.path.join(container.DATA_DIR, name, "upper/tmp/owned")).st_uid


def test_container_user_namespace_root_is_an_unprivileged_host_id(name, rootfs_path):
    res = run_module(
        busybox_container,
        {
            "name": name,
            "rootfs": rootfs_path,
            "user_namespace": True,
            "uid_map": [[0, 200000, 65536]],
            "gid_map": [[0, 200000, 65536]],
        },
    )
    assert "user" in res["container"]["namespaces"]
    uid_map, owner = _touch_and_owner(res["container"], name)
    assert uid_map == ["0", "200000", "65536"] and owner == 200000
    # the old [inside, outside, count] lists still work, with a deprecation per map
    said = [(d.get("event") or d).get("msg") for d in res.get("deprecations", [])]
    for m in ("uid_map", "gid_map"):
        assert "%s given as [inside, outside, count] lists is deprecated" % m in " ".join(said), said


def test_container_user_namespace_takes_the_dict_shape_of_every_module(name, rootfs_path):
    one_map = [{"inside": 0, "outside": 300000, "count": 65536}]
    args = {"name": name, "rootfs": rootfs_path, "user_namespace": True, "uid_map": one_map, "gid_map": one_map}
    res = run_module(busybox_container, args)
    assert res["container"]["config"]["user"]["uid_map"] == [[0, 300000, 65536]]
    uid_map, owner = _touch_and_owner(res["container"], name)
    assert uid_map == ["0", "300000", "65536"] and owner == 300000
    again = run_module(busybox_container, dict(args, uid_map=[[0, 300000, 65536]], gid_map=[[0, 300000, 65536]]))
    assert not again["changed"]  # the same map in the old shape is the same config


def test_container_without_user_namespace_root_is_host_root(name, rootfs_path):
    res = run_module(busybox_container, {"name": name, "rootfs": rootfs_path})
    uid_map, owner = _touch_and_owner(res["container"], name)
    assert uid_map == ["0", "0", "4294967295"] and owner == 0


def test_container_user_namespace_root_cannot_change_the_uts_or_mounts(name, rootfs_path):
    res = run_module(
        busybox_container,
        {
            "name": name,
            "rootfs": rootfs_path,
            "user_namespace": True,
            "capabilities": ["SYS_ADMIN", "CHOWN", "SETUID", "SETGID"],
        },
    )
    # even with CAP_SYS_ADMIN kept, it is held in the container's user namespace only, which
    # does not own the UTS and mount namespaces (made by the host's root before it)
    st = res["container"]
    hostname = container.exec_in(st, ["/bin/hostname", "evil"])
    mount = container.exec_in(st, ["/bin/mount", "-t", "tmpfs", "none", "/mnt"])
    assert hostname["rc"] != 0 and "not permitted" in hostname["stderr"]
    assert mount["rc"] != 0
    assert container.exec_in(st, ["/bin/hostname"])["stdout"].strip() == "isolated-box"


@pytest.mark.parametrize(
    "extra,message",
    [
        ({"user_namespace": True, "uid_map": [[1, 100000, 10]]}, "must map id 0"),
        ({"user_namespace": True, "uid_map": [[0, 100000, 0]]}, "count 0 is below the minimum 1"),
        ({"uid_map": [[0, 100000, 65536]]}, "need user_namespace"),
    ],
    ids=["no-root-mapped", "zero-count", "map-without-userns"],
)
def test_container_bad_id_maps_fail_and_leave_nothing(name, rootfs_path, extra, message):
    res = run_module(busybox_container, dict({"name": name, "rootfs": rootfs_path}, **extra))
    assert res.get("failed") and message in res["msg"], res
    assert host_traces(name) == {}


def test_container_at_the_memory_floor_runs_an_exec(name, rootfs_path):
    res = run_module(busybox_container, {"name": name, "rootfs": rootfs_path, "memory": "4M"})
    out = container.exec_in(res["container"], ["/bin/sh", "-c", "ps -o pid,comm; hostname"])
    assert out["rc"] == 0 and container.init_alive(res["container"])


def _hog_against(name, rootfs_path, memory, hog_mib):
    res = run_module(busybox_container, {"name": name, "rootfs": rootfs_path, "memory": memory})
    st = res["container"]
    hog = container.exec_in(st, ["/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=%dM" % hog_mib, "count=1"])
    return st, hog


def test_container_oom_ranks_the_workload_before_init(name, rootfs_path):
    res = run_module(busybox_container, {"name": name, "rootfs": rootfs_path})
    with open("/proc/%d/oom_score_adj" % res["container"]["init_pid"]) as fh:
        init_adj = int(fh.read())
    adj = container.exec_in(res["container"], ["/bin/cat", "/proc/self/oom_score_adj"])["stdout"].strip()
    assert (init_adj, adj) in ((-1000, "0"), (0, str(container.WORKLOAD_OOM_SCORE_ADJ)))


def test_container_32m_limit_oom_kills_the_hog_not_init(name, rootfs_path):
    st, hog = _hog_against(name, rootfs_path, "32M", 64)
    assert hog["rc"] == 137 and container.init_alive(st)


def test_container_16m_limit_oom_kills_the_hog_not_init(name, rootfs_path):
    st, hog = _hog_against(name, rootfs_path, "16M", 32)
    assert hog["rc"] == 137 and container.init_alive(st)


@pytest.mark.skipif(not os.path.isdir("/sys/fs/cgroup/memory"), reason="needs a v1 memory hierarchy")
def test_container_init_stays_out_of_the_limited_memory_cgroup(name, rootfs_path):
    res = run_module(busybox_container, {"name": name, "rootfs": rootfs_path, "memory": "16M"})
    st = res["container"]
    payload = st["cgroups"]["paths"]["memory"]["path"]
    with open(os.path.join(payload, "cgroup.procs")) as fh:
        limited = {int(x) for x in fh.read().split()}
    with open(os.path.join(os.path.dirname(payload), "cgroup.procs")) as fh:
        parent = {int(x) for x in fh.read().split()}
    assert st["init_pid"] in parent and st["init_pid"] not in limited and limited  # the workload is limited


def test_container_without_pids_limit_lets_the_fork_bomb_pass_a_would_be_limit(name, rootfs_path):
    # the negative case of NS-CTR-006: the same bomb and judgement against a container that
    # has no pids limit must see every child forked, no EAGAIN, and fail the check
    from ansible.module_utils.nsverify.container import checks as container_checks

    res = run_module(busybox_container, {"name": name, "rootfs": rootfs_path})
    checked = container_checks.check_pids_limit(res["container"], limit=8)
    ev = checked["evidence"]
    assert checked["status"] == "fail", ev
    assert ev["forked"] == 16 and not ev["eagain"] and ev["rc"] == 0
    assert ev["current_with_children"] > 8 and ev["left_alive"] == []


def test_container_pids_limit_passes_ns_ctr_006_on_the_kernel_s_word(name, rootfs_path):
    from ansible.module_utils.nsverify.container import checks as container_checks

    res = run_module(busybox_container, {"name": name, "rootfs": rootfs_path, "pids": 8})
    checked = container_checks.check_pids_limit(res["container"])
    ev = checked["evidence"]
    assert checked["status"] == "pass", ev
    assert ev["eagain"] and ev["events_max_after"] > ev["events_max_before"] and ev["current_with_children"] <= 8


def test_container_summary_lines_are_read_from_inside(name, rootfs_path):
    res = run_module(
        busybox_container,
        {
            "name": name,
            "rootfs": rootfs_path,
            "hostname": "lines-box",
            "pids": 16,
            "veth": True,
            "network": "10.213.0.16/30",
        },
    )
    lines = res["summary_lines"]
    pid = res["container"]["init_pid"]
    assert lines[0] == "container %s: init PID %d on the host, 1 inside (NSpid %d 1)" % (name, pid, pid)
    assert "hostname inside lines-box, on the host %s" % os.uname().nodename in lines
    veth = res["container"]["veth"]
    assert "interfaces inside: lo 127.0.0.1/8, %s 10.213.0.18/30" % veth["container"] in lines
    assert any(line.startswith("cgroup limits: memory unlimited, cpu unlimited, pids 16 (") for line in lines)
    table = lines[lines.index("namespaces (container vs host):") + 1 :]
    assert [row.split()[0] for row in table] == ["mnt", "uts", "ipc", "pid", "net", "cgroup"]
    assert all(row.endswith(" isolated") for row in table)
    again = run_module(
        busybox_container,
        {
            "name": name,
            "rootfs": rootfs_path,
            "hostname": "lines-box",
            "pids": 16,
            "veth": True,
            "network": "10.213.0.16/30",
        },
        check=True,
    )
    assert not again["changed"] and again["summary_lines"][0] == lines[0]


def _refused_under_limit_zero(sysctl_file, types):
    # namespace limits are per user namespace: 0 written here binds this throwaway user
    # namespace and its children only, never the host
    with open(sysctl_file, "w") as fh:
        fh.write("0")
    return container.refused_types(types)


@pytest.mark.parametrize("ns_type", ["cgroup", "ipc"], ids=["cgroup", "ipc"])
def test_refused_types_names_the_type_at_its_zero_limit(ns_type):
    from ansible.module_utils.nsverify import catalog, probe

    others = [t for t in ("cgroup", "ipc", "uts") if t != ns_type]
    res = probe.run(
        _refused_under_limit_zero,
        args=("/proc/sys/user/max_%s_namespaces" % ns_type, [ns_type] + others),
        unshare=catalog.CLONE_NEWUSER,
        uid_map=[(0, 0, 1)],
        gid_map=[(0, 0, 1)],
    )
    assert res["ok"], res
    assert res["value"] == {ns_type: {"errno": 28, "errname": "ENOSPC", "limit": 0}}
    text = container.explain_refusal(res["value"], 28)
    assert "user.max_%s_namespaces is 0" % ns_type in text and "ENOSPC" in text


def test_refused_types_is_empty_where_the_kernel_allows_all():
    # the negative side, on the host itself: nothing refused, nothing named
    assert container.refused_types(list(container.BASE_TYPES)) == {}


def test_container_without_cgroup_namespace_shares_the_host_s(name, rootfs_path):
    from ansible.module_utils.nsverify import inspect
    from ansible.module_utils.nsverify.container import checks as container_checks

    res = run_module(
        busybox_container, {"name": name, "rootfs": rootfs_path, "namespaces": ["mnt", "uts", "ipc", "net", "pid"]}
    )
    st = res["container"]
    assert sorted(st["namespaces"]) == ["ipc", "mnt", "net", "pid", "uts"]
    now = inspect.read_ns_inodes(st["init_pid"], types=["cgroup", "ipc"])
    host = inspect.read_ns_inodes("self", types=["cgroup", "ipc"])
    assert now["cgroup"] == host["cgroup"] and now["ipc"] != host["ipc"]
    # inside, its own cgroup reads as the real path (no cgroup namespace to make it "/")
    cg = container.exec_in(st, ["/bin/cat", "/proc/self/cgroup"])["stdout"]
    assert "nsv-%s" % name in cg
    assert container_checks.check_namespaces(st)["status"] == "pass"
    assert [line for line in res["summary_lines"] if line.startswith("  cgroup ")] == [
        "  cgroup the host's, left out by request (namespaces)"
    ]
    again = run_module(
        busybox_container, {"name": name, "rootfs": rootfs_path, "namespaces": ["mnt", "uts", "ipc", "net", "pid"]}
    )
    assert not again["changed"]


def test_container_namespaces_without_a_required_type_fails(name, rootfs_path):
    res = run_module(busybox_container, {"name": name, "rootfs": rootfs_path, "namespaces": ["mnt", "uts", "pid"]})
    assert res["failed"] and "must include net" in res["msg"]
    assert host_traces(name) == {}


def _start_under_zero_cgroup_limit(rootfs_path, name):
    with open("/proc/sys/user/max_cgroup_namespaces", "w") as fh:
        fh.write("0")
    try:
        container.start(container.normalize(name, rootfs_path))
    except container.ContainerError as exc:
        return {"msg": str(exc), "refused": exc.evidence.get("refused")}
    container.remove(name)
    return {"msg": "started"}


def test_container_start_refused_by_a_zero_namespace_limit_says_why(name, rootfs_path):
    # for real: a throwaway user namespace (root mapped to root) whose max_cgroup_namespaces is 0,
    # the host's limits untouched; the start must fail naming type, errno and sysctl, leaving nothing
    from ansible.module_utils.nsverify import catalog, probe

    res = probe.run(
        _start_under_zero_cgroup_limit,
        args=(rootfs_path, name),
        unshare=catalog.CLONE_NEWUSER,
        uid_map=[(0, 0, 1)],
        gid_map=[(0, 0, 1)],
        timeout=60,
    )
    assert res["ok"], res
    msg = res["value"]["msg"]
    assert "did not start" in msg and "cgroup namespace (CLONE_NEWCGROUP) with ENOSPC" in msg, msg
    assert "user.max_cgroup_namespaces is 0" in msg and "without cgroup" in msg
    assert res["value"]["refused"] == {"cgroup": {"errno": 28, "errname": "ENOSPC", "limit": 0}}
    assert host_traces(name) == {}
