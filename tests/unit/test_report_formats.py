"""JUnit, SARIF and the versioned JSON Schema of the report, each read back by a real consumer from
PyPI (junitparser, xunitparser, sarif-tools, jsonschema); the profile/severity enrichment, drift
against a baseline, and the severity gate."""

import copy
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import junitparser
import pytest
import xunitparser
from sarif import loader as sarif_loader
from test_report_samples import sample_facts, sample_proofs, sample_type
from test_report_workloads import sample_inspection

from ansible.module_utils.nsverify import control_data, drift, report, report_junit, report_policy, report_sarif

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "nsverify-report-2.schema.json").read_text())
CAPTURED = json.loads((Path(__file__).parent / "test_report_captured.json").read_text())
TODAY = datetime.date(2026, 11, 23)
EVIL = '<script>alert("x")</script>\x00\x07 & ]]>'


def fleet(time_verdict="not-built", waivers=(), user_limit=63000):
    facts_bad = sample_facts(time=sample_type("time", time_verdict), user=sample_type("user", limit=user_limit))
    proofs_bad = sample_proofs()
    proofs_bad["uts"]["checks"][0].update(status="fail", reason=EVIL, evidence={"inside": EVIL})
    hosts = {
        "captured": {
            "facts": CAPTURED["facts"],
            "proofs": CAPTURED["proofs"],
            "container": CAPTURED["container"],
            "workloads": {"targets": [sample_inspection()["targets"][0]]},
        },
        "web1": {"facts": facts_bad, "proofs": proofs_bad, "workloads": {"targets": [], "errors": []}},
        "empty": {},
    }
    return report.build_report(hosts, waivers=waivers, today=TODAY, generated="2026-11-23T10:00:00Z")


def validate(doc):
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(doc)


@pytest.fixture(scope="module")
def enriched():
    waiver = [{"control": "NS-KRN-008", "justification": "no time ns on web1 yet", "hosts": ["nowhere"]}]
    return report_policy.enrich(fleet(waivers=report.parse_waivers(waiver)), "container-host")


def _ctl(rep, host, cid):
    return next(e for e in rep["hosts"][host]["controls"] if e["id"] == cid)


# ---------------------------------------------------------------- enrichment and schema


def test_enriched_report_is_valid_against_the_published_schema(enriched):
    validate(json.loads(report.render_json(enriched)))
    assert enriched["schema"] == "nsverify-report/2"


@pytest.mark.parametrize("profile", [None, "baseline", "container-host", "strict"])
def test_every_profile_gives_a_valid_report(profile):
    validate(json.loads(report.render_json(report_policy.enrich(fleet(), profile))))


def test_schema_rejects_what_it_must(enriched):
    bad = copy.deepcopy(enriched)
    _ctl(bad, "web1", "NS-KRN-008")["severity"] = "urgent"
    with pytest.raises(jsonschema.ValidationError, match="urgent"):
        validate(bad)
    plain = json.loads(report.render_json(fleet()))  # schema 1 lacks severity: not a v2 document
    with pytest.raises(jsonschema.ValidationError):
        validate(plain)


def test_profile_filters_and_regrades_and_recounts(enriched):
    base = report_policy.enrich(fleet(), "baseline")
    ids = {e["id"] for e in base["hosts"]["web1"]["controls"]}
    assert ids == {c for c in control_data.CATALOGUE if c.startswith("NS-KRN-")}
    assert base["hosts"]["web1"]["summary"]["count"] == 10
    assert base["summary_line"].startswith("Count: 30,")
    assert _ctl(enriched, "web1", "NS-KRN-010")["severity"] == "high"
    assert _ctl(report_policy.enrich(fleet()), "web1", "NS-KRN-010")["severity"] == "medium"


def test_each_control_carries_its_remediation_and_the_hosts_fix():
    rep = report_policy.enrich(fleet(), None, distros={"web1": {"id": "debian", "version_id": "10"}})
    e = _ctl(rep, "web1", "NS-KRN-006")
    assert "kernel.unprivileged_userns_clone" in e["fix"] and e["remediation"]["rhel7"]
    assert "kernel.unprivileged_userns_clone" not in _ctl(rep, "captured", "NS-KRN-006")["fix"]


# ---------------------------------------------------------------- JUnit


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_junit_loads_in_junitparser_one_suite_per_host(enriched, tmp_path):
    path = _write(tmp_path, "r.xml", report_junit.render_junit(enriched))
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = {s.name: s for s in xml}
    assert set(suites) == set(enriched["hosts"])
    for host, suite in suites.items():
        r = enriched["hosts"][host]
        cases = list(suite)
        assert len(cases) == r["summary"]["count"] == suite.tests
        assert suite.failures == r["summary"]["fail"] and suite.skipped == r["summary"]["skip"]
        assert [c.name.split()[0] for c in cases] == [e["id"] for e in r["controls"]]
    case = next(c for c in suites["web1"] if c.name.startswith("NS-KRN-008"))
    (failure,) = case.result
    assert isinstance(failure, junitparser.Failure)
    assert failure.type == "low" and "not-built" in failure.message
    assert "remediation:" in failure.text and "CONFIG_TIME_NS" in failure.text and "evidence:" in failure.text
    skipped = next(c for c in suites["empty"] if c.name.startswith("NS-KRN-001"))
    assert isinstance(skipped.result[0], junitparser.Skipped) and "no audit facts" in skipped.result[0].message


def test_junit_loads_in_xunitparser_with_the_same_counts(enriched, tmp_path):
    path = _write(tmp_path, "r.xml", report_junit.render_junit(enriched))
    with open(path, "rb") as fh:
        suite, result = xunitparser.parse(fh)
    assert result.testsRun == enriched["summary"]["count"]
    assert len(result.failures) == enriched["summary"]["fail"]
    assert len(result.skipped) == enriched["summary"]["skip"]
    assert any("NS-UTS-001" in str(case) for case, _ in result.failures)


def test_junit_keeps_hostile_evidence_as_text(enriched):
    text = report_junit.render_junit(enriched)
    assert "<script>" not in text and "\x00" not in text and "&lt;script&gt;" in text


# ---------------------------------------------------------------- SARIF


def test_sarif_loads_in_sarif_tools_one_result_per_failing_control_and_host(enriched, tmp_path):
    path = _write(tmp_path, "r.sarif", report_sarif.render_sarif(enriched))
    sarif = sarif_loader.load_sarif_file(str(path))
    failing = [(h, e) for h, r in enriched["hosts"].items() for e in r["controls"] if e["status"] == "fail"]
    assert sarif.get_result_count() == len(failing) > 0
    assert sarif.get_distinct_tool_names() == ["nsverify"]
    records = sarif.get_records()
    assert {(r["Severity"], r["Code"].split(" ")[0]) for r in records} >= {
        (report_sarif.level(e["severity"]), e["id"]) for _, e in failing
    }
    run = json.loads(path.read_text())["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert set(rules) == set(control_data.CATALOGUE)
    assert rules["NS-KRN-006"]["help"]["text"].startswith(
        control_data.CATALOGUE["NS-KRN-006"]["remediation"]["default"]
    )
    assert rules["NS-USER-002"]["defaultConfiguration"]["level"] == "error"
    assert all(run["tool"]["driver"]["rules"][res["ruleIndex"]]["id"] == res["ruleId"] for res in run["results"])


def test_sarif_summary_command_of_sarif_tools(enriched, tmp_path):
    path = _write(tmp_path, "r.sarif", report_sarif.render_sarif(enriched))
    out = subprocess.run(
        [sys.executable, "-m", "sarif", "summary", str(path)], capture_output=True, text=True, check=True
    ).stdout
    failing = [e for r in enriched["hosts"].values() for e in r["controls"] if e["status"] == "fail"]
    for level in ("error", "warning", "note"):
        assert "%s: %d" % (level, sum(report_sarif.level(e["severity"]) == level for e in failing)) in out
    assert all(e["id"] in out for e in failing)


@pytest.mark.parametrize(
    "severity,level",
    [("critical", "error"), ("high", "error"), ("medium", "warning"), ("low", "note"), ("info", "note")],
)
def test_sarif_levels(severity, level):
    assert report_sarif.level(severity) == level


SARIF_SCHEMA = os.environ.get("NSV_SARIF_SCHEMA")


@pytest.mark.skipif(
    not SARIF_SCHEMA,
    reason="NSV_SARIF_SCHEMA (a local copy of the OASIS sarif-schema-2.1.0.json) is not set; the schema is "
    "not vendored in the repository and no PyPI package ships it",
)
def test_sarif_is_valid_against_the_oasis_2_1_0_schema(enriched):
    schema = json.loads(Path(SARIF_SCHEMA).read_text())
    jsonschema.Draft4Validator.check_schema(schema)
    jsonschema.Draft4Validator(schema).validate(report_sarif.build_sarif(enriched))


# ---------------------------------------------------------------- drift


def test_drift_states(enriched):
    before = report_policy.enrich(fleet(time_verdict="supported"), "container-host")
    _ctl(before, "web1", "NS-UTS-001")["status"] = "fail"  # failed before too
    _ctl(before, "captured", "NS-KRN-010")["status"] = "fail"  # fixed since
    now = copy.deepcopy(enriched)
    _ctl(now, "web1", "NS-KRN-006")["evidence"]["evidence"]["release"] = "6.1.0-26-amd64"  # a kernel upgrade
    del before["hosts"]["empty"]
    summary = drift.compare(now, json.loads(report.render_json(before)), "old.json")
    assert _ctl(now, "web1", "NS-KRN-008")["drift"]["state"] == "new-failure"
    assert _ctl(now, "web1", "NS-UTS-001")["drift"]["state"] == "still-failing"
    assert _ctl(now, "captured", "NS-KRN-010")["drift"]["state"] == "fixed"
    changed = _ctl(now, "web1", "NS-KRN-006")["drift"]
    assert changed["state"] == "changed-evidence"
    assert changed["changes"] == [{"fact": "evidence.release", "before": "6.1.0-25-amd64", "after": "6.1.0-26-amd64"}]
    assert _ctl(now, "captured", "NS-CTR-001")["drift"]["state"] == "unchanged"
    assert {e["drift"]["state"] for e in now["hosts"]["empty"]["controls"]} == {"new"}
    assert summary["counts"]["new-failure"] == 1 and summary["hosts"]["empty"]["in_baseline"] is False
    assert drift.summary_line(summary).startswith("Drift against old.json: new-failure 1, still-failing 1, fixed 1")
    validate(json.loads(report.render_json(now)))


def test_a_rerun_of_the_captured_host_is_unchanged_despite_volatile_evidence():
    first = report_policy.enrich(fleet())
    second = report_policy.enrich(fleet())
    for e in _ctl_list(second, "captured"):
        e["evidence"] = json.loads(json.dumps(e["evidence"]).replace("7556", "9999"))  # other PIDs
    drift.compare(second, first)
    assert {e["drift"]["state"] for e in _ctl_list(second, "captured")} == {"unchanged"}


def _ctl_list(rep, host):
    return rep["hosts"][host]["controls"]


def test_a_limit_change_is_changed_evidence():
    first = report_policy.enrich(fleet(user_limit=63000))
    second = report_policy.enrich(fleet(user_limit=100))
    drift.compare(second, first)
    assert _ctl(second, "web1", "NS-KRN-010")["drift"]["state"] == "changed-evidence"


BAD_BASELINES = [
    ("{not json", "is not valid JSON"),
    ('["a list"]', "is not an nsverify report"),
    ('{"schema": "sarif/2.1.0", "hosts": {}}', "schema 'sarif/2.1.0'"),
    ('{"schema": "nsverify-report/2", "hosts": []}', "'hosts' must map"),
    ('{"schema": "nsverify-report/1", "hosts": {"a": {"controls": [{"status": "pass"}]}}}', "without id or status"),
]


@pytest.mark.parametrize("text,words", BAD_BASELINES, ids=[w for _, w in BAD_BASELINES])
def test_corrupt_or_foreign_baseline_names_the_file(tmp_path, text, words):
    path = _write(tmp_path, "last-week.json", text)
    with pytest.raises(drift.BaselineError) as err:
        drift.load_baseline(str(path))
    assert str(path) in str(err.value) and words in str(err.value)


def test_missing_baseline_names_the_file(tmp_path):
    with pytest.raises(drift.BaselineError, match="nope.json cannot be read"):
        drift.load_baseline(str(tmp_path / "nope.json"))


# ---------------------------------------------------------------- gate


def test_gate_by_severity():
    rep = report_policy.enrich(fleet(user_limit=1), "container-host")  # NS-KRN-010 fails, high here
    fails = [
        (h, e["id"], e["severity"]) for h, r in rep["hosts"].items() for e in r["controls"] if e["status"] == "fail"
    ]
    assert ("web1", "NS-KRN-010", "high") in fails
    assert report_policy.gate(rep, "none") == {
        "failed": False,
        "fail_on": "none",
        "fail_on_new": False,
        "causes": [],
        "message": "gate off (fail_on=none)",
    }
    high = report_policy.gate(rep, "high")
    assert high["failed"] and {c["id"] for c in high["causes"]} == {i for _, i, s in fails if s in ("high", "critical")}
    assert "web1 NS-KRN-010 (high)" in high["message"]
    low = report_policy.gate(rep, "low")
    assert len(low["causes"]) == len(fails)
    assert not report_policy.gate(report_policy.enrich(fleet(time_verdict="supported")), "critical")["failed"]


def test_waived_controls_never_trip_the_gate():
    waiver = report.parse_waivers([{"control": "NS-UTS-001", "justification": "accepted"}])
    rep = report_policy.enrich(fleet(time_verdict="supported", waivers=waiver))
    assert not report_policy.gate(rep, "medium")["failed"]


def test_gate_on_new_failures_only():
    old = report_policy.enrich(fleet(time_verdict="supported"))
    now = report_policy.enrich(fleet())
    first = report_policy.gate(now, "none", fail_on_new=True)  # no baseline yet: nothing is new
    assert not first["failed"] and "no baseline" in first["message"]
    drift.compare(now, old)
    gate = report_policy.gate(now, "none", fail_on_new=True)
    assert gate["failed"] and [c["id"] for c in gate["causes"]] == ["NS-KRN-008"]
    assert not report_policy.gate(now, "high", fail_on_new=True)["failed"]  # the new one is low
    drift.compare(old, copy.deepcopy(old))
    assert not report_policy.gate(old, "none", fail_on_new=True)["failed"]


def test_bad_gate_level_is_refused():
    with pytest.raises(report_policy.PolicyError, match="none, info, low, medium, high, critical"):
        report_policy.gate(report_policy.enrich(fleet()), "severe")


def test_compose_enriches_compares_gates_and_digests_without_the_drift():
    old = json.loads(report.render_json(report_policy.compose(fleet(time_verdict="supported"))))
    now = report_policy.compose(fleet(), "strict", None, old, "old.json", "low", True, "old.json")
    assert now["options"]["profile"] == "strict" and now["options"]["baseline"] == "old.json"
    assert now["gate"]["failed"] and [c["id"] for c in now["gate"]["causes"]] == ["NS-KRN-008"]
    assert now["drift"]["counts"]["new-failure"] == 1
    validate(json.loads(report.render_json(now)))
    again = report_policy.compose(
        fleet(), "strict", None, json.loads(report.render_json(now)), "old.json", "low", True, "old.json"
    )
    assert again["outcome_digest"] == now["outcome_digest"]  # drift differs (still-failing), the outcome does not
    assert not again["gate"]["failed"]


def test_drift_reaches_junit_and_sarif(enriched, tmp_path):
    before = report_policy.enrich(fleet(time_verdict="supported"), "container-host")
    _ctl(before, "captured", "NS-KRN-010")["status"] = "fail"
    now = copy.deepcopy(enriched)
    drift.compare(now, before, "old.json")
    xml = junitparser.JUnitXml.fromfile(str(_write(tmp_path, "r.xml", report_junit.render_junit(now))))
    suites = {s.name: s for s in xml}
    fixed = next(c for c in suites["captured"] if c.name.startswith("NS-KRN-010"))
    assert "drift: fixed (baseline status fail)" in fixed.system_out
    new = next(c for c in suites["web1"] if c.name.startswith("NS-KRN-008"))
    assert "drift: new-failure" in new.result[0].text
    run = report_sarif.build_sarif(now)["runs"][0]
    assert run["properties"]["drift"]["new-failure"] == 1
    assert {r["ruleId"]: r["properties"]["drift"] for r in run["results"]} == {
        "NS-KRN-008": "new-failure",
        "NS-UTS-001": "still-failing",
    }
