"""playbooks/report.yml with the compliance options, for real on this host (the real audit; the proofs
and the container left out to keep it short): a profile, the severity gate failing on a real failure
after every file is written and the summaries printed, drift against the previous report with
fail_on_new, and a foreign baseline stopping the play with the file's name. Every JSON report written
is validated against schemas/nsverify-report-2.schema.json; the JUnit and SARIF files are loaded by
junitparser and sarif-tools."""

import json
import os
import re
from pathlib import Path

import jsonschema
import junitparser
import pytest
from conftest import run_playbook
from sarif import loader as sarif_loader

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "nsverify-report-2.schema.json").read_text())
FLEET_RE = re.compile(r"fleet: (Count: \d+, Passed: \d+, Failed: \d+, Skipped: \d+, Waived: \d+)")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the audit creates namespaces of every type: needs root")


def playbook(tmp, *extra):
    return run_playbook(
        tmp,
        "report.yml",
        "-e",
        "nsverify_report_container_name=''",
        "-e",
        "nsverify_report_dir=%s" % (tmp / "reports"),
        "--skip-tags",
        "verify,workloads",  # workloads: other containers on the host would join the gate (NS-WKL-* in container-host)
        *extra,
    )


def validated(tmp):
    data = json.loads((tmp / "reports" / "nsverify-report.json").read_text())
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(data)
    return data


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nsv-compliance")
    # container-host raises NS-KRN-010 to high; an impossible headroom target makes it fail for real
    gated = playbook(
        tmp,
        "-e",
        "nsverify_report_profile=container-host",
        "-e",
        "nsverify_report_fail_on=high",
        "-e",
        "nsverify_report_min_headroom=1000000000",
    )
    first = validated(tmp)
    again = playbook(
        tmp,
        "-e",
        "nsverify_report_profile=container-host",
        "-e",
        "nsverify_report_fail_on_new=true",
        "-e",
        "nsverify_report_min_headroom=1000000000",
    )
    return {"tmp": tmp, "gated": gated, "first": first, "again": again, "second": validated(tmp)}


def test_the_gate_fails_the_host_after_writing_every_format_and_printing_the_summary(runs):
    res, tmp = runs["gated"], runs["tmp"]
    assert res.returncode != 0
    assert "localhost: gate high failed on NS-KRN-010 high" in res.stdout
    assert "gate: failed controls of severity high or worse (1): localhost NS-KRN-010 (high)" in res.stdout
    assert FLEET_RE.findall(res.stdout) == [runs["first"]["summary_line"]]
    names = sorted(os.listdir(tmp / "reports"))
    assert names == [
        "hosts",  # the fleet merge's per-host files (docs/FLEET.md)
        "nsverify-report.html",
        "nsverify-report.json",
        "nsverify-report.junit.xml",
        "nsverify-report.md",
        "nsverify-report.sarif",
    ]
    suite = next(iter(junitparser.JUnitXml.fromfile(str(tmp / "reports" / "nsverify-report.junit.xml"))))
    assert suite.name == "localhost" and suite.failures == 1
    sarif = sarif_loader.load_sarif_file(str(tmp / "reports" / "nsverify-report.sarif"))
    assert [r["ruleId"] for r in sarif.get_results()] == ["NS-KRN-010"]


def test_the_profile_and_severity_are_in_the_report(runs):
    data = runs["first"]
    assert data["profile"]["name"] == "container-host" and data["gate"]["failed"] is True
    entries = {e["id"]: e for e in data["hosts"]["localhost"]["controls"]}
    assert entries["NS-KRN-010"]["severity"] == "high" and entries["NS-KRN-010"]["status"] == "fail"
    assert data["hosts"]["localhost"]["distribution"] in ("debian", "ubuntu", "rhel7", None)


def test_a_rerun_with_fail_on_new_passes_on_a_failure_that_is_not_new(runs):
    res = runs["again"]
    assert res.returncode == 0, res.stdout[-3000:]
    assert "Drift against" in res.stdout and "still-failing 1" in res.stdout and "gate: no new failures" in res.stdout
    entries = {e["id"]: e for e in runs["second"]["hosts"]["localhost"]["controls"]}
    assert entries["NS-KRN-010"]["drift"]["state"] == "still-failing"


def test_a_foreign_baseline_stops_the_play_naming_the_file(tmp_path):
    bad = tmp_path / "results.sarif"
    bad.write_text('{"version": "2.1.0", "runs": []}')
    res = playbook(tmp_path, "-e", "nsverify_report_baseline=%s" % bad, "--skip-tags", "audit")
    assert res.returncode != 0
    assert "baseline %s is not an nsverify report" % bad in res.stdout
    assert not (tmp_path / "reports").exists()
