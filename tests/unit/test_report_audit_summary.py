"""The kernel audit's fleet summary (summary.md of playbooks/audit.yml) comes from the engine's one
Markdown room, report.render_audit_summary. The expected text below is what the playbook's former
Jinja template (playbooks/templates/audit_summary.md.j2) rendered for the same facts, byte for byte."""

from test_report_samples import sample_facts, sample_type

from ansible.module_utils.nsverify import catalog, report

EXPECTED = """\
# nsverify namespace audit

| host | kernel | mnt | uts | ipc | pid | net | user | cgroup | time |
|---|---|---|---|---|---|---|---|---|---|
| nsv-down | (no audit: host failed or unreachable) | - | - | - | - | - | - | - | - |
| web1 | 6.1.0-25-amd64 | supported | supported | - | supported | supported | supported | limit-zero | kernel-too-old* |

Verdicts: supported, kernel-too-old, not-built, limit-zero, denied, unknown; `*` marks a contradiction.

## Not supported
- web1 cgroup (NS-KRN-007): limit-zero -- sample reason for cgroup
- web1 time (NS-KRN-008): kernel-too-old -- sample reason for time

## Contradictions
- web1 time: created anyway

## User-namespace policy (NS-KRN-009)
- web1: unprivileged user can create a user namespace: True, use capabilities in it: True; \
kernel.unprivileged_userns_clone=n/a, kernel.apparmor_restrict_unprivileged_userns=n/a, \
user.max_user_namespaces=63000; cgroup layout hybrid
  - note: Debian: kernel.unprivileged_userns_clone decides

## Headroom (NS-KRN-010): namespaces now / limit
| host | mnt | uts | ipc | pid | net | user | cgroup | time | note |
|---|---|---|---|---|---|---|---|---|---|
| web1 | 3/63000 | - | - | - | - | - | - | ?/no limit | lower bound |
"""


def _web1():
    facts = sample_facts(
        time=sample_type("time", "kernel-too-old", contradiction="created anyway"),
        cgroup=sample_type("cgroup", "limit-zero", count=0, limit=0),
    )
    del facts["types"]["ipc"]
    facts["userns_policy"]["notes"] = ["Debian: kernel.unprivileged_userns_clone decides"]
    facts["headroom"] = {
        "control_id": "NS-KRN-010",
        "lower_bound": True,
        "types": {"mnt": {"count": 3, "limit": 63000}, "time": {"count": None, "limit": None}},
    }
    return facts


def test_summary_is_the_former_template_text():
    assert report.render_audit_summary({"web1": _web1(), "nsv-down": None}) == EXPECTED


def test_all_supported_host_has_no_findings():
    text = report.render_audit_summary({"h": sample_facts()})
    assert "| h | 6.1.0-25-amd64 |%s" % (" supported |" * 8) in text
    assert text.count("- none") == 2  # not supported, contradictions
    assert "## Headroom" in text and "| h |" not in text.split("## Headroom")[1]  # no headroom reported


def test_columns_are_the_catalogue_types_whatever_was_audited():
    facts = sample_facts()
    facts["types"] = {"time": sample_type("time", "unknown")}
    text = report.render_audit_summary({"h": facts})
    assert "| host | kernel | %s |" % " | ".join(catalog.TYPE_NAMES) in text
    assert "| h | 6.1.0-25-amd64 | - | - | - | - | - | - | - | unknown |" in text


def test_hosts_sorted_case_insensitively_like_the_jinja_sort_filter():
    text = report.render_audit_summary({"b": None, "A": None, "c": None})
    rows = [line.split(" | ")[0] for line in text.splitlines() if "(no audit" in line]
    assert rows == ["| A", "| b", "| c"]
