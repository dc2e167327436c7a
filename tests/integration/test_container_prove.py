"""busybox_container_verify with prove_namespaces: the NS-CTR checks and namespace_verify's proofs
(target pid against the container's init) in one module call, for real on this host.

What to prove comes from the container's record (container/prove.py plan): the types it owns, its uid
map, the veth NS-NET-001 accepts. The results must be the proofs' own: the same per-type verdicts as
namespace_verify gives for the same init, and a wrong expectation must fail them.
"""

import copy
import os

import busybox_container
import busybox_container_verify
import namespace_verify
import pytest
from conftest import container_name_fixture, run_module_main

from ansible.module_utils.nsverify import container
from ansible.module_utils.nsverify.container import prove

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")

name = container_name_fixture("pv")


def start(name, rootfs_path, **args):
    return run_module_main(busybox_container, dict({"name": name, "rootfs": rootfs_path, "veth": True}, **args))


def statuses(proofs_result):
    return {t: r["status"] for t, r in proofs_result["proofs"].items()}


def test_one_call_runs_the_checks_and_the_proofs_of_every_owned_type(name, rootfs_path):
    started = start(name, rootfs_path)
    owned = sorted(started["container"]["namespaces"])
    res = run_module_main(busybox_container_verify, {"name": name, "prove_namespaces": True})
    assert not res["changed"]
    assert res["summary"]["failed"] == [] and len(res["checks"]) == 11
    proved = res["namespace_proofs"]
    assert sorted(proved["proofs"]) == owned
    assert proved["summary"]["failed"] == [] and proved["failed_checks"] == []
    assert proved["msg"] == "Count: %d, Passed: %d, Failed: 0, Skipped: 0" % (len(owned), len(owned))
    assert proved["target"]["kind"] == "pid"
    assert proved["target"]["paths"]["net"] == "/proc/%d/ns/net" % started["container"]["init_pid"]
    # NS-NET-001 accepted exactly the container's veth besides lo, no other link
    net = {c["id"]: c for c in proved["proofs"]["net"]["checks"]}["NS-NET-001"]
    assert net["status"] == "pass", net
    assert started["container"]["veth"]["container"] in net["evidence"]["expected_interfaces"]
    # the same verdicts namespace_verify gives for the same init, with the options a playbook passed before
    alone = run_module_main(
        namespace_verify,
        {
            "target": "pid",
            "pid": started["container"]["init_pid"],
            "types": owned,
            "expected_interfaces": [started["container"]["veth"]["container"]],
        },
    )
    assert statuses(alone) == statuses(proved)


def test_only_the_proofs_run_when_no_check_is_selected(name, rootfs_path):
    start(name, rootfs_path)
    res = run_module_main(busybox_container_verify, {"name": name, "checks": [], "prove_namespaces": True})
    assert res["checks"] == [] and res["summary"] == {"passed": [], "failed": [], "skipped": []}
    assert res["namespace_proofs"]["summary"]["failed"] == []
    without = run_module_main(busybox_container_verify, {"name": name, "checks": ["NS-CTR-002"]})
    assert "namespace_proofs" not in without and [c["id"] for c in without["checks"]] == ["NS-CTR-002"]


def test_the_user_namespace_is_proved_with_the_container_s_own_map(name, rootfs_path):
    one_map = [{"inside": 0, "outside": 210000, "count": 65536}]
    start(name, rootfs_path, user_namespace=True, uid_map=one_map, gid_map=one_map)
    res = run_module_main(busybox_container_verify, {"name": name, "checks": [], "prove_namespaces": True})
    user = res["namespace_proofs"]["proofs"]["user"]
    assert user["status"] == "passed", user
    running = container.status(name)["state"]
    assert prove.plan(running)[1]["uid_map"] == [[0, 210000, 65536]]


def test_a_wrong_expectation_fails_the_proof(name, rootfs_path):
    """The proofs judge what they see: told the container has no veth, NS-NET-001 sees one link too many."""
    start(name, rootfs_path)
    running = copy.deepcopy(container.status(name)["state"])
    running["veth"] = None
    out = prove.prove(running)
    assert "net:NS-NET-001" in out["failed_checks"], out["failed_checks"]
    assert out["proofs"]["net"]["status"] == "failed"
    # the container's true record passes
    real = run_module_main(busybox_container_verify, {"name": name, "checks": [], "prove_namespaces": True})
    assert real["namespace_proofs"]["failed_checks"] == []


def test_the_proofs_refuse_a_container_whose_init_is_gone(name, rootfs_path):
    start(name, rootfs_path)
    running = container.status(name)["state"]
    container.stop(name)
    with pytest.raises(container.ContainerError, match="not running"):
        prove.prove(running)
    res = run_module_main(busybox_container_verify, {"name": name, "prove_namespaces": True})
    assert res.get("failed")
    assert "not running" in res["msg"] or "stopped" in res["msg"], res["msg"]


def test_a_timeout_that_is_no_positive_number_is_refused(name):
    res = run_module_main(busybox_container_verify, {"name": name, "prove_namespaces": True, "proofs_timeout": 0})
    assert res.get("failed")
    assert "proofs_timeout must be a positive number" in res["msg"]


def test_the_lifecycle_module_starts_then_checks_and_proves_in_the_same_call(name, rootfs_path):
    args = {"name": name, "rootfs": rootfs_path, "veth": True, "checks": ["NS-CTR-002", "NS-CTR-011"]}
    args["prove_namespaces"] = True
    first = run_module_main(busybox_container, args)
    assert first["changed"] and first["state"] == "running"
    assert [c["id"] for c in first["checks"]] == ["NS-CTR-002", "NS-CTR-011"]
    assert first["check_summary"]["failed"] == [] and "namespaces" in first["summary"]  # the container's own summary
    assert sorted(first["namespace_proofs"]["proofs"]) == sorted(first["container"]["namespaces"])
    assert first["namespace_proofs"]["failed_checks"] == []
    again = run_module_main(busybox_container, args)
    assert not again["changed"] and again["check_summary"]["passed"] == ["NS-CTR-002", "NS-CTR-011"]
    # check mode, nothing to change: the checks run, the proofs do not
    checked = run_module_main(busybox_container, args, check=True)
    assert not checked["changed"] and len(checked["checks"]) == 2 and "namespace_proofs" not in checked


def test_the_lifecycle_module_verifies_nothing_it_would_only_start_in_check_mode(name, rootfs_path):
    res = run_module_main(
        busybox_container, {"name": name, "rootfs": rootfs_path, "checks": ["NS-CTR-002"]}, check=True
    )
    assert res["changed"] and "checks" not in res and "would change" in res["verify_skipped"]
    assert not container.status(name)["exists"]


@pytest.mark.parametrize(
    "extra,message",
    [
        ({"state": "absent", "checks": ["NS-CTR-002"]}, "need state=started"),
        ({"state": "stopped", "prove_namespaces": True}, "need state=started"),
        ({"checks": ["NS-FOO-001"]}, "unknown check id(s) NS-FOO-001"),
        ({"prove_namespaces": True, "proofs_timeout": -1}, "proofs_timeout must be a positive number"),
    ],
)
def test_the_lifecycle_module_refuses_a_verify_request_it_cannot_carry_out(name, rootfs_path, extra, message):
    res = run_module_main(busybox_container, dict({"name": name, "rootfs": rootfs_path}, **extra))
    assert res.get("failed") and message in res["msg"], res
    assert not container.status(name)["exists"]  # refused before anything was started
