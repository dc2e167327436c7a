"""Isolation proofs: parsers on captured /proc text, result shaping, verdicts, target validation.

The proofs themselves run for real in tests/integration/test_namespace_verify.py; here is the
logic that turns what they saw into results, fed with text captured on real kernels.
"""

import errno
import os

import pytest

from ansible.module_utils.nsverify import catalog, controls, probe, procfs, proofs
from ansible.module_utils.nsverify.proofs import base
from ansible.module_utils.nsverify.proofs import cgroup as cgroup_proof
from ansible.module_utils.nsverify.proofs import ipc as ipc_proof
from ansible.module_utils.nsverify.proofs import net as net_proof
from ansible.module_utils.nsverify.proofs import user as user_proof

# ---------------------------------------------------------------- /proc/net/tcp
# captured on 6.18 (this host) and 4.19 (Debian 10): listener, established, 0.0.0.0 and 127.0.0.1
PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 570 1 00000000567ea3c3 100 0 0 10 0
   1: 020200C0:90EA 507100CB:0050 06 00000000:00000000 03:00000B62 00000000     0        0 0 3 00000000a0c1c0f6
   2: 0100007F:851A 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 38480 1 ffff9e0c41a3a300 100 0 0 10 0
"""


def test_proc_net_tcp_rows_decode_address_port_state_inode():
    rows = procfs.parse_net_tcp(PROC_NET_TCP)
    assert [(r["local"], r["local_port"], r["state"], r["inode"], r["uid"]) for r in rows] == [
        ("0.0.0.0", 2024, "0A", 570, 0),
        ("192.0.2.2", 37098, "06", 0, 0),
        ("127.0.0.1", 34074, "0A", 38480, 1000),
    ]
    assert rows[1]["remote"] == "203.0.113.80" and rows[1]["remote_port"] == 80


@pytest.mark.parametrize(
    "port,inode,expected",
    [(34074, None, [38480]), (None, 38480, [38480]), (37098, None, []), (9, 123, [])],
    ids=["by-port", "by-inode", "established-is-not-a-listener", "absent"],
)
def test_listeners_match_only_listen_rows(port, inode, expected):
    rows = procfs.parse_net_tcp(PROC_NET_TCP)
    assert [r["inode"] for r in net_proof.listeners(rows, port=port, inode=inode)] == expected


# ---------------------------------------------------------------- timens_offsets
@pytest.mark.parametrize(
    "text,expected",
    [
        ("monotonic           0         0\nboottime            0         0\n", {"monotonic": 0.0, "boottime": 0.0}),
        (
            "monotonic      259200         0\nboottime       604800         0\n",
            {"monotonic": 259200.0, "boottime": 604800.0},
        ),
        (
            "monotonic         -10 500000000\nboottime          3600         0\n",
            {"monotonic": -9.5, "boottime": 3600.0},
        ),
        ("1 86400 0\n7 -5 0\n", {"monotonic": 86400.0, "boottime": -5.0}),
    ],
    ids=["host-zero", "proof-defaults", "negative-and-nanoseconds", "clock-ids"],
)
def test_timens_offsets_parse(text, expected):
    assert procfs.parse_timens_offsets(text) == expected


def test_offsets_are_written_in_the_kernels_format():
    # the time proof writes through probe.write_timens_offsets, the one offsets writer
    assert (
        probe.format_timens_offsets({"monotonic": 259200, "boottime": 604800})
        == "boottime 604800 0\nmonotonic 259200 0\n"
    )


# ---------------------------------------------------------------- /proc/self/cgroup and mountinfo
HYBRID_CGROUP = """\
9:name=systemd:/
8:pids:/
4:memory:/process_api/d826b1eeaaa97d4d64ce5f9a5a6fac2c
1:cpu:/
0::/nsv-proof-82f8a8bd
"""
V2_CGROUP = "0::/user.slice/user-1000.slice/session-3.scope\n"
V1_ONLY_CGROUP = "11:cpuset:/docker/abc\n2:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n"


@pytest.mark.parametrize(
    "text,v2,count",
    [
        (HYBRID_CGROUP, "/nsv-proof-82f8a8bd", 5),
        (V2_CGROUP, "/user.slice/user-1000.slice/session-3.scope", 1),
        (V1_ONLY_CGROUP, None, 3),
    ],
    ids=["hybrid", "pure-v2", "pure-v1"],
)
def test_proc_cgroup_parse_and_v2_line(text, v2, count):
    entries = procfs.parse_cgroup(text)
    assert len(entries) == count and cgroup_proof.v2_path(entries) == v2


def test_cgroup_controllers_with_commas_and_colons_in_path_survive():
    e = procfs.parse_cgroup("2:cpu,cpuacct:/a:b\n")
    assert e == [{"id": 2, "controllers": "cpu,cpuacct", "path": "/a:b"}]


MOUNTINFO = r"""27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
300 27 0:90 / /tmp/nsv-mnt-x/with\040space rw shared:12 master:3 - tmpfs nsv-src-1 rw,size=64k
"""


def test_mountinfo_by_grammar_optional_fields_and_escapes():
    mounts = base.parse_mountinfo(MOUNTINFO)
    last = mounts[-1]
    assert last["mount_point"] == "/tmp/nsv-mnt-x/with space"
    assert last["optional"] == ["shared:12", "master:3"] and last["fstype"] == "tmpfs"
    assert base.mounts_with_source(mounts, "nsv-src-1") == ["/tmp/nsv-mnt-x/with space"]


@pytest.mark.parametrize(
    "text,expected",
    [
        (MOUNTINFO, "/sys/fs/cgroup/unified"),
        ("30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n", "/sys/fs/cgroup"),
        ("35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n", None),
    ],
    ids=["hybrid", "pure-v2", "v1-only"],
)
def test_cgroup2_mount_found_from_mountinfo(text, expected):
    assert cgroup_proof.cgroup2_mount(base.parse_mountinfo(text)) == expected


# ---------------------------------------------------------------- user namespace text
@pytest.mark.parametrize(
    "text,expected,outside_of_root",
    [
        ("         0     100000      65536\n", [[0, 100000, 65536]], 100000),
        ("         0          0 4294967295\n", [[0, 0, 4294967295]], 0),
        (
            "         0       1000          1\n         1     100000      65536\n",
            [[0, 1000, 1], [1, 100000, 65536]],
            1000,
        ),
        ("      1000       1000          1\n", [[1000, 1000, 1]], None),
    ],
    ids=["root-range", "initial-identity", "two-lines", "root-unmapped"],
)
def test_id_map_parse_and_lookup(text, expected, outside_of_root):
    m = procfs.parse_id_map(text)
    assert m == expected and user_proof.map_id(m, 0) == outside_of_root


def test_status_ids_and_caps():
    text = (
        "Name:\tpython3\nUid:\t100000\t100000\t100000\t100000\nGid:\t100000\t100000\t100000\t100000\n"
        "CapEff:\t000001ffffffffff\n"
    )
    assert procfs.parse_status_ids(text) == {"Uid": [100000] * 4, "Gid": [100000] * 4, "CapEff": "000001ffffffffff"}


@pytest.mark.parametrize(
    "euid,egid,expected",
    [(0, 0, ([[0, 100000, 65536]], [[0, 100000, 65536]])), (1000, 1000, ([[0, 1000, 1]], [[0, 1000, 1]]))],
    ids=["root", "unprivileged"],
)
def test_default_maps_depend_on_privilege(euid, egid, expected):
    assert user_proof.default_maps(euid, egid) == expected


# ---------------------------------------------------------------- ipc and pid text
def test_sysvipc_keys_from_captured_table():
    text = (
        "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid\n"
        "1463535508         18   644                  4096 19120     0      0     0     0     0     0\n"
        "         0         19   600                  4096 19121     0      0     0     0     0     0\n"
    )
    assert procfs.parse_sysvipc_keys(text) == [1463535508, 0]


def test_ipc_keys_live_in_the_nsv_key_space_and_do_not_collide():
    h, i = ipc_proof.refs("h", "bd7ece39"), ipc_proof.refs("i", "bd7ece39")
    keys = [h[k] for k in ("shm", "sem", "msg")] + [i[k] for k in ("shm", "sem", "msg")]
    assert len(set(keys)) == 6 and all(k >> 16 == 0x6E73 for k in keys)
    assert h["mq"] == "/nsv-h-bd7ece39" and i["mq"] == "/nsv-i-bd7ece39"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("19126 (cat) R 19117 19117 5223 0 -1 4194304", ("R", 19117)),
        ("6 (nsv-init-ae53b6) Z 1 5 5 0 -1", ("Z", 1)),
        ("42 (a) b) S 7 42 42 0", ("S", 7)),
    ],
    ids=["plain", "zombie-orphan", "comm-with-paren-space"],
)
def test_stat_state_and_ppid(text, expected):
    stat = procfs.parse_stat(text)
    assert (stat["state"], stat["ppid"]) == expected


# ---------------------------------------------------------------- result shaping
def _c(cid, status):
    return {"id": cid, "title": "", "status": status, "evidence": {}}


@pytest.mark.parametrize(
    "statuses,expected,reason_part",
    [
        (["pass", "pass"], "passed", "all checks passed"),
        (["pass", "fail"], "failed", "NS-X-002"),
        (["fail", "skip"], "failed", "NS-X-001"),
        (["pass", "skip"], "passed", "skipped: NS-X-002"),
        (["skip", "skip"], "skipped", "no check could run"),
    ],
    ids=["all-pass", "one-fail", "fail-and-skip", "pass-and-skip", "all-skip"],
)
def test_type_status_from_checks(statuses, expected, reason_part):
    checks = [_c("NS-X-%03d" % (i + 1), s) for i, s in enumerate(statuses)]
    res = base.shape_result("x", checks)
    assert res["status"] == expected and reason_part in res["reason"]


def test_summary_groups_types_by_status():
    results = {"uts": {"status": "passed"}, "pid": {"status": "failed"}, "time": {"status": "skipped"}}
    assert base.summarize(results) == {"passed": ["uts"], "failed": ["pid"], "skipped": ["time"]}


def test_check_records_carry_control_id_and_catalogue_title():
    rec = base.check("NS-PID-003", True, {"a": 1})
    assert rec == controls.record("NS-PID-003", "pass", {"a": 1})
    assert rec == {
        "id": "NS-PID-003",
        "title": controls.get("NS-PID-003").title,
        "namespace": "pid",
        "source": "proof",
        "status": "pass",
        "evidence": {"a": 1},
    }
    assert base.skip("NS-TIME-001", "why")["status"] == "skip"
    with pytest.raises(ValueError):
        base.check("NS-NOPE-001", True, {})


def test_every_proof_control_is_registered_once_and_in_the_catalogue():
    ids = [cid for mod in proofs.REGISTRY.values() for cid in mod.CONTROL_IDS]
    assert list(proofs.REGISTRY) == list(catalog.TYPE_NAMES)
    assert sorted(ids) == sorted(c.id for c in controls.for_source("proof"))


# errno -> verdict: the catalogue's table (test_records_and_verdicts.py); that the proofs agree with
# it and with the audit: test_catalog.py.


def test_probe_refusal_becomes_a_skip_with_verdict_and_a_crash_becomes_a_failure():
    refused = {"ok": False, "stage": "unshare", "errno": errno.EPERM, "errname": "EPERM", "error": "x"}
    with pytest.raises(base.ProofSkip) as info:
        base.require_ok(refused, "probe")
    assert info.value.verdict == "denied"
    crashed = {"ok": False, "stage": "run", "errno": None, "errname": None, "error": "Traceback"}
    with pytest.raises(base.ProbeFailed):
        base.require_ok(crashed, "probe")


def _limits_tree(tmp_path, limits):
    d = tmp_path / "sys" / "user"
    d.mkdir(parents=True)
    for t, n in limits.items():
        (d / ("max_%s_namespaces" % t)).write_text("%d\n" % n)
    return str(tmp_path)


def _refused_in_function(err, flags):
    """What base.run_probe returns when the probe function raised NamespaceRefused."""
    rec = base.NamespaceRefused("unshare", err, "unshare(0x%x): refused" % flags, flags).record
    return {
        "ok": True,
        "value": {base.REFUSED_KEY: rec},
        "stage": None,
        "errno": None,
        "errname": None,
        "error": None,
        "timed_out": False,
        "requested": {"unshare": 0, "join": []},
    }


@pytest.mark.parametrize(
    "err,flags,limits,verdict,reason_part",
    [
        (errno.ENOSPC, catalog.CLONE_NEWCGROUP, {"cgroup": 0}, "limit-zero", "user.max_cgroup_namespaces is 0"),
        (errno.ENOSPC, catalog.CLONE_NEWNS, {"mnt": 1}, "limit-zero", "limit is reached (mnt=1)"),
        (
            errno.ENOSPC,
            catalog.CLONE_NEWPID | catalog.CLONE_NEWNS,
            {"pid": 5, "mnt": 0},
            "limit-zero",
            "user.max_mnt_namespaces is 0",
        ),
        (errno.EPERM, catalog.CLONE_NEWNET, {}, "denied", "namespaces asked for: net"),
        (errno.EINVAL, catalog.CLONE_NEWTIME, {}, "not-built", "EINVAL"),
    ],
    ids=["cgroup-limit-zero", "mnt-limit-reached", "pid-proof-blames-mnt", "net-eperm", "time-einval"],
)
def test_refusal_inside_the_probe_function_gets_the_same_verdict(tmp_path, err, flags, limits, verdict, reason_part):
    with pytest.raises(base.ProofSkip) as info:
        base.require_ok(_refused_in_function(err, flags), "probe", proc=_limits_tree(tmp_path, limits))
    assert info.value.verdict == verdict and reason_part in info.value.reason, info.value.reason
    assert info.value.evidence["probe"]["in_probe_function"] is True


def test_refusal_at_the_probes_own_unshare_names_the_limit_too(tmp_path):
    res = {
        "ok": False,
        "stage": "unshare",
        "errno": errno.ENOSPC,
        "errname": "ENOSPC",
        "error": "x",
        "requested": {"unshare": catalog.CLONE_NEWTIME, "join": []},
    }
    with pytest.raises(base.ProofSkip) as info:
        base.require_ok(res, "probe", proc=_limits_tree(tmp_path, {"time": 0}))
    assert info.value.verdict == "limit-zero" and info.value.evidence["refused"]["limits"] == {"time": 0}


def test_other_errors_inside_the_probe_function_stay_failures():
    crashed = {"ok": False, "stage": "run", "errno": errno.ENOSPC, "errname": "ENOSPC", "error": "write: full"}
    with pytest.raises(base.ProbeFailed):
        base.require_ok(crashed, "probe")
    assert base.require_ok({"ok": True, "value": {"seen": 1}}, "probe") == {"seen": 1}


@pytest.mark.parametrize(
    "requested,own,unmapped",
    [
        ([[0, 100000, 65536]], [[0, 0, 4294967295]], []),
        ([[0, 100000, 65536]], [[0, 0, 1]], [[0, 100000, 65536]]),
        ([[0, 0, 1]], [[0, 0, 1]], []),
        ([[0, 10, 20]], [[0, 0, 15], [15, 500, 15]], []),
        ([[0, 10, 20]], [[0, 0, 15], [16, 500, 15]], [[0, 10, 20]]),
    ],
    ids=["initial-namespace", "unshare-Ur-root", "own-id", "two-adjacent-ranges", "hole-in-own-map"],
)
def test_requested_outside_ids_must_be_mapped_in_the_engines_namespace(requested, own, unmapped):
    assert user_proof.unmapped_outside(requested, own) == unmapped


# ---------------------------------------------------------------- kernels that cannot exist here
@pytest.mark.parametrize(
    "type_name,release",
    [("time", "5.4.0-150-generic"), ("cgroup", "4.4.0-21-generic"), ("user", "3.2.0-4-amd64")],
    ids=["time-on-simulated-5.4", "cgroup-on-simulated-4.4", "user-on-simulated-3.2"],
)
def test_simulated_old_kernel_gate_says_kernel_too_old(type_name, release):
    verdict, reason = base.kernel_gate(type_name, release)
    assert verdict == "kernel-too-old" and release in reason


def test_new_enough_kernel_without_the_proc_entry_is_not_built(tmp_path):
    (tmp_path / "self" / "ns").mkdir(parents=True)
    assert base.kernel_gate("time", "6.1.0-25-amd64", proc=str(tmp_path))[0] == "not-built"


def test_simulated_5_4_kernel_skips_time_proof_with_audit_verdict(tmp_path):
    """No time namespace on 5.4: a captured proc tree without ns/time and the release string."""
    ns = tmp_path / "self" / "ns"
    ns.mkdir(parents=True)
    for t in catalog.TYPE_NAMES:
        if t != "time":
            (ns / catalog.get(t).proc_entry).write_text("")
    res = proofs.run(["time"], release="5.4.0-150-generic", proc=str(tmp_path))
    r = res["results"]["time"]
    assert r["status"] == "skipped" and r["verdict"] == "kernel-too-old"
    assert [c["status"] for c in r["checks"]] == ["skip", "skip"] and res["summary"]["skipped"] == ["time"]


# ---------------------------------------------------------------- runner error handling
class _Boom:
    TYPE = "uts"
    CONTROL_IDS = ("NS-UTS-001",)

    @staticmethod
    def prove(ctx):
        raise RuntimeError("kaboom")


class _Refused:
    TYPE = "uts"
    CONTROL_IDS = ("NS-UTS-001",)

    @staticmethod
    def prove(ctx):
        raise base.ProofSkip("denied", "unshare refused with EPERM")


@pytest.mark.parametrize(
    "mod,status,verdict",
    [(_Boom, "failed", "supported"), (_Refused, "skipped", "denied")],
    ids=["crash-fails-open-checks", "refusal-skips-with-verdict"],
)
def test_runner_turns_proof_errors_into_results_never_tracebacks(monkeypatch, mod, status, verdict):
    monkeypatch.setitem(proofs.REGISTRY, "uts", mod)
    res = proofs.run_one("uts", base.Target("fresh"))
    assert res["status"] == status and res["verdict"] == verdict
    assert [c["id"] for c in res["checks"]] == ["NS-UTS-001"]


def test_key_evidence_never_raises_on_half_filled_results():
    half = {"status": "failed", "reason": "pid proof error: x", "checks": [_c("NS-PID-001", "fail")]}
    assert proofs.key_evidence("pid", half) == "pid proof error: x"


# ---------------------------------------------------------------- targets and bad input
@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(kind="named", name="a/b"), "no '/'"),
        (dict(kind="named", name=".."), "no '..'"),
        (dict(kind="named", name="nsv-does-not-exist-4711"), "does not exist"),
        (dict(kind="named"), "needs name="),
        (dict(kind="pid", pid=0), "does not exist"),
        (dict(kind="pid", pid="abc"), "needs pid="),
        (dict(kind="paths", paths={"net": "/etc/hostname"}), "not a namespace file"),
        (dict(kind="paths", paths={"net": "/nonexistent/nsv"}), "No such file"),
        (dict(kind="paths", paths={"net": "/proc/self/ns/uts"}), "is a uts namespace, not net"),
        (dict(kind="paths", paths={"bogus": "/proc/self/ns/uts"}), "unknown namespace type"),
        (dict(kind="paths"), "needs paths="),
        (dict(kind="sideways"), "target must be one of"),
    ],
    ids=[
        "name-slash",
        "name-dotdot",
        "name-missing",
        "name-absent",
        "pid-zero",
        "pid-text",
        "path-not-nsfs",
        "path-missing",
        "path-wrong-type",
        "path-unknown-type",
        "paths-absent",
        "kind-unknown",
    ],
)
def test_bad_targets_say_what_is_wrong(kwargs, message):
    kind = kwargs.pop("kind")
    with pytest.raises(ValueError) as info:
        base.make_target(kind, **kwargs)
    assert message in str(info.value)


def test_self_paths_are_pinned_to_the_engine_pid():
    t = base.make_target("paths", paths={"uts": "/proc/self/ns/uts"})
    assert t.paths["uts"] == "/proc/%d/ns/uts" % os.getpid()
    assert t.shares_engine("uts") and t.join("uts") == {}


def test_pid_target_joins_the_processes_namespaces():
    t = base.make_target("pid", pid=os.getpid(), types=["net", "ipc"])
    assert sorted(t.paths) == ["ipc", "net"] and t.label == "pid:%d" % os.getpid()


# ---------------------------------------------------------------- NS-NET-001: links allowed inside
@pytest.mark.parametrize(
    "links,lo_up,fresh,expected,ok,unexpected,missing",
    [
        (["lo"], False, True, [], True, [], []),
        (["lo"], True, True, [], False, [], []),
        (["eth0", "lo"], False, True, [], False, ["eth0"], []),
        (["lo", "nsvabcc"], False, True, ["nsvabcc"], False, ["nsvabcc"], []),
        (["lo", "nsvabcc"], True, False, ["nsvabcc"], True, [], []),
        (["lo", "nsvabcc"], True, False, [], False, ["nsvabcc"], []),
        (["eth9", "lo", "nsvabcc"], True, False, ["nsvabcc"], False, ["eth9"], []),
        (["lo"], True, False, ["nsvabcc"], False, [], ["nsvabcc"]),
        (["lo"], True, False, ["lo"], True, [], []),
    ],
    ids=[
        "fresh-only-lo-down",
        "fresh-lo-up",
        "fresh-extra-link",
        "fresh-ignores-expected",
        "joined-veth-expected",
        "joined-veth-not-expected",
        "joined-unexpected-beside-expected",
        "joined-expected-missing",
        "joined-lo-listed-is-harmless",
    ],
)
def test_net_001_links_decision(links, lo_up, fresh, expected, ok, unexpected, missing):
    passed, ev = net_proof.judge_links(links, lo_up, fresh, expected)
    assert (passed, ev["unexpected"], ev["missing"]) == (ok, unexpected, missing), ev
    assert ev["interfaces_inside"] == links
