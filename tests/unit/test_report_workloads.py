"""NS-WKL-001..012 judged from namespace_inspect results: one record per control and host, each
workload named in it; no workloads -> skip with the reason; no inspection -> no NS-WKL records."""

import copy

from ansible.module_utils.nsverify import controls, report
from ansible.module_utils.nsverify.report import workloads


def _target(name, shared=(), **over):
    t = {
        "name": name,
        "runtime": "podman",
        "pid": 4242,
        "namespaces": {
            n: {"status": "shared" if n in shared else "own", "inode": 1, "reference_inode": 2}
            for n in ("mnt", "uts", "ipc", "pid", "net", "user", "cgroup", "time")
        },
        "user_namespace": {"uid_map": [[0, 100000, 65536]], "root_maps_to": 100000, "root_is_host_root": False},
        "capabilities": {"bounding": ["chown", "kill"], "full_bounding": False, "full_effective": False},
        "security": {"no_new_privs": True, "seccomp": {"mode": "filter", "filters": 1}},
        "cgroup": {"limits": {"pids": {"value": 2048}, "memory": {"value": 67108864}}},
    }
    t.update(over)
    return t


def sample_inspection():
    hostnet = _target(
        "docker:web",
        shared=("net", "user"),
        security={"no_new_privs": False, "seccomp": {"mode": "disabled", "filters": 0}},
        capabilities={"full_bounding": True},
        cgroup={"limits": {"pids": {"value": None}, "memory": {"value": None, "error": "no memory controller"}}},
    )
    hostnet["user_namespace"] = {"uid_map": [[0, 0, 4294967295]], "root_maps_to": 0, "root_is_host_root": True}
    return {"targets": [_target("podman:db"), hostnet], "errors": []}


def _by_id(records):
    return {r["id"]: r for r in records}


def test_isolated_workload_passes_every_control():
    recs = workloads.evaluate_workloads({"targets": [_target("podman:db")]})
    assert [r["id"] for r in recs] == [c.id for c in controls.for_source("workload")]
    assert {r["status"] for r in recs} == {"pass"}
    assert all(r["workloads"][0]["name"] == "podman:db" for r in recs)


def test_one_failing_workload_fails_the_control_and_is_named():
    recs = _by_id(workloads.evaluate_workloads(sample_inspection()))
    for cid in ("NS-WKL-001", "NS-WKL-007", "NS-WKL-008", "NS-WKL-009", "NS-WKL-010", "NS-WKL-011", "NS-WKL-012"):
        assert recs[cid]["status"] == "fail", cid
        assert "docker:web" in recs[cid]["reason"] and "podman:db" not in recs[cid]["reason"]
        assert recs[cid]["evidence"]["workloads"]["podman:db"]["status"] == "pass"
    for cid in ("NS-WKL-002", "NS-WKL-003", "NS-WKL-004", "NS-WKL-005", "NS-WKL-006"):
        assert recs[cid]["status"] == "pass", cid
    assert "no memory controller" in recs["NS-WKL-012"]["reason"]


def test_root_mapped_to_host_root_in_own_user_namespace_fails():
    t = _target("x")
    t["user_namespace"] = {"uid_map": [[0, 0, 1]], "root_maps_to": 0, "root_is_host_root": True}
    rec = _by_id(workloads.evaluate_workloads([t]))["NS-WKL-007"]
    assert rec["status"] == "fail" and "uid 0 on the host" in rec["reason"]


def test_unknown_namespace_and_unreadable_fields_fail():
    t = _target("x", security={}, capabilities={})
    t["namespaces"]["pid"]["status"] = "unknown"
    recs = _by_id(workloads.evaluate_workloads([t]))
    assert recs["NS-WKL-002"]["status"] == "fail"
    assert recs["NS-WKL-009"]["status"] == "fail" and "could not be read" in recs["NS-WKL-009"]["reason"]
    assert recs["NS-WKL-010"]["status"] == "fail"


def test_no_workloads_skips_every_control_with_the_reason_and_errors():
    err = {"name": "pid:9", "kind": "gone", "error": "PID 9: no such process"}
    recs = workloads.evaluate_workloads({"targets": [], "errors": [err]})
    assert len(recs) == len(controls.for_source("workload"))
    assert {r["status"] for r in recs} == {"skip"}
    assert all("no workloads discovered" in r["reason"] and "PID 9" in r["reason"] for r in recs)


def test_no_inspection_means_no_workload_records():
    host = report.evaluate_host("h", {}, {}, None)
    assert not [e for e in host["controls"] if e["source"] == "workload"]
    assert host["inputs"]["workloads"] is False


def test_report_carries_workloads_and_waivers_apply():
    waiver = report.parse_waivers([{"control": "NS-WKL-001", "justification": "host-net proxy by design"}])
    rep = report.build_report({"h": {"workloads": copy.deepcopy(sample_inspection())}}, waivers=waiver)
    recs = _by_id(rep["hosts"]["h"]["controls"])
    assert recs["NS-WKL-001"]["status"] == "waived"
    assert rep["hosts"]["h"]["inputs"]["workloads"] is True
    md = report.render_markdown(rep)
    assert "NS-WKL-008" in md and "docker:web" in md
    assert "NS-WKL-008" in report.render_html(rep)
