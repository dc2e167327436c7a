"""namespace_verify for real on this host: every proof passes in fresh namespaces, fails when
the namespace is shared with its host (the must-fail twin), works on named and pid/paths
targets, without root, through ansible-playbook, and leaves nothing behind."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import namespace_verify
import pytest
from conftest import run_module_main, run_playbook

from ansible.module_utils.nsverify import catalog, namespaces, proofs
from ansible.module_utils.nsverify.proofs import base
from ansible.module_utils.nsverify.proofs import net as net_proof

ROOT = Path(__file__).resolve().parent.parent.parent
ALL = list(catalog.TYPE_NAMES)
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="the proofs are exercised as root here (the unprivileged route is run through setpriv by a root test)",
)


# ---------------------------------------------------------------- nothing left behind
def _artefacts():
    """Everything a proof could leave: nsv work dirs, nsv cgroups, links, mounts, IPC keys,
    the hostname, and children of this test process."""
    tmp = sorted(p for p in os.listdir("/tmp") if p.startswith(("nsv-mnt-", "nsv-user-")))
    cg_root = None
    for m in base.read_mountinfo():
        if m["fstype"] == "cgroup2":
            cg_root = m["mount_point"]
    cgroups = sorted(p for p in os.listdir(cg_root) if p.startswith("nsv-proof-")) if cg_root else []
    links = sorted(n for n in net_proof.interfaces() if n.startswith("nsv") and n.endswith(("a", "b")))
    mounts = sorted(
        m["source"]
        for m in base.read_mountinfo()
        if m["source"].startswith(("nsv-src-", "nsv-scratch-", "nsv-o-", "nsv-i-", "nsv-private-", "nsv-shared-"))
    )
    keys = []
    for kind in ("shm", "sem", "msg"):
        with open("/proc/sysvipc/%s" % kind) as fh:
            keys += [
                k for k in (int(l.split()[0]) for l in fh.read().splitlines()[1:] if l.strip()) if k >> 16 == 0x6E73
            ]
    kids = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open("/proc/self/task/%s/children" % task) as fh:
                kids += fh.read().split()
        except OSError:
            pass
    return {
        "tmp": tmp,
        "cgroups": cgroups,
        "links": links,
        "mounts": mounts,
        "ipc_keys": sorted(keys),
        "hostname": os.uname().nodename,
        "children": sorted(kids),
    }


@pytest.fixture(autouse=True)
def nothing_left_behind():
    before = _artefacts()
    yield
    after = _artefacts()
    if after["children"]:  # subprocess-based tests reap theirs; give the kernel a moment
        time.sleep(0.2)
        after = _artefacts()
    assert after["hostname"] == before["hostname"]
    added = dict((k, sorted(set(after[k]) - set(before[k]))) for k in before if k != "hostname")
    assert not any(added.values()), added


def _all_pass(res):
    return [c["id"] for c in res["checks"] if c["status"] != "pass"]


# ---------------------------------------------------------------- fresh namespaces: all eight pass
@pytest.mark.parametrize("type_name", ALL, ids=ALL)
def test_fresh_namespace_proof_passes_every_check(type_name):
    out = proofs.run([type_name])
    res = out["results"][type_name]
    assert res["status"] == "passed" and res["verdict"] == "supported", json.dumps(res, indent=1)[:3000]
    assert _all_pass(res) == [], res
    assert out["summary"]["passed"] == [type_name]


# ---------------------------------------------------------------- the must-fail twin
# For each type, the check ids that must fail and the evidence showing the behaviour really ran.
TWIN = {
    "uts": (["NS-UTS-001"], lambda ev: ev["NS-UTS-001"]["host_saw"] == ev["NS-UTS-001"]["set_inside"]),
    "pid": (
        ["NS-PID-001", "NS-PID-002"],
        lambda ev: ev["NS-PID-002"]["sentinel_seen_inside_as"] and len(ev["NS-PID-001"]["nspid_seen_by_host"]) == 1,
    ),
    "net": (
        ["NS-NET-002"],
        lambda ev: ev["NS-NET-002"]["host_connect"] == "connected" and ev["NS-NET-002"]["host_listeners_by_inode"],
    ),
    "mnt": (["NS-MNT-001"], lambda ev: ev["NS-MNT-001"]["host_mount_points"] and ev["NS-MNT-001"]["host_marker"]),
    "user": (
        ["NS-USER-001", "NS-USER-002", "NS-USER-003"],
        lambda ev: ev["NS-USER-003"]["result"] == "opened" and ev["NS-USER-002"]["file_owner_on_host"] == 0,
    ),
    "ipc": (
        ["NS-IPC-001", "NS-IPC-002", "NS-IPC-003", "NS-IPC-004"],
        lambda ev: all(
            e["host_saw_inside_object"] == "visible" and e["inside_saw_host_object"] == "visible" for e in ev.values()
        ),
    ),
    "cgroup": (["NS-CGROUP-001"], lambda ev: ev["NS-CGROUP-001"]["v2_inside"] == ev["NS-CGROUP-001"]["v2_host"] != "/"),
    "time": (
        ["NS-TIME-001", "NS-TIME-002"],
        lambda ev: ev["NS-TIME-001"]["offset_inside"] == 0 and ev["NS-TIME-002"]["offset_read_by_host"] == 0,
    ),
}


@pytest.mark.parametrize("type_name", ALL, ids=ALL)
def test_shared_namespace_is_caught_by_behaviour(type_name):
    """A sandbox child plays the host and the proof targets its very own namespace."""
    hostname = os.uname().nodename
    out = proofs.run_shared_twin([type_name])
    res = out["results"][type_name]
    must_fail, behaviour_ran = TWIN[type_name]
    failed = [c["id"] for c in res["checks"] if c["status"] == "fail"]
    assert res["status"] == "failed" and sorted(failed) == sorted(must_fail), json.dumps(res, indent=1)[:3000]
    ev = dict((c["id"], c["evidence"]) for c in res["checks"])
    assert behaviour_ran(ev), json.dumps(ev, indent=1)[:3000]
    assert os.uname().nodename == hostname


def test_host_uts_namespace_is_never_renamed_even_when_it_is_the_target():
    hostname = os.uname().nodename
    out = proofs.run(["uts"], base.make_target("paths", paths={"uts": "/proc/self/ns/uts"}))
    check = out["results"]["uts"]["checks"][0]
    assert check["status"] == "fail" and check["evidence"]["hostname_written"] is False
    assert os.uname().nodename == hostname


# ---------------------------------------------------------------- named, pid and paths targets
@pytest.fixture(scope="module")
def named():
    name = "nsv-proofs-%d" % os.getpid()
    cfg = namespaces.build_config(
        ALL,
        hostname="nsv-inside",
        uid_map=[{"inside": 0, "outside": 300000, "count": 65536}],
        monotonic_offset=86400,
        boottime_offset=3600,
    )
    namespaces.create(name, cfg)
    try:
        yield name
    finally:
        namespaces.remove(name)


def test_named_namespace_all_types_proven_and_left_as_found(named):
    out = proofs.run(None, base.make_target("named", name=named))
    res = out["results"]
    assert out["summary"]["passed"] == ALL, json.dumps(out["table"], indent=1)
    assert [c["status"] for c in res["pid"]["checks"]] == ["pass", "pass", "skip", "skip"]
    assert res["user"]["checks"][1]["evidence"]["uid_seen_by_host"][0] == 300000
    assert res["time"]["checks"][0]["evidence"]["offset_inside"] == 86400
    uts_path = os.path.join(base.NAMED_ROOT, named, "uts")
    assert namespaces.read_hostname(uts_path) == "nsv-inside"  # the proof gave the name back
    lo = subprocess.run(
        ["nsenter", "--net=%s" % os.path.join(base.NAMED_ROOT, named, "net"), "ip", "-o", "link", "show", "lo"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "state DOWN" in lo and ",UP" not in lo  # lo was raised for the port test and put down again
    assert res["net"]["checks"][1]["evidence"]["host_connect"] == "ECONNREFUSED"


@pytest.fixture
def unshared_process():
    """`unshare --fork` with a sleeping child in new uts/ipc/net/pid/mnt namespaces; killed by pid."""
    proc = subprocess.Popen(
        ["unshare", "--uts", "--ipc", "--net", "--mount", "--pid", "--fork", "--mount-proc", "sleep", "60"]
    )
    child = None
    for _ in range(200):
        try:
            with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as fh:
                kids = fh.read().split()
            if kids:
                child = int(kids[0])
                break
        except OSError:
            pass
        time.sleep(0.01)
    try:
        yield child
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def test_pid_target_of_a_process_in_its_own_namespaces(unshared_process):
    types = ["uts", "ipc", "net", "pid", "mnt"]
    out = proofs.run(types, base.make_target("pid", pid=unshared_process, types=types))
    assert sorted(out["summary"]["passed"]) == sorted(types), json.dumps(out["table"], indent=1)
    assert out["results"]["pid"]["checks"][0]["evidence"]["nspid_seen_by_host"][-1] > 1


def test_paths_target_mixing_isolated_and_shared_namespaces(unshared_process):
    paths = {"ipc": "/proc/%d/ns/ipc" % unshared_process, "net": "/proc/self/ns/net"}
    out = proofs.run(["ipc", "net"], base.make_target("paths", paths=paths))
    assert out["summary"] == {"passed": ["ipc"], "failed": ["net"], "skipped": []}


# ---------------------------------------------------------------- without root
@pytest.fixture
def world_readable_dir():
    path = Path(tempfile.mkdtemp(prefix="nsv-rootless-"))
    try:
        yield path
    finally:
        shutil.rmtree(str(path))


def test_unprivileged_user_gets_results_not_tracebacks(world_readable_dir):
    """As nobody, with Debian's python3 and a world-readable copy of the engine."""
    if not shutil.which("setpriv") or not os.path.exists("/usr/bin/python3"):
        pytest.skip("needs setpriv and /usr/bin/python3")
    tmp_path = world_readable_dir
    tree = tmp_path / "engine"
    (tree / "ansible" / "module_utils").mkdir(parents=True)
    (tree / "ansible" / "__init__.py").write_text("")
    (tree / "ansible" / "module_utils" / "__init__.py").write_text("")
    shutil.copytree(
        ROOT / "module_utils" / "nsverify",
        tree / "ansible" / "module_utils" / "nsverify",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    script = tree / "run.py"
    script.write_text(
        "import json, sys\nsys.path.insert(0, sys.argv[1])\n"
        "from ansible.module_utils.nsverify import proofs\nprint(json.dumps(proofs.run()))\n"
    )
    for p in [tmp_path] + list(tmp_path.rglob("*")):
        p.chmod(0o755 if p.is_dir() else 0o644)
    res = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-B",
            str(script),
            str(tree),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr[-3000:]
    out = json.loads(res.stdout)
    assert out["privilege"] == {"euid": 65534, "rootless": True}
    assert not out["summary"]["failed"], json.dumps(out["table"], indent=1)
    # every type this kernel allows through a user namespace is proven for real
    assert set(out["summary"]["passed"]) >= {"mnt", "uts", "ipc", "pid", "net", "user", "time"}
    for t in out["summary"]["skipped"]:
        r = out["results"][t]
        assert r["reason"] and r["verdict"] in catalog.VERDICTS
    user_ev = out["results"]["user"]["checks"][1]["evidence"]
    assert user_ev["uid_seen_by_host"][0] == 65534 and user_ev["file_owner_on_host"] == 65534
    # joining root's namespaces is refused with a message, not a traceback
    script.write_text(
        "import sys\nsys.path.insert(0, sys.argv[1])\n"
        "from ansible.module_utils.nsverify.proofs import base\n"
        "try:\n    base.make_target('pid', pid=int(sys.argv[2]))\n"
        "except ValueError as exc:\n    print(exc)\n"
    )
    res = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-B",
            str(script),
            str(tree),
            str(os.getpid()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0 and "cannot read /proc/%d/ns/" % os.getpid() in res.stdout, res.stdout + res.stderr


# ---------------------------------------------------------------- the module: bad input, shared interface
def run_module(args, check=False):
    return run_module_main(namespace_verify, args, check=check)


@pytest.mark.parametrize(
    "args,message",
    [
        ({"types": ["uts", "bogus"]}, "bogus"),
        ({"target": "named", "name": "a/b"}, "no '/'"),
        ({"target": "named", "name": ".."}, "no '..'"),
        ({"target": "named"}, "name"),
        ({"target": "pid", "pid": 999999999}, "does not exist"),
        ({"target": "paths", "paths": {"net": "/etc/hostname"}}, "not a namespace file"),
        ({"uid_map": [[0, 1]]}, "[inside, outside, count]"),
        ({"time_offsets": {"realtime": 5}}, "monotonic and boottime"),
        ({"timeout": 0}, "positive"),
        ({"expected_interfaces": ["veth/0"]}, "not an interface name"),
    ],
    ids=[
        "unknown-type",
        "name-slash",
        "name-dotdot",
        "named-without-name",
        "pid-missing",
        "path-not-ns",
        "bad-uid-map",
        "bad-offset-clock",
        "zero-timeout",
        "bad-interface-name",
    ],
)
def test_bad_input_fails_with_a_clear_message(args, message):
    res = run_module(args)
    assert res.get("failed") and message in res["msg"] and "Traceback" not in res["msg"], res


def test_module_fail_on_failed_decides_between_failing_and_reporting():
    args = {"types": ["ipc"], "target": "paths", "paths": {"ipc": "/proc/self/ns/ipc"}}
    failing = run_module(dict(args, fail_on_failed=True))
    assert failing["failed"] and "ipc:NS-IPC-001" in failing["msg"]
    assert failing["proofs"]["ipc"]["status"] == "failed" and not failing["changed"]
    assert "results" not in failing  # Ansible would rename it to ansible_module_results, with a warning
    reported = run_module(dict(args, fail_on_failed=False), check=True)
    assert not reported.get("failed") and reported["summary"]["failed"] == ["ipc"]
    assert reported["failed_checks"] == ["ipc:NS-IPC-00%d" % i for i in range(1, 5)]


# ---------------------------------------------------------------- through ansible-playbook
def _playbook(tmp_path, *extra):
    return run_playbook(tmp_path, "verify.yml", *extra, timeout=300)


def test_verify_playbook_proves_all_eight_and_second_run_is_unchanged(tmp_path):
    first = _playbook(tmp_path)
    assert first.returncode == 0, first.stdout[-5000:] + first.stderr[-2000:]
    for t in ALL:
        assert '"%-7s passed' % t in first.stdout, first.stdout[-4000:]
    assert "Count: 8, Passed: 8, Failed: 0, Skipped: 0" in first.stdout
    assert "ansible_module_results" not in first.stdout + first.stderr  # no renamed `results` key, no warning
    second = _playbook(tmp_path)
    assert second.returncode == 0 and "changed=0" in second.stdout and "failed=0" in second.stdout


def test_verify_playbook_fails_when_a_proof_fails(tmp_path):
    res = _playbook(
        tmp_path,
        "-e",
        "nsverify_verify_target=pid",
        "-e",
        "nsverify_verify_pid=%d" % os.getpid(),
        "-e",
        '{"nsverify_verify_types": ["ipc", "pid"]}',
    )
    assert res.returncode != 0 and "ipc:NS-IPC-001" in res.stdout and "pid:NS-PID-002" in res.stdout, res.stdout[-4000:]
    assert '"ipc     failed' in res.stdout


def test_module_requests_the_user_maps_and_time_offsets_it_is_given():
    res = run_module(
        {
            "types": ["user", "time"],
            "uid_map": [[0, 400000, 1000]],
            "gid_map": [[0, 400000, 1000]],
            "time_offsets": {"monotonic": 1000, "boottime": 2000},
        }
    )
    assert not res.get("failed") and res["summary"]["passed"] == ["user", "time"], res["msg"]
    user_ev = dict((c["id"], c["evidence"]) for c in res["proofs"]["user"]["checks"])
    assert user_ev["NS-USER-001"]["host_reads"]["uid_map"] == [[0, 400000, 1000]]
    assert user_ev["NS-USER-002"]["file_owner_on_host"] == 400000

    time_ev = [c["evidence"] for c in res["proofs"]["time"]["checks"]]
    assert [e["offset_read_by_host"] for e in time_ev] == [1000, 2000]


def test_module_takes_id_maps_in_the_one_shape_and_deprecates_the_old_lists():
    """{inside, outside, count} as in the namespace module; [[i, o, c]] still works, with a deprecation."""
    new = run_module({"types": ["user"], "uid_map": [{"inside": 0, "outside": 400000, "count": 1000}]})
    assert not new.get("failed") and new["summary"]["passed"] == ["user"], new["msg"]
    user_ev = dict((c["id"], c["evidence"]) for c in new["proofs"]["user"]["checks"])
    assert user_ev["NS-USER-001"]["host_reads"]["uid_map"] == [[0, 400000, 1000]]
    old = run_module({"types": ["user"], "uid_map": [[0, 400000, 1000]]})
    assert not old.get("failed") and old["summary"]["passed"] == ["user"], old["msg"]
    # ansible-core 2.19 nests the message ({"event": {"msg": ...}}); older cores put it at the top
    assert "[inside, outside, count] lists is deprecated" in json.dumps(old.get("deprecations")), old


# ---------------------------------------------------------------- namespace limits at 0, for real
# Limits are per user namespace: inside `unshare -Ur` writing 0 to /proc/sys/user/max_<type>_namespaces
# refuses that type (ENOSPC) without touching the host's limits.
DRIVER = """\
import json, sys
root = sys.argv[1]
sys.path.insert(0, root + "/library")
import ansible.module_utils
ansible.module_utils.__path__.append(root + "/module_utils")
if sys.argv[2] == "module":
    from ansible.module_utils.testing import patch_module_args
    import namespace_verify
    with patch_module_args(json.loads(sys.argv[3])):
        namespace_verify.main()
else:  # one nested probe: the second namespace of the mnt or net proof, made inside the run function
    from ansible.module_utils.nsverify import catalog
    from ansible.module_utils.nsverify.proofs import base, mnt, net
    fn, args = {"mnt": (mnt._propagation, (sys.argv[4], "feed")),
                "net": (net._veth_round_trip, ("nsvlimita", "nsvlimitb", "10.213.250.1",
                                               "10.213.250.2", 40250, 2.0))}[sys.argv[3]]
    res = base.run_probe(fn, args=args, unshare=catalog.get(sys.argv[3]).flag)
    try:
        base.require_ok(res, sys.argv[3])
        print(json.dumps({"outcome": "ran"}))
    except base.ProofSkip as exc:
        print(json.dumps({"outcome": "skip", "verdict": exc.verdict, "reason": exc.reason,
                          "in_probe_function": exc.evidence["probe"].get("in_probe_function", False)}))
"""


def _in_userns_with_limits(tmp_path, limits, *argv):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    writes = "; ".join("echo %d > /proc/sys/user/max_%s_namespaces" % (n, t) for t, n in limits.items())
    host_limits = base.read_limits(list(limits))
    proc = subprocess.run(
        [
            "unshare",
            "-Ur",
            "sh",
            "-c",
            writes + '; exec "$@"',
            "nsv-limits",
            str(ROOT / ".venv/bin/python"),
            str(driver),
            str(ROOT),
        ]
        + list(argv),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert base.read_limits(list(limits)) == host_limits  # the host's own limits were never touched
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_limit_zero_in_a_user_namespace_skips_cgroup_and_time_and_fails_nothing(tmp_path):
    res = _in_userns_with_limits(tmp_path, {"cgroup": 0, "time": 0}, "module", json.dumps({"fail_on_failed": False}))
    summary, results = res["summary"], res["proofs"]
    assert summary["failed"] == [], json.dumps(res["table"], indent=1)
    for t in ("cgroup", "time"):
        r = results[t]
        assert (r["status"], r["verdict"]) == ("skipped", "limit-zero"), r
        assert "ENOSPC" in r["reason"] and "user.max_%s_namespaces is 0" % t in r["reason"]
        assert all(c["status"] == "skip" for c in r["checks"])
    assert set(summary["passed"]) >= {"mnt", "uts", "ipc", "pid", "net"}
    # root of `unshare -Ur` maps only itself: the default map 0 100000 65536 cannot be written, and says so
    user = results["user"]
    assert user["status"] == "skipped" and user["verdict"] == "denied" and "[[0, 100000, 65536]]" in user["reason"]


@pytest.mark.parametrize("type_name", ["mnt", "net"], ids=["mnt-inner-namespace", "net-veth-peer-namespace"])
def test_second_namespace_refused_inside_the_probe_is_a_limit_not_a_crash(tmp_path, type_name):
    """The limit is 1: the probe's own namespace is made, the one its function makes is refused."""
    out = _in_userns_with_limits(tmp_path, {type_name: 1}, "nested", type_name, str(tmp_path / "p"))
    assert out["outcome"] == "skip" and out["verdict"] == "limit-zero" and out["in_probe_function"], out
    assert "ENOSPC" in out["reason"] and "%s=1" % type_name in out["reason"]


# ---------------------------------------------------------------- NS-NET-001 in a joined namespace with a veth
@pytest.fixture
def netns_with_veth():
    """A network namespace of ours (`unshare --net sleep`) holding a veth pair nsv<tok>a/b; removed after."""
    tok = base.token(3)
    names = ["nsv%sa" % tok, "nsv%sb" % tok]
    holder = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    try:
        for _ in range(200):  # until the holder runs in its own namespace
            if os.stat("/proc/%d/ns/net" % holder.pid).st_ino != os.stat("/proc/self/ns/net").st_ino:
                break
            time.sleep(0.01)
        subprocess.run(
            [
                "nsenter",
                "-t",
                str(holder.pid),
                "-n",
                "ip",
                "link",
                "add",
                names[0],
                "type",
                "veth",
                "peer",
                "name",
                names[1],
            ],
            check=True,
            capture_output=True,
        )
        assert not set(names) & set(net_proof.interfaces())  # made inside our namespace, not on the host
        yield holder.pid, names
        subprocess.run(
            ["nsenter", "-t", str(holder.pid), "-n", "ip", "link", "del", names[0]], check=True, capture_output=True
        )
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()


def test_joined_namespace_passes_net_001_with_its_expected_veth(netns_with_veth):
    pid, names = netns_with_veth
    res = run_module({"types": ["net"], "target": "pid", "pid": pid, "expected_interfaces": names})
    assert not res.get("failed") and res["summary"]["passed"] == ["net"], res["msg"]
    ev = res["proofs"]["net"]["checks"][0]["evidence"]
    assert sorted(ev["interfaces_inside"]) == sorted(["lo"] + names) and ev["unexpected"] == []


def test_joined_namespace_fails_net_001_on_a_link_not_expected(netns_with_veth):
    pid, names = netns_with_veth
    out = proofs.run(
        ["net"], base.make_target("pid", pid=pid, types=["net"]), options={"expected_interfaces": names[:1]}
    )
    check = out["results"]["net"]["checks"][0]
    assert check["id"] == "NS-NET-001" and check["status"] == "fail", check
    assert check["evidence"]["unexpected"] == names[1:] and names[1] in check["reason"]
    assert [c["status"] for c in out["results"]["net"]["checks"][1:]] == ["pass", "pass"]
