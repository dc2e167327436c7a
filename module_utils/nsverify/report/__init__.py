"""Compliance reports: evaluate the control catalogue against audit facts and proof results,
apply waivers, and render machine JSON, Markdown and a self-contained HTML page.

Rooms: evaluate (records per control, hosts, the fleet, the outcome digest), waivers, json_view,
markdown_view (also the audit's fleet summary), html_view. This package re-exports their public
names, so callers write report.build_report(...), report.render_html(...).

Inputs per host (all plain data, as the modules return them):
  facts      ansible_facts.nsverify of namespace_facts (the kernel audit)
  proofs     `proofs` of namespace_verify: {type: {status, checks: [...], verdict, reason}}
  container  optional container checks: a list of {id, title, status, evidence}, or a dict
             holding such a list under "checks" (NS-CTR-* controls)

Verdict -> status mapping for the audit controls NS-KRN-001..008 (one per type):
  supported       pass  the kernel created one just now
  kernel-too-old  skip  not applicable: the type does not exist in this kernel release, no setting
                        can change that; the report says so instead of failing the host
  not-built       fail  new enough but compiled out: a kernel rebuild or another kernel fixes it
  denied          fail  policy (LSM, sysctl, seccomp, no privilege) stops creation
  limit-zero      fail  user.max_<type>_namespaces is 0
  unknown         fail  not proven to work is not compliant
NS-KRN-009 passes when the audit reports the unprivileged user-namespace policy, NS-KRN-010
fails when a type's headroom (limit - count) is below `min_headroom`.

Waivers turn a `fail` into `waived`; they never change `pass` or `skip` (such a waiver is
listed as unused). A waiver is valid through its expiry date; from the next day on it does not
apply and is flagged as expired on every host it matches.

Idempotence: `outcome_digest()` hashes what a compliance reader acts on (hosts, control ids,
statuses, waivers) and leaves out the generation time and the volatile evidence (PIDs, inode
numbers). A writer rewrites the files only when that digest changes.
"""

from __future__ import annotations

from ansible.module_utils.nsverify.report.evaluate import (
    CHECK_STATUSES,
    SCHEMA,
    SOURCE_TITLES,
    SOURCES,
    VERDICT_STATUS,
    build_report,
    catalogue_order,
    container_checks,
    control_rows,
    evaluate_audit,
    evaluate_container,
    evaluate_host,
    evaluate_proofs,
    failures,
    index_checks,
    outcome_digest,
    records_by_id,
    summarize,
    summary_line,
)
from ansible.module_utils.nsverify.report.html_view import COMPACT_MATRIX_HOSTS, render_html
from ansible.module_utils.nsverify.report.json_view import render_json
from ansible.module_utils.nsverify.report.markdown_view import render_audit_summary, render_markdown
from ansible.module_utils.nsverify.report.waivers import (
    WAIVER_KEYS,
    WaiverError,
    apply_waivers,
    parse_date,
    parse_waivers,
    waiver_expired,
    waiver_matches,
)
from ansible.module_utils.nsverify.report_junit import render_junit
from ansible.module_utils.nsverify.report_sarif import render_sarif

RENDERERS = {
    "json": render_json,
    "html": render_html,
    "markdown": render_markdown,
    "junit": render_junit,
    "sarif": render_sarif,
}
EXTENSIONS = {"json": "json", "html": "html", "markdown": "md", "junit": "junit.xml", "sarif": "sarif"}

__all__ = [
    "CHECK_STATUSES",
    "COMPACT_MATRIX_HOSTS",
    "EXTENSIONS",
    "RENDERERS",
    "SCHEMA",
    "SOURCES",
    "SOURCE_TITLES",
    "VERDICT_STATUS",
    "WAIVER_KEYS",
    "WaiverError",
    "apply_waivers",
    "build_report",
    "catalogue_order",
    "container_checks",
    "control_rows",
    "evaluate_audit",
    "evaluate_container",
    "evaluate_host",
    "evaluate_proofs",
    "failures",
    "index_checks",
    "outcome_digest",
    "parse_date",
    "parse_waivers",
    "records_by_id",
    "render_audit_summary",
    "render_html",
    "render_json",
    "render_junit",
    "render_markdown",
    "render_sarif",
    "summarize",
    "summary_line",
    "waiver_expired",
    "waiver_matches",
]
