"""Pods of nsverify containers for real (issue 9): members that join a first container's uts, ipc and net
namespaces (and pid when asked, like Kubernetes' shareProcessNamespace), each with its own mnt namespace,
rootfs overlay and cgroup. The sharing is proven by what crosses it -- a SysV object, a hostname, a TCP
connection on 127.0.0.1, the process list -- and by what does not reach the host; the container checks and
namespace_inspect name the pod peer; a real podman pod (runc, an infra image imported from the same BusyBox
rootfs) is inspected beside it. Every container, process and image a test makes is removed by name or PID.
"""

import io
import os
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import time

import busybox_container
import busybox_container_verify
import namespace_inspect
import pytest
from conftest import container_traces, run_module_main, run_playbook

from ansible.module_utils.nsverify import container, probe, procfs
from ansible.module_utils.nsverify.container import pod as pod_room
from ansible.module_utils.nsverify.proofs import ipc

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")
TAG = "nsvpd%d" % (os.getpid() % 10000)
SHARED = ("uts", "ipc", "net")
OWN = ("mnt", "pid", "cgroup")


host_traces = container_traces


def start(name, rootfs_path, check=False, **args):
    args = dict({"pids": 64, "memory": "64M"}, **args)
    return run_module_main(busybox_container, dict(args, name=name, rootfs=rootfs_path), check=check)


def state_of(name):
    return container.status(name)["state"]


def sh(name, cmd, **kw):
    return container.exec_in(state_of(name), ["/bin/sh", "-c", cmd], **kw)


@pytest.fixture(scope="module")
def pod(rootfs_path):
    """a: the first container (with a veth); b: a member with the default share; c: a member sharing pid too."""
    names = {k: "%s-%s" % (TAG, k) for k in "abc"}
    try:
        first = start(names["a"], rootfs_path, veth=True)
        assert first["state"] == "running", first
        b = start(names["b"], rootfs_path, pod=names["a"])
        assert b["state"] == "running", b
        c = start(names["c"], rootfs_path, pod=names["a"], pod_share=["uts", "ipc", "pid", "net"])
        assert c["state"] == "running", c
        yield names
    finally:
        for n in (names["c"], names["b"], names["a"]):
            container.remove(n)
        for n in names.values():
            assert host_traces(n) == {}, n


# ---------------------------------------------------------------- the module: start triad and state.json


def test_member_start_triad_records_the_pod_and_gets_no_veth(pod, rootfs_path):
    name = "%s-t" % TAG
    args = {"pod": pod["a"]}
    try:
        check = start(name, rootfs_path, check=True, **args)
        assert check["changed"] and check["state"] == "absent" and host_traces(name) == {}
        real = start(name, rootfs_path, **args)
        assert real["changed"] and real["state"] == "running", real
        again = start(name, rootfs_path, **args)
        assert not again["changed"] and again["container"]["init_pid"] == real["container"]["init_pid"]
        first, me = state_of(pod["a"]), state_of(name)
        assert me["pod"] == pod_room.record(first, list(SHARED), first["namespaces"])
        for t in SHARED:
            assert me["namespaces"][t] == first["namespaces"][t] != me["host_namespaces"][t], t
        for t in OWN:
            assert me["namespaces"][t] != first["namespaces"][t] and me["namespaces"][t] != me["host_namespaces"][t]
        assert me["veth"] is None and me["config"]["veth"] is None and "links" not in host_traces(name)
        assert me["overlay"]["upper"] != first["overlay"]["upper"]
        assert me["cgroups"]["dirs"] and not set(me["cgroups"]["dirs"]) & set(first["cgroups"]["dirs"])
        assert me["config"]["hostname"] == first["config"]["hostname"]
    finally:
        container.remove(name)
    assert host_traces(name) == {}


# ---------------------------------------------------------------- the sharing is real


def test_sysv_shm_made_in_a_is_seen_in_b_and_not_on_the_host(pod):
    a = state_of(pod["a"])
    key = 0x6E737000 + os.getpid() % 4096  # 'nsp' + pid
    join = {"ipc": procfs.ns_path(a["init_pid"], "ipc")}
    made = probe.run(ipc.sysv_get, args=("shm", key, True), join=join)
    assert made["ok"], made
    try:
        in_b = sh(pod["b"], "cat /proc/sysvipc/shm")
        assert in_b["rc"] == 0 and key in procfs.parse_sysvipc_keys(in_b["stdout"]), in_b
        with open("/proc/sysvipc/shm") as fh:
            assert key not in procfs.parse_sysvipc_keys(fh.read())
    finally:
        assert probe.run(ipc.sysv_remove, args=("shm", made["value"]), join=join)["ok"]
    assert key not in procfs.parse_sysvipc_keys(sh(pod["b"], "cat /proc/sysvipc/shm")["stdout"])


def test_hostname_set_in_a_is_seen_in_b_and_not_on_the_host(pod):
    a = state_of(pod["a"])
    host = os.uname().nodename
    renamed = "%s-renamed" % TAG
    set_it = ["nsenter", "-t", str(a["init_pid"]), "-u", "hostname"]
    subprocess.run(set_it + [renamed], check=True)
    try:
        assert sh(pod["b"], "hostname")["stdout"].strip() == renamed
        assert sh(pod["c"], "hostname")["stdout"].strip() == renamed
        assert os.uname().nodename == host != renamed
    finally:
        subprocess.run(set_it + [a["config"]["hostname"]], check=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_listener_on_127_0_0_1_in_a_is_reachable_from_b_not_from_the_host(pod):
    port = free_port()  # free on the host's loopback: a connection there must be refused
    sh(pod["a"], "echo pong-%s | nc -l -p %d >/dev/null 2>&1 &" % (TAG, port))
    try:
        deadline = time.monotonic() + 10
        while str(port) not in sh(pod["a"], "netstat -ltn")["stdout"] and time.monotonic() < deadline:
            time.sleep(0.1)
        with socket.socket() as s, pytest.raises(ConnectionRefusedError):
            s.connect(("127.0.0.1", port))
        got = sh(pod["b"], "nc -w 5 127.0.0.1 %d </dev/null" % port)
        assert "pong-%s" % TAG in got["stdout"], got
    finally:
        sh(pod["a"], "kill $(pidof nc) 2>/dev/null; true")


def comms_inside(name):
    rows = container.checks.parse_ps(container.exec_in(state_of(name), ["/bin/ps", "-o", "pid,ppid,comm"])["stdout"])
    return rows


def test_processes_of_a_are_seen_only_by_the_member_sharing_pid(pod):
    a, b, c = (state_of(pod[k]) for k in "abc")
    a_pids = set(container.checks.host_pids_in_pidns(a["namespaces"]["pid"]))
    assert c["init_pid"] in a_pids and b["init_pid"] not in a_pids
    in_b, in_c = comms_inside(pod["b"]), comms_inside(pod["c"])
    # b: its own PID namespace, its init is PID 1 and it sees 3 processes of its own (init, sh, sleep) + ps
    assert [r[0] for r in in_b][0] == 1 and len(in_b) <= 5
    assert procfs.parse_status_nspid(open("/proc/%d/status" % b["init_pid"]).read())[-1] == 1
    # c: the pod's PID namespace, PID 1 is a's init; c's init is another pid in it, both inits visible
    c_nspid = procfs.parse_status_nspid(open("/proc/%d/status" % c["init_pid"]).read())
    assert c_nspid[-1] != 1 and c_nspid[-1] in [r[0] for r in in_c]
    assert [r for r in in_c if r[0] == 1 and r[2] == "nsv-init"]
    assert len([r for r in in_c if r[2] == "nsv-init"]) >= 2 and len(in_c) > len(in_b)


def test_stopping_a_pid_sharing_member_leaves_the_pod_s_processes_alone(pod, rootfs_path):
    name = "%s-p" % TAG
    a = state_of(pod["a"])
    before = set(container.checks.host_pids_in_pidns(a["namespaces"]["pid"]))
    try:
        assert start(name, rootfs_path, pod=pod["a"], pod_share=["pid", "net"])["state"] == "running"
        me = state_of(name)
        assert me["namespaces"]["pid"] == a["namespaces"]["pid"] and me["namespaces"]["uts"] != a["namespaces"]["uts"]
        assert sh(name, "hostname")["stdout"].strip() == me["config"]["hostname"]
        res = run_module_main(busybox_container, {"name": name, "state": "absent", "stop_timeout": 5})
        assert res["changed"] and res["removed"]["init_pid"] == me["init_pid"]
    finally:
        container.remove(name)
    after = set(container.checks.host_pids_in_pidns(a["namespaces"]["pid"]))
    assert before <= after | {p for p in before if procfs.read_state(p) in (None, "Z")}
    assert container.init_alive(a) and container.init_alive(state_of(pod["c"]))


def test_member_keeps_its_own_user_and_time_namespaces(pod, rootfs_path):
    name = "%s-u" % TAG
    try:
        res = start(name, rootfs_path, pod=pod["a"], user_namespace=True, time_offsets={"monotonic": 1000})
        assert res["state"] == "running", res
        first, me = state_of(pod["a"]), state_of(name)
        for t in ("user", "time"):
            assert me["namespaces"][t] != me["host_namespaces"][t] and t not in first["namespaces"], t
        for t in SHARED:
            assert me["namespaces"][t] == first["namespaces"][t], t
        inside = sh(name, "cat /proc/self/uid_map /proc/self/timens_offsets; hostname")["stdout"].split()
        assert inside[:3] == ["0", "100000", "65536"] and "1000" in inside and inside[-1] == first["config"]["hostname"]
        checks = container.checks.run(me)
        assert [c["id"] for c in checks if c["status"] != "pass"] == [], [c for c in checks if c["status"] != "pass"]
    finally:
        container.remove(name)
    assert host_traces(name) == {}


# ---------------------------------------------------------------- checks and inspection name the pod peer


def test_container_checks_pass_for_members_and_name_the_pod_peer(pod):
    first = run_module_main(busybox_container_verify, {"name": pod["a"]})  # members' processes in its PID ns too
    assert first["summary"]["failed"] == [] and first["summary"]["skipped"] == [], first["summary"]
    for key in "bc":
        res = run_module_main(busybox_container_verify, {"name": pod[key]})
        by_id = {c["id"]: c for c in res["checks"]}
        assert not [c for c in res["checks"] if c["status"] != "pass"], [
            c for c in res["checks"] if c["status"] != "pass"
        ]
        ns = by_id["NS-CTR-011"]["evidence"]
        shared = SHARED + (("pid",) if key == "c" else ())
        for t in shared:
            assert ns[t]["verdict"] == "shared with pod peer %s" % pod["a"] and ns[t]["pod_peer"] == pod["a"], ns[t]
        for t in set(OWN) - set(shared):
            assert "pod_peer" not in ns[t] and ns[t]["isolated"], ns[t]
        assert by_id["NS-CTR-003"]["evidence"]["pod"]["ok"]
        assert by_id["NS-CTR-003"]["evidence"]["ping_host_end"]["rc"] == 0


def test_member_sharing_the_host_s_ipc_through_its_pod_fails_ns_ctr_011_refusal_bypassed(rootfs_path, monkeypatch):
    """The start refuses a pod without an ipc namespace of its own; with that refusal bypassed (monkeypatched:
    the only simulated step) the member really runs in the host's ipc namespace, and NS-CTR-011 must fail."""
    first, member = "%s-h" % TAG, "%s-hm" % TAG
    try:
        start(first, rootfs_path, namespaces=["mnt", "uts", "pid", "net", "cgroup"])
        refused = start(member, rootfs_path, pod=first)
        assert refused["failed"] and "has no ipc namespace of its own" in refused["msg"], refused
        monkeypatch.setattr(pod_room, "first_container", lambda entry, *a: state_of(entry["name"]))
        st = container.start(container.normalize(member, rootfs_path, pod=first))
        monkeypatch.undo()
        assert st["namespaces"]["ipc"] == st["host_namespaces"]["ipc"]
        check = container.checks.run(st, ids=["NS-CTR-011"])[0]
        assert check["status"] == "fail", check
        assert check["evidence"]["ipc"]["verdict"].startswith("shares the host's ipc namespace"), check
        assert check["evidence"]["net"]["verdict"] == "shared with pod peer %s" % first
    finally:
        container.remove(first)
        container.remove(member)
    assert host_traces(first) == {} and host_traces(member) == {}


def test_namespace_inspect_names_the_pod_peer_not_the_host(pod):
    res = run_module_main(namespace_inspect, {"containers": list(pod.values()), "runtimes": ["nsverify"]})
    targets = {t["name"]: t for t in res["targets"]}
    a, b, c = (targets["nsverify:%s" % pod[k]] for k in "abc")
    pods = {d["name"]: d.get("pod") for d in res["discovery"]["containers"]}
    assert pods[pod["a"]] == pods[pod["b"]] == pods[pod["c"]] == pod["a"]
    for me, shared in ((b, SHARED), (c, SHARED + ("pid",))):
        for t in shared:
            ns = me["namespaces"][t]
            assert ns["status"] == "own" and "host" not in ns["shared_with"], (me["name"], t, ns)
            assert a["name"] in ns["pod_peers"] and ns["relation"].startswith("shared with pod peer "), ns
        for t in ("mnt", "cgroup"):
            assert me["namespaces"][t]["relation"] == "own" and me["namespaces"][t]["status"] == "own"
    assert b["namespaces"]["pid"]["relation"] == "own" and a["name"] not in c["namespaces"]["mnt"]["shared_with"]
    assert a["namespaces"]["net"]["relation"] == "shared with pod peer %s, pod peer %s" % (b["name"], c["name"])
    row = next(r for r in res["table"] if r["workload"] == b["name"])
    assert row["net"] == "own (pod peer %s, pod peer %s)" % (a["name"], c["name"]) and row["mnt"] == "own"


# ---------------------------------------------------------------- the pod's lifecycle


def test_stopping_the_first_container_stops_its_members_first(rootfs_path):
    first, member = "%s-s" % TAG, "%s-sm" % TAG
    try:
        start(first, rootfs_path)
        start(member, rootfs_path, pod=first)
        check = run_module_main(busybox_container, {"name": first, "state": "stopped"}, check=True)
        assert check["changed"] and container.status(member)["running"]
        res = run_module_main(busybox_container, {"name": first, "state": "stopped"})
        assert res["changed"] and res["removed"]["pod_members"] == [member] and res["state"] == "stopped"
        assert not container.status(member)["running"] and not container.status(first)["running"]
    finally:
        container.remove(member)
        container.remove(first)
    assert host_traces(first) == {} and host_traces(member) == {}


def test_member_of_a_restarted_pod_is_restarted_into_the_new_one(rootfs_path):
    first, member = "%s-r" % TAG, "%s-rm" % TAG
    try:
        start(first, rootfs_path)
        start(member, rootfs_path, pod=first)
        old = state_of(first)
        os.kill(old["init_pid"], signal.SIGKILL)  # the first container dies under its member
        deadline = time.monotonic() + 10
        while container.init_alive(old) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert start(first, rootfs_path)["changed"]
        new = state_of(first)
        res = start(member, rootfs_path, pod=first)
        assert res["changed"] and res["state"] == "running", res
        me = state_of(member)
        assert me["namespaces"]["net"] == new["namespaces"]["net"] != old["namespaces"]["net"]
        assert not start(member, rootfs_path, pod=first)["changed"]
    finally:
        container.remove(member)
        container.remove(first)
    assert host_traces(first) == {} and host_traces(member) == {}


def test_container_playbook_starts_verifies_and_proves_a_pod_member(pod, tmp_path):
    """The role path: container.yml with busybox_container_pod runs NS-CTR-001..011 and the namespace proofs
    against the member (NS-NET-001 expects the pod's veth inside), and a second run changes nothing."""
    name = "%s-pb" % TAG
    extra = ["-e", "busybox_container_name=%s" % name, "-e", "busybox_container_pod=%s" % pod["a"]]
    extra += ["-e", '{"busybox_container_pod_share": [uts, ipc, pid, net]}', "-e", "busybox_container_stop_timeout=5"]
    try:
        first = run_playbook(tmp_path, "container.yml", *extra)
        assert first.returncode == 0 and "failed=0" in first.stdout, first.stdout[-3000:]
        assert "namespace proofs: Count: 6, Passed: 6, Failed: 0" in first.stdout, first.stdout[-3000:]
        assert "shared with pod peer %s" % pod["a"] in first.stdout
        me = state_of(name)
        assert me["pod"]["share"] == ["uts", "ipc", "pid", "net"] and me["veth"] is None
        again = run_playbook(tmp_path, "container.yml", *extra)
        assert again.returncode == 0 and re.search(r"changed=0\s", again.stdout), again.stdout[-3000:]
    finally:
        container.remove(name)
    assert host_traces(name) == {}


# ---------------------------------------------------------------- bad input


BAD = [
    ("nonexistent", {"pod": "%s-none" % TAG}, "no nsverify container of that name exists"),
    ("own-pod", {"pod": "SELF"}, "a container cannot join its own namespaces"),
    ("mnt-shared", {"pod": "A", "pod_share": ["net", "mnt"]}, "'mnt': cannot be shared in a pod"),
    ("unknown-type", {"pod": "A", "pod_share": ["nett"]}, "'nett': cannot be shared in a pod"),
    ("empty-share", {"pod": "A", "pod_share": []}, "pod_share is empty"),
    ("share-without-pod", {"pod_share": ["net"]}, "pod_share net needs pod"),
    ("veth-with-net", {"pod": "A", "veth": True}, "gets no veth of its own"),
    ("member-of-member", {"pod": "B"}, "is itself a member of pod"),
    ("other-hostname", {"pod": "A", "hostname": "elsewhere"}, "has the pod's hostname"),
    ("bad-pod-name", {"pod": "../etc"}, "pod '../etc' contains '/'"),
]


@pytest.mark.parametrize("args,words", [(a, w) for _, a, w in BAD], ids=[i for i, _, _ in BAD])
def test_bad_pod_input_fails_clearly_and_leaves_nothing(pod, rootfs_path, args, words):
    name = "%s-bad" % TAG
    subst = {"A": pod["a"], "B": pod["b"], "SELF": name}
    args = {k: subst.get(v, v) if isinstance(v, str) else v for k, v in args.items()}
    res = start(name, rootfs_path, **args)
    assert res.get("failed") and words in res["msg"], res
    assert "Traceback" not in res["msg"] and host_traces(name) == {}


def test_a_pod_that_is_stopped_is_refused_and_check_mode_only_warns(pod, rootfs_path):
    first, name = "%s-st" % TAG, "%s-bad" % TAG
    try:
        start(first, rootfs_path)
        run_module_main(busybox_container, {"name": first, "state": "stopped"})
        res = start(name, rootfs_path, pod=first)
        assert res["failed"] and "pod %s is not running (stopped)" % first in res["msg"], res
        check = start(name, rootfs_path, check=True, pod=first)
        assert check["changed"] and "does not run yet" in str(check.get("warnings")), check
    finally:
        container.remove(first)
    assert host_traces(name) == {} and host_traces(first) == {}


# ---------------------------------------------------------------- a real podman pod beside it

PODMAN_CONF = """[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
"""
PAUSE = "#!/bin/sh\ntrap 'exit 0' TERM INT\nwhile :; do sleep 3600 & wait $!; done\n"


@pytest.fixture(scope="module")
def podman(tmp_path_factory, rootfs_path):
    """podman as the issue-9 inspection tests run it: runc (crun 1.8 refuses this hybrid cgroup host) and
    rlimits within this machine's (podman's default RLIMIT_NOFILE needs CAP_SYS_RESOURCE, withheld here)."""
    if not shutil.which("podman") or not shutil.which("runc"):
        pytest.skip("podman and runc are not installed (apt-get install podman runc)")
    where = tmp_path_factory.mktemp("nsvpd-podman")
    (where / "containers.conf").write_text(PODMAN_CONF)
    env = dict(os.environ, CONTAINERS_CONF=str(where / "containers.conf"))
    image = "localhost/%s-busybox" % TAG

    def pm(*args, check=True):
        p = subprocess.run(["podman"] + list(args), capture_output=True, text=True, env=env, timeout=180)
        assert p.returncode == 0 or not check, (args, p.stderr)
        return p.stdout.strip()

    tar = where / "busybox.tar"
    with tarfile.open(tar, "w") as t:
        t.add(rootfs_path, arcname=".")
        # the infra container's command (--infra-command takes one path, no arguments): an idle shell loop
        pause = PAUSE.encode()
        info = tarfile.TarInfo("pause")
        info.size, info.mode = len(pause), 0o755
        t.addfile(info, io.BytesIO(pause))
    pm("import", str(tar), image)
    made = []
    try:
        yield pm, image, made
    finally:
        for kind, n in reversed(made):
            pm(kind, "rm", "-f", "-t", "0", n, check=False) if kind == "pod" else pm(
                "rm", "-f", "-t", "0", n, check=False
            )
        pm("rmi", "-f", image, check=False)


@pytest.mark.parametrize("share,member", [("ipc,net,uts", "b"), ("ipc,net,uts,pid", "c")], ids=["default", "pid"])
def test_podman_pod_and_nsverify_pod_are_reported_alike(pod, podman, share, member):
    """A podman pod with the same --share as our member: namespace_inspect gives both the same shape (per type
    own/shared with the host, and whether the pod peer holds it), cgroup aside (podman keeps the host's cgroup
    namespace on cgroup v1, cgroupns=host by default)."""
    pm, image, made = podman
    name, members = "%s-pp%s" % (TAG, member), ["%s-p%sa" % (TAG, member), "%s-p%sb" % (TAG, member)]
    made.append(("pod", name))
    pm("pod", "create", "--name", name, "--share", share, "--network", "none", "--infra-image", image,
       "--infra-command", "/pause", "--infra-name", "%s-infra" % name)  # fmt: skip
    for n in members:
        made.append(("ctr", n))
        pm("run", "-d", "--pod", name, "--name", n, image, "sleep", "300")
    res = run_module_main(namespace_inspect, {"containers": members + [pod["a"], pod[member]]})
    targets = {t["name"]: t for t in res["targets"]}
    theirs = (targets["podman:" + members[0]], targets["podman:" + members[1]])
    ours = (targets["nsverify:" + pod[member]], targets["nsverify:" + pod["a"]])
    shared = SHARED + (("pid",) if "pid" in share else ())
    for me, peer in (theirs, ours):
        for t in shared:
            ns = me["namespaces"][t]
            assert ns["status"] == "own" and peer["name"] in ns["pod_peers"], (me["name"], t, ns)
            assert "shared with pod peer %s" % peer["name"] in ns["relation"]
        for t in {"mnt", "pid"} - set(shared):
            assert me["namespaces"][t]["status"] == "own" and peer["name"] not in me["namespaces"][t]["shared_with"]
        assert me["namespaces"]["user"]["status"] == "shared"

    def shape(me, peer):
        return {
            t: (ns["status"], peer["name"] in ns["pod_peers"]) for t, ns in me["namespaces"].items() if t != "cgroup"
        }

    assert shape(*theirs) == shape(*ours)
