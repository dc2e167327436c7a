"""namespace_inspect for real: a table of configurations started here with unshare, nsenter, bwrap, crun,
podman and docker; the module must report exactly the configured sharing on all eight types, agree with
`lsns -J` on every type lsns reports, and keep bad targets as per-target errors. Every process, container,
image and namespace a test starts is removed by the test, by PID or by the name it gave."""

import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import namespace_inspect
import pytest
from conftest import run_module_main

from ansible.module_utils.nsverify import catalog, discovery, workload

ROOT = Path(__file__).resolve().parent.parent.parent
ALL = set(catalog.TYPE_NAMES)
SLEEP = ["sleep", "300"]
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="inspecting other processes' namespaces needs root")


# ---------------------------------------------------------------- processes we start and end by PID


def _children(pid):
    out = []
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as fh:
                out += [int(x) for x in fh.read().split()]
    except OSError:
        pass
    return out


def _comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as fh:
            return fh.read().strip()
    except OSError:
        return None


def leaf(pid, comm="sleep", timeout=10.0):
    """The descendant of `pid` (or pid itself) running `comm`, once it exists."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        todo = [pid]
        while todo:
            p = todo.pop()
            if _comm(p) == comm:
                return p
            todo += _children(p)
        time.sleep(0.05)
    raise AssertionError("no %s process under PID %d after %ss" % (comm, pid, timeout))


class Started:
    """Processes a test started: each is killed (SIGKILL, by PID) and reaped at the end."""

    def __init__(self):
        self.procs, self.pids = [], []

    def spawn(self, argv, comm="sleep"):
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.procs.append(p)
        pid = leaf(p.pid, comm)
        self.pids.append(pid)
        return pid

    def end(self):
        for pid in self.pids + [p.pid for p in self.procs]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for p in self.procs:
            p.wait(timeout=10)


def write_map(pid, kind, text):
    with open("/proc/%d/%s_map" % (pid, kind), "w") as fh:
        fh.write(text)


def lsns_of(pid):
    """{type: inode} as lsns -J -p reports them for one process."""
    out = subprocess.run(["lsns", "-J", "-p", str(pid)], capture_output=True, text=True, check=True).stdout
    return {n["type"]: int(n["ns"]) for n in json.loads(out)["namespaces"]}


def inspect(**args):
    return run_module_main(namespace_inspect, args)


def by_name(result):
    return {t["name"]: t for t in result["targets"]}


def assert_sharing(target, own, peers=None):
    """Exactly the types in `own` are the target's own; the rest are shared with the host."""
    got_own = {n for n, ns in target["namespaces"].items() if ns["status"] == "own"}
    assert got_own == set(own), (target["name"], sorted(got_own), sorted(own))
    for name, ns in target["namespaces"].items():
        assert ns["inode"] and ns["reference_inode"]
        if name not in own:
            assert ns["shared_with"] == ["host"], (name, ns)
        else:
            assert "host" not in ns["shared_with"], (name, ns)
    for name, who in (peers or {}).items():
        assert set(who) <= set(target["namespaces"][name]["shared_with"]), (name, target["namespaces"][name])
    lsns = lsns_of(target["pid"])
    for name, ino in lsns.items():
        if name in target["namespaces"]:
            assert target["namespaces"][name]["inode"] == ino, (name, ino, target["namespaces"][name])


# ---------------------------------------------------------------- the configuration table (tools of util-linux, bwrap)

U = ["unshare"]
FORK = ["--fork", "--kill-child"]
CONFIGS = [
    # name, argv, own types, extra check
    ("all-isolated", U + ["--user", "--mount", "--uts", "--ipc", "--pid", "--net", "--cgroup", "--time"] + FORK
     + ["--monotonic", "1000"] + SLEEP, ALL),
    ("only-net", U + ["--net"] + SLEEP, {"net"}),
    ("only-pid", U + ["--pid"] + FORK + SLEEP, {"pid"}),
    ("only-mnt", U + ["--mount"] + SLEEP, {"mnt"}),
    ("only-cgroup", U + ["--cgroup"] + SLEEP, {"cgroup"}),
    ("ipc-and-uts", U + ["--ipc", "--uts"] + SLEEP, {"uts", "ipc"}),
    ("user-root-is-host-root", U + ["--user", "--map-root-user"] + SLEEP, {"user"}),
    ("user-root-not-host-root", U + ["--user"] + SLEEP, {"user"}),
    ("nested-pid", U + ["--pid"] + FORK + U + ["--pid"] + FORK + SLEEP, {"pid"}),
    ("time-zero-offsets", U + ["--time"] + FORK + SLEEP, {"time"}),
    ("time-monotonic-offset", U + ["--time"] + FORK + ["--monotonic", "1000"] + SLEEP, {"time"}),
    ("joined-base", U + ["--net", "--uts", "--ipc"] + SLEEP, {"net", "uts", "ipc"}),
    ("bwrap-unshare-all", ["bwrap", "--unshare-all", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"] + SLEEP,
     {"mnt", "uts", "ipc", "pid", "net", "user", "cgroup"}),
    ("bwrap-net", ["bwrap", "--unshare-net", "--ro-bind", "/", "/"] + SLEEP, {"mnt", "net"}),
]  # fmt: skip


@pytest.fixture(scope="module")
def table():
    started = Started()
    try:
        pids = {}
        for name, argv, _ in CONFIGS:
            pids[name] = started.spawn(argv)
        # root inside -> 100000 outside, written from the host (once per namespace, user_namespaces(7))
        write_map(pids["all-isolated"], "uid", "0 100000 65536\n")
        write_map(pids["all-isolated"], "gid", "0 100000 65536\n")
        write_map(pids["user-root-not-host-root"], "uid", "0 100000 65536\n")
        base = pids["joined-base"]
        pids["nsenter-joined"] = started.spawn(["nsenter", "-t", str(base), "--net", "--uts", "--ipc"] + SLEEP)
        result = inspect(pids=sorted(pids.values()), discover=False)
        names = {pid: name for name, pid in pids.items()}
        yield {names[t["pid"]]: t for t in result["targets"]}, result, pids
    finally:
        started.end()


@pytest.mark.parametrize("name,own", [(c[0], c[2]) for c in CONFIGS], ids=[c[0] for c in CONFIGS])
def test_configured_sharing_is_reported_exactly(table, name, own):
    targets, result, _ = table
    assert not result["errors"], result["errors"]
    assert_sharing(targets[name], own)


def test_a_process_that_joined_with_nsenter_shares_with_the_one_it_joined(table):
    targets, _, pids = table
    joined, base = targets["nsenter-joined"], targets["joined-base"]
    assert_sharing(joined, {"net", "uts", "ipc"}, peers={t: [base["name"]] for t in ("net", "uts", "ipc")})
    assert joined["name"] in base["namespaces"]["net"]["shared_with"]
    assert joined["namespaces"]["mnt"]["shared_with"] == ["host"]  # the host's for both: not a peer


def test_root_mapped_to_host_root_is_a_finding_not_sharing(table):
    targets, _, _ = table
    for name in ("user-root-is-host-root", "bwrap-unshare-all"):
        t = targets[name]
        assert t["namespaces"]["user"]["status"] == "own"
        assert t["user_namespace"]["root_is_host_root"] is True
        assert "own user namespace, but uid 0 inside is uid 0 on the host" in t["notes"]
    t = targets["user-root-not-host-root"]
    assert t["user_namespace"]["uid_map"] == [[0, 100000, 65536]]
    assert t["user_namespace"]["root_maps_to"] == 100000 and not t["user_namespace"]["root_is_host_root"]
    assert t["notes"] == []
    # the parent chain goes from the target's user namespace up to the host's
    assert t["user_namespace"]["parent_chain"][-1] == result_reference(table)["inodes"]["user"]
    assert len(t["user_namespace"]["parent_chain"]) == 2


def result_reference(table):
    return table[1]["reference"]


def test_reference_is_found_honestly(table):
    ref = result_reference(table)
    assert ref["pid"] == 2 and ref["basis"] == "kthreadd", ref
    assert ref["initial_user"] and ref["initial_pid"]
    assert ref["roots"]["user"] == ref["inodes"]["user"] and ref["roots"]["pid"] == ref["inodes"]["pid"]
    assert ref["pid1_readable"] is False  # this machine: /proc/1/ns cannot be read, never assumed


def test_nested_pid_namespaces_show_the_whole_nspid_chain(table):
    targets, _, _ = table
    assert len(targets["nested-pid"]["nspid"]) == 3 and targets["nested-pid"]["nspid"][-1] == 1
    assert len(targets["only-pid"]["nspid"]) == 2 and targets["only-pid"]["nspid"][-1] == 1
    assert len(targets["only-net"]["nspid"]) == 1


def test_time_namespace_offsets(table):
    targets, _, _ = table
    zero, offset = targets["time-zero-offsets"], targets["time-monotonic-offset"]
    assert zero["time"]["zero"] is True and "own time namespace, offsets are zero" in zero["notes"]
    assert offset["time"]["offsets"]["monotonic"]["seconds"] == 1000 and offset["notes"] == []
    assert targets["all-isolated"]["time"]["offsets"]["monotonic"]["seconds"] == 1000


def test_confinement_is_read(table):
    targets, result, _ = table
    t = targets["only-net"]
    with open("/proc/self/status") as fh:
        mine = workload.decode_caps(workload.parse_status(fh.read())["CapBnd"])
    assert t["capabilities"]["bounding"] == mine and "sys_admin" in t["capabilities"]["effective"]
    assert t["security"]["seccomp"] == {"mode": "disabled", "filters": 0}
    assert t["security"]["no_new_privs"] is False
    assert t["cgroup"]["layout"] in ("v1", "v2", "hybrid") and set(t["cgroup"]["limits"]) == {"memory", "pids", "cpu"}
    row = next(r for r in result["table"] if r["process"] == t["pid"])
    assert row["net"] == "own" and row["mnt"] == "shared"


# ---------------------------------------------------------------- bad input


def test_bad_targets_are_per_target_errors_and_the_rest_is_reported(table):
    _, _, pids = table
    missing = 4194304 + 1  # above pid_max's ceiling: never a PID
    result = inspect(pids=[pids["only-net"], missing, 2], containers=["nsv-no-such-container"])
    kinds = {e["name"]: e["kind"] for e in result["errors"]}
    assert kinds == {"pid:%d" % missing: "gone", "pid:2": "kernel-thread", "nsv-no-such-container": "not-found"}
    assert [t["pid"] for t in result["targets"]] == [pids["only-net"]]
    assert "no running container matches 'nsv-no-such-container'" in next(
        e["error"] for e in result["errors"] if e["kind"] == "not-found"
    )


def test_a_process_match_is_bounded(table):
    started = Started()
    try:
        for _ in range(4):
            started.spawn(["unshare", "--uts", "sleep", "301"])
        result = inspect(match={"command": "sleep"}, max_targets=3, discover=False)
        assert result["failed"] and "more than max_targets=3" in result["msg"], result
        result = inspect(match={"command": "sleep", "cgroup": "/"}, discover=False, max_targets=10000)
        assert set(started.pids) <= {t["pid"] for t in result["targets"]}
    finally:
        started.end()


def test_a_kernel_thread_never_matches():
    result = inspect(match={"command": "kthreadd"}, discover=False)
    assert result["targets"] == [] and result["errors"] == []


def test_inside_a_nested_user_namespace_the_reference_is_not_guessed(tmp_path):
    env = dict(os.environ, ANSIBLE_LOCAL_TEMP=str(tmp_path), ANSIBLE_HOME=str(tmp_path), HOME=str(tmp_path))
    argv = [
        "unshare",
        "--user",
        "--map-root-user",
        "ansible",
        "localhost",
        "-m",
        "namespace_inspect",
        "-a",
        "discover=false",
    ]
    p = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert p.returncode != 0, p.stdout
    assert "nested user namespace" in p.stdout and "reference_pid" in p.stdout, p.stdout[-2000:]


# ---------------------------------------------------------------- listing like lsns, with what lsns misses


def test_listing_includes_namespaces_held_only_by_a_mount_or_a_descriptor():
    name = "nsv-h6-inspect-%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", name], check=True)
    started = Started()
    fd = None
    try:
        mounted = os.stat("/run/netns/%s" % name).st_ino
        pid = started.spawn(["unshare", "--ipc", "sleep", "302"])
        fd = os.open("/proc/%d/ns/ipc" % pid, os.O_RDONLY)
        held = os.fstat(fd).st_ino
        started.end()
        rows = inspect(discover=False, list_namespaces=True)["namespaces"]["namespaces"]
        by_key = {(r["type"], r["inode"]): r for r in rows}
        m = by_key[("net", mounted)]
        assert m["only_by_mount_or_fd"] and "mount:/run/netns/%s" % name in m["held_by"] and m["nprocs"] == 0
        assert m["owner_user_namespace"] == os.stat("/proc/self/ns/user").st_ino
        f = by_key[("ipc", held)]
        assert f["only_by_mount_or_fd"] and "fd:%d/fd/%d" % (os.getpid(), fd) in f["held_by"]
        lsns = json.loads(subprocess.run(["lsns", "-J"], capture_output=True, text=True, check=True).stdout)
        assert held not in {int(n["ns"]) for n in lsns["namespaces"]}  # lsns misses it
        host = by_key[("pid", os.stat("/proc/self/ns/pid").st_ino)]
        assert host["parent"] is None and host["nprocs"] > 1 and host["pid"] is not None
    finally:
        if fd is not None:
            os.close(fd)
        started.end()
        subprocess.run(["ip", "netns", "delete", name], check=True)


# ---------------------------------------------------------------- real runtimes


def busybox_rootfs(where):
    """A BusyBox rootfs (static busybox, every applet linked) under `where`."""
    busybox = shutil.which("busybox")
    if (
        not busybox
        or "statically linked" not in subprocess.run(["file", "-L", busybox], capture_output=True, text=True).stdout
    ):
        pytest.skip("needs a static busybox (apt-get install busybox-static)")
    root = where / "rootfs"
    for d in ("bin", "proc", "sys", "dev", "etc", "tmp"):
        (root / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(busybox, root / "bin" / "busybox")
    subprocess.run(["chroot", str(root), "/bin/busybox", "--install", "-s", "/bin"], check=True)
    return root


def busybox_tarball(where):
    root = busybox_rootfs(where)
    tar = where / "busybox.tar"
    with tarfile.open(tar, "w") as t:
        t.add(root, arcname=".")
    return tar


def oci_config(args, namespaces, memory, pids):
    return {
        "ociVersion": "1.0.0",
        "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": args, "cwd": "/",
                    "env": ["PATH=/bin"], "noNewPrivileges": True,
                    "capabilities": {k: ["CAP_KILL"] for k in ("bounding", "effective", "permitted")}},
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "nsv-h6-crun",
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {"namespaces": [{"type": t} for t in namespaces],
                  "resources": {"memory": {"limit": memory}, "pids": {"limit": pids}}},
    }  # fmt: skip


OCI_TYPES = {"mnt": "mount", "uts": "uts", "ipc": "ipc", "pid": "pid", "net": "network", "cgroup": "cgroup"}


def test_crun_oci_bundle(tmp_path):
    if not shutil.which("crun"):
        pytest.skip("crun is not installed (apt-get install crun)")
    root = busybox_rootfs(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(oci_config(SLEEP, OCI_TYPES.values(), 64 << 20, 32)))
    name = "nsv-h6-crun-%d" % os.getpid()
    # crun 1.8 refuses a hybrid host whose cgroup2 tree has any controller ("cgroups in hybrid mode not
    # supported"); in a mount namespace of its own without the cgroup2 mount it sees plain v1.
    run = "umount /sys/fs/cgroup/unified 2>/dev/null; exec crun run -d %s" % name
    try:
        # the detached container keeps the descriptors it was given: no pipes, or run() waits for it
        with open(tmp_path / "crun.log", "w") as log:
            p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", run], cwd=tmp_path,
                               stdin=subprocess.DEVNULL, stdout=log, stderr=log, timeout=60)  # fmt: skip
        assert p.returncode == 0, (tmp_path / "crun.log").read_text()
        assert root.is_dir()
        result = inspect(containers=[name], runtimes=["crun"])
        t = by_name(result)["crun:" + name]
        assert_sharing(t, set(OCI_TYPES))
        assert t["cgroup"]["limits"]["memory"]["value"] == 64 << 20 and t["cgroup"]["limits"]["pids"]["value"] == 32
        assert t["security"]["no_new_privs"] is True and t["capabilities"]["effective"] == ["kill"]
    finally:
        subprocess.run(["crun", "kill", name, "KILL"], capture_output=True)
        subprocess.run(["crun", "delete", "-f", name], capture_output=True)
    assert name not in {c["name"] for c in discovery.discover(["crun"])["containers"]}


PODMAN_CONF = """[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
"""


@pytest.fixture(scope="module")
def podman(tmp_path_factory):
    """podman with runc (crun 1.8 refuses this hybrid cgroup host) and rlimits within the ones we have
    (its defaults raise RLIMIT_NOFILE, which needs CAP_SYS_RESOURCE that this machine withholds)."""
    if not shutil.which("podman") or not shutil.which("runc"):
        pytest.skip("podman and runc are not installed (apt-get install podman runc)")
    where = tmp_path_factory.mktemp("nsv-h6-podman")
    (where / "containers.conf").write_text(PODMAN_CONF)
    env = dict(os.environ, CONTAINERS_CONF=str(where / "containers.conf"))
    image = "localhost/nsv-h6-inspect-busybox"

    def pm(*args, check=True):
        p = subprocess.run(["podman"] + list(args), capture_output=True, text=True, env=env, timeout=180)
        assert p.returncode == 0 or not check, (args, p.stderr)
        return p.stdout.strip()

    # podman builds localhost/podman-pause for the first pod: removed again if this test made it
    before = set(pm("images", "--format", "{{.Repository}}:{{.Tag}}").split())
    pm("import", str(busybox_tarball(where)), image)
    names = []
    try:
        yield pm, image, names
    finally:
        for n in names:
            pm("pod", "rm", "-f", "-t", "0", n, check=False) if n.endswith("-pod") else pm(
                "rm", "-f", "-t", "0", n, check=False
            )
        pm("rmi", "-f", image, check=False)
        for made in set(pm("images", "--format", "{{.Repository}}:{{.Tag}}").split()) - before:
            if made.startswith("localhost/podman-pause:"):
                pm("rmi", made, check=False)


def test_podman_container(podman):
    pm, image, names = podman
    name = "nsv-h6-inspect-single"
    names.append(name)
    pm("run", "-d", "--network", "none", "--name", name, "--memory", "64m", "--pids-limit", "40", image, *SLEEP)
    result = inspect(containers=[name], runtimes=["podman"])
    t = by_name(result)["podman:" + name]
    # on cgroup v1 podman keeps the host's cgroup namespace (cgroupns=host by default)
    assert_sharing(t, {"mnt", "uts", "ipc", "pid", "net"})
    assert t["cgroup"]["limits"]["memory"]["value"] == 64 << 20 and t["cgroup"]["limits"]["pids"]["value"] == 40
    assert t["capabilities"]["full_bounding"] is False and "sys_admin" not in t["capabilities"]["effective"]


def test_podman_pod_of_two_containers(podman):
    pm, image, names = podman
    pod = "nsv-h6-inspect-pod"
    names.extend(["nsv-h6-inspect-pa", "nsv-h6-inspect-pb", pod])
    pm("pod", "create", "--name", pod, "--network", "none")
    for n in ("nsv-h6-inspect-pa", "nsv-h6-inspect-pb"):
        pm("run", "-d", "--pod", pod, "--name", n, image, *SLEEP)
    result = inspect(containers=["nsv-h6-inspect-pa", "nsv-h6-inspect-pb"], runtimes=["podman"])
    targets = by_name(result)
    a, b = targets["podman:nsv-h6-inspect-pa"], targets["podman:nsv-h6-inspect-pb"]
    for me, peer in ((a, b), (b, a)):
        assert_sharing(
            me, {"mnt", "uts", "ipc", "pid", "net"}, peers={t: [peer["name"]] for t in ("uts", "ipc", "net")}
        )
        assert peer["name"] not in me["namespaces"]["pid"]["shared_with"]
        assert peer["name"] not in me["namespaces"]["mnt"]["shared_with"]
    pods = {c["name"]: c.get("pod") for c in result["discovery"]["containers"]}
    assert pods["nsv-h6-inspect-pa"] == pod
    row = next(r for r in result["table"] if r["workload"] == a["name"])
    assert row["net"].startswith("own (") and b["name"] in row["net"]


@pytest.fixture(scope="module")
def dockerd(tmp_path_factory):
    """A private Docker engine (own socket, data and exec roots under a tmp dir), if one can run here."""
    if not shutil.which("dockerd") or not os.path.exists("/usr/bin/docker"):
        pytest.skip("docker.io is not installed (apt-get install docker.io)")
    where = tmp_path_factory.mktemp("nsv-h6-docker")
    sock = where / "docker.sock"
    argv = ["dockerd", "--data-root", str(where / "data"), "--exec-root", str(where / "exec"), "--pidfile",
            str(where / "pid"), "-H", "unix://%s" % sock, "--bridge=none", "--iptables=false", "--ip6tables=false"]  # fmt: skip
    log = open(where / "log", "w")
    daemon = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    env = dict(os.environ, DOCKER_HOST="unix://%s" % sock)

    def dk(*args, check=True):
        p = subprocess.run(["/usr/bin/docker"] + list(args), capture_output=True, text=True, env=env, timeout=120)
        assert p.returncode == 0 or not check, (args, p.stderr)
        return p.stdout.strip()

    def answers():
        return (
            sock.exists()
            and subprocess.run(["/usr/bin/docker", "version"], capture_output=True, env=env).returncode == 0
        )

    try:
        for _ in range(300):
            if daemon.poll() is not None or answers():
                break
            time.sleep(0.1)
        if daemon.poll() is not None or not answers():
            pytest.skip("dockerd cannot run here: %s" % (where / "log").read_text()[-500:])
        image = "nsv-h6-inspect-busybox"
        dk("import", str(busybox_tarball(where)), image)
        names = []
        yield dk, image, names, str(sock)
        for n in names:
            dk("rm", "-f", n, check=False)
        dk("rmi", "-f", image, check=False)
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
        log.close()
        subprocess.run(["rm", "-rf", "--one-file-system", str(where / "data"), str(where / "exec")])


def test_docker_container(dockerd):
    dk, image, names, sock = dockerd
    name = "nsv-h6-inspect-docker"
    names.append(name)
    dk("run", "-d", "--network", "none", "--name", name, "--memory", "64m", "--pids-limit", "40",
       "--security-opt", "no-new-privileges", image, *SLEEP)  # fmt: skip
    result = inspect(containers=[name], runtimes=["docker"], docker_sockets=[sock])
    assert result["discovery"]["runtimes"]["docker"]["count"] >= 1
    t = by_name(result)["docker:" + name]
    assert t["source"] == "engine API on %s" % sock
    assert_sharing(t, {"mnt", "uts", "ipc", "pid", "net"})
    assert t["security"]["seccomp"]["mode"] == "filter" and t["security"]["no_new_privs"] is True
    assert t["cgroup"]["limits"]["pids"]["value"] == 40


# ---------------------------------------------------------------- the playbook


def test_inspect_playbook_prints_a_table_and_writes_json(tmp_path):
    started = Started()
    try:
        pid = started.spawn(["unshare", "--net", "--uts", "sleep", "303"])
        extra = {
            "nsverify_inspect_pids": [pid],
            "nsverify_inspect_discover": False,
            "nsverify_inspect_dir": str(tmp_path),
        }
        env = dict(os.environ, ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
        p = subprocess.run(
            ["ansible-playbook", "playbooks/inspect.yml", "-e", json.dumps(extra)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert p.returncode == 0, p.stdout[-3000:]
        line = next(x for x in p.stdout.splitlines() if "pid:%d" % pid in x)
        assert line.split()[4:12] == ["shared", "own", "shared", "shared", "own", "shared", "shared", "shared"], line
        data = json.loads((tmp_path / "localhost.json").read_text())
        assert data["targets"][0]["pid"] == pid and data["reference"]["basis"] == "kthreadd"
    finally:
        started.end()


def test_nsverify_container():
    import busybox_container

    from ansible.module_utils.nsverify import container, rootfs

    name = "h6insp%d" % (os.getpid() % 100000)
    try:
        started = run_module_main(
            busybox_container, {"name": name, "rootfs": rootfs.build()["path"], "memory": "32M", "pids": 32}
        )
        assert started["state"] == "running", started
        result = inspect(containers=["nsverify:" + name], runtimes=["nsverify"])
        t = by_name(result)["nsverify:" + name]
        # the target is the workload (init's first child, PID 2 inside), under the profile and the limits
        assert t["init_pid"] == started["container"]["init_pid"] == t["ppid"] and t["source"].endswith("/" + name)
        assert_sharing(t, {"mnt", "uts", "ipc", "pid", "net", "cgroup"})
        assert t["nspid"][-1] == 2
        assert t["cgroup"]["limits"]["pids"]["value"] == 32
    finally:
        container.remove(name)
    assert name not in container.list_names()


def _lxc_cgroups():
    return {p for p in (Path("/sys/fs/cgroup") / d / "lxc.pivot" for d in os.listdir("/sys/fs/cgroup")) if p.is_dir()}


def _lxc_monitors(name):
    """PIDs of the '[lxc monitor] <path> <name>' processes of a container."""
    found = []
    for e in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % e, "rb") as fh:
                argv = fh.read().decode(errors="replace")
        except OSError:
            continue
        if "[lxc monitor]" in argv and name in argv:
            found.append(int(e))
    return found


def test_lxc_container(tmp_path):
    if not shutil.which("lxc-start"):
        pytest.skip("lxc is not installed (apt-get install lxc)")
    name = "nsvh6lxc%d" % (os.getpid() % 100000)
    root = busybox_rootfs(tmp_path / name)
    (tmp_path / name / "config").write_text(
        "lxc.uts.name = %s\nlxc.rootfs.path = dir:%s\nlxc.init.cmd = /bin/sleep 300\nlxc.net.0.type = empty\n"
        "lxc.mount.auto = proc:mixed\nlxc.apparmor.profile = unconfined\n" % (name, root)
    )
    pivots = _lxc_cgroups()
    lxc = ["-P", str(tmp_path), "-n", name]
    try:
        subprocess.run(["lxc-start"] + lxc + ["-d"], check=True, capture_output=True, timeout=60)
        result = inspect(containers=[name], runtimes=["lxc"], lxc_paths=[str(tmp_path)])
        t = by_name(result)["lxc:" + name]
        assert_sharing(t, {"mnt", "uts", "ipc", "pid", "net", "cgroup"})
        assert t["nspid"][-1] == 1
    finally:
        subprocess.run(["lxc-stop"] + lxc + ["-k"], capture_output=True, timeout=60)
        # the monitor moves itself into lxc.pivot as it exits: wait for it, then remove what it left
        deadline = time.monotonic() + 10
        while _lxc_monitors(name) and time.monotonic() < deadline:
            time.sleep(0.1)
        for p in _lxc_cgroups() - pivots:
            p.rmdir()
    assert discovery.lxc(lxc_paths=[str(tmp_path)]) == []


def test_nspawn_machines_as_machined_lists_them():
    p = (
        subprocess.run(["machinectl", "list", "--no-legend"], capture_output=True, text=True)
        if shutil.which("machinectl")
        else None
    )
    if p is None or p.returncode != 0:
        why = "machinectl is not installed" if p is None else (p.stderr.strip() or p.stdout.strip())
        pytest.skip("systemd-machined is not running here, so nspawn machines cannot be registered: %s" % why)
    listed = {line.split()[0] for line in p.stdout.splitlines() if line.strip()}
    found = discovery.nspawn() or []
    assert {r["name"] for r in found} <= listed


def test_kubernetes_cri():
    sockets = [s for s in discovery.CRI_SOCKETS if os.path.exists(s)]
    if not sockets:
        pytest.skip("no CRI socket on this host (%s)" % ", ".join(discovery.CRI_SOCKETS))
    out = discovery.kubernetes()
    assert out is not None
