"""The fleet merge (issue 14) and the host-entry checks (issue 10): per-host files written by separate runs
merged into one report, stale hosts listed as stale, corrupt or foreign host files and garbage host entries
stopped with a message naming the file or the host and the key. Inputs are the SAMPLE shapes of
test_report_samples (namespace_facts / namespace_verify); the module runs through its real main()."""

import datetime
import json
import os

import nsverify_report
import pytest
from conftest import run_module_main
from test_report_samples import sample_facts, sample_proofs

from ansible.module_utils.nsverify import report
from ansible.module_utils.nsverify.report import hostfiles, inputs

NOW = datetime.datetime(2026, 12, 2, 12, 0, 0, tzinfo=datetime.timezone.utc)


def _host():
    return {"facts": sample_facts(), "proofs": sample_proofs(), "container": None, "workloads": None}


def _doc(host, audited, data=None):
    return hostfiles.host_document(host, data or _host(), audited)


# ------------------------------------------------------------ durations


@pytest.mark.parametrize(
    "value,seconds",
    [("7d", 604800), ("36h", 129600), ("90m", 5400), ("3600", 3600), ("45s", 45), ("2w", 1209600), ("", None)],
    ids=["days", "hours", "minutes", "bare-seconds", "seconds", "weeks", "empty-no-limit"],
)
def test_max_age_durations(value, seconds):
    assert hostfiles.parse_max_age(value) == seconds


@pytest.mark.parametrize("value", ["7 days", "-1d", "1.5h", "abc", True], ids=str)
def test_bad_max_age_says_what_a_duration_looks_like(value):
    with pytest.raises(ValueError, match="7d, 36h, 90m"):
        hostfiles.parse_max_age(value)


# ------------------------------------------------------------ merge


def test_this_run_takes_fresh_inputs_and_other_hosts_come_from_their_files():
    stored = {"a": _doc("a", "2026-12-02T11:00:00Z"), "b": _doc("b", "2026-12-02T11:30:00Z")}
    hosts, summary = hostfiles.merge({"b": _host(), "c": {}}, stored, NOW)
    assert sorted(hosts) == ["a", "b", "c"]
    assert hosts["a"]["audited"] == "2026-12-02T11:00:00Z" and "stale" not in hosts["a"]
    assert hosts["b"]["audited"] == "2026-12-02T12:00:00Z"  # fresh: this run gathered it
    assert hosts["c"] == {}  # in the play, not gathered, no file: skipped with the reason
    assert summary == {"this_run": ["b", "c"], "from_files": ["a"], "stale": [], "max_age": None}


def test_a_host_unreachable_this_run_keeps_the_file_an_earlier_run_wrote():
    hosts, summary = hostfiles.merge({"a": {}}, {"a": _doc("a", "2026-12-01T12:00:00Z")}, NOW)
    assert hosts["a"]["facts"] == sample_facts() and summary["from_files"] == ["a"]


def test_a_file_older_than_max_age_is_listed_as_stale_not_as_current():
    stored = {"old": _doc("old", "2026-11-20T12:00:00Z"), "new": _doc("new", "2026-12-01T12:00:00Z")}
    hosts, summary = hostfiles.merge({}, stored, NOW, max_age=7 * 86400)
    assert summary["stale"] == ["old"] and summary["max_age"] == "7d"
    assert hosts["old"]["stale"]["age"] == "12d" and "new" not in summary["stale"]
    assert "more than the max age 7d" in hosts["old"]["stale"]["reason"]
    rep = report.build_report(hosts, today=NOW.date(), merged=summary)
    assert rep["hosts"]["old"]["stale"]["audited"] == "2026-11-20T12:00:00Z"
    assert "stale" not in rep["hosts"]["new"]
    assert "Stale hosts" in report.render_markdown(rep) and "old last audited 2026-11-20T12:00:00Z" in (
        report.render_markdown(rep)
    )
    assert "stale host(s), not current" in report.render_html(rep)
    assert "stale: last audited 2026-11-20" in report.render_junit(rep)
    fresh = report.build_report(hostfiles.merge({}, stored, NOW)[0], today=NOW.date())
    assert fresh["outcome_digest"] != rep["outcome_digest"]  # a host going stale is a change of outcome


def test_a_stale_host_s_failure_stays_visible_in_sarif():
    facts = sample_facts()
    facts["types"]["time"]["verdict"] = "not-built"
    stored = {"old": _doc("old", "2026-11-01T12:00:00Z", dict(_host(), facts=facts))}
    hosts, summary = hostfiles.merge({}, stored, NOW, max_age=86400)
    from ansible.module_utils.nsverify import report_policy

    rep = report_policy.compose(report.build_report(hosts, today=NOW.date(), merged=summary))
    sarif = json.loads(report.render_sarif(rep))
    assert sarif["runs"][0]["properties"]["staleHosts"] == ["old"]
    assert all("last audited" in r["properties"]["stale"] for r in sarif["runs"][0]["results"])


def test_a_merged_report_with_a_stale_host_is_valid_against_the_schema_and_a_wrong_stale_is_not():
    import jsonschema
    from test_report_formats import SCHEMA, validate

    from ansible.module_utils.nsverify import report_policy

    stored = {"old": _doc("old", "2026-11-01T12:00:00Z")}
    hosts, summary = hostfiles.merge({"new": _host()}, stored, NOW, max_age=86400)
    rep = report_policy.compose(report.build_report(hosts, today=NOW.date(), merged=summary))
    assert rep["merge"]["stale"] == ["old"] and rep["hosts"]["old"]["stale"]["age_seconds"] > 86400
    validate(rep)
    broken = json.loads(json.dumps(rep, default=str))
    broken["hosts"]["old"]["stale"] = {"audited": "yesterday"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(SCHEMA).validate(broken)


# ------------------------------------------------------------ host files on disk


def test_host_files_round_trip_and_temporary_files_are_ignored(tmp_path):
    written = hostfiles.write_host_files(str(tmp_path), {"a": _host(), "b": {}}, "2026-12-02T12:00:00Z")
    assert list(written) == ["a"]  # b was not gathered: nothing written for it
    (tmp_path / ".nsv-half").write_text("{")
    (tmp_path / "README").write_text("not json")
    docs = hostfiles.read_host_files(str(tmp_path))
    assert list(docs) == ["a"] and docs["a"]["input"]["facts"] == sample_facts()


CORRUPT = [
    ("a.json", "{not json", "a.json is not valid JSON"),
    ("a.json", json.dumps({"schema": "nsverify-report/2", "hosts": {}}), "is not an nsverify host file"),
    ("a.json", json.dumps([1, 2]), "is not an nsverify host file (schema 'a JSON list'"),
    ("a.json", json.dumps(dict(_doc("b", "2026-12-02T12:00:00Z"))), "holds host 'b', not 'a'"),
    ("a.json", json.dumps(dict(_doc("a", "yesterday"))), "audited 'yesterday' is not a UTC time"),
    ("a.json", json.dumps(dict(_doc("a", "2026-12-02T12:00:00Z"), input="x")), "has no 'input' mapping"),
    ("a.json", json.dumps(_doc("a", "2026-12-02T12:00:00Z", {"facts": "garbage"})), "hosts.a.facts is a str"),
]


@pytest.mark.parametrize(
    "name,text,words", CORRUPT, ids=["not-json", "a-report", "a-list", "other-host", "bad-time", "no-input", "garbage"]
)
def test_a_corrupt_or_foreign_host_file_is_named_with_its_fix(tmp_path, name, text, words):
    (tmp_path / name).write_text(text)
    with pytest.raises(hostfiles.HostFileError) as exc:
        hostfiles.read_host_files(str(tmp_path))
    msg = str(exc.value)
    assert str(tmp_path / name) in msg and words in msg
    assert "remove it" in msg


def test_a_host_name_that_cannot_be_a_file_name_is_refused(tmp_path):
    with pytest.raises(ValueError, match="host name"):
        hostfiles.host_path(str(tmp_path), "../x")


# ------------------------------------------------------------ the module: two runs add up


def _module(tmp_path, hosts, **extra):
    args = dict(hosts=hosts, dest=str(tmp_path / "reports"), merge=True, today="2026-12-02", **extra)
    return run_module_main(nsverify_report, args)


def test_two_limit_runs_give_one_report_with_both_hosts_and_a_rerun_is_unchanged(tmp_path):
    first = _module(tmp_path, {"a": _host()})
    assert first["changed"] and list(first["hosts"]) == ["a"]
    second = _module(tmp_path, {"b": _host()})
    assert second["changed"] and sorted(second["hosts"]) == ["a", "b"]
    assert second["merge"]["this_run"] == ["b"] and second["merge"]["from_files"] == ["a"]
    data = json.loads((tmp_path / "reports" / "nsverify-report.json").read_text())
    assert sorted(data["hosts"]) == ["a", "b"] and data["merge"]["from_files"] == ["a"]
    for ext in ("html", "md"):
        text = (tmp_path / "reports" / ("nsverify-report.%s" % ext)).read_text()
        assert "a" in text and "b" in text
    assert sorted(os.listdir(tmp_path / "reports" / "hosts")) == ["a.json", "b.json"]
    again = _module(tmp_path, {"b": _host()})
    assert not again["changed"]  # same outcome: the report stays; b's file is refreshed (its audit time)
    assert again["merge"]["host_files"] == {"b": str(tmp_path / "reports" / "hosts" / "b.json")}


def test_max_age_in_the_module_lists_the_old_host_as_stale(tmp_path):
    hosts_dir = tmp_path / "reports" / "hosts"
    hosts_dir.mkdir(parents=True)
    (hosts_dir / "a.json").write_text(hostfiles.render_host(_doc("a", "2020-01-01T00:00:00Z")))
    res = _module(tmp_path, {"b": _host()}, max_age="7d")
    assert res["merge"]["stale"] == ["a"] and res["hosts"]["a"]["stale"] and not res["hosts"]["b"]["stale"]
    assert res["merge"]["summary_line"] == "stale (older than 7d, not current): a"


def test_the_module_names_a_foreign_host_file_and_writes_nothing(tmp_path):
    hosts_dir = tmp_path / "reports" / "hosts"
    hosts_dir.mkdir(parents=True)
    (hosts_dir / "web1.json").write_text('{"ansible_facts": {}}')
    res = _module(tmp_path, {"b": _host()})
    assert res["failed"] and str(hosts_dir / "web1.json") in res["msg"] and "Traceback" not in json.dumps(res)
    assert sorted(os.listdir(hosts_dir)) == ["web1.json"]
    assert not (tmp_path / "reports" / "nsverify-report.json").exists()


def test_check_mode_merges_but_writes_no_host_file(tmp_path):
    args = dict(hosts={"a": _host()}, dest=str(tmp_path / "reports"), merge=True)
    res = run_module_main(nsverify_report, args, check=True)
    assert res["changed"] and res["merge"]["host_files"] == {} and not (tmp_path / "reports").exists()


def test_without_merge_no_host_file_is_written(tmp_path):
    run_module_main(nsverify_report, dict(hosts={"a": _host()}, dest=str(tmp_path / "reports")))
    assert not (tmp_path / "reports" / "hosts").exists()


# ------------------------------------------------------------ garbage host entries (issue 10)

GARBAGE = [
    ({"fact": sample_facts()}, "hosts.web1.fact is not a report input"),
    ({"facts": "garbage"}, "hosts.web1.facts is a str"),
    ({"facts": {"kernel": {}}}, "hosts.web1.facts.types is missing"),
    ({"facts": {"types": {"pidd": {}}}}, "hosts.web1.facts.types.pidd is not a namespace type"),
    ({"facts": {"types": {"pid": "supported"}}}, "hosts.web1.facts.types.pid is a str"),
    ({"proofs": ["pid"]}, "hosts.web1.proofs is a list"),
    ({"proofs": {"changed": False}}, "hosts.web1.proofs.changed is not a namespace type"),
    ({"proofs": {"pid": "passed"}}, "hosts.web1.proofs.pid is a str"),
    ({"proofs": {"pid": {"checks": "all"}}}, "hosts.web1.proofs.pid.checks is a str"),
    ({"container": "box"}, "hosts.web1.container is a str"),
    ({"container": {"name": "box"}}, "hosts.web1.container is a mapping without checks or results"),
    ({"container": ["NS-CTR-001"]}, "hosts.web1.container[0] is a str"),
    ({"workloads": "all"}, "hosts.web1.workloads is a str"),
    ({"distribution": "Debian"}, "hosts.web1.distribution is a str"),
    (["facts"], "hosts.web1 is a list"),
]


@pytest.mark.parametrize("entry,words", GARBAGE, ids=[w.split(" is ")[0] + ":" + w.split(" ")[-1] for _, w in GARBAGE])
def test_a_garbage_host_entry_fails_naming_the_host_and_the_key(tmp_path, entry, words):
    with pytest.raises(inputs.InputError, match=words.replace("[", r"\[").replace("]", r"\]")):
        inputs.check_hosts({"web1": entry})
    res = run_module_main(nsverify_report, dict(hosts={"web1": entry}, dest=str(tmp_path / "r")))
    assert res["failed"] and words in res["msg"] and not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "entry",
    [{}, None, _host(), {"facts": {}, "proofs": {}, "container": None}, {"facts": {"nsverify": sample_facts()}}],
    ids=["empty-unreachable", "none", "full", "switched-off", "whole-ansible-facts"],
)
def test_valid_host_entries_pass(entry):
    inputs.check_hosts({"web1": entry})
