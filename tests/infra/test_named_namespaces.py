"""A named namespace seen from the host with testinfra: files, mounts and the isolated view.

testinfra's `host` is the local machine unless --hosts is given. One named namespace (uts, net,
pid) is made by the namespace module through the `ansible` command and removed afterwards.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NAME = "nsv-infra-%d" % (os.getpid() % 100000)
NS_DIR = "/run/nsverify/ns"
TYPES = ["uts", "pid", "net"]  # catalogue order, as the state file keeps them
INSIDE_HOSTNAME = "nsv-infra-in"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="named namespaces need root")


def _ansible(tmp, args):
    env = dict(
        os.environ,
        ANSIBLE_HOME=str(tmp / "home"),
        ANSIBLE_LOCAL_TEMP=str(tmp / "tmp"),
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
    )
    res = subprocess.run(
        [str(ROOT / ".venv/bin/ansible"), "localhost", "-m", "namespace", "-a", json.dumps(args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    return res.stdout


@pytest.fixture(scope="module")
def named(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("named")
    _ansible(tmp, {"name": NAME, "types": TYPES, "hostname": INSIDE_HOSTNAME})
    yield dict((t, os.path.join(NS_DIR, NAME, t)) for t in TYPES)
    _ansible(tmp, {"name": NAME, "state": "absent"})


@pytest.mark.parametrize("ns_type", TYPES)
def test_namespace_file_exists(host, named, ns_type):
    assert host.file(named[ns_type]).exists


def test_state_file_records_the_types(host, named):
    state = json.loads(host.file(os.path.join(NS_DIR, NAME, "state.json")).content_string)
    assert state["config"]["types"] == TYPES and state["status"] == "ready"


def test_no_file_for_a_type_not_asked_for(host, named):
    assert not host.file(os.path.join(NS_DIR, NAME, "ipc")).exists


@pytest.mark.parametrize("ns_type", TYPES)
def test_namespace_file_is_an_nsfs_bind_mount(host, named, ns_type):
    mp = host.mount_point(named[ns_type])
    assert mp.exists and mp.filesystem == "nsfs"


def test_state_file_is_not_a_mount_point(host, named):
    assert not host.mount_point(os.path.join(NS_DIR, NAME, "state.json")).exists


@pytest.mark.parametrize("ns_type", TYPES)
def test_inode_differs_from_the_test_process(host, named, ns_type):
    assert host.file(named[ns_type]).inode != host.file("/proc/self/ns/%s" % ns_type).inode
    assert os.stat(named[ns_type]).st_ino != os.stat("/proc/self/ns/%s" % ns_type).st_ino


def test_uts_inside_shows_its_own_hostname(host, named):
    assert host.check_output("nsenter --uts=%s hostname", named["uts"]) == INSIDE_HOSTNAME


def test_host_hostname_is_unchanged(host, named):
    assert host.check_output("hostname") == os.uname().nodename != INSIDE_HOSTNAME


def test_net_inside_has_only_lo(host, named):
    links = host.check_output("nsenter --net=%s ip -o link", named["net"]).splitlines()
    assert [line.split(": ")[1] for line in links] == ["lo"]


def test_host_sees_more_than_lo(host, named):
    links = host.check_output("ip -o link").splitlines()
    if len(links) < 2:
        pytest.skip("this host has only lo, so the negative case cannot be shown")
    assert len(links) > 1


def test_pid_holder_runs_as_pid_1_inside(host, named):
    state = json.loads(host.file(os.path.join(NS_DIR, NAME, "state.json")).content_string)
    pid = state["holder"]["pid"]
    status = host.file("/proc/%d/status" % pid).content_string
    nspid = [line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")][0]
    assert nspid == [str(pid), "1"]


def test_joining_the_pid_namespace_does_not_give_pid_1(host, named):
    # the holder already is PID 1: a newcomer gets another, small, PID
    assert host.check_output("nsenter --pid=%s -- sh -c 'echo $$'", named["pid"]) not in ("1", "")
