"""The namespace module, for real on this host.

Every test removes what it made; names carry the nsv prefix and a per-run suffix. The triad runs
through ansible-playbook; the rest through the module entry point (patch_module_args), which runs
the same main() a few seconds faster per call.
"""

import fcntl
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import namespace as namespace_module
import pytest
from conftest import run_module_main

from ansible.module_utils.nsverify import catalog, inspect, namespaces, procfs

ROOT = Path(__file__).resolve().parents[2]
NS_DIR = namespaces.NAMESPACES_DIR
ALL = list(catalog.TYPE_NAMES)
SUFFIX = "%d" % (os.getpid() % 100000)
NS_GET_USERNS = 0xB701  # _IO(0xb7, 0x1), ioctl_ns(2)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="named namespaces need root"),
    pytest.mark.skipif(
        not all(os.path.exists("/proc/self/ns/" + t) for t in ALL),
        reason="this kernel lacks one of the eight namespace types",
    ),
]


def run_module(args, check=False, diff=False):
    """Run library/namespace.py's main() with `args`; return its JSON result."""
    return run_module_main(namespace_module, args, check=check, diff=diff)


def holder_gone(pid):
    """True once the process is gone or a zombie (the host's init reaps orphans late)."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return procfs.parse_stat(fh.read())["state"] in ("Z", "X")
    except FileNotFoundError:
        return True


def snapshot():
    """The host state a named namespace may touch: mounts, /run/nsverify, nsv-holder processes."""
    mounts = sorted((m["mount_point"], m["fstype"]) for m in procfs.read_mountinfo())
    tree = []
    if os.path.isdir("/run/nsverify"):
        for dirpath, dirnames, filenames in os.walk("/run/nsverify"):
            tree += [os.path.join(dirpath, n) for n in dirnames + filenames]
    holders = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and not holder_gone(int(pid)):
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as fh:
                    if fh.read().startswith(b"nsv-holder\0"):
                        holders.append(int(pid))
            except OSError:
                pass
    return {"mounts": mounts, "run_nsverify": sorted(tree), "holders": sorted(holders)}


def only_mine(snap, name):
    """Drop what other concurrent developers' suites made (NSV_CONCURRENT_DEV) from a snapshot."""
    prefix = os.path.join(NS_DIR, name)
    return {
        "mounts": [m for m in snap["mounts"] if m[0] == prefix or m[0].startswith(prefix + "/") or m[0] == NS_DIR],
        "run_nsverify": [p for p in snap["run_nsverify"] if p == prefix or p.startswith(prefix + "/")],
    }


@pytest.fixture
def name(request):
    """A fresh name; whatever the test leaves under it is removed afterwards."""
    value = "nsv-t%s-%s" % (SUFFIX, request.node.name[5:25].strip("_[]").replace("[", "-"))
    value = "".join(c if c.isalnum() or c in "-_." else "-" for c in value)[:64]
    yield value
    if os.path.lexists(os.path.join(NS_DIR, value)):
        namespaces.remove(value)


@pytest.fixture(scope="module")
def all_eight():
    """One named namespace with all eight types, owned by a new user namespace."""
    name = "nsv-all-%s" % SUFFIX
    args = dict(
        name=name,
        types=ALL,
        hostname="nsv-inside",
        monotonic_offset=86400,
        boottime_offset=-10,
        uid_map=[{"inside": 0, "outside": 200000, "count": 65536}],
    )
    result = run_module(args)
    yield name, args, result
    run_module(dict(name=name, state="absent"))


# ------------------------------------------------------------------ the triad, through ansible-playbook

PLAYBOOK = """
- name: Named namespace triad
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Create in check mode
      namespace: {name: "%(name)s", types: %(types)s, hostname: nsv-triad}
      check_mode: true
      register: check_run
    - name: Look for the directory after check mode
      ansible.builtin.stat: {path: "%(dir)s"}
      register: after_check
    - name: Create for real
      namespace: {name: "%(name)s", types: %(types)s, hostname: nsv-triad}
      register: real_run
    - name: Create again
      namespace: {name: "%(name)s", types: %(types)s, hostname: nsv-triad}
      register: again_run
    - name: Remove in check mode
      namespace: {name: "%(name)s", state: absent}
      check_mode: true
      register: absent_check
    - name: Look for the directory after check-mode removal
      ansible.builtin.stat: {path: "%(dir)s"}
      register: after_absent_check
    - name: Remove
      namespace: {name: "%(name)s", state: absent}
      register: absent_run
    - name: Remove again
      namespace: {name: "%(name)s", state: absent}
      register: absent_again
    - name: Look for the directory after removal
      ansible.builtin.stat: {path: "%(dir)s"}
      register: after_absent
    - name: Hand the results back
      ansible.builtin.copy:
        dest: "%(out)s"
        mode: "0600"
        content: "{{ {'check': check_run, 'after_check': after_check.stat.exists, 'real': real_run,
                 'again': again_run, 'absent_check': absent_check,
                 'after_absent_check': after_absent_check.stat.exists, 'absent': absent_run,
                 'absent_again': absent_again, 'after_absent': after_absent.stat.exists} | to_json }}"
"""


def test_triad_check_real_again_through_ansible_playbook(tmp_path, name):
    pb = tmp_path / "triad.yml"
    out = tmp_path / "results.json"
    pb.write_text(PLAYBOOK % {"name": name, "types": json.dumps(ALL), "dir": os.path.join(NS_DIR, name), "out": out})
    env = dict(
        os.environ,
        ANSIBLE_HOME=str(tmp_path / "home"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
    )
    res = subprocess.run(
        [str(ROOT / ".venv/bin/ansible-playbook"), str(pb)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    r = json.loads(out.read_text())
    assert r["check"]["changed"] and r["check"]["action"] == "create" and not r["after_check"]
    assert r["real"]["changed"] and sorted(r["real"]["namespaces"]) == sorted(ALL)
    assert all(v["inode"] for v in r["real"]["namespaces"].values())
    assert not r["again"]["changed"] and r["again"]["action"] == "none"
    assert r["again"]["namespaces"] == r["real"]["namespaces"]
    assert r["absent_check"]["changed"] and r["after_absent_check"]
    assert r["absent"]["changed"] and r["absent"]["removed"]["holder_killed"] == r["real"]["holder_pid"]
    assert not r["absent_again"]["changed"] and not r["after_absent"]


# ------------------------------------------------------------------ all eight types, seen from the host


def test_all_eight_created_with_bind_mounts_and_state(all_eight):
    name, _, result = all_eight
    assert result["changed"] and result["action"] == "create"
    assert sorted(result["namespaces"]) == sorted(ALL)
    mounts = {m["mount_point"]: m for m in procfs.read_mountinfo()}
    for t, entry in result["namespaces"].items():
        assert entry["path"] == os.path.join(NS_DIR, name, t)
        assert mounts[entry["path"]]["fstype"] == "nsfs"
        assert mounts[entry["path"]]["root"] == "%s:[%d]" % (catalog.get(t).proc_entry, entry["inode"])
    assert mounts[NS_DIR]["propagation"] == "private"
    assert namespaces.load_state(name)["inodes"] == dict((t, e["inode"]) for t, e in result["namespaces"].items())


def test_all_eight_differ_from_the_test_process(all_eight):
    _, _, result = all_eight
    mine = inspect.read_ns_inodes("self")
    for t, entry in result["namespaces"].items():
        assert os.stat(entry["path"]).st_ino == entry["inode"] != mine[t], t


def test_every_type_is_owned_by_the_new_user_namespace(all_eight):
    _, _, result = all_eight
    user_ino = result["namespaces"]["user"]["inode"]
    for t in ALL:
        if t == "user":
            continue
        fd = os.open(result["namespaces"][t]["path"], os.O_RDONLY)
        try:
            owner = fcntl.ioctl(fd, NS_GET_USERNS)
            try:
                assert os.fstat(owner).st_ino == user_ino, t
            finally:
                os.close(owner)
        finally:
            os.close(fd)


def test_uts_shows_the_hostname_inside_and_host_keeps_its_own(all_eight):
    _, _, result = all_eight
    out = subprocess.run(
        ["nsenter", "--uts=" + result["namespaces"]["uts"]["path"], "hostname"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == "nsv-inside" != os.uname().nodename


def test_net_has_only_lo_and_it_is_down(all_eight):
    _, _, result = all_eight
    out = subprocess.run(
        ["nsenter", "--net=" + result["namespaces"]["net"]["path"], "ip", "-o", "link"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert len(out) == 1 and out[0].split(": ")[1] == "lo" and "state DOWN" in out[0]


def test_pid_holder_is_pid_1_inside_and_root_only_inside(all_eight):
    _, _, result = all_eight
    pid = result["holder_pid"]
    assert result["namespaces"]["pid"]["holder_pid"] == result["namespaces"]["time"]["holder_pid"] == pid
    assert inspect.read_nspid(pid) == [pid, 1]
    assert inspect.read_ns_inodes(pid) == dict((t, e["inode"]) for t, e in result["namespaces"].items())
    with open("/proc/%d/status" % pid) as fh:
        uids = [line.split()[1:] for line in fh if line.startswith("Uid:")][0]
    assert uids == ["200000"] * 4  # root inside is the unprivileged 200000 outside


def test_a_process_entering_the_pid_namespace_gets_a_small_pid(all_eight):
    _, _, result = all_eight
    out = subprocess.run(
        ["nsenter", "--pid=" + result["namespaces"]["pid"]["path"], "--", "sh", "-c", "echo $$"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert int(out) > 1 and int(out) < 100


def test_time_offsets_are_in_the_holder(all_eight):
    _, _, result = all_eight
    with open("/proc/%d/timens_offsets" % result["holder_pid"]) as fh:
        offsets = dict((line.split()[0], int(line.split()[1])) for line in fh)
    assert offsets == {"monotonic": 86400, "boottime": -10}
    with open("/proc/self/timens_offsets") as fh:
        assert all(int(line.split()[1]) == 0 for line in fh)


def test_time_offset_applies_to_a_process_that_joins(all_eight):
    _, _, result = all_eight
    out = subprocess.run(
        ["nsenter", "--time=" + result["namespaces"]["time"]["path"], "cat", "/proc/uptime"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    with open("/proc/uptime") as fh:
        host = float(fh.read().split()[0])
    assert -15 < float(out.split()[0]) - host < -5  # boottime_offset -10


def test_uid_and_gid_maps_are_as_requested(all_eight):
    _, _, result = all_eight
    for f in ("uid_map", "gid_map"):
        with open("/proc/%d/%s" % (result["holder_pid"], f)) as fh:
            assert fh.read().split() == ["0", "200000", "65536"], f


def test_mount_namespace_holds_no_copy_of_the_named_namespaces_dir(all_eight):
    _, _, result = all_eight
    out = subprocess.run(
        ["nsenter", "--mount=" + result["namespaces"]["mnt"]["path"], "cat", "/proc/self/mountinfo"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    inside = [m["mount_point"] for m in procfs.parse_mountinfo(out)]
    assert inside and not [p for p in inside if p.startswith(NS_DIR)]
    assert [m for m in procfs.read_mountinfo() if m["mount_point"].startswith(NS_DIR)]


def test_second_run_is_not_changed_and_check_mode_agrees(all_eight):
    name, args, first = all_eight
    for check in (True, False):
        again = run_module(args, check=check)
        assert not again["changed"] and again["action"] == "none"
        assert again["namespaces"] == first["namespaces"]


def test_engine_api_lists_and_resolves_paths(all_eight):
    name, _, result = all_eight
    assert name in namespaces.list_named()
    assert namespaces.paths(name) == dict((t, e["path"]) for t, e in result["namespaces"].items())


# ------------------------------------------------------------------ removal and crash recovery


def test_absent_removes_mounts_files_and_holder(name):
    before = snapshot()
    created = run_module(dict(name=name, types=["pid", "net", "uts", "time"], monotonic_offset=5))
    pid = created["holder_pid"]
    during = snapshot()
    assert pid in during["holders"] and not holder_gone(pid)
    assert len(only_mine(during, name)["mounts"]) - len(only_mine(before, name)["mounts"]) >= 4
    removed = run_module(dict(name=name, state="absent"))
    assert removed["changed"] and removed["removed"]["holder_killed"] == pid
    assert holder_gone(pid)
    after = snapshot()
    assert only_mine(after, name) == only_mine(before, name)
    assert pid not in after["holders"]
    assert not os.path.lexists(os.path.join(NS_DIR, name))


def test_crash_recovery_holder_killed_and_mount_removed_by_hand(name):
    args = dict(name=name, types=["pid", "net", "uts"], hostname="nsv-crash")
    first = run_module(args)
    net = first["namespaces"]["net"]["path"]
    os.kill(first["holder_pid"], signal.SIGKILL)
    subprocess.run(["umount", net], check=True)
    deadline = time.monotonic() + 5
    while not holder_gone(first["holder_pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)

    check = run_module(args, check=True)
    assert check["changed"] and check["action"] == "recreate"
    assert not any(m["mount_point"] == net for m in procfs.read_mountinfo())  # check mode did nothing

    repaired = run_module(args)
    assert repaired["changed"] and repaired["action"] == "recreate"
    assert repaired["holder_pid"] != first["holder_pid"] and not holder_gone(repaired["holder_pid"])
    assert inspect.read_nspid(repaired["holder_pid"])[-1] == 1
    out = subprocess.run(
        ["nsenter", "--uts=" + repaired["namespaces"]["uts"]["path"], "hostname"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == "nsv-crash"
    assert not run_module(args)["changed"]

    # crash again, then absent must still clean up everything
    os.kill(repaired["holder_pid"], signal.SIGKILL)
    subprocess.run(["umount", repaired["namespaces"]["uts"]["path"]], check=True)
    deadline = time.monotonic() + 5  # SIGKILL is delivered asynchronously: on a busy host it takes a moment
    while not holder_gone(repaired["holder_pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    removed = run_module(dict(name=name, state="absent"))
    assert removed["changed"] and removed["removed"]["holder_killed"] is None
    assert not os.path.lexists(os.path.join(NS_DIR, name))
    assert not [m for m in procfs.read_mountinfo() if m["mount_point"].startswith(os.path.join(NS_DIR, name))]


def test_mount_removed_by_hand_is_repaired_from_the_living_holder(name):
    args = dict(name=name, types=["pid", "net", "ipc"])
    first = run_module(args)
    subprocess.run(["umount", first["namespaces"]["net"]["path"]], check=True)
    fixed = run_module(args)
    assert fixed["changed"] and fixed["action"] == "repair"
    assert fixed["namespaces"] == first["namespaces"]  # same namespaces, same inodes, same holder
    assert os.stat(first["namespaces"]["net"]["path"]).st_ino == first["namespaces"]["net"]["inode"]
    assert not run_module(args)["changed"]


def test_hostname_changed_inside_by_hand_is_set_back(name):
    args = dict(name=name, types=["uts"], hostname="nsv-keep")
    first = run_module(args)
    uts = first["namespaces"]["uts"]["path"]
    subprocess.run(["nsenter", "--uts=" + uts, "hostname", "nsv-drift"], check=True)
    assert run_module(args, check=True)["action"] == "repair"
    fixed = run_module(args)
    assert fixed["changed"] and fixed["action"] == "repair" and fixed["namespaces"] == first["namespaces"]
    out = subprocess.run(["nsenter", "--uts=" + uts, "hostname"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "nsv-keep" and os.uname().nodename != "nsv-keep"
    assert not run_module(args)["changed"]


def test_state_file_lost_mid_creation_is_cleaned_by_absent(name):
    first = run_module(dict(name=name, types=["net", "ipc"]))
    os.unlink(os.path.join(NS_DIR, name, "state.json"))  # as if the creator died before writing it
    assert not namespaces.list_named().count(name)
    removed = run_module(dict(name=name, state="absent"))
    assert removed["changed"] and sorted(removed["removed"]["unmounted"]) == sorted(
        e["path"] for e in first["namespaces"].values()
    )
    assert not os.path.lexists(os.path.join(NS_DIR, name))


def test_holder_never_recorded_is_found_and_removed_by_absent(name):
    first = run_module(dict(name=name, types=["pid", "net"]))
    state_file = os.path.join(NS_DIR, name, "state.json")
    with open(state_file) as fh:
        state = json.load(fh)
    state["holder"], state["status"] = None, "creating"  # as if the module died before recording it
    with open(state_file, "w") as fh:
        json.dump(state, fh)
    removed = run_module(dict(name=name, state="absent"))
    assert removed["removed"]["untracked_holders_killed"] == [first["holder_pid"]]
    assert holder_gone(first["holder_pid"]) and not os.path.lexists(os.path.join(NS_DIR, name))


def test_failure_midway_leaves_nothing_behind(name, monkeypatch):
    # Simulated: this kernel never refuses the third bind mount, so the failure is injected
    # after the holder started and two namespace files were mounted.
    real_mount = namespaces.syscalls.mount

    def failing_mount(source, target, *args, **kwargs):
        if str(target).endswith("/" + name + "/net"):
            raise OSError(22, "injected EINVAL")
        return real_mount(source, target, *args, **kwargs)

    before = snapshot()
    monkeypatch.setattr(namespaces.syscalls, "mount", failing_mount)
    result = run_module(dict(name=name, types=["uts", "ipc", "pid", "net"]))
    assert result.get("failed") and "nothing was left behind" in result["msg"], result
    assert result["errname"] == "EINVAL" and result["stage"] == "bind_mount"
    after = snapshot()
    assert only_mine(after, name) == only_mine(before, name)
    assert not set(after["holders"]) - set(before["holders"])  # the holder it started is gone
    assert not os.path.lexists(os.path.join(NS_DIR, name))


def test_without_a_holder_the_bind_mount_alone_keeps_the_namespace(name):
    result = run_module(dict(name=name, types=["net", "user"]))
    assert result["holder_pid"] is None
    out = subprocess.run(
        ["nsenter", "--net=" + result["namespaces"]["net"]["path"], "ip", "-o", "link"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.split(": ")[1] == "lo"
    with open(os.path.join(NS_DIR, name, "state.json")) as fh:
        assert json.load(fh)["config"]["uid_map"] == [{"inside": 0, "outside": 100000, "count": 65536}]


@pytest.fixture
def shared_dir(tmp_path):
    """A shared mount point of our own (this host's mounts are all private)."""
    d = tmp_path / "shared"
    d.mkdir()
    subprocess.run(["mount", "--bind", str(d), str(d)], check=True)
    subprocess.run(["mount", "--make-shared", str(d)], check=True)
    sub = d / "sub"
    sub.mkdir()
    yield d
    for path in (sub, d):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.mark.parametrize(
    "propagation, seen_inside",
    [("private", False), ("slave", True)],
    ids=["private-receives-nothing", "slave-receives-host-mounts"],
)
def test_mount_propagation_option(name, shared_dir, propagation, seen_inside):
    result = run_module(dict(name=name, types=["mnt"], mount_propagation=propagation))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "nsvprop", str(shared_dir / "sub")], check=True)
    out = subprocess.run(
        ["nsenter", "--mount=" + result["namespaces"]["mnt"]["path"], "cat", "/proc/self/mountinfo"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    inside = [m["mount_point"] for m in procfs.parse_mountinfo(out) if m["source"] == "nsvprop"]
    assert bool(inside) is seen_inside
    # and nothing made inside ever reaches the host
    subprocess.run(
        [
            "nsenter",
            "--mount=" + result["namespaces"]["mnt"]["path"],
            "mount",
            "-t",
            "tmpfs",
            "nsvinside",
            str(shared_dir),
        ],
        check=True,
    )
    assert not [m for m in procfs.read_mountinfo() if m["source"] == "nsvinside"]


def test_map_without_root_inside_and_time_without_pid(name):
    result = run_module(
        dict(
            name=name,
            types=["user", "time", "uts"],
            boottime_offset=30,
            uid_map=[{"inside": 1000, "outside": 300000, "count": 10}],
        )
    )
    pid = result["holder_pid"]
    assert result["namespaces"]["time"]["holder_pid"] == pid and "holder_pid" not in result["namespaces"]["uts"]
    assert len(inspect.read_nspid(pid)) == 1  # no PID namespace asked for: an ordinary process
    with open("/proc/%d/uid_map" % pid) as fh:
        assert fh.read().split() == ["1000", "300000", "10"]
    with open("/proc/%d/timens_offsets" % pid) as fh:
        assert dict((line.split()[0], int(line.split()[1])) for line in fh) == {"monotonic": 0, "boottime": 30}
    assert not run_module(
        dict(
            name=name,
            types=["user", "time", "uts"],
            boottime_offset=30,
            uid_map=[{"inside": 1000, "outside": 300000, "count": 10}],
        )
    )["changed"]


# ------------------------------------------------------------------ conflicts, force and diff


def test_other_config_fails_and_force_recreates(name):
    first = run_module(dict(name=name, types=["net"]))
    conflict = run_module(dict(name=name, types=["net", "uts"]))
    assert conflict.get("failed") and "remove it first" in conflict["msg"] and "force" in conflict["msg"]
    assert namespaces.load_state(name)["config"] == {"types": ["net"]}
    forced = run_module(dict(name=name, types=["net", "uts"], force=True))
    assert forced["changed"] and forced["action"] == "recreate"
    assert forced["namespaces"]["net"]["inode"] != first["namespaces"]["net"]["inode"]


def test_diff_shows_config_before_and_after(name):
    created = run_module(dict(name=name, types=["uts"], hostname="nsv-d"), check=True, diff=True)
    assert created["diff"]["before"] == {} and created["diff"]["after"] == {"types": ["uts"], "hostname": "nsv-d"}
    run_module(dict(name=name, types=["uts"], hostname="nsv-d"))
    gone = run_module(dict(name=name, state="absent"), check=True, diff=True)
    assert gone["diff"]["before"] == {"types": ["uts"], "hostname": "nsv-d"} and gone["diff"]["after"] == {}


# ------------------------------------------------------------------ bad input: clear failure, nothing created


@pytest.mark.parametrize(
    "args, fragment",
    [
        (dict(types=["net", "bogus"]), "bogus"),
        (dict(types=["net"], monotonic_offset=10), "need 'time' in types"),
        (dict(types=["net"], uid_map=[{"inside": 0, "outside": 100000, "count": 10}]), "need 'user' in types"),
        (
            dict(
                types=["user", "net"],
                uid_map=[
                    {"inside": 0, "outside": 100000, "count": 100},
                    {"inside": 50, "outside": 300000, "count": 10},
                ],
            ),
            "overlap",
        ),
        (dict(types=["user"], gid_map=[{"inside": 0, "outside": 100000, "count": 0}]), "count must be at least 1"),
        (dict(types=["user"], uid_map=[{"inside": 0, "outside": 4294967290, "count": 10}]), "out of range"),
        (dict(types=["time"], monotonic_offset=-(10**9)), "before zero"),
        (dict(types=["uts"], hostname="nsv_bad host"), "not a valid host name"),
        (dict(), "types"),
    ],
    ids=[
        "unknown-type",
        "offset-on-non-time",
        "map-without-user",
        "overlapping-map",
        "count-zero",
        "id-beyond-max",
        "offset-below-zero",
        "hostname-not-rfc1123",
        "types-missing",
    ],
)
def test_bad_options_fail_clearly_and_create_nothing(name, args, fragment):
    before = snapshot()
    result = run_module(dict(args, name=name))
    assert result.get("failed") and fragment in result["msg"], result
    assert not os.path.lexists(os.path.join(NS_DIR, name))
    assert only_mine(snapshot(), name) == only_mine(before, name)


@pytest.mark.parametrize(
    "bad",
    ["a/b", "..", ".", "../nsv", "x" * 65, "nsv name"],
    ids=["slash", "dotdot", "dot", "traversal", "65-chars", "space"],
)
def test_bad_names_fail_clearly_and_create_nothing(bad):
    def listing():
        return sorted(os.listdir(NS_DIR)) if os.path.isdir(NS_DIR) else None

    before = listing()
    result = run_module(dict(name=bad, types=["net"]))
    assert result.get("failed") and "name" in result["msg"], result
    assert listing() == before


# ---------------------------------------------------------------- names: many in one call (issue 13)
@pytest.fixture
def many():
    """Twenty fresh names with tag sp; all removed afterwards, whatever the test left."""
    values = ["nsvsp%s-m%02d" % (SUFFIX, i) for i in range(20)]
    yield values
    for value in values:
        if os.path.lexists(os.path.join(NS_DIR, value)):
            namespaces.remove(value)


def _holders_of(names):
    return [n for n in names if (namespaces.load_state(n) or {}).get("holder")]


def test_names_triad_creates_and_removes_many_net_namespaces_in_one_call(many):
    res = run_module({"names": many, "types": ["net"]}, check=True, diff=True)
    assert res["changed"] and [e["action"] for e in res["named"]] == ["create"] * 20
    assert not any(os.path.lexists(os.path.join(NS_DIR, n)) for n in many)  # check mode made nothing
    assert sorted(res["diff"]["after"]) == sorted(many) and res["diff"]["before"] == {}

    res = run_module({"names": many, "types": ["net"]})
    assert res["changed"] and [e["name"] for e in res["named"]] == many
    inodes = [e["namespaces"]["net"]["inode"] for e in res["named"]]
    assert len(set(inodes)) == 20  # twenty different network namespaces
    for n, inode in zip(many, inodes):
        assert os.stat(os.path.join(NS_DIR, n, "net")).st_ino == inode
    assert _holders_of(many) == [] and all(e["holder_pid"] is None for e in res["named"])  # no process kept

    again = run_module({"names": many, "types": ["net"]})
    assert not again["changed"] and {e["action"] for e in again["named"]} == {"none"}

    gone = run_module({"names": many, "state": "absent"}, check=True)
    assert gone["changed"] and all(os.path.lexists(os.path.join(NS_DIR, n)) for n in many)
    gone = run_module({"names": many, "state": "absent"})
    assert gone["changed"] and [e["action"] for e in gone["named"]] == ["remove"] * 20
    assert not any(os.path.lexists(os.path.join(NS_DIR, n)) for n in many)
    assert not [
        m
        for m in procfs.read_mountinfo()
        if any(m["mount_point"].startswith(os.path.join(NS_DIR, n) + "/") for n in many)
    ]
    assert not run_module({"names": many, "state": "absent"})["changed"]


def test_names_repairs_only_the_one_that_broke(many):
    run_module({"names": many[:3], "types": ["net"]})
    os.unlink(os.path.join(NS_DIR, many[1], namespaces.STATE_FILE))
    res = run_module({"names": many[:3], "types": ["net"]})
    assert [e["action"] for e in res["named"]] == ["none", "recreate", "none"]


@pytest.mark.parametrize(
    "args,words",
    [
        ({"name": "nsvsp-a", "names": ["nsvsp-b"], "types": ["net"]}, "mutually exclusive"),
        ({"names": ["nsvsp-a", "nsvsp-a"], "types": ["net"]}, "nsvsp-a more than once"),
        ({"names": ["nsvsp-a", "../x"], "types": ["net"]}, "../x"),
        ({"names": [], "types": ["net"]}, "names is empty"),
        ({"types": ["net"]}, "one of the following is required: name, names"),
    ],
    ids=["name-and-names", "twice", "bad-name", "empty", "neither"],
)
def test_names_bad_input_fails_naming_the_fix_and_makes_nothing(args, words):
    before = only_mine(snapshot(), "nsvsp-a")
    res = run_module(args)
    assert res.get("failed") and words in res["msg"], res
    assert only_mine(snapshot(), "nsvsp-a") == before


def _net_inodes_of_processes():
    """The net namespace inode of every process on the host (to show that no process holds ours)."""
    out = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                out.add(os.stat("/proc/%s/ns/net" % pid).st_ino)
            except OSError:
                pass
    return out


def test_names_batch_failing_midway_reports_it_and_leaves_the_others_and_nothing_of_it(many, monkeypatch):
    # The batch creator is a forked child of this process, so the patched mount is its mount too: the
    # third name's bind mount fails inside the child, after it unshared and made that name's directory.
    names = many[:6]
    real_mount = namespaces.syscalls.mount

    def failing_mount(source, target, *args, **kwargs):
        if str(target) == os.path.join(NS_DIR, names[2], "net"):
            raise OSError(22, "injected EINVAL")
        return real_mount(source, target, *args, **kwargs)

    os.makedirs(NS_DIR, exist_ok=True)
    in_the_way = os.path.join(NS_DIR, names[4])
    Path(in_the_way).write_text("not a directory\n")  # a file where the fifth name's directory goes
    try:
        monkeypatch.setattr(namespaces.syscalls, "mount", failing_mount)
        res = run_module({"names": names, "types": ["net", "uts"], "hostname": "nsv-batch"})
        monkeypatch.undo()
        assert res.get("failed") and "2 of 6 named namespaces failed" in res["msg"], res
        assert names[2] in res["msg"] and "injected EINVAL" in res["msg"] and names[4] in res["msg"]
        entries = dict((e["name"], e) for e in res["named"])
        bad = entries[names[2]]
        assert bad["failed"] and bad["stage"] == "bind_mount" and bad["errname"] == "EINVAL"
        assert "nothing was left behind" in bad["msg"]
        assert entries[names[4]]["failed"] and entries[names[4]]["stage"] == "leftover"
        assert Path(in_the_way).read_text() == "not a directory\n"  # not ours: left as it was
        assert not os.path.lexists(os.path.join(NS_DIR, names[2]))
        assert not [m for m in procfs.read_mountinfo() if m["mount_point"].startswith(os.path.join(NS_DIR, names[2]))]
        good = [n for n in names if n not in (names[2], names[4])]
        inodes = [entries[n]["namespaces"]["net"]["inode"] for n in good]
        assert not any(entries[n].get("failed") for n in good) and len(set(inodes)) == len(good)
        for n, inode in zip(good, inodes):
            assert namespaces.load_state(n)["inodes"]["net"] == inode == os.stat(os.path.join(NS_DIR, n, "net")).st_ino
            assert namespaces.load_state(n)["status"] == "ready"
            out = subprocess.run(
                ["nsenter", "--uts=" + os.path.join(NS_DIR, n, "uts"), "hostname"], capture_output=True
            )
            assert out.stdout.decode().strip() == "nsv-batch"
        assert not set(inodes) & _net_inodes_of_processes()  # held by the bind mounts alone
    finally:
        os.unlink(in_the_way)
    again = run_module({"names": names, "types": ["net", "uts"], "hostname": "nsv-batch"})
    assert not again.get("failed") and [e["action"] for e in again["named"]] == [
        "none",
        "none",
        "create",
        "none",
        "create",
        "none",
    ]
    gone = run_module({"names": names, "state": "absent"})
    assert [e["action"] for e in gone["named"]] == ["remove"] * 6
    assert sorted(sum((e["removed"]["unmounted"] for e in gone["named"]), [])) == sorted(
        os.path.join(NS_DIR, n, t) for n in names for t in ("net", "uts")
    )
    assert not [
        m for m in procfs.read_mountinfo() if any(m["mount_point"].startswith(os.path.join(NS_DIR, n)) for n in names)
    ]
    assert not any(os.path.lexists(os.path.join(NS_DIR, n)) for n in names)


def test_names_recreate_with_force_replaces_every_namespace_in_the_batch(many):
    first = run_module({"names": many[:4], "types": ["net"]})
    forced = run_module({"names": many[:4], "types": ["net", "ipc"], "force": True})
    assert [e["action"] for e in forced["named"]] == ["recreate"] * 4
    old = set(e["namespaces"]["net"]["inode"] for e in first["named"])
    new = set(e["namespaces"]["net"]["inode"] for e in forced["named"])
    assert len(new) == 4 and not old & new
    for e in forced["named"]:
        assert sorted(os.listdir(os.path.join(NS_DIR, e["name"]))) == ["ipc", "net", "state.json"]
        assert (
            len(
                [
                    m
                    for m in procfs.read_mountinfo()
                    if m["mount_point"].startswith(os.path.join(NS_DIR, e["name"]) + "/")
                ]
            )
            == 2
        )


def test_names_with_holder_types_get_one_holder_each_and_absent_stops_them(many):
    res = run_module({"names": many[:3], "types": ["pid", "net"]})
    pids = [e["holder_pid"] for e in res["named"]]
    assert all(pids) and len(set(pids)) == 3 and _holders_of(many[:3]) == many[:3]
    gone = run_module({"names": many[:3], "state": "absent"})
    assert [e["removed"]["holder_killed"] for e in gone["named"]] == pids
    assert all(holder_gone(p) for p in pids) and not any(os.path.lexists(os.path.join(NS_DIR, n)) for n in many[:3])
