"""The report engine on CAPTURED results: namespace_facts, namespace_verify and
busybox_container_verify output recorded from the real modules on the development VM
(test_report_captured.json, see its _note). They also keep the hand-written samples honest:
the samples must have the shape the real modules return.
"""

import json
from pathlib import Path

import pytest
from test_report_samples import sample_facts, sample_proofs

from ansible.module_utils.nsverify import catalog, controls, report

CAPTURED = json.loads((Path(__file__).parent / "test_report_captured.json").read_text())


@pytest.fixture
def host_report():
    return report.evaluate_host("vm", CAPTURED["facts"], CAPTURED["proofs"], CAPTURED["container"])


def test_every_catalogue_control_appears_once_in_catalogue_order(host_report):
    """The captured inputs have no workload inspection: every other control appears, in order."""
    ids = [e["id"] for e in host_report["controls"]]
    assert ids == [c for c in controls.CONTROLS if not c.startswith("NS-WKL-")]


def test_statuses_are_the_mapped_verdicts_and_the_checks(host_report):
    entries = {e["id"]: e for e in host_report["controls"]}
    for _name, fact in CAPTURED["facts"]["types"].items():
        assert entries[fact["control_id"]]["status"] == report.VERDICT_STATUS[fact["verdict"]]
    checks = [c for r in CAPTURED["proofs"].values() for c in r["checks"]] + CAPTURED["container"]
    assert checks
    for check in checks:
        assert entries[check["id"]]["status"] == check["status"]
        assert entries[check["id"]]["evidence"] == check["evidence"]


def test_summary_line_counts_the_captured_statuses(host_report):
    statuses = [e["status"] for e in host_report["controls"]]
    expected = "Count: %d, Passed: %d, Failed: %d, Skipped: %d, Waived: 0" % (
        len(statuses),
        statuses.count("pass"),
        statuses.count("fail"),
        statuses.count("skip"),
    )
    assert host_report["summary_line"] == expected


def test_waiving_a_captured_control_only_changes_that_control():
    proofs = json.loads(json.dumps(CAPTURED["proofs"]))
    check = proofs["net"]["checks"][0]
    check["status"] = "fail"  # simulated failure on top of real evidence: a working host cannot fail it
    waivers = report.parse_waivers([{"control": check["id"], "justification": "tested"}])
    plain = report.evaluate_host("vm", CAPTURED["facts"], proofs, CAPTURED["container"])
    waived = report.evaluate_host("vm", CAPTURED["facts"], proofs, CAPTURED["container"], waivers=waivers)
    assert plain["summary"]["waived"] == 0 and waived["summary"]["waived"] == 1
    assert waived["summary"]["fail"] == plain["summary"]["fail"] - 1


def test_samples_follow_the_captured_shapes():
    facts, real = sample_facts(), CAPTURED["facts"]
    documented = {"kernel", "config", "privilege", "types", "userns_policy", "cgroup", "summary"}
    assert documented <= set(real) and documented <= set(facts)
    for name in catalog.TYPE_NAMES:
        assert set(facts["types"][name]) <= set(real["types"][name])
    assert {"unprivileged_can_create", "notes"} <= set(real["userns_policy"]) & set(facts["userns_policy"])
    proofs = sample_proofs()
    for name in catalog.TYPE_NAMES:
        assert {"status", "checks", "verdict", "reason"} <= set(CAPTURED["proofs"][name])
        assert set(proofs[name]) <= set(CAPTURED["proofs"][name])
        for check in CAPTURED["proofs"][name]["checks"]:
            assert {"id", "title", "status", "evidence"} <= set(check)
    for check in CAPTURED["container"]:
        assert {"id", "title", "status", "evidence"} <= set(check)


def test_captured_report_renders(host_report):
    rep = report.build_report(
        {"vm": {"facts": CAPTURED["facts"], "proofs": CAPTURED["proofs"], "container": CAPTURED["container"]}},
        generated="captured",
    )
    page = report.render_html(rep)
    assert page.count("<details>") == len([c for c in controls.CONTROLS if not c.startswith("NS-WKL-")])
    assert json.loads(report.render_json(rep))["hosts"]["vm"]["summary_line"] == host_report["summary_line"]
