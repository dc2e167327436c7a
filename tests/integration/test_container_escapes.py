"""The four escapes of issue 10 from inside the default container (no user namespace), and rootfs=/, for real.

Each test does what the attacker did and asserts the host kept its own: limits, keys, processes, files. On the
code before the seccomp profile, exec's own session and safepath, every one of them fails. Everything a test
plants on the host (a key, a directory standing for a host directory) is its own and removed after.
"""

import os
import subprocess
from pathlib import Path

import busybox_container
import busybox_container_exec
import keyrings
import pytest
import static_helpers
from conftest import container_name_fixture, run_module_main, run_worker

from ansible.module_utils.nsverify import cgroups, container

ROOT = Path(__file__).resolve().parents[2]
SUFFIX = "%d" % (os.getpid() % 100000)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


name = container_name_fixture("esc")


def start(name, rootfs_path, **extra):
    res = run_module_main(busybox_container, dict({"name": name, "rootfs": rootfs_path}, **extra))
    assert not res.get("failed"), res.get("msg")
    return res["container"]


def sh(name, script, timeout=30):
    return run_module_main(busybox_container_exec, {"name": name, "cmd": script, "timeout": timeout})


# ---------------------------------------------------------------- escape 1: the workload raises its own limits


@pytest.fixture(scope="module")
def helpers(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("helpers"))
    built = {n: static_helpers.build(n, d) for n in static_helpers.SOURCES}
    if None in built.values():
        pytest.skip("no C compiler with a static libc to build the helpers")
    return built


def put_inside(state, src):
    """Copy a host file into the running container's /tmp, through its init's root (like docker cp)."""
    dest = "/tmp/nsv-" + os.path.basename(src)
    target = "/proc/%d/root%s" % (state["init_pid"], dest)
    with open(src, "rb") as fh, open(target, "wb") as out:
        out.write(fh.read())
    os.chmod(target, 0o755)
    return dest


def run_inside(name, argv):
    return run_module_main(busybox_container_exec, {"name": name, "argv": argv})


def test_workload_cannot_raise_its_cgroup_limits_through_a_child_user_namespace(name, rootfs_path, helpers):
    state = start(name, rootfs_path, pids=64)
    before = cgroups.read_limits(state["cgroups"])
    res = run_inside(name, [put_inside(state, helpers["raiselimit"]), "pids.max", "100000"])
    assert res["stdout_lines"] == ["unshare errno 1"]  # unshare(CLONE_NEWUSER), refused by the seccomp profile
    assert cgroups.read_limits(state["cgroups"]) == before


def test_unconfined_container_can_make_a_user_namespace(name, rootfs_path):
    # the control: the same call passes with seccomp: unconfined, so the refusal above is the profile's
    start(name, rootfs_path, seccomp="unconfined")
    assert sh(name, "unshare -U true && echo made")["stdout_lines"] == ["made"]


# ---------------------------------------------------------------- escape 2: host root's keyring


def test_host_key_is_not_found_from_inside(name, rootfs_path, helpers):
    probe = put_inside(start(name, rootfs_path), helpers["keyprobe"])
    with keyrings.host_key("nsv-host-secret") as (description, _):
        assert keyrings.read(keyrings.search(description)) == "nsv-host-secret"  # there, for the host
        res = run_inside(name, [probe, "search", description])
        assert res["stdout_lines"] == ["errno 1"]  # EPERM from the profile, not ENOKEY: the call never ran


def test_key_added_inside_does_not_appear_on_the_host(name, rootfs_path, helpers):
    probe = put_inside(start(name, rootfs_path), helpers["keyprobe"])
    description = keyrings.unique_description()
    try:
        res = run_inside(name, [probe, "add", description, "x"])
        assert res["stdout_lines"] == ["errno 1"]
        with pytest.raises(OSError):
            keyrings.search(description)
    finally:
        try:
            keyrings.remove(keyrings.search(description))  # only if the escape worked
        except OSError:
            pass


# ---------------------------------------------------------------- escape 3: kill -9 0 from exec

WORKER = r"""  # after conftest.WORKER_PREAMBLE (imports, `container`, `sibling`)
res = container.exec_in(container.status(sys.argv[3])["state"], ["/bin/sh", "-c", "kill -9 0; echo after"])
alive = os.waitpid(sibling, os.WNOHANG) == (0, 0)
os.kill(sibling, 9)
os.waitpid(sibling, 0)
print(json.dumps({"exec": res, "sibling_alive": alive}))
"""


def test_kill_0_from_exec_reaches_only_the_exec_s_own_group(name, rootfs_path, tmp_path):
    start(name, rootfs_path)
    out = run_worker(WORKER, tmp_path, name)  # its own session: never pytest's process group
    assert out["sibling_alive"]
    assert out["exec"]["rc"] == 137  # the exec'd shell killed its own group, itself included


def test_exec_runs_in_its_own_session_inside(name, rootfs_path):
    state = start(name, rootfs_path)
    res = container.exec_in(state, ["/bin/sh", "-c", "cut -d' ' -f6 /proc/self/stat; echo $$"])
    sid, pid = res["stdout"].split()
    assert sid == pid  # the shell leads its own session (and so its own process group)


# ---------------------------------------------------------------- escape 4: a link planted in the upper layer


def test_link_to_a_host_directory_in_place_of_etc_is_not_written_through(name, rootfs_path, tmp_path):
    host_dir = tmp_path / "host-etc"
    host_dir.mkdir()
    (host_dir / "keep").write_text("host\n")
    start(name, rootfs_path)
    sh(name, "rm -rf /etc && ln -s %s /etc" % host_dir)
    run_module_main(busybox_container, {"name": name, "state": "stopped"})
    res = run_module_main(busybox_container, {"name": name, "rootfs": rootfs_path})
    assert sorted(os.listdir(host_dir)) == ["keep"] and (host_dir / "keep").read_text() == "host\n"
    if res.get("failed"):  # the link resolves inside the container, where that directory does not exist
        assert "cannot write etc/hostname inside" in res["msg"], res["msg"]


def test_link_to_a_host_file_in_place_of_etc_hostname_is_replaced(name, rootfs_path, tmp_path):
    host_file = tmp_path / "hostname"
    host_file.write_text("the-host\n")
    start(name, rootfs_path, hostname="esc-box")
    sh(name, "ln -sf %s /etc/hostname && ln -sf %s /etc/hosts" % (host_file, host_file))
    run_module_main(busybox_container, {"name": name, "state": "stopped"})
    start(name, rootfs_path, hostname="esc-box")
    assert host_file.read_text() == "the-host\n"
    assert sh(name, "test -L /etc/hostname || cat /etc/hostname")["stdout_lines"] == ["esc-box"]


# ---------------------------------------------------------------- the rootfs itself


@pytest.mark.parametrize("kind", ["slash", "link-to-slash"])
def test_rootfs_that_is_the_host_s_root_is_refused(name, tmp_path, kind):
    path = "/"
    if kind == "link-to-slash":
        (tmp_path / "root").symlink_to("/")
        path = str(tmp_path / "root")
    res = run_module_main(busybox_container, {"name": name, "rootfs": path})
    assert res.get("failed") and "host's /" in res["msg"], res["msg"]
    assert container.leftovers(name) == {}


def test_rootfs_outside_the_image_directory_is_refused(name, rootfs_path, tmp_path):
    (tmp_path / "elsewhere").symlink_to(rootfs_path)
    assert (
        run_module_main(busybox_container, {"name": name, "rootfs": str(tmp_path / "elsewhere")}).get("failed") is None
    )
    subprocess.run(["cp", "-a", rootfs_path, str(tmp_path / "copy")], check=True)
    res = run_module_main(busybox_container, {"name": name + "x", "rootfs": str(tmp_path / "copy")})
    try:
        assert res.get("failed") and "outside" in res["msg"] and "rootfs_base" in res["msg"], res["msg"]
    finally:
        container.remove(name + "x")


# ---------------------------------------------------------------- the profile is on, and reported


def test_workload_and_exec_run_under_the_default_profile(name, rootfs_path):
    state = start(name, rootfs_path)
    exec_status = sh(name, "grep -E '^(Seccomp|Seccomp_filters|NoNewPrivs):' /proc/self/status")["stdout_lines"]
    assert [l.split() for l in exec_status] == [["NoNewPrivs:", "1"], ["Seccomp:", "2"], ["Seccomp_filters:", "1"]]
    with open("/proc/%d/task/%d/children" % (state["init_pid"], state["init_pid"])) as fh:
        workload = int(fh.read().split()[0])
    with open("/proc/%d/status" % workload) as fh:
        assert "Seccomp:\t2\n" in fh.read()
    with open("/proc/%d/status" % state["init_pid"]) as fh:
        assert "Seccomp:\t0\n" in fh.read()  # init itself is not filtered: it mounts nothing after the start


@pytest.mark.parametrize("profile,mode", [("default", "2"), ("unconfined", "0")])
def test_ns_ctr_010_reports_the_profile_in_force(name, rootfs_path, profile, mode):
    state = start(name, rootfs_path, seccomp=profile)
    (check,) = container.checks.run(state, ["NS-CTR-010"])
    assert check["status"] == "pass", check
    assert check["evidence"]["seccomp_profile"] == profile
    assert check["evidence"]["workload"]["Seccomp"] == mode and check["evidence"]["exec"]["Seccomp"] == mode


def test_ns_ctr_010_fails_for_a_container_running_without_the_profile_it_asked_for(name, rootfs_path):
    # a container started unfiltered (before the option existed, or unconfined) whose config asks for the default
    state = start(name, rootfs_path, seccomp="unconfined")
    asked = dict(state, config={k: v for k, v in state["config"].items() if k != "seccomp"})
    (check,) = container.checks.run(asked, ["NS-CTR-010"])
    assert check["status"] == "fail" and check["evidence"]["workload"]["Seccomp"] == "0"
