"""The compliance parts of the HTML view for an enriched report (schema nsverify-report/2): severity
chips, filters by status and severity (checkboxes and CSS sibling selectors: still no script; a link
may set them: report.html#status=fail, #severity=high, #status=fail&severity=high, through :target on
hidden markers), each
control's remediation and references folded next to its evidence, the kernels x namespace types
matrix, the gate and the drift section. Every function returns "" (or nothing) for a report without
that data, so the view still renders schema 1 reports as before.
"""

from __future__ import annotations

import html

from ansible.module_utils.nsverify import catalog, control_data, controls

SEVERITIES = control_data.SEVERITIES
STATUSES = ("pass", "fail", "waived", "skip")
STATUS_RANK = {"fail": 0, "waived": 1, "skip": 2, "pass": 3}  # worst first

CSS = """
.sev{display:inline-block;padding:0 6px;border-radius:3px;font-size:11px;font-weight:700;text-transform:uppercase;
letter-spacing:.03em;margin-left:4px;vertical-align:1px}
.sev.critical{background:#6e1a16;color:#fff}.sev.high{background:#d1242f;color:#fff}
.sev.medium{background:#fb8f44;color:#1f2328}.sev.low{background:#eaeef2;color:#1f2328}
.sev.info{background:#fff;color:#57606a;border:1px solid var(--line)}
input.flt{margin:0 2px 0 8px;vertical-align:-2px}
label.flt{margin-right:4px;cursor:pointer}
b.fltl{margin:0 2px 12px 14px;font-size:13px}
b.fltl:first-of-type{margin-left:0}
.drift{font-size:11px;font-weight:700;padding:0 5px;border-radius:3px;margin-left:4px}
.drift.new-failure{background:var(--fail);color:#fff}.drift.fixed{background:var(--pass);color:#fff}
.drift.still-failing{background:var(--fail-bg);color:var(--fail)}
.drift.changed-evidence{background:var(--waived-bg);color:var(--waived)}
.drift.unchanged,.drift.new{background:#eaeef2;color:#57606a}
.gate{padding:10px 14px;border-radius:6px;margin:0 0 14px;font-weight:600}
.gate.bad{background:var(--fail-bg);color:var(--fail)}.gate.ok{background:var(--pass-bg);color:var(--pass)}
details.fix summary{color:#8250df}
.preset{display:none;margin:0 0 12px;padding:8px 12px;border:1px solid #8250df;border-radius:6px;background:#fbefff;
scroll-margin-top:100vh}
.preset:target{display:block}
p.views{margin:0 0 14px;font-size:13px}
p.views a{margin-right:10px}
"""
# The link-set filters: one hidden marker per fragment, before every section; :target shows it and
# hides the rows it filters out (a fragment can say one status, one severity, or both, either order).
PRESET_LINKS = (("failures", "fail", None), ("failed critical", "fail", "critical"), ("failed high", "fail", "high"))
PRESET_LINKS += (("waived", "waived", None), ("skipped", "skip", None))


def _e(text):
    return html.escape(str(text if text is not None else ""), quote=True)


def is_enriched(report):
    return str(report.get("schema", "")).endswith("/2")


def preset_ids():
    """[(fragment, status or None, severity or None)]: every fragment a link may use."""
    out = [("status=%s" % s, s, None) for s in STATUSES] + [("severity=%s" % v, None, v) for v in SEVERITIES]
    for s in STATUSES:
        for v in SEVERITIES:
            out += [("status=%s&severity=%s" % (s, v), s, v), ("severity=%s&status=%s" % (v, s), s, v)]
    return out


def _preset_rules():
    rules = []
    for attr, values, pick in (("status", STATUSES, 1), ("severity", SEVERITIES, 2)):
        for value in values:
            markers = [
                '[id="%s"]:target~section [data-%s]:not([data-%s=%s])' % (p[0], attr, attr, value)
                for p in preset_ids()
                if p[pick] == value
            ]
            rules.append(",".join(markers) + "{display:none}")
    targeted = ",".join('[id="%s"]:target~section tr.grp' % p[0] for p in preset_ids())
    rules.append(targeted + "{display:none}")
    # a host with no row left is folded away (:has(); a browser without it shows the empty card, no harm)
    for frag, status, severity in preset_ids():
        want = "".join('[data-%s="%s"]' % (k, v) for k, v in (("status", status), ("severity", severity)) if v)
        rules.append('[id="%s"]:target~section.card[id^=host-]:not(:has(tr%s)){display:none}' % (frag, want))
    return rules


def filter_css():
    """Hide a row whose status or severity checkbox is off: the inputs come first in <main>, every
    section after them, so `#f-x:not(:checked) ~ section [data-...]` reaches the rows; the same for
    a link's fragment, through the marker it targets (its scroll-margin keeps the page at the top:
    a fragment would otherwise scroll the summary and the filters away)."""
    rules = ["#f-%s:not(:checked)~section [data-status=%s]{display:none}" % (s, s) for s in STATUSES]
    rules += ["#f-%s:not(:checked)~section [data-severity=%s]{display:none}" % (s, s) for s in SEVERITIES]
    return CSS + "\n".join(rules + _preset_rules()) + "\n"


def _preset_markers():
    out = []
    for frag, status, severity in preset_ids():
        what = ", ".join("%s %s" % (k, v) for k, v in (("status", status), ("severity", severity)) if v is not None)
        out.append(
            '<p class="preset" id="%s"><b>Filtered by this link</b> (#%s): only rows of %s are shown; the '
            'checkboxes above still apply. <a href="#">Show everything</a></p>' % (_e(frag), _e(frag), _e(what))
        )
    return out


def _preset_links():
    links = []
    for label, status, severity in PRESET_LINKS:
        frag = "status=%s" % status + ("&severity=%s" % severity if severity else "")
        links.append('<a href="#%s">%s</a>' % (_e(frag), _e(label)))
    return '<p class="views note">Views to link to: %s (add #status=S, #severity=V or both to the address)</p>' % (
        "".join(links)
    )


def filter_inputs(report):
    """Checkboxes that filter rows; direct children of <main> (no wrapper), before every section."""
    if not is_enriched(report):
        return []
    out = []
    for title, values in (("Show status", STATUSES), ("Show severity", SEVERITIES)):
        out.append('<b class="fltl">%s</b>' % title)
        out += [
            '<input class="flt" type="checkbox" id="f-%s" checked><label class="flt" for="f-%s">%s</label>' % (v, v, v)
            for v in values
        ]
    return ["".join(out), _preset_links()] + _preset_markers()


def severity_chip(e):
    sev = e.get("severity")
    return '<span class="sev %s" title="severity">%s</span>' % (_e(sev), _e(sev)) if sev else ""


def drift_chip(e):
    d = e.get("drift")
    if not d or d["state"] in ("unchanged", "new"):
        return ""
    return '<span class="drift %s" title="since the baseline: %s">%s</span>' % (
        _e(d["state"]),
        _e(d.get("before")),
        _e(d["state"]),
    )


def row_attrs(e):
    """data-status and data-severity for the filters; "" for a schema 1 record (no severity)."""
    if not e.get("severity"):
        return ""
    return ' data-status="%s" data-severity="%s"' % (_e(e["status"]), _e(e["severity"]))


def remediation_details(e):
    """The fix for this host, the other distributions' texts, and the references: one click away."""
    if not e.get("remediation"):
        return ""
    rem = e["remediation"]
    parts = ["<p>%s</p>" % _e(e.get("fix") or rem.get("default"))]
    for d in control_data.DISTROS:
        if d in rem and d not in (e.get("fix") or ""):
            parts.append('<p class="note"><b>%s</b>: %s</p>' % (_e(d), _e(rem[d])))
    refs = []
    for r in e.get("references") or []:
        label = _e(r["id"] + (": " + r["title"] if r.get("title") else ""))
        refs.append('<a href="%s">%s</a>' % (_e(r["url"]), label) if r.get("url") else label)
    if refs:
        parts.append('<p class="note">References: %s</p>' % "; ".join(refs))
    if e.get("rationale"):
        parts.append(
            '<p class="note">Why: %s Evaluated from: %s</p>' % (_e(e["rationale"]), _e(e.get("evaluated_from")))
        )
    opened = " open" if e["status"] == "fail" else ""
    return '<details class="fix"%s><summary>remediation</summary>%s</details>' % (opened, "".join(parts))


def gate_html(report):
    g = report.get("gate")
    if not g or (g["fail_on"] == "none" and not g["fail_on_new"]):
        return ""
    return '<p class="gate %s">Gate (fail_on=%s%s): %s</p>' % (
        "bad" if g["failed"] else "ok",
        _e(g["fail_on"]),
        ", new failures only" if g["fail_on_new"] else "",
        _e(g["message"]),
    )


def _kernel_cells(records, hosts_by_kernel, kernel):
    cells = []
    for name in catalog.TYPE_NAMES:
        cid = controls.audit_control(name).id
        statuses = [records[h][cid]["status"] for h in hosts_by_kernel[kernel] if cid in records[h]]
        if not statuses:
            cells.append('<td class="s none">&ndash;</td>')
            continue
        worst = min(statuses, key=lambda s: STATUS_RANK[s])
        note = "%d/%d hosts %s" % (statuses.count(worst), len(statuses), worst)
        cells.append(
            '<td class="s"><span class="badge %s" title="%s">%s</span></td>' % (worst, _e(note), _e(worst.upper()))
        )
    return cells


def kernel_matrix(report):
    """Kernels x namespace types: the worst NS-KRN-00x status of the hosts running each kernel."""
    hosts_by_kernel = {}
    for h, r in report["hosts"].items():
        hosts_by_kernel.setdefault(r.get("kernel") or "?", []).append(h)
    records = {h: {e["id"]: e for e in r["controls"]} for h, r in report["hosts"].items()}
    out = [
        '<section class="card"><h2>Kernels &times; namespace types</h2><div class="scroll"><table class="matrix">'
        "<tr><th>Kernel</th><th>Hosts</th>%s</tr>" % "".join('<th class="h">%s</th>' % t for t in catalog.TYPE_NAMES)
    ]
    for kernel in sorted(hosts_by_kernel):
        out.append(
            '<tr><td class="id">%s</td><td>%s</td>%s</tr>'
            % (
                _e(kernel),
                _e(", ".join(hosts_by_kernel[kernel])),
                "".join(_kernel_cells(records, hosts_by_kernel, kernel)),
            )
        )
    out.append("</table></div></section>")
    return "\n".join(out)


def drift_section(report, anchors):
    d = report.get("drift")
    if not d:
        return ""
    counts = " ".join('<span class="drift %s">%s %d</span>' % (s, s, n) for s, n in d["counts"].items() if n)
    out = [
        '<section class="card" id="drift"><h2>Drift since the baseline</h2><p class="note">Baseline %s (%s): %s</p>'
        % (_e(d.get("baseline") or "previous report"), _e(d.get("baseline_date")), counts or "nothing to compare")
    ]
    rows = []
    for h, r in report["hosts"].items():
        for e in r["controls"]:
            state = (e.get("drift") or {}).get("state")
            if state in (None, "unchanged", "new"):
                continue
            changes = "; ".join(
                "%s: %s &rarr; %s" % (_e(c["fact"]), _e(c["before"]), _e(c["after"]))
                for c in e["drift"].get("changes", [])
            )
            rows.append(
                '<tr%s><td><a href="#%s-%s">%s</a></td><td class="id">%s</td><td><span class="drift %s">%s</span></td>'
                "<td>%s &rarr; %s</td><td>%s</td></tr>"
                % (
                    row_attrs(e),
                    anchors[h],
                    _e(e["id"]),
                    _e(h),
                    _e(e["id"]),
                    _e(state),
                    _e(state),
                    _e(e["drift"]["before"]),
                    _e(e["drift"]["after"]),
                    changes,
                )
            )
    if rows:
        out.append("<table><tr><th>Host</th><th>Control</th><th>Drift</th><th>Status</th><th>What changed</th></tr>")
        out += rows
        out.append("</table>")
    if d.get("hosts_gone"):
        out.append('<p class="note">Hosts in the baseline only: %s</p>' % _e(", ".join(d["hosts_gone"])))
    out.append("</section>")
    return "\n".join(out)
