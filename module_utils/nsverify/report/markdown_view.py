"""The Markdown views: the compliance report (render_markdown) and the kernel audit's fleet
summary (render_audit_summary, written by the nsverify_audit role as summary.md). The one place
that writes Markdown: playbooks and roles call these through the nsverify_report and
nsverify_audit_summary modules instead of templating their own tables.
"""

from __future__ import annotations

import json

from ansible.module_utils.nsverify import catalog
from ansible.module_utils.nsverify.report import evaluate


def _md(text):
    return (
        str(text if text is not None else "")
        .replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\n", " ")
    )


def _md_json(value):
    # JSON escapes keep the text valid JSON while no renderer can see a tag or end the code span.
    text = json.dumps(value, sort_keys=True, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("`", "\\u0060")


_MD_STATUS = {"pass": "PASS", "fail": "**FAIL**", "skip": "skip", "waived": "_waived_"}


def _stale_text(host, r):
    return "%s last audited %s (%s ago, max age %s)" % (
        _md(host),
        _md(r["stale"]["audited"]),
        _md(r["stale"]["age"]),
        _md(r["stale"]["max_age"]),
    )


def render_markdown(report):
    hosts = list(report["hosts"])
    lines = ["# %s" % _md(report["title"]), ""]
    lines.append("Generated %s. Fleet: %s" % (_md(report.get("generated") or report["date"]), report["summary_line"]))
    stale = [h for h in hosts if report["hosts"][h].get("stale")]
    if stale:
        lines += ["", "**Stale hosts** (not current): " + "; ".join(_stale_text(h, report["hosts"][h]) for h in stale)]
    lines += ["", "| Host | Kernel | Summary |", "|---|---|---|"]
    for h in hosts:
        r = report["hosts"][h]
        mark = " (**stale**: audited %s)" % _md(r["stale"]["audited"]) if r.get("stale") else ""
        lines.append("| %s | %s | %s%s |" % (_md(h), _md(r["kernel"] or "?"), r["summary_line"], mark))
    lines += [
        "",
        "## Matrix",
        "",
        "| Control | Title | " + " | ".join(_md(h) for h in hosts) + " |",
        "|---|---|" + "---|" * len(hosts),
    ]
    index = {h: evaluate.records_by_id(report["hosts"][h]) for h in hosts}
    for row in evaluate.control_rows(report):
        cells = []
        for h in hosts:
            e = index[h].get(row["id"])
            cells.append(_MD_STATUS[e["status"]] if e else "-")
        lines.append("| %s | %s | %s |" % (row["id"], _md(row["title"]), " | ".join(cells)))
    for h in hosts:
        r = report["hosts"][h]
        lines += ["", "## %s" % _md(h), "", r["summary_line"], ""]
        notable = [e for e in r["controls"] if e["status"] in ("fail", "waived")]
        if not notable:
            lines.append("No failed or waived controls.")
        for e in notable:
            sev = " (%s)" % e["severity"] if e.get("severity") else ""
            drift = " [%s]" % e["drift"]["state"] if e.get("drift") and e["drift"]["state"] != "unchanged" else ""
            lines.append(
                "- **%s**%s %s%s: %s -- %s"
                % (e["id"], sev, e["status"].upper(), drift, _md(e["title"]), _md(e["reason"]))
            )
            if e.get("fix"):
                lines.append("  - remediation: %s" % _md(e["fix"]))
            if e.get("waiver"):
                lines.append(
                    "  - waiver: %s%s"
                    % (
                        _md(e["waiver"]["justification"]),
                        " (expires %s)" % e["waiver"]["expires"] if e["waiver"]["expires"] else "",
                    )
                )
            lines.append("  - evidence: `%s`" % _md_json(e["evidence"]))
        for w in r["waivers"]["expired"]:
            lines.append(
                "- expired waiver for %s (expired %s): %s" % (w["control"], w["expires"], _md(w["justification"]))
            )
    return "\n".join(lines + _compliance_lines(report)) + "\n"


def _compliance_lines(report):
    """Gate and drift of an enriched report (nothing for schema 1)."""
    lines = []
    gate = report.get("gate")
    if gate and (gate["fail_on"] != "none" or gate["fail_on_new"]):
        lines += ["", "## Gate", "", "%s: %s" % ("FAILED" if gate["failed"] else "passed", _md(gate["message"]))]
    drift = report.get("drift")
    if drift:
        counts = ", ".join("%s %d" % (k, n) for k, n in drift["counts"].items() if n) or "nothing to compare"
        lines += ["", "## Drift", "", "Baseline %s: %s" % (_md(drift.get("baseline") or "previous report"), counts)]
        for h, r in report["hosts"].items():
            for e in r["controls"]:
                d = e.get("drift") or {}
                if d.get("state") not in (None, "unchanged", "new"):
                    what = "; ".join("%s %s -> %s" % (c["fact"], c["before"], c["after"]) for c in d.get("changes", []))
                    lines.append(
                        "- %s %s: %s (%s -> %s)%s"
                        % (_md(h), e["id"], d["state"], d["before"], d["after"], " " + _md(what) if what else "")
                    )
    return lines


# ---------------------------------------------------------------- the audit's fleet summary

_POLICY_KEYS = (
    "unprivileged_can_create",
    "unprivileged_can_use_capabilities",
    "unprivileged_userns_clone",
    "apparmor_restrict_unprivileged_userns",
    "max_user_namespaces",
)


def _audit_types(facts):
    return (facts or {}).get("types") or {}


def _verdict_rows(hosts, types):
    lines = ["| host | kernel | %s |" % " | ".join(types), "|---|---|" + "---|" * len(types)]
    for h, f in hosts:
        if not f:
            lines.append("| %s | (no audit: host failed or unreachable) |%s" % (h, " - |" * len(types)))
            continue
        seen = _audit_types(f)
        cells = "".join(
            " %s%s |" % (seen[t].get("verdict"), "*" if seen[t].get("contradiction") else "") if t in seen else " - |"
            for t in types
        )
        lines.append("| %s | %s |%s" % (h, (f.get("kernel") or {}).get("release"), cells))
    return lines


def _finding_lines(hosts, types, line):
    lines = []
    for h, f in hosts:
        seen = _audit_types(f) if f else {}
        found = (line(h, t, seen[t]) for t in types if t in seen)
        lines += [text for text in found if text]
    return lines or ["- none"]


def _not_supported(h, t, fact):
    if fact.get("verdict") == "supported":
        return None
    return "- %s %s (%s): %s -- %s" % (h, t, fact.get("control_id"), fact.get("verdict"), fact.get("reason"))


def _contradiction(h, t, fact):
    return "- %s %s: %s" % (h, t, fact["contradiction"]) if fact.get("contradiction") else None


def _policy_lines(hosts):
    lines = []
    for h, f in hosts:
        if not f:
            continue
        p = f.get("userns_policy") or {}
        shown = {k: "n/a" if p.get(k) is None else p[k] for k in _POLICY_KEYS}
        lines.append(
            "- %s: unprivileged user can create a user namespace: %s, use capabilities in it: %s; "
            "kernel.unprivileged_userns_clone=%s, kernel.apparmor_restrict_unprivileged_userns=%s, "
            "user.max_user_namespaces=%s; cgroup layout %s"
            % ((h,) + tuple(shown[k] for k in _POLICY_KEYS) + ((f.get("cgroup") or {}).get("layout"),))
        )
        lines += ["  - note: %s" % note for note in p.get("notes") or []]
    return lines


def _headroom_cell(row):
    count = row.get("count")
    limit = row.get("limit")
    return "%s/%s" % ("?" if count is None else count, "no limit" if limit is None else limit)


def _headroom_lines(hosts, types):
    lines = ["| host | %s | note |" % " | ".join(types), "|---|" + "---|" * len(types) + "---|"]
    for h, f in hosts:
        headroom = (f or {}).get("headroom")
        if not headroom:
            continue
        rows = headroom.get("types") or {}
        cells = "".join(" %s |" % (_headroom_cell(rows[t]) if t in rows else "-") for t in types)
        lines.append("| %s |%s %s |" % (h, cells, "lower bound" if headroom.get("lower_bound") else "exact"))
    return lines


def render_audit_summary(hosts):
    """The fleet summary of the kernel audit: hosts is {inventory host: ansible_facts.nsverify, or
    None for a host that failed or was unreachable}. A verdict table (host + kernel x the eight
    types, `*` on a contradiction), the types not supported and why, contradictions, the
    unprivileged user-namespace policy (NS-KRN-009) and the headroom (NS-KRN-010)."""
    types = list(catalog.TYPE_NAMES)
    ordered = [(h, hosts[h]) for h in sorted(hosts, key=lambda h: str(h).lower())]
    lines = ["# nsverify namespace audit", ""] + _verdict_rows(ordered, types)
    lines += ["", "Verdicts: %s; `*` marks a contradiction." % ", ".join(catalog.VERDICTS), ""]
    lines += ["## Not supported"] + _finding_lines(ordered, types, _not_supported)
    lines += ["", "## Contradictions"] + _finding_lines(ordered, types, _contradiction)
    lines += ["", "## User-namespace policy (NS-KRN-009)"] + _policy_lines(ordered)
    lines += ["", "## Headroom (NS-KRN-010): namespaces now / limit"] + _headroom_lines(ordered, types)
    return "\n".join(lines) + "\n"
