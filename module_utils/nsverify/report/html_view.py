"""The HTML view: one self-contained page (no scripts, no external resources) a reader takes in at
a glance: the fleet line, a host table, the fleet matrix (it turns compact above
COMPACT_MATRIX_HOSTS hosts) and per host its controls with folded evidence. Everything that came
from a host is escaped.
"""

from __future__ import annotations

import html
import json

from ansible.module_utils.nsverify.report import evaluate, html_compliance

SOURCE_TITLES = evaluate.SOURCE_TITLES

_CSS = """
:root{--pass:#1a7f37;--pass-bg:#dafbe1;--fail:#b42318;--fail-bg:#fee4e2;--skip:#57606a;--skip-bg:#eaeef2;
--waived:#9a6700;--waived-bg:#fff4c2;--line:#d0d7de}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1f2328;
background:#f6f8fa}
header{background:#1f2328;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px}
header .meta{color:#c9d1d9;font-size:13px}
main{padding:20px 28px;max-width:1600px}
.fleet{font:600 16px ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;margin:0 0 18px;
padding:12px 16px;background:#fff;border:1px solid var(--line);border-left:6px solid var(--pass);border-radius:6px}
.fleet.bad{border-left-color:var(--fail)}
section.card{background:#fff;border:1px solid var(--line);border-radius:6px;padding:14px 18px;margin:0 0 20px}
h2{font-size:18px;margin:0 0 10px}
h3{font-size:14px;margin:16px 0 6px;color:#57606a;text-transform:uppercase;letter-spacing:.04em}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600;position:sticky;top:0}
td.id,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;white-space:nowrap}
.scroll{overflow-x:auto}
.matrix td.id{position:sticky;left:0;background:#fff}
.compact th.v{vertical-align:bottom;padding:4px 1px;font:11px ui-monospace,Menlo,Consolas,"DejaVu Sans Mono",monospace}
.compact th.v span{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap}
.compact td.c{padding:2px 1px;text-align:center}
.sq{display:inline-block;width:18px;height:18px;line-height:18px;border-radius:3px;font-size:10px;font-weight:700;
text-decoration:none}
.matrix td.s{text-align:center;width:1%;white-space:nowrap}
.matrix th.h{text-align:center;white-space:nowrap}
.badge{display:inline-block;min-width:58px;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:700;
text-align:center;text-decoration:none;white-space:nowrap}
.pass{color:var(--pass);background:var(--pass-bg)}
.fail{color:var(--fail);background:var(--fail-bg)}
.skip{color:var(--skip);background:var(--skip-bg)}
.waived{color:var(--waived);background:var(--waived-bg)}
.none{color:#8c959f}
.zero{color:#8c959f;background:transparent;border:1px solid var(--line)}
.overview{margin:-8px 0 18px;color:#57606a}
.attention{list-style:none;margin:6px 0 12px;padding:8px 12px;border:1px solid var(--line);border-radius:6px;
  background:#fffbfa}
.attention li{margin:2px 0}
.counts{white-space:nowrap}
.counts span{margin-right:6px}
tr.grp td{background:#f6f8fa;font-weight:600;color:#57606a}
details summary{cursor:pointer;color:#0969da}
pre{background:#f6f8fa;border:1px solid var(--line);border-radius:4px;padding:8px;overflow:auto;max-height:360px;
margin:6px 0;font-size:12px;white-space:pre-wrap;word-break:break-word}
.note{font-size:12px;color:#57606a}
.warn{color:var(--fail);font-weight:600}
.legend span{margin-right:10px}
"""

_LABEL = {"pass": "PASS", "fail": "FAIL", "skip": "SKIP", "waived": "WAIVED"}


def _e(text):
    return html.escape(str(text if text is not None else ""), quote=True)


def _badge(status, href=None, title=None):
    attrs = ' title="%s"' % _e(title) if title else ""
    if href:
        return '<a class="badge %s" href="%s"%s>%s</a>' % (status, _e(href), attrs, _LABEL[status])
    return '<span class="badge %s"%s>%s</span>' % (status, attrs, _LABEL[status])


def _counts_html(counts):
    return '<span class="counts">%s</span>' % "".join(
        '<span class="badge %s">%d %s</span>' % (k if counts[k] else "zero", counts[k], _LABEL[k])
        for k in ("pass", "fail", "waived", "skip")
    )


def _host_state(r):
    """One word per host for the overview: what a reader must look at first."""
    if not r["inputs"]["audit"] and not r["inputs"]["proofs"]:
        return "skip", "NO DATA"
    if r["summary"]["fail"]:
        return "fail", "FAILING"
    if r["summary"]["waived"]:
        return "waived", "WAIVED"
    return "pass", "OK"


# Above this many hosts the matrix turns: hosts become rows and controls narrow columns, so that a
# fleet fits the page width instead of growing a column per host.
COMPACT_MATRIX_HOSTS = 8
_LETTER = {"pass": "P", "fail": "F", "skip": "S", "waived": "W"}


def _wide_matrix(rows, hosts, anchors, index):
    out = [
        '<table class="matrix"><tr><th>Control</th><th>Title</th>%s</tr>'
        % "".join('<th class="h"><a href="#%s">%s</a></th>' % (anchors[h], _e(h)) for h in hosts)
    ]
    group = None
    for row in rows:
        if row["source"] != group:
            group = row["source"]
            out.append(
                '<tr class="grp"><td colspan="%d">%s</td></tr>' % (2 + len(hosts), _e(SOURCE_TITLES.get(group, group)))
            )
        cells = []
        for h in hosts:
            e = index[h].get(row["id"])
            if e is None:
                cells.append('<td class="s none" title="not evaluated on this host">&ndash;</td>')
            else:
                cells.append(
                    '<td class="s">%s</td>' % _badge(e["status"], "#%s-%s" % (anchors[h], e["id"]), e["reason"])
                )
        sev = ""
        if row.get("severity"):
            # the worst status of the row across hosts: the status filter keeps a control failing anywhere
            statuses = [index[h][row["id"]]["status"] for h in hosts if row["id"] in index[h]]
            worst = min(statuses, key=lambda s: html_compliance.STATUS_RANK[s]) if statuses else None
            sev = (' data-status="%s"' % worst if worst else "") + ' data-severity="%s"' % _e(row["severity"])
        out.append(
            '<tr%s><td class="id">%s%s</td><td>%s</td>%s</tr>'
            % (sev, _e(row["id"]), html_compliance.severity_chip(row), _e(row["title"]), "".join(cells))
        )
    return out


def _compact_matrix(rows, hosts, anchors, index):
    out = [
        '<table class="matrix compact"><tr><th>Host</th>%s</tr>'
        % "".join('<th class="v" title="%s"><span>%s</span></th>' % (_e(row["title"]), _e(row["id"])) for row in rows)
    ]
    for h in hosts:
        cells = []
        for row in rows:
            e = index[h].get(row["id"])
            if e is None:
                cells.append('<td class="c none" title="not evaluated on this host">&middot;</td>')
            else:
                cells.append(
                    '<td class="c"><a class="sq %s" href="#%s-%s" title="%s: %s">%s</a></td>'
                    % (e["status"], anchors[h], _e(e["id"]), _e(e["id"]), _e(e["reason"]), _LETTER[e["status"]])
                )
        out.append('<tr><td class="id"><a href="#%s">%s</a></td>%s</tr>' % (anchors[h], _e(h), "".join(cells)))
    return out


def _matrix_html(report, hosts, anchors):
    rows = evaluate.control_rows(report)
    index = {h: evaluate.records_by_id(report["hosts"][h]) for h in hosts}
    legend = " ".join(_badge(s) for s in ("pass", "fail", "waived", "skip"))
    out = [
        '<section class="card"><h2>Fleet matrix</h2><p class="legend note">%s &nbsp; each cell links to the '
        "host's evidence; hover for the reason</p><div class=\"scroll\">" % legend
    ]
    matrix = _wide_matrix if len(hosts) <= COMPACT_MATRIX_HOSTS else _compact_matrix
    out += matrix(rows, hosts, anchors, index)
    out.append("</table></div></section>")
    return "\n".join(out)


def _css(report):
    return _CSS + html_compliance.filter_css() if html_compliance.is_enriched(report) else _CSS


def _page_head(report, hosts):
    out = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        "<title>%s</title><style>%s</style></head><body>" % (_e(report["title"]), _css(report)),
        "<header><h1>%s</h1><div class=\"meta\">Generated %s &middot; %d host(s) &middot; "
        "schema %s &middot; outcome %s</div></header><main>"
        % (
            _e(report["title"]),
            _e(report.get("generated") or report["date"]),
            len(hosts),
            _e(report["schema"]),
            _e(report["outcome_digest"][:12]),
        ),
    ]
    bad = report["summary"]["fail"] > 0
    out.append('<p class="fleet%s">%s</p>' % (" bad" if bad else "", _e(report["summary_line"])))
    states = [_host_state(report["hosts"][h])[1] for h in hosts]
    expired = sum(1 for h in hosts if report["hosts"][h]["waivers"]["expired"])
    counted = ", ".join(
        "%d %s" % (states.count(w), w.lower()) for w in ("FAILING", "NO DATA", "WAIVED", "OK") if states.count(w)
    )
    out.append(
        '<p class="overview">%d host(s): %s%s</p>'
        % (len(hosts), counted, "; %d with expired waivers" % expired if expired else "")
    )
    stale = [h for h in hosts if report["hosts"][h].get("stale")]
    if stale:
        out.append(
            '<p class="overview warn">%d stale host(s), not current (older than %s): %s</p>'
            % (len(stale), _e((report.get("merge") or {}).get("max_age") or "?"), _e(", ".join(stale)))
        )
    gate = html_compliance.gate_html(report)
    return out + ([gate] if gate else []) + html_compliance.filter_inputs(report)


def _hosts_table(report, hosts, anchors):
    out = [
        '<section class="card"><h2>Hosts</h2><table><tr><th>Host</th><th>State</th><th>Kernel</th>'
        "<th>Summary</th><th>Counts</th><th>Notes</th></tr>"
    ]
    for h in hosts:
        r = report["hosts"][h]
        notes = []
        missing = [k for k, v in r["inputs"].items() if not v and k not in ("container", "workloads")]
        if missing:
            notes.append('<span class="warn">missing: %s</span>' % _e(", ".join(missing)))
        if r["waivers"]["expired"]:
            notes.append('<span class="warn">%d expired waiver(s)</span>' % len(r["waivers"]["expired"]))
        if r.get("stale"):
            notes.append('<span class="warn">stale: %s</span>' % _e(r["stale"]["reason"]))
        cls, word = _host_state(r)
        out.append(
            '<tr><td><a href="#%s">%s</a></td><td><span class="badge %s">%s</span></td><td class="mono">%s</td>'
            '<td class="mono">%s</td><td>%s</td><td>%s</td></tr>'
            % (
                anchors[h],
                _e(h),
                cls,
                word,
                _e(r["kernel"] or "?"),
                _e(r["summary_line"]),
                _counts_html(r["summary"]),
                " ".join(notes),
            )
        )
    out.append("</table></section>")
    return out


def _control_row(anchor, e):
    extra = ""
    if e.get("waiver"):
        extra += '<div class="note">Waived: %s%s</div>' % (
            _e(e["waiver"]["justification"]),
            " (until %s)" % _e(e["waiver"]["expires"]) if e["waiver"]["expires"] else "",
        )
    if e.get("waiver_expired"):
        extra += '<div class="note warn">Waiver expired %s</div>' % _e(e["waiver_expired"]["expires"])
    evidence = json.dumps(e["evidence"], indent=2, sort_keys=True, default=str)
    chips = html_compliance.severity_chip(e) + html_compliance.drift_chip(e)
    return (
        '<tr id="%s-%s"%s><td class="id">%s</td><td>%s%s</td><td><div>%s</div><div class="note">%s</div>%s'
        "<details><summary>evidence</summary><pre>%s</pre></details>%s</td></tr>"
        % (
            anchor,
            _e(e["id"]),
            html_compliance.row_attrs(e),
            _e(e["id"]),
            _badge(e["status"]),
            chips,
            _e(e["title"]),
            _e(e["reason"]),
            extra,
            _e(evidence),
            html_compliance.remediation_details(e),
        )
    )


def _host_section(h, r, anchor):
    out = [
        '<section class="card" id="%s"><h2>%s</h2><p class="mono">%s &nbsp; kernel %s</p>'
        % (anchor, _e(h), _e(r["summary_line"]), _e(r["kernel"] or "?"))
    ]
    for w in r["waivers"]["expired"]:
        out.append(
            '<p class="warn">Expired waiver for %s (expired %s, no longer applied): %s</p>'
            % (_e(w["control"]), _e(w["expires"]), _e(w["justification"]))
        )
    notable = [e for e in r["controls"] if e["status"] in ("fail", "waived")]
    if notable:
        out.append(
            '<ul class="attention">%s</ul>'
            % "".join(
                '<li%s>%s%s <a class="mono" href="#%s-%s">%s</a> %s &mdash; <span class="note">%s</span></li>'
                % (
                    html_compliance.row_attrs(e),
                    _badge(e["status"]),
                    html_compliance.severity_chip(e),
                    anchor,
                    _e(e["id"]),
                    _e(e["id"]),
                    _e(e["title"]),
                    _e(e["reason"]),
                )
                for e in notable
            )
        )
    group = None
    out.append("<table><tr><th>Control</th><th>Status</th><th>Title and evidence</th></tr>")
    for e in r["controls"]:
        if e["source"] != group:
            group = e["source"]
            out.append('<tr class="grp"><td colspan="3">%s</td></tr>' % _e(SOURCE_TITLES.get(group, group)))
        out.append(_control_row(anchor, e))
    out.append("</table></section>")
    return out


def render_html(report):
    hosts = list(report["hosts"])
    anchors = {h: "host-%d" % i for i, h in enumerate(hosts)}
    out = _page_head(report, hosts)
    out += _hosts_table(report, hosts, anchors)
    out.append(_matrix_html(report, hosts, anchors))
    if html_compliance.is_enriched(report):
        out.append(html_compliance.kernel_matrix(report))
        out.append(html_compliance.drift_section(report, anchors))
    for h in hosts:
        out += _host_section(h, report["hosts"][h], anchors[h])
    out.append(
        '<p class="note">nsverify &middot; statuses: pass, fail, skip (not applicable or not run), waived '
        "(a failed control with a written, unexpired waiver).</p></main></body></html>\n"
    )
    return "\n".join(out)
