"""The audit's verdicts on SIMULATED kernels: /proc trees built in tmp_path from data tables, release strings of
real distributions, and a simulated prober that returns the errno the real kernel gives. These kernels (3.10 el7,
4.4, 4.19, 5.4, 5.10, 5.14 el9, 6.1, 6.8 Ubuntu, 2.6.32 el6) cannot run on this host; the live audit of this host's
kernel is proved in tests/integration/test_namespace_facts.py."""

import copy
import errno
import gzip
import os
from pathlib import Path

import pytest

from ansible.module_utils.nsverify import audit, catalog

FIXTURES = Path(__file__).parent / "fixtures"
ALL = list(catalog.TYPE_NAMES)
INIT_INODES = {
    "cgroup": 4026531835,
    "ipc": 4026531839,
    "mnt": 4026531841,
    "net": 4026531840,
    "pid": 4026531836,
    "time": 4026531834,
    "user": 4026531837,
    "uts": 4026531838,
}
CONFIG_ALL = {
    "CONFIG_UTS_NS": "y",
    "CONFIG_IPC_NS": "y",
    "CONFIG_PID_NS": "y",
    "CONFIG_NET_NS": "y",
    "CONFIG_USER_NS": "y",
    "CONFIG_CGROUPS": "y",
    "CONFIG_TIME_NS": "y",
}


def _config_text(options):
    return "".join("# %s is not set\n" % k if v == "n" else "%s=%s\n" % (k, v) for k, v in options.items())


def build_tree(root, host):
    """A /proc, /proc/sys and /boot tree for one simulated host."""
    proc, boot = root / "proc", root / "boot"
    sys_root = proc / "sys"
    (proc / "self" / "ns").mkdir(parents=True)
    boot.mkdir()
    entries = host.get("entries", ALL)
    if entries is not None:
        for t in entries:
            os.symlink("%s:[%d]" % (t, INIT_INODES[t]), proc / "self" / "ns" / t)
    else:  # kernels before 3.0 have no /proc/<pid>/ns at all
        (proc / "self" / "ns").rmdir()
    (proc / "self" / "uid_map").write_text(host.get("uid_map", "         0          0 4294967295\n"))
    caps = "000001ffffffffff" if host.get("euid", 0) == 0 else "0000000000000000"
    (proc / "self" / "status").write_text("Name:\tpython3\nCapEff:\t%s\n%s" % (caps, host.get("status_extra", "")))
    (proc / "self" / "mountinfo").write_text(
        (FIXTURES / host.get("mountinfo", "mountinfo-v2-debian12.txt")).read_text()
    )
    (proc / "cmdline").write_text(host.get("cmdline", "BOOT_IMAGE=/boot/vmlinuz ro quiet\n"))
    for pid, links in host.get("pids", {"1": {}, "2": {}}).items():
        d = proc / pid / "ns"
        d.mkdir(parents=True)
        for t in entries or []:
            target = links.get(t, INIT_INODES[t])
            if target == "unreadable":
                (d / t).write_text("")  # readlink() fails: like another user's process
            else:
                os.symlink("%s:[%d]" % (t, target), d / t)
    limits = host.get("limits", {t: 63000 for t in ALL})
    if limits is not None:
        (sys_root / "user").mkdir(parents=True)
        for t, v in limits.items():
            (sys_root / "user" / ("max_%s_namespaces" % t)).write_text("%d\n" % v)
    for name, value in host.get("sysctls", {}).items():
        path = sys_root.joinpath(*name.split("."))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("%s\n" % value)
    config = host.get("config", CONFIG_ALL)
    if config is not None:
        if host.get("config_in", "proc") == "proc":
            with gzip.open(proc / "config.gz", "wt") as fh:
                fh.write(_config_text(config))
        else:
            (boot / ("config-%s" % host["release"])).write_text(_config_text(config))
    return {"proc": str(proc), "sys": str(sys_root), "boot": str(boot)}


class SimulatedKernel:
    """A prober answering like a kernel would: 'ok', an errno for unshare(2), or (stage, errno).

    direct: per type, the answer to a direct attempt (default 'ok').
    via_user: per type, the answer inside a fresh user namespace (default 'ok').
    capability: for the user type, the errno of using CAP_SYS_ADMIN inside (None: works).
    nobody: the answer of the user probe run as uid 65534."""

    def __init__(self, direct=None, via_user=None, capability=None, nobody="ok", nobody_capability=None):
        self.direct, self.via_user = direct or {}, via_user or {}
        self.capability, self.nobody, self.nobody_capability = capability, nobody, nobody_capability
        self.calls = []

    @staticmethod
    def _answer(outcome, capability, name):
        stage, err = ("unshare", outcome) if not isinstance(outcome, tuple) else outcome
        if outcome == "ok":
            cap = None
            if name == "user":
                cap = {
                    "ok": capability is None,
                    "action": "unshare(CLONE_NEWUTS) + sethostname()",
                    "errno": capability,
                    "errname": errno.errorcode.get(capability),
                }
            return {"ok": True, "stage": None, "errno": None, "new_namespace": True, "capability": cap}
        if outcome == "timeout":
            return {"ok": False, "stage": "timeout", "errno": None, "error": "probe did not answer within 10.0s"}
        return {"ok": False, "stage": stage, "errno": err}

    def __call__(self, name, via_user_namespace=False, uid=None):
        self.calls.append((name, via_user_namespace, uid))
        if uid is not None:
            return self._answer(self.nobody, self.nobody_capability, name)
        if via_user_namespace:
            return self._answer(self.via_user.get(name, "ok"), None, name)
        return self._answer(self.direct.get(name, "ok"), self.capability, name)


def run_audit(tmp_path, host, probe=True, types=None):
    roots = build_tree(tmp_path, host)
    sim = copy.deepcopy(host.get("kernel") or SimulatedKernel())  # fresh call log per test
    facts = audit.audit(
        types=types,
        release=host["release"],
        probe=probe,
        prober=sim,
        machine="x86_64",
        euid=host.get("euid", 0),
        **roots,
    )
    return facts, sim


def verdicts(facts):
    return {t: v["verdict"] for t, v in facts["types"].items()}


S, OLD, NB, LZ, DN, UK = catalog.VERDICTS

HOSTS = [
    dict(
        id="el7-3.10-root-max_user_namespaces-0",
        release="3.10.0-1160.el7.x86_64",
        entries=["ipc", "mnt", "net", "pid", "user", "uts"],
        mountinfo="mountinfo-v1-el7.txt",
        config_in="boot",
        config={k: v for k, v in CONFIG_ALL.items() if k != "CONFIG_TIME_NS"},
        limits={"user": 0, "mnt": 15000, "uts": 15000, "ipc": 15000, "pid": 15000, "net": 15000},
        kernel=SimulatedKernel(
            direct={"cgroup": errno.EINVAL, "time": errno.EINVAL, "user": errno.ENOSPC}, nobody=errno.ENOSPC
        ),
        expect=dict(mnt=S, uts=S, ipc=S, pid=S, net=S, user=LZ, cgroup=OLD, time=OLD),
    ),
    dict(
        id="ubuntu16-4.4-root-no-limit-sysctls",
        release="4.4.0-210-generic",
        entries=["ipc", "mnt", "net", "pid", "user", "uts"],
        limits=None,
        sysctls={"kernel.unprivileged_userns_clone": 1},
        config={k: v for k, v in CONFIG_ALL.items() if k != "CONFIG_TIME_NS"},
        kernel=SimulatedKernel(direct={"cgroup": errno.EINVAL, "time": errno.EINVAL}),
        expect=dict(mnt=S, uts=S, ipc=S, pid=S, net=S, user=S, cgroup=OLD, time=OLD),
    ),
    dict(
        id="debian10-4.19-nobody-unprivileged_userns_clone-0",
        release="4.19.0-25-amd64",
        euid=65534,
        entries=[t for t in ALL if t != "time"],
        sysctls={"kernel.unprivileged_userns_clone": 0},
        kernel=SimulatedKernel(
            direct=dict({t: errno.EPERM for t in ALL}, time=errno.EINVAL),
            via_user={t: ("unshare-user", errno.EPERM) for t in ALL},
        ),
        expect=dict(mnt=DN, uts=DN, ipc=DN, pid=DN, net=DN, user=DN, cgroup=DN, time=OLD),
    ),
    dict(
        id="ubuntu20-5.4-root-time-created-contradiction",
        release="5.4.0-150-generic",
        expect={t: S for t in ALL},
        contradictions=["time"],
    ),
    dict(
        id="debian11-5.10-root-time-limit-0",
        release="5.10.0-28-amd64",
        limits=dict({t: 63000 for t in ALL}, time=0, cgroup=5),
        kernel=SimulatedKernel(direct={"time": errno.ENOSPC, "cgroup": errno.ENOSPC}),
        expect=dict({t: S for t in ALL}, time=LZ, cgroup=LZ),
    ),
    dict(id="el9-5.14-root-all-supported", release="5.14.0-362.8.1.el9_3.x86_64", expect={t: S for t in ALL}),
    dict(
        id="debian12-6.1-uml-time-not-built",
        release="6.1.0-25-amd64",
        entries=[t for t in ALL if t != "time"],
        config=dict(CONFIG_ALL, CONFIG_TIME_NS="n"),
        kernel=SimulatedKernel(direct={"time": errno.EINVAL}),
        expect=dict({t: S for t in ALL}, time=NB),
    ),
    dict(
        id="6.18-nobody-via-user-namespace",
        release="6.18.44-fc-v657",
        euid=65534,
        kernel=SimulatedKernel(direct={t: errno.EPERM for t in ALL if t != "user"}),
        expect={t: S for t in ALL},
    ),
    dict(
        id="ubuntu24-6.8-root-apparmor-restricts-unprivileged",
        release="6.8.0-1015-aws",
        sysctls={"kernel.apparmor_restrict_unprivileged_userns": 1, "kernel.unprivileged_userns_clone": 1},
        kernel=SimulatedKernel(nobody_capability=errno.EPERM),
        expect={t: S for t in ALL},
    ),
    dict(
        id="ubuntu24-6.8-nobody-apparmor-userns-without-capabilities",
        release="6.8.0-1015-aws",
        euid=65534,
        sysctls={"kernel.apparmor_restrict_unprivileged_userns": 1, "kernel.unprivileged_userns_clone": 1},
        kernel=SimulatedKernel(
            direct={t: errno.EPERM for t in ALL if t != "user"},
            via_user={t: errno.EPERM for t in ALL},
            capability=errno.EPERM,
        ),
        expect={t: DN for t in ALL},
    ),
    dict(
        id="el6-2.6.32-root-no-proc-ns-dir",
        release="2.6.32-754.el6.x86_64",
        entries=None,
        limits=None,
        config=None,
        mountinfo="mountinfo-v1-el7.txt",
        kernel=SimulatedKernel(direct={"user": errno.EINVAL, "cgroup": errno.EINVAL, "time": errno.EINVAL}),
        expect=dict(mnt=S, uts=S, ipc=S, pid=S, net=S, user=OLD, cgroup=OLD, time=OLD),
    ),
    dict(
        id="6.18-root-seccomp-enosys-and-timeout-unknown",
        release="6.18.44-fc-v657",
        kernel=SimulatedKernel(direct={"cgroup": errno.ENOSYS, "ipc": "timeout"}),
        expect=dict({t: S for t in ALL}, cgroup=UK, ipc=UK),
    ),
    dict(
        id="6.1-root-seccomp-eperm-denied-with-entry-present",
        release="6.1.0-25-amd64",
        kernel=SimulatedKernel(direct={"net": errno.EPERM}, via_user={"net": errno.EPERM}),
        expect=dict({t: S for t in ALL}, net=DN),
    ),
    dict(
        id="6.1-root-selinux-eacces-denied",
        release="6.1.0-25-amd64",
        kernel=SimulatedKernel(direct={"ipc": errno.EACCES}),
        expect=dict({t: S for t in ALL}, ipc=DN),
    ),
    dict(
        id="6.1-root-no-namespace-left-to-test-user-capabilities",
        release="6.1.0-25-amd64",
        kernel=SimulatedKernel(capability=errno.ENOSPC),
        expect=dict({t: S for t in ALL}, user=UK),
    ),
]


@pytest.mark.parametrize("host", HOSTS, ids=[h["id"] for h in HOSTS])
def test_simulated_kernel_verdicts(tmp_path, host):
    facts, _ = run_audit(tmp_path, host)
    assert verdicts(facts) == host["expect"], {t: v["reason"] for t, v in facts["types"].items()}
    assert sorted(t for t, v in facts["types"].items() if v["contradiction"]) == host.get("contradictions", [])
    assert facts["summary"] == {v: [t for t in ALL if host["expect"][t] == v] for v in catalog.VERDICTS}
    for name, entry in facts["types"].items():
        assert entry["verdict"] in catalog.VERDICTS and entry["reason"]
        assert entry["control_id"] == "NS-KRN-00%d" % (ALL.index(name) + 1)
        assert entry["evidence"]["release"] == host["release"] and entry["evidence"]["probe"]["attempted"]


def _one(host_id):
    return next(h for h in HOSTS if h["id"] == host_id)


def test_simulated_below_first_kernel_is_kernel_too_old_with_gate_evidence(tmp_path):
    facts, _ = run_audit(tmp_path, _one("ubuntu16-4.4-root-no-limit-sysctls"))
    cgroup = facts["types"]["cgroup"]
    assert cgroup["evidence"]["version_gate"] == {"first_kernel": "4.6.0", "release_at_least": False}
    assert cgroup["evidence"]["probe"]["errname"] == "EINVAL" and "4.6.0" in cgroup["reason"]
    assert facts["types"]["time"]["evidence"]["proc_entry"]["present"] is False
    assert facts["types"]["net"]["evidence"]["proc_entry"]["inode"] == INIT_INODES["net"]
    assert facts["types"]["net"]["limit"] is None  # no max_*_namespaces before 4.9


def test_simulated_el7_user_limit_zero_names_rhel7_and_cmdline(tmp_path):
    host = dict(_one("el7-3.10-root-max_user_namespaces-0"), cmdline="ro crashkernel=auto user_namespace.enable=1")
    facts, _ = run_audit(tmp_path, host)
    user = facts["types"]["user"]
    assert user["limit"] == 0 and user["evidence"]["probe"]["errname"] == "ENOSPC"
    assert "user.max_user_namespaces is 0" in user["reason"] and "RHEL 7" in user["reason"]
    policy = facts["userns_policy"]
    assert policy["cmdline"] == {"user_namespace.enable": "1"} and any("RHEL 7" in n for n in policy["notes"])
    assert policy["unprivileged_can_create"] is False
    assert facts["config"]["source"].endswith("boot/config-3.10.0-1160.el7.x86_64")
    assert facts["cgroup"]["layout"] == "v1"


def test_simulated_debian10_denied_carries_policy_evidence_and_user_namespace_route(tmp_path):
    facts, sim = run_audit(tmp_path, _one("debian10-4.19-nobody-unprivileged_userns_clone-0"))
    net = facts["types"]["net"]
    assert net["evidence"]["probe"]["via_user_namespace"] is True
    assert net["evidence"]["probe"]["direct"]["errname"] == "EPERM"
    assert net["evidence"]["policy"]["unprivileged_userns_clone"] == 0
    assert "user namespace" in net["reason"]
    # the retry through a user namespace happens on EPERM only: not for time (EINVAL), never for user itself
    assert ("time", True, None) not in sim.calls and ("user", True, None) not in sim.calls
    assert ("net", True, None) in sim.calls
    assert facts["privilege"]["euid"] == 65534 and facts["privilege"]["cap_sys_admin"] is False
    assert facts["headroom"]["lower_bound"] is True  # not root: other users' processes are unreadable


def test_simulated_contradiction_release_54_but_time_created(tmp_path):
    facts, _ = run_audit(tmp_path, _one("ubuntu20-5.4-root-time-created-contradiction"))
    time_ns = facts["types"]["time"]
    assert time_ns["verdict"] == "supported"
    assert "5.4.0-150-generic" in time_ns["contradiction"] and "5.6.0" in time_ns["contradiction"]
    assert time_ns["evidence"]["setns_supported"] is False  # setns() into time needs 5.8


def test_simulated_enospc_with_nonzero_limit_explains_ancestor_or_nesting(tmp_path):
    facts, _ = run_audit(tmp_path, _one("debian11-5.10-root-time-limit-0"))
    assert facts["types"]["time"]["reason"].startswith("user.max_time_namespaces is 0")
    assert "ancestor user namespace" in facts["types"]["cgroup"]["reason"]
    assert facts["types"]["cgroup"]["limit"] == 5


def test_simulated_not_built_names_einval_missing_entry_and_config(tmp_path):
    facts, _ = run_audit(tmp_path, _one("debian12-6.1-uml-time-not-built"))
    t = facts["types"]["time"]
    assert "EINVAL" in t["reason"] and "/proc/self/ns/time is missing" in t["reason"]
    assert "CONFIG_TIME_NS is not set" in t["reason"]
    assert t["evidence"]["config"]["line"] == "# CONFIG_TIME_NS is not set"


def test_simulated_apparmor_restricted_userns_created_but_capabilities_fail_is_denied(tmp_path):
    facts, _ = run_audit(tmp_path, _one("ubuntu24-6.8-nobody-apparmor-userns-without-capabilities"))
    user = facts["types"]["user"]
    assert user["evidence"]["probe"]["ok"] is True  # it WAS created ...
    assert user["evidence"]["probe"]["capability"]["errname"] == "EPERM"  # ... but has no capabilities
    assert "apparmor_restrict_unprivileged_userns" in user["reason"]
    assert user["evidence"]["policy"]["apparmor_restrict_unprivileged_userns"] == 1
    policy = facts["userns_policy"]
    assert policy["unprivileged_can_create"] is True and policy["unprivileged_can_use_capabilities"] is False


def test_simulated_apparmor_as_root_flags_policy_but_root_is_supported(tmp_path):
    facts, sim = run_audit(tmp_path, _one("ubuntu24-6.8-root-apparmor-restricts-unprivileged"))
    assert ("user", False, audit.NOBODY_UID) in sim.calls
    policy = facts["userns_policy"]
    assert policy["unprivileged_can_create"] is True and policy["unprivileged_can_use_capabilities"] is False
    assert any("without usable capabilities" in n for n in policy["notes"])


def test_simulated_nobody_gets_namespaces_through_a_user_namespace(tmp_path):
    facts, _ = run_audit(tmp_path, _one("6.18-nobody-via-user-namespace"))
    for t in ALL:
        probe = facts["types"][t]["evidence"]["probe"]
        assert probe["via_user_namespace"] is (t != "user"), t
    assert "inside a new user namespace" in facts["types"]["pid"]["reason"]


def test_simulated_el6_missing_ns_dir_is_no_evidence_against_old_types(tmp_path):
    facts, _ = run_audit(tmp_path, _one("el6-2.6.32-root-no-proc-ns-dir"))
    net = facts["types"]["net"]
    assert net["evidence"]["proc_entry"] == {
        "path": net["evidence"]["proc_entry"]["path"],
        "present": False,
        "inode": None,
        "expected_since": "3.0.0",
    }
    assert net["contradiction"] is None and facts["config"]["source"] is None
    assert net["evidence"]["proc_entry"]["inode"] is None


# --- static mode (probe=false): the verdict says it was not exercised and nothing is created

STATIC = [
    ("el9-5.14-root-all-supported", {t: UK for t in ALL}),
    ("ubuntu16-4.4-root-no-limit-sysctls", dict({t: UK for t in ALL}, cgroup=OLD, time=OLD)),
    # release below 5.6 but /proc/self/ns/time exists: static evidence disagrees, so no verdict
    ("ubuntu20-5.4-root-time-created-contradiction", {t: UK for t in ALL}),
    ("debian11-5.10-root-time-limit-0", dict({t: UK for t in ALL}, time=LZ)),
    ("debian12-6.1-uml-time-not-built", dict({t: UK for t in ALL}, time=NB)),
    ("debian10-4.19-nobody-unprivileged_userns_clone-0", dict({t: UK for t in ALL}, user=DN, time=OLD)),
]


@pytest.mark.parametrize("host_id,expect", STATIC, ids=[s[0] for s in STATIC])
def test_simulated_static_mode_does_not_probe_and_says_so(tmp_path, host_id, expect):
    facts, sim = run_audit(tmp_path, _one(host_id), probe=False)
    assert sim.calls == [] and facts["mode"] == "static"
    assert verdicts(facts) == expect
    for entry in facts["types"].values():
        assert "not exercised" in entry["reason"] and entry["evidence"]["probe"] == {"attempted": False}
    assert facts["userns_policy"]["unprivileged_can_create"] is None
    contradicted = [t for t, v in facts["types"].items() if v["contradiction"]]
    assert contradicted == (["time"] if host_id.startswith("ubuntu20") else [])


def test_simulated_offline_audit_of_installed_kernel_reads_boot_config_only(tmp_path):
    host = dict(_one("el9-5.14-root-all-supported"))
    roots = build_tree(tmp_path, host)
    (Path(roots["boot"]) / "config-5.4.0-150-generic").write_text(_config_text(dict(CONFIG_ALL, CONFIG_NET_NS="n")))
    sim = SimulatedKernel()
    facts = audit.audit(release="5.4.0-150-generic", offline=True, prober=sim, euid=0, **roots)
    assert sim.calls == [] and facts["mode"] == "offline" and facts["headroom"] is None
    assert facts["config"]["source"].endswith("boot/config-5.4.0-150-generic")
    assert verdicts(facts) == dict({t: UK for t in ALL}, time=OLD, net=NB)
    assert "offline audit of release 5.4.0-150-generic" in facts["types"]["mnt"]["reason"]


def test_simulated_types_subset_in_catalogue_order(tmp_path):
    facts, sim = run_audit(tmp_path, _one("el9-5.14-root-all-supported"), types=["time", "pid"])
    assert list(facts["types"]) == ["pid", "time"]
    assert {c[0] for c in sim.calls} == {"pid", "time", "user"}  # user: the unprivileged policy probe


@pytest.mark.parametrize("release", ["", "abc", "6", "6.x", "linux-6.1"], ids=repr)
def test_malformed_release_raises_value_error(tmp_path, release):
    with pytest.raises(ValueError, match="release"):
        run_audit(tmp_path, dict(_one("el9-5.14-root-all-supported"), release=release))


def test_unknown_type_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match="choose from"):
        run_audit(tmp_path, _one("el9-5.14-root-all-supported"), types=["netns"])


# --- headroom: distinct inodes over /proc/*/ns and nsfs bind mounts


def test_simulated_headroom_counts_distinct_inodes_and_nsfs_mounts(tmp_path):
    host = dict(
        _one("el9-5.14-root-all-supported"),
        pids={
            "1": {},
            "2": {},
            "300": {"net": 4026532500, "uts": 4026532501},
            "301": {"net": 4026532500},
            "302": {"net": 4026532600},
        },
    )
    facts, _ = run_audit(tmp_path, host)
    # net: init + 4026532500 + 4026532600 + the nsfs bind mount 4026532291 (mounted twice, counted once)
    assert facts["types"]["net"]["count"] == 4
    assert facts["types"]["uts"]["count"] == 2 and facts["types"]["ipc"]["count"] == 1
    head = facts["headroom"]
    assert head["types"]["net"] == {"count": 4, "limit": 63000, "headroom": 62996}
    assert head["nsfs_mounts"] == 2 and head["lower_bound"] is False and head["control_id"] == "NS-KRN-010"


def test_simulated_headroom_is_a_lower_bound_when_a_process_is_unreadable(tmp_path):
    host = dict(_one("el9-5.14-root-all-supported"), pids={"1": {"net": "unreadable"}, "2": {}})
    facts, _ = run_audit(tmp_path, host)
    assert facts["headroom"]["lower_bound"] is True and facts["headroom"]["processes_unreadable"] == 1
    assert "lower bound" in facts["headroom"]["note"]


def test_simulated_headroom_lower_bound_in_a_non_initial_user_namespace(tmp_path):
    facts, _ = run_audit(tmp_path, dict(_one("el9-5.14-root-all-supported"), uid_map="0 0 1\n"))
    assert facts["privilege"]["initial_user_ns"] is False and facts["headroom"]["lower_bound"] is True


@pytest.mark.parametrize(
    "user_inode,initial", [(INIT_INODES["user"], True), (4026532900, False)], ids=["init-inode", "other-inode"]
)
def test_simulated_kernel_without_uid_map_uses_the_initial_user_ns_inode(tmp_path, user_inode, initial):
    roots = build_tree(tmp_path, _one("el9-5.14-root-all-supported"))
    os.unlink(os.path.join(roots["proc"], "self", "uid_map"))
    os.unlink(os.path.join(roots["proc"], "self", "ns", "user"))
    os.symlink("user:[%d]" % user_inode, os.path.join(roots["proc"], "self", "ns", "user"))
    facts = audit.audit(release="5.14.0-362.8.1.el9_3.x86_64", probe=False, euid=0, **roots)
    assert facts["privilege"]["initial_user_ns"] is initial
    assert facts["headroom"]["lower_bound"] is not initial
