"""nsverify_report's compliance options through its entry point: every format from one run (JSON valid
against schemas/nsverify-report-2.schema.json, JUnit read by junitparser, SARIF by sarif-tools), profiles,
the severity gate, drift against an explicit baseline and against the report already in dest, and a
corrupt or foreign baseline named in the error. Inputs are SAMPLE results in the documented shapes."""

import json
import sys
from pathlib import Path

import jsonschema
import junitparser
import nsverify_report
import pytest
from conftest import run_module_main
from sarif import loader as sarif_loader

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_report_samples import sample_facts, sample_proofs, sample_type  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "nsverify-report-2.schema.json").read_text())
ALL = ["html", "markdown", "junit", "sarif"]


def fleet(time_verdict="supported", user_limit=63000):
    return {
        "web1": {
            "facts": sample_facts(time=sample_type("time", time_verdict), user=sample_type("user", limit=user_limit)),
            "proofs": sample_proofs(),
            "distribution": {"distribution": "Debian", "distribution_major_version": "10"},
        },
        "db1": {"facts": sample_facts(), "proofs": sample_proofs()},
    }


def run(tmp_path, hosts=None, **args):
    args = dict({"hosts": hosts or fleet(), "dest": str(tmp_path / "r"), "formats": ALL, "today": "2026-11-23"}, **args)
    check = args.pop("check", False)
    return run_module_main(nsverify_report, args, check=check)


def written(tmp_path):
    data = json.loads((tmp_path / "r" / "nsverify-report.json").read_text())
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(data)
    return data


def test_one_run_writes_every_format_each_loaded_by_its_consumer(tmp_path):
    res = run(tmp_path, fleet("not-built"))
    assert res["changed"] is True
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [
        "nsverify-report.html",
        "nsverify-report.json",
        "nsverify-report.junit.xml",
        "nsverify-report.md",
        "nsverify-report.sarif",
    ]
    data = written(tmp_path)
    assert data["schema"] == "nsverify-report/2" and res["summary_line"] == data["summary_line"]
    suites = {s.name: s for s in junitparser.JUnitXml.fromfile(res["paths"]["junit"])}
    assert set(suites) == {"web1", "db1"} and suites["web1"].failures == 1
    sarif = sarif_loader.load_sarif_file(res["paths"]["sarif"])
    assert sarif.get_result_count() == 1 and sarif.get_results()[0]["ruleId"] == "NS-KRN-008"
    web = {e["id"]: e for e in data["hosts"]["web1"]["controls"]}
    assert "kernel.unprivileged_userns_clone" in web["NS-KRN-006"]["fix"]  # Debian's switch for Debian
    html = (tmp_path / "r" / "nsverify-report.html").read_text()
    assert 'id="f-fail"' in html and 'data-severity="low"' in html and "remediation" in html
    assert "NS-KRN-008** (low) FAIL" in (tmp_path / "r" / "nsverify-report.md").read_text()
    again = run(tmp_path, fleet("not-built"))
    assert again["changed"] is False  # compared with itself: drift is not part of the outcome


def test_check_mode_writes_nothing(tmp_path):
    res = run(tmp_path, check=True)
    assert res["changed"] is True and not (tmp_path / "r").exists()


def test_profile_selects_the_controls(tmp_path):
    res = run(tmp_path, profile="baseline")
    assert res["hosts"]["web1"]["summary"]["count"] == 10
    assert {e["id"][:6] for e in written(tmp_path)["hosts"]["db1"]["controls"]} == {"NS-KRN"}


@pytest.mark.parametrize(
    "fail_on,profile,failed",
    [
        ("none", "container-host", False),
        ("high", "container-host", True),
        ("high", None, False),
        ("medium", None, True),
    ],
)
def test_severity_gate_after_writing(tmp_path, fail_on, profile, failed):
    # NS-KRN-010 fails (user namespaces at their limit): medium in the catalogue, high for a container host
    hosts = fleet(user_limit=1)
    res = run(tmp_path, hosts, fail_on=fail_on, **({"profile": profile} if profile else {}))
    assert bool(res.get("failed")) is failed
    assert res["gate"]["failed"] is failed
    if failed:
        assert "web1 NS-KRN-010" in res["msg"] and "nsverify-report.json" in res["msg"]
    assert written(tmp_path)["gate"]["fail_on"] == fail_on


def test_drift_against_the_previous_report_in_dest_and_fail_on_new(tmp_path):
    first = run(tmp_path, fail_on_new=True)
    assert first["changed"] and not first.get("failed") and first["drift"] == {}
    second = run(tmp_path, fleet("not-built"), fail_on_new=True)
    assert second["failed"] and "new failures (1): web1 NS-KRN-008" in second["msg"] and "NS-KRN-008" in second["msg"]
    assert second["drift"]["counts"]["new-failure"] == 1
    data = written(tmp_path)
    web = {e["id"]: e for e in data["hosts"]["web1"]["controls"]}
    assert web["NS-KRN-008"]["drift"]["state"] == "new-failure" and web["NS-KRN-001"]["drift"]["state"] == "unchanged"
    assert "Drift since the baseline" in (tmp_path / "r" / "nsverify-report.html").read_text()
    third = run(tmp_path, fleet("not-built"), fail_on_new=True)  # still failing: not new any more
    assert not third.get("failed") and third["changed"] is False


def test_explicit_baseline(tmp_path):
    run(tmp_path, fleet("not-built"))
    old = tmp_path / "last-week.json"
    old.write_text((tmp_path / "r" / "nsverify-report.json").read_text())
    res = run(tmp_path, baseline=str(old), dest=str(tmp_path / "new"))
    assert res["drift"]["baseline"] == str(old) and res["drift"]["counts"]["fixed"] == 1


@pytest.mark.parametrize(
    "content,words",
    [("{broken", "is not valid JSON"), ('{"version": "2.1.0", "runs": []}', "is not an nsverify report")],
    ids=["corrupt", "foreign-sarif"],
)
def test_corrupt_or_foreign_baseline_fails_naming_the_file(tmp_path, content, words):
    bad = tmp_path / "base.json"
    bad.write_text(content)
    res = run(tmp_path, baseline=str(bad))
    assert res["failed"] and str(bad) in res["msg"] and words in res["msg"]
    assert not (tmp_path / "r").exists()


def test_unusable_previous_report_in_dest_is_skipped_with_a_warning(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "nsverify-report.json").write_text("{half a report")
    res = run(tmp_path)
    assert res["changed"] and res["drift"] == {}
    assert "previous report is unusable" in json.dumps(res), res
    written(tmp_path)
