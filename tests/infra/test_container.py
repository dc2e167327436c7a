"""The BusyBox container seen from the host and from inside (pytest-testinfra).

Runs against the container NSV_CONTAINER (default `box`, what playbooks/container.yml starts).
Standalone, the `box_state` fixture starts it when it is not running (same settings as the
role's defaults) and removes it afterwards; driven by tests/integration/test_container_playbook.py
it finds the playbook's container running and leaves it alone.

Observation from inside uses nsenter(1) into every namespace of the init; workloads that must
run with the container's reduced privileges (fork bomb, memory hog, escape) use the engine's
exec path, which also drops capabilities and sets no_new_privs.
"""

import os
import time

import pytest

from ansible.module_utils.nsverify import catalog, container, probe, procfs, rootfs
from ansible.module_utils.nsverify.container import checks as container_checks

NAME = os.environ.get("NSV_CONTAINER", "box")
# NSV_CONTAINER_NETWORK: a fixed /30; by default a free one is picked (network=auto, as the role does)
ROLE_DEFAULTS = dict(
    memory="64M", cpus=0.5, pids=64, veth=True, network=os.environ.get("NSV_CONTAINER_NETWORK", "auto")
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the container needs root")


@pytest.fixture(scope="module")
def box_state(request):
    # the engine's exec path and state files are read on this machine: against a remote
    # --hosts target, run playbooks/container.yml there (its NS-CTR tasks are the same checks)
    backend = request.getfixturevalue("host").backend
    if backend.NAME != "local":
        pytest.skip("container tests read the engine state locally; backend is %s" % backend.NAME)
    st = container.status(NAME)
    started_here = False
    if not st["running"]:
        built = rootfs.build()
        container.start(container.normalize(NAME, built["path"], **ROLE_DEFAULTS))
        started_here = True
        st = container.status(NAME)
    yield st["state"]
    if started_here:
        container.remove(NAME)


@pytest.fixture()
def inside(host, box_state):
    """Run a command inside with nsenter into all the init's namespaces (root and cwd too)."""
    pid = box_state["init_pid"]

    def run(*argv):
        return host.run("nsenter --target %s --all -- " + " ".join(["%s"] * len(argv)), str(pid), *argv)

    return run


@pytest.fixture()
def exec_in(box_state):
    def run(cmd, timeout=30):
        argv = cmd if isinstance(cmd, list) else ["/bin/sh", "-c", cmd]
        return container.exec_in(box_state, argv, timeout=timeout)

    return run


def _ps_rows(text):
    return container_checks.parse_ps(text)


# NS-CTR-001 -------------------------------------------------------------------------------


def test_ns_ctr_001_ps_inside_lists_pid1_first(inside):
    rows = _ps_rows(inside("/bin/ps", "-o", "pid,ppid,comm").stdout)
    assert rows[0][0] == 1 and rows[0][1] == 0


def test_ns_ctr_001_ps_inside_shows_only_container_processes(inside, box_state):
    rows = _ps_rows(inside("/bin/ps", "-o", "pid,ppid,comm").stdout)
    from_host = container_checks.host_pids_in_pidns(box_state["namespaces"]["pid"])
    shown = {r[0] for r in rows if r[2] != "ps"}
    assert shown <= set(from_host.values())
    assert os.getpid() not in from_host  # the test process itself is not inside


def test_ns_ctr_001_init_has_another_pid_on_the_host(host, box_state):
    with open("/proc/%d/status" % box_state["init_pid"]) as fh:
        nspid = [int(x) for x in [line for line in fh if line.startswith("NSpid:")][0].split()[1:]]
    assert nspid == [box_state["init_pid"], 1] and box_state["init_pid"] != 1
    assert host.process.get(pid=box_state["init_pid"]).ppid != 0


# NS-CTR-002 -------------------------------------------------------------------------------


def test_ns_ctr_002_hostname_inside_is_the_container_s(inside, box_state):
    assert inside("/bin/hostname").stdout.strip() == box_state["config"]["hostname"] == "isolated-box"


def test_ns_ctr_002_host_hostname_is_unchanged(host):
    assert host.check_output("hostname") == os.uname().nodename != "isolated-box"


# NS-CTR-003 -------------------------------------------------------------------------------


def test_ns_ctr_003_only_lo_and_veth_inside(inside, box_state):
    links = sorted(inside("/bin/ls", "/sys/class/net").stdout.split())
    assert links == sorted(["lo", box_state["veth"]["container"]])


def test_ns_ctr_003_host_interfaces_are_not_inside(host, inside):
    host_links = set(host.check_output("ls /sys/class/net").split()) - {"lo"}
    assert host_links and not host_links & set(inside("/bin/ls", "/sys/class/net").stdout.split())


def test_ns_ctr_003_container_veth_end_is_not_on_host(host, box_state):
    assert not host.interface(box_state["veth"]["container"]).exists
    assert host.interface(box_state["veth"]["host"]).exists


def test_ns_ctr_003_veth_carries_traffic_to_the_host_end(exec_in, box_state):
    res = container.exec_in(
        box_state, ["/bin/ping", "-c", "1", "-W", "2", box_state["veth"]["host_address"].split("/")[0]], join_user=False
    )
    assert res["rc"] == 0, res


def test_ns_ctr_003_no_route_beyond_the_host_end(exec_in):
    # no default route inside: a public address is unreachable, nothing leaves the /30
    res = exec_in(["/bin/ping", "-c", "1", "-W", "1", "192.0.2.1"])
    assert res["rc"] != 0


# NS-CTR-004 -------------------------------------------------------------------------------


def test_ns_ctr_004_root_inside_is_the_overlay(inside, box_state):
    root = [p for p in container_checks.mount_points(inside("/bin/cat", "/proc/self/mountinfo").stdout) if p[0] == "/"]
    assert len(root) == 1 and root[0][1] == "overlay" and box_state["overlay"]["lower"] in root[0][2]


def test_ns_ctr_004_host_mounts_are_not_visible_inside(host, inside):
    inside_points = {p[0] for p in container_checks.mount_points(inside("/bin/cat", "/proc/self/mountinfo").stdout)}
    host_points = {p[0] for p in container_checks.mount_points(host.file("/proc/self/mountinfo").content_string)}
    host_only = host_points - container_checks.CONTAINER_MOUNTS
    assert host_only and not (inside_points & host_only)
    assert inside_points <= container_checks.CONTAINER_MOUNTS


def test_ns_ctr_004_container_mounts_are_not_visible_on_host(host, box_state):
    merged = box_state["overlay"]["merged"]
    assert host.file(merged).is_directory
    assert not host.mount_point(merged).exists
    assert not host.mount_point(os.path.join(merged, "proc")).exists


def test_ns_ctr_004_old_root_is_gone_inside(inside):
    # the host's /work and /var/lib/nsverify do not exist in the container's tree
    assert inside("/bin/ls", "/var/lib/nsverify").rc != 0
    assert inside("/bin/ls", "/work").rc != 0


# NS-CTR-005 -------------------------------------------------------------------------------


def test_ns_ctr_005_writes_to_sys_fail(exec_in):
    res = exec_in("echo x > /sys/kernel/uevent_helper")
    assert res["rc"] != 0 and "Read-only" in res["stderr"]


def test_ns_ctr_005_writes_to_tmp_work(exec_in):
    # control: the same shell can write where writing is allowed
    res = exec_in("echo x > /tmp/nsv-write-probe && cat /tmp/nsv-write-probe && rm /tmp/nsv-write-probe")
    assert res["rc"] == 0 and res["stdout"].strip() == "x"


def test_ns_ctr_005_sys_cannot_be_remounted_rw(exec_in):
    assert exec_in(["/bin/mount", "-o", "remount,rw", "/sys"])["rc"] != 0


# NS-CTR-006 / 007 -------------------------------------------------------------------------


def _cg(box_state, ctrl, fname):
    with open(os.path.join(box_state["cgroups"]["paths"][ctrl]["path"], fname)) as fh:
        return fh.read()


@pytest.fixture(scope="module")
def fork_bomb(box_state):
    """The bomb of NS-CTR-006 (long-lived children, so none ends before the limit is reached),
    with the pids controller's view read while they live; the children are killed after."""
    limit = box_state["config"]["pids"]
    if not limit:
        pytest.skip("the container has no pids limit")
    return limit, container_checks.fork_bomb(box_state, 2 * limit)


def test_ns_ctr_006_fork_bomb_is_refused_with_eagain(fork_bomb):
    limit, seen = fork_bomb
    assert seen["rc"] != 0 and seen["eagain"], seen
    assert 0 < seen["forked"] < 2 * limit


def test_ns_ctr_006_pids_controller_counted_the_refusal(fork_bomb):
    limit, seen = fork_bomb
    assert seen["events_max_after"] > seen["events_max_before"], seen


def test_ns_ctr_006_count_reached_but_never_passed_the_limit(fork_bomb):
    limit, seen = fork_bomb
    assert seen["current_with_children"] <= limit, seen
    if seen["peak"] is not None:  # pids.peak: newer kernels only
        assert seen["peak"] == limit, seen


def test_ns_ctr_006_bomb_children_are_killed_and_reaped(fork_bomb):
    limit, seen = fork_bomb
    assert seen["killed"] == seen["forked"] and seen["left_alive"] == []
    assert seen["current_after_cleanup"] <= seen["current_with_children"] - seen["forked"]


def test_ns_ctr_006_forks_below_the_limit_work(exec_in):
    res = exec_in("i=0; while [ $i -lt 5 ]; do sleep 0.1 & i=$((i+1)); done; wait; echo forked $i")
    assert res["rc"] == 0 and res["stdout"].strip() == "forked 5"


def _oom_kills(box_state):
    return container_checks.oom_kills(box_state["cgroups"]["paths"]["memory"])


def test_ns_ctr_007_allocation_beyond_memory_limit_is_killed_inside(exec_in, box_state):
    before = _oom_kills(box_state)
    mib = box_state["config"]["memory"] * 2 // (1024 * 1024)
    res = exec_in(["/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=%dM" % mib, "count=1"])
    assert res["rc"] == 137, res
    assert _oom_kills(box_state) > before
    assert container.init_alive(box_state)  # init and the host survived


def test_ns_ctr_007_allocation_below_memory_limit_succeeds(exec_in, box_state):
    before = _oom_kills(box_state)
    res = exec_in(["/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=8M", "count=1"])
    assert res["rc"] == 0 and _oom_kills(box_state) == before


# NS-CTR-008 -------------------------------------------------------------------------------


def test_ns_ctr_008_orphan_is_reparented_to_init_and_reaped(exec_in):
    orphan = int(exec_in("sleep 1 >/dev/null 2>&1 & echo $!")["stdout"])
    stat = exec_in(["/bin/cat", "/proc/%d/stat" % orphan])
    assert stat["rc"] == 0 and container.parse_stat(stat["stdout"])["ppid"] == 1
    deadline = time.monotonic() + 6
    while exec_in(["/bin/cat", "/proc/%d/stat" % orphan])["rc"] == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    # a zombie keeps its /proc entry: gone means init reaped it
    assert exec_in(["/bin/cat", "/proc/%d/stat" % orphan])["rc"] != 0
    zombies = [r for r in exec_in(["/bin/ps", "-o", "pid,stat"])["stdout"].splitlines()[1:] if "Z" in r.split()[1]]
    assert zombies == []


# NS-CTR-009 -------------------------------------------------------------------------------


@pytest.fixture()
def host_marker(box_state):
    path = os.path.join(box_state["paths"]["run"], "test-host-marker")
    with open(path, "w") as fh:
        fh.write("only on the host\n")
    yield path
    os.unlink(path)


def _join(box_state):
    return {t: procfs.ns_path(box_state["init_pid"], t) for t in box_state["namespaces"] if t != "user"}


def test_ns_ctr_009_chroot_escape_from_inside_does_not_reach_host_root(box_state, host_marker):
    res = probe.run(container_checks.escape_inside, args=(box_state, host_marker), join=_join(box_state))
    assert res["ok"], res
    assert res["value"]["marker_visible"] is False
    st = os.stat("/")
    assert res["value"]["root"] != [st.st_dev, st.st_ino]


def test_ns_ctr_009_same_escape_leaves_a_plain_chroot(box_state, host_marker, tmp_path):
    # control: the attack itself works, so the test above would catch a chroot-only container
    (tmp_path / "inner").mkdir()
    res = probe.run(
        container_checks.escape_plain_chroot, args=(str(tmp_path), host_marker), unshare=catalog.CLONE_NEWNS
    )
    assert res["ok"], res
    assert res["value"]["marker_visible"] is True


# NS-CTR-010 / 011 -------------------------------------------------------------------------


def _status(text):
    return dict((k, v.strip()) for k, _, v in (line.partition(":") for line in text.splitlines()))


def test_ns_ctr_010_exec_has_reduced_caps_and_no_new_privs(exec_in):
    st = _status(exec_in(["/bin/cat", "/proc/self/status"])["stdout"])
    sys_admin = 1 << container.CAPABILITIES.index("SYS_ADMIN")
    assert not int(st["CapBnd"], 16) & sys_admin and not int(st["CapEff"], 16) & sys_admin
    assert st["NoNewPrivs"] == "1"


def test_ns_ctr_010_host_shell_keeps_its_caps(host):
    # negative: the reduction is the container's, not the test host's
    st = _status(host.file("/proc/self/status").content_string)
    assert int(st["CapEff"], 16) & (1 << container.CAPABILITIES.index("SYS_ADMIN"))


def test_ns_ctr_010_workload_cannot_mount(exec_in):
    assert exec_in(["/bin/mount", "-t", "tmpfs", "none", "/mnt"])["rc"] != 0


def test_ns_ctr_011_every_namespace_differs_from_the_host(host, box_state):
    for t in box_state["namespaces"]:
        mine = host.check_output("readlink /proc/%s/ns/%s", str(box_state["init_pid"]), t)
        theirs = host.check_output("readlink /proc/self/ns/%s", t)
        assert mine != theirs, t


def test_ns_ctr_011_exec_joins_the_same_namespaces(exec_in, box_state):
    # negative side: a process exec'd inside is in the container's namespaces, not the host's
    out = exec_in("for t in uts ipc net mnt cgroup; do readlink /proc/self/ns/$t; done")["stdout"].split()
    want = ["%s:[%d]" % (t, box_state["namespaces"][t]) for t in ("uts", "ipc", "net", "mnt", "cgroup")]
    assert out == want


# cpu quota (no NS-CTR control of its own: the cgroup file values are in the summary) ----------


def _throttled(box_state):
    stat = dict(line.split() for line in _cg(box_state, "cpu", "cpu.stat").splitlines())
    return int(stat["nr_throttled"])


def test_cpu_quota_throttles_a_busy_loop(exec_in, box_state):
    if not box_state["config"]["cpus"] or box_state["cgroups"]["paths"]["cpu"]["version"] != 1:
        pytest.skip("needs a cpu limit on a v1 cpu hierarchy")
    # one busy loop per host CPU: together they want more than the quota even when other work
    # on a loaded host takes part of each CPU (a single loop then got < 0.5 CPU, never throttled)
    # on a saturated host the loops may get less than the quota for a while: burst again (up to
    # 5 times) until the kernel's counter moves; the decision stays the kernel's nr_throttled
    loops = max(2, os.cpu_count() or 2)
    before = _throttled(box_state)
    for _ in range(5):
        exec_in("for i in $(seq %d); do timeout 2 sh -c 'while :; do :; done' & done; wait" % loops)
        if _throttled(box_state) > before:
            break
    assert _throttled(box_state) > before
