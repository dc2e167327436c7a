"""The main job end to end, the way a user runs it (the molecule-free path).

ansible-playbook playbooks/container.yml in check mode (reports changes, makes nothing), for real,
again (changed=0); the testinfra suite against the running container; playbooks/teardown.yml;
then the host's mounts, links, nsv cgroups, processes and /run/nsverify/containers are as before.
The container gets its own name and /30 so that a user's `box` is not touched by the runs (the
teardown playbook does remove every container, as documented).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ansible.module_utils.nsverify import cgroups, container

ROOT = Path(__file__).resolve().parents[2]
NAME = "nsvit%d" % (os.getpid() % 100000)
EXTRA = ["-e", "busybox_container_name=%s" % NAME, "-e", "busybox_container_network=10.213.0.12/30"]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the container needs root")


def _bin(tool):
    venv = ROOT / ".venv" / "bin" / tool
    return str(venv) if venv.exists() else tool


@pytest.fixture(scope="module")
def ansible_env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ansible")
    return dict(
        os.environ,
        ANSIBLE_HOME=str(tmp / "home"),
        ANSIBLE_LOCAL_TEMP=str(tmp / "tmp"),
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
    )


def playbook(env, name, *args):
    res = subprocess.run(
        [_bin("ansible-playbook"), "playbooks/%s" % name] + list(args),
        cwd=str(ROOT),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    recap = re.search(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", res.stdout)
    return res, (
        {"ok": int(recap.group(1)), "changed": int(recap.group(2)), "failed": int(recap.group(4))} if recap else None
    )


def task_result(stdout, name):
    """The host's outcome under a task's banner: ok, changed, skipping, fatal."""
    after = stdout[stdout.index(name) :].split("\n")[1:]
    return re.search(r"^(ok|changed|skipping|fatal): \[", "\n".join(after), re.M).group(1)


def verified(stdout):
    """The control IDs the verify task listed ("NS-CTR-003 | VERIFY | pass | ..."), in order."""
    return re.findall(r'"(NS-CTR-\d{3}) \| VERIFY \| ', stdout)


def _pidns_of_cgroup(name):
    """Host PIDs of processes in the container's cgroups (none once it is gone)."""
    pids = set()
    for d in cgroups.find_named():
        if os.path.basename(d) == "nsv-%s" % name:
            try:
                with open(os.path.join(d, "cgroup.procs")) as fh:
                    pids.update(int(x) for x in fh.read().split())
            except OSError:
                pass
    return pids


def snapshot(name):
    """What this test's container can touch on the host (filtered to it, since other suites may
    run on the same host during development)."""
    # mounts and links anywhere the container could leave them; the suite-wide conftest fixture
    # compares the whole host in CI
    with open("/proc/self/mountinfo") as fh:
        mounts = sorted(
            line.split()[4]
            for line in fh
            if line.split()[4].startswith(("/run/nsverify/containers", "/var/lib/nsverify"))
            or line.split()[-3] in ("overlay", "devpts")
        )
    links = sorted(n for n in os.listdir("/sys/class/net") if n in container.veth_names(name) or n == "lo")
    cgs = [d for d in cgroups.find_named() if os.path.basename(d) == "nsv-%s" % name]
    run = os.path.join(container.RUN_DIR, name)
    tree = []
    if os.path.isdir(run):
        for dirpath, dirnames, filenames in os.walk(run):
            tree += [os.path.join(dirpath, n) for n in dirnames + filenames]
    return {
        "mounts": mounts,
        "links": links,
        "cgroups": cgs,
        "processes": sorted(_pidns_of_cgroup(name)),
        "run_dir": sorted(tree),
        "data_dir": os.path.isdir(os.path.join(container.DATA_DIR, name)),
    }


def test_container_playbook_end_to_end(ansible_env):
    before = snapshot(NAME)
    assert not container.status(NAME)["exists"]
    try:
        res, recap = playbook(ansible_env, "container.yml", "--check", *EXTRA)
        assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
        assert recap["changed"] >= 1 and snapshot(NAME) == before  # check mode made nothing

        res, recap = playbook(ansible_env, "container.yml", *EXTRA)
        assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
        # the lifecycle task's module call runs the eleven checks; one task lists each control by ID with its status
        assert len(re.findall(r"TASK \[busybox_container : NS-CTR-", res.stdout)) == 1  # not one task per control
        for cid in ("NS-CTR-%03d" % n for n in range(1, 12)):
            assert '"%s | VERIFY | pass | ' % cid in res.stdout, cid
        # the role prefixes its task names: "TASK [busybox_container : Print the container summary]"
        summary = res.stdout[res.stdout.index("Print the container summary]") :]
        summary = summary[: summary.index("PLAY RECAP")]
        assert "NS-CTR-009 pass" in summary and "namespace proofs: Count: 6" in summary  # namespace_verify ran
        assert "cgroup limits: memory 64M (v1 memory nsv-%s/payload)" % NAME in summary or "(v2 memory" in summary
        assert re.search(r'"  net +\d+ vs host \d+ isolated"', summary), summary
        assert "{'" not in summary and "{\\\"" not in summary  # no dict reprs for people
        state = container.status(NAME)
        assert state["running"]

        res, recap = playbook(ansible_env, "container.yml", *EXTRA)
        assert res.returncode == 0 and recap["changed"] == 0, res.stdout[-4000:]
        assert container.status(NAME)["state"]["init_pid"] == state["state"]["init_pid"]
        # what is already true costs no module call: busybox is usable, so no package-manager task
        assert task_result(res.stdout, "Install the distribution's statically linked busybox") == "skipping"

        # tags still pick controls out of the one verify task
        res, recap = playbook(ansible_env, "container.yml", "--tags", "NS-CTR-003", *EXTRA)
        assert res.returncode == 0 and recap["changed"] == 0, res.stdout[-4000:]
        assert verified(res.stdout) == ["NS-CTR-003"], res.stdout[-4000:]
        assert "namespace proofs: Count" not in res.stdout  # a control's tag picks no proof
        res, recap = playbook(ansible_env, "container.yml", "--skip-tags", "NS-CTR-006,NS-CTR-007", *EXTRA)
        assert res.returncode == 0 and recap["changed"] == 0, res.stdout[-4000:]
        assert verified(res.stdout) == ["NS-CTR-%03d" % n for n in range(1, 12) if n not in (6, 7)]
        res, recap = playbook(ansible_env, "container.yml", "--skip-tags", "busybox_container_verify", *EXTRA)
        assert res.returncode == 0 and verified(res.stdout) == [], res.stdout[-4000:]
        assert '"namespace proofs: Count: 6, Passed: 6' in res.stdout  # the proofs run without the checks
        res, recap = playbook(ansible_env, "container.yml", "--skip-tags", "busybox_container_proofs", *EXTRA)
        assert res.returncode == 0 and len(verified(res.stdout)) == 11, res.stdout[-4000:]
        assert "namespace proofs: not run" in res.stdout and '"namespace proofs: Count' not in res.stdout

        # verification off: the summary still prints (it used to read NS-CTR-001's evidence)
        res, recap = playbook(ansible_env, "container.yml", "-e", "busybox_container_verify=false", *EXTRA)
        assert res.returncode == 0 and recap["changed"] == 0, res.stdout[-4000:]
        assert "container checks: not run (busybox_container_verify is false)" in res.stdout
        assert "container %s: init PID %d on the host, 1 inside" % (NAME, state["state"]["init_pid"]) in res.stdout

        infra = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/infra/test_container.py"],
            cwd=str(ROOT),
            env=dict(ansible_env, NSV_CONTAINER=NAME, NSV_CONCURRENT_DEV="1"),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert infra.returncode == 0, infra.stdout[-4000:]
        assert " passed" in infra.stdout and "skipped" not in infra.stdout
        assert container.status(NAME)["running"]  # the infra suite left the playbook's container alone
    finally:
        # limited to this test's container: on a shared development host other suites' containers live
        res, recap = playbook(ansible_env, "teardown.yml", "-e", '{"nsverify_teardown_names": ["%s"]}' % NAME)
    assert res.returncode == 0, res.stdout[-4000:]
    assert snapshot(NAME) == dict(before, processes=[])
    assert not container.status(NAME)["exists"]
