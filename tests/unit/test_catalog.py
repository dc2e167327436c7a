"""The catalogue of the eight namespace types: facts from namespaces(7), unshare(2), <linux/sched.h>."""

import errno

import pytest

from ansible.module_utils.nsverify import audit, catalog, controls, kernel
from ansible.module_utils.nsverify.proofs import base

# (type, CLONE_NEW* value, /proc entry, first kernel, config option) -- from the man pages, not from the code
EXPECTED = [
    ("mnt", 0x00020000, "mnt", (2, 4, 19), None),
    ("uts", 0x04000000, "uts", (2, 6, 19), "CONFIG_UTS_NS"),
    ("ipc", 0x08000000, "ipc", (2, 6, 19), "CONFIG_IPC_NS"),
    ("pid", 0x20000000, "pid", (2, 6, 24), "CONFIG_PID_NS"),
    ("net", 0x40000000, "net", (2, 6, 29), "CONFIG_NET_NS"),
    ("user", 0x10000000, "user", (3, 8, 0), "CONFIG_USER_NS"),
    ("cgroup", 0x02000000, "cgroup", (4, 6, 0), "CONFIG_CGROUPS"),
    ("time", 0x00000080, "time", (5, 6, 0), "CONFIG_TIME_NS"),
]


@pytest.mark.parametrize("name,flag,entry,first,option", EXPECTED, ids=[e[0] for e in EXPECTED])
def test_type_facts(name, flag, entry, first, option):
    t = catalog.get(name)
    assert (t.flag, t.proc_entry, t.first_kernel, t.config_option) == (flag, entry, first, option)
    assert t.limit_sysctl == "user.max_%s_namespaces" % name


def test_catalogue_order_and_count():
    assert catalog.TYPE_NAMES == tuple(e[0] for e in EXPECTED)


def test_flags_are_distinct_single_bits():
    flags = [t.flag for t in catalog.TYPES.values()]
    assert len(set(flags)) == 8 and all(f & (f - 1) == 0 for f in flags)


@pytest.mark.parametrize(
    "name,limit_since,setns_since",
    [
        ("time", (5, 7, 0), (5, 8, 0)),  # max_time_namespaces in 5.7, setns() into time in 5.8
        ("net", (4, 9, 0), (3, 0, 0)),  # the max_*_namespaces sysctls arrived in 4.9
        ("cgroup", (4, 9, 0), (4, 6, 0)),
    ],
    ids=["time", "net", "cgroup"],
)
def test_limit_and_setns_kernels(name, limit_since, setns_since):
    t = catalog.get(name)
    assert (t.limit_since, t.setns_since) == (limit_since, setns_since)


def test_validate_names_returns_catalogue_order():
    assert catalog.validate_names(["time", "mnt", "user"]) == ["mnt", "user", "time"]


@pytest.mark.parametrize(
    "names,bad",
    [(["netns"], "netns"), (["mnt", "mount"], "mount"), ([""], "''")],
    ids=["alias", "one-bad-of-two", "empty-string"],
)
def test_validate_names_rejects_unknown_and_lists_choices(names, bad):
    with pytest.raises(ValueError) as info:
        catalog.validate_names(names)
    assert bad in str(info.value) and "mnt, uts, ipc, pid, net, user, cgroup, time" in str(info.value)


def test_get_unknown_type():
    with pytest.raises(ValueError, match="choose from"):
        catalog.get("container")


def test_flags_for_ors_flags():
    assert catalog.flags_for(["uts", "time"]) == 0x04000000 | 0x80
    assert catalog.flags_for([]) == 0


def test_join_order_covers_every_type_user_first():
    assert sorted(catalog.JOIN_ORDER) == sorted(catalog.TYPE_NAMES) and catalog.JOIN_ORDER[0] == "user"


def test_verdict_vocabulary():
    assert catalog.VERDICTS == ("supported", "kernel-too-old", "not-built", "limit-zero", "denied", "unknown")


@pytest.mark.parametrize(
    "name,control", [(e[0], "NS-KRN-00%d" % (i + 1)) for i, e in enumerate(EXPECTED)], ids=[e[0] for e in EXPECTED]
)
def test_every_type_has_its_audit_control(name, control):
    assert controls.audit_control(name).id == control


def test_version_string():
    assert catalog.version_string((2, 6, 29)) == "2.6.29"


# ---------------------------------------------------------------- one errno -> verdict table
def _audit_verdict(type_name, err, stage):
    static = {
        "gate": True,
        "entry_present": True,
        "entry_expected": True,
        "config_value": "y",
        "limit": 100,
        "euid": 0,
        "config_source": None,
    }
    result = {"ok": False, "stage": stage, "errno": err, "errname": errno.errorcode[err], "via_user_namespace": False}
    return audit.decide(type_name, kernel.parse_release("6.1.0-13-amd64"), static, result)[0]


def _proof_verdict(err, stage):
    refused = {"ok": False, "stage": stage, "errno": err, "errname": errno.errorcode[err], "error": "x"}
    try:
        base.require_ok(refused, "probe")
    except base.ProofSkip as exc:
        return exc.verdict
    except base.ProbeFailed:
        return "unknown"
    raise AssertionError("a refusal must not pass")


@pytest.mark.parametrize("err", [e for e, _, _ in catalog.ERRNO_VERDICTS], ids=lambda e: errno.errorcode[e])
@pytest.mark.parametrize("type_name", ["uts", "user"])
def test_audit_proofs_and_catalogue_give_one_verdict_per_errno(err, type_name):
    want = catalog.verdict_for_errno(err, "unshare")
    assert _audit_verdict(type_name, err, "unshare") == want
    assert _proof_verdict(err, "unshare") == want
    assert catalog.verdict_for_errno(err, "setns") == _proof_verdict(err, "setns")
