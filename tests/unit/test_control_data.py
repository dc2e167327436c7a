"""The control catalogue as data: complete for every control, one source of truth for every id the
project uses, every entry evaluated by the report, profiles that select and re-grade controls."""

import re
from pathlib import Path

import pytest

from ansible.module_utils.nsverify import catalog, control_data, controls, report, report_policy

ROOT = Path(__file__).resolve().parents[2]
ID = re.compile(r"\bNS-[A-Z]+-\d{3}\b")
RANGE = re.compile(r"\b(NS-[A-Z]+)-(\d{3})\.\.(\d{3})\b")
# Ids that tests use on purpose to prove that an unknown id is refused or kept apart.
DELIBERATELY_UNKNOWN = {"NS-FOO-001", "NS-KRN-404", "NS-NET-099", "NS-NOPE-001", "NS-X-001", "NS-X-002"}
DIRS = ("roles", "playbooks", "tests", "module_utils", "library", "molecule")


def _ids_used():
    used = {}
    for d in DIRS:
        for path in sorted((ROOT / d).rglob("*")):
            if not path.is_file() or path.suffix not in (".py", ".yml", ".yaml", ".md", ".json", ".j2", ".html"):
                continue
            text = path.read_text(errors="replace")
            found = set(ID.findall(text))
            for prefix, low, high in RANGE.findall(text):  # "NS-KRN-001..010" names every id between
                found.update("%s-%03d" % (prefix, n) for n in range(int(low), int(high) + 1))
            for cid in found:
                used.setdefault(cid, str(path.relative_to(ROOT)))
    return used


def test_every_control_id_used_in_the_project_is_in_the_catalogue():
    used = _ids_used()
    unknown = {cid: where for cid, where in used.items() if cid not in control_data.CATALOGUE}
    assert set(unknown) <= DELIBERATELY_UNKNOWN, "ids not in the catalogue: %s" % {
        k: v for k, v in unknown.items() if k not in DELIBERATELY_UNKNOWN
    }
    assert not DELIBERATELY_UNKNOWN & set(control_data.CATALOGUE), "a 'deliberately unknown' id became real"


def test_the_catalogue_data_and_the_control_table_have_the_same_ids_in_the_same_order():
    assert list(control_data.CATALOGUE) == list(controls.CONTROLS)


def test_every_catalogue_entry_is_evaluated_by_the_report():
    """An empty container list and an inspection without workloads make the report evaluate every source:
    each id appears, once."""
    built = report.build_report({"h": {"facts": {}, "proofs": {}, "container": [], "workloads": {"targets": []}}})
    evaluated = [e["id"] for e in built["hosts"]["h"]["controls"]]
    assert sorted(evaluated) == sorted(control_data.CATALOGUE)
    assert {c["source"] for c in control_data.CATALOGUE.values()} == {"audit", "proof", "container", "workload"}


@pytest.mark.parametrize("cid", list(control_data.CATALOGUE), ids=list(control_data.CATALOGUE))
def test_entry_is_complete(cid):
    entry = control_data.CATALOGUE[cid]
    assert entry["severity"] in control_data.SEVERITIES
    for key in ("title", "rationale", "evaluated_from"):
        assert isinstance(entry[key], str) and len(entry[key]) > 15, key
    assert set(entry["remediation"]) <= {"default"} | set(control_data.DISTROS)
    assert all(len(text) > 20 for text in entry["remediation"].values())
    kinds = {r["kind"] for r in entry["references"]}
    assert kinds & {"man", "kernel-doc"}, "every control cites a man page or the kernel documentation"
    for ref in entry["references"]:
        assert ref["kind"] in ("cis", "man", "kernel-doc")
        if ref["kind"] != "cis":
            assert ref["url"].startswith("https://")
        else:
            assert (
                ref["id"].startswith(control_data.CIS_DOCKER)
                and ref["title"].startswith("Ensure")
                or (ref["title"] == "Enable user namespace support")
            )


# The CIS Docker Benchmark v1.6.0 recommendations the issue names, and a control that carries each.
CIS_CASES = [
    ("NS-CTR-003", "5.10"),  # host network namespace
    ("NS-CTR-001", "5.16"),  # host PID namespace
    ("NS-CTR-011", "5.17"),  # host IPC namespace
    ("NS-CTR-002", "5.21"),  # host UTS namespace
    ("NS-CTR-011", "5.31"),  # host user namespace
    ("NS-CTR-010", "5.4"),  # capabilities
    ("NS-CTR-010", "5.26"),  # no-new-privileges
    ("NS-CTR-006", "5.29"),  # pids limit
    ("NS-CTR-007", "5.11"),  # memory limit
    ("NS-KRN-006", "2.9"),  # user namespace support
]


@pytest.mark.parametrize("cid,number", CIS_CASES, ids=["%s-%s" % c for c in CIS_CASES])
def test_cis_references(cid, number):
    ids = [r["id"] for r in control_data.CATALOGUE[cid]["references"] if r["kind"] == "cis"]
    assert "%s %s" % (control_data.CIS_DOCKER, number) in ids


def test_seccomp_recommendation_is_defined_for_when_a_control_reads_it():
    assert control_data.CIS_SECCOMP["id"].endswith(" 5.22")


@pytest.mark.parametrize(
    "distro,words",
    [
        ("debian", "kernel.unprivileged_userns_clone"),
        ("ubuntu", "kernel.apparmor_restrict_unprivileged_userns"),
        ("rhel7", "user_namespace.enable=1"),
        ("rhel7", "user.max_user_namespaces"),
    ],
)
def test_user_namespace_remediation_per_distribution(distro, words):
    for cid in ("NS-KRN-006", "NS-KRN-009"):
        assert words in control_data.CATALOGUE[cid]["remediation"][distro]
        assert words in report_policy.remediation_text(cid, distro)


@pytest.mark.parametrize("name", list(catalog.TYPE_NAMES))
def test_kernel_support_remediation_names_the_types_sysctl_and_config(name):
    entry = control_data.CATALOGUE[controls.audit_control(name).id]
    t = catalog.get(name)
    assert t.limit_sysctl in entry["remediation"]["default"]
    assert (t.config_option or "always built") in entry["remediation"]["default"]


def test_profiles_select_and_regrade():
    assert list(control_data.PROFILES) == ["baseline", "container-host", "strict"]
    base = report_policy.profile("baseline")
    assert report_policy.selects(base, "NS-KRN-010") and not report_policy.selects(base, "NS-CTR-001")
    host = report_policy.profile("container-host")
    assert all(report_policy.selects(host, cid) for cid in control_data.CATALOGUE)
    assert report_policy.severity("NS-KRN-010", host) == "high" != report_policy.severity("NS-KRN-010")
    strict = report_policy.profile("strict")
    assert report_policy.severity("NS-KRN-009", strict) == "high"
    assert strict["sysctl"]["kernel.unprivileged_userns_clone"] == {"value": 0}
    assert strict["sysctl"]["kernel.apparmor_restrict_unprivileged_userns"] == {"value": 1}
    for prof in control_data.PROFILES.values():
        assert set(prof["severity"]) <= set(control_data.CATALOGUE)
        assert set(prof["severity"].values()) <= set(control_data.SEVERITIES)
        assert {"user.max_%s_namespaces" % t for t in catalog.TYPE_NAMES} <= set(prof["sysctl"])
        for pattern in prof["controls"]:
            assert any(report_policy.selects({"controls": [pattern]}, c) for c in control_data.CATALOGUE), pattern


def test_unknown_profile_names_the_valid_ones():
    with pytest.raises(report_policy.PolicyError, match="baseline, container-host, strict"):
        report_policy.profile("paranoid")


@pytest.mark.parametrize(
    "osinfo,key",
    [
        ({"id": "debian", "version_id": "12"}, "debian"),
        ({"distribution": "Ubuntu", "distribution_major_version": "24"}, "ubuntu"),
        ({"id": "centos", "version_id": "7"}, "rhel7"),
        ({"distribution": "RedHat", "distribution_major_version": "7"}, "rhel7"),
        ({"id": "rhel", "version_id": "9.3"}, None),
        (None, None),
    ],
)
def test_distribution_key(osinfo, key):
    assert report_policy.distro_key(osinfo) == key
