"""The HTML report's filters exercised in headless Chromium (issue 11): a report with known mixed statuses and
severities, opened with a link's fragment (report.html#status=fail&severity=high, the way people share a
filtered view) and with checkboxes turned off; the rows Chromium really lays out are counted and compared with
the rows the report's own records say must be left. The page itself has no script (the filters are CSS:
checkboxes and :target markers); to count what is laid out, the test opens a COPY of the page with a probe
script appended that reads the layout (getClientRects) and writes the counts into the DOM, which --dump-dom
returns. A screenshot of a filtered view goes to .cache/test-output/ for a person to look at. Nothing is
fetched: the page is a local file and Chromium runs with networking features off."""

import json
import os
import struct
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import CHROMIUM, run_chromium

from ansible.module_utils.nsverify import control_data, report, report_policy
from ansible.module_utils.nsverify.report import html_compliance

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_report_samples import sample_facts, sample_proofs, sample_type  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = Path(os.environ.get("NSV_TEST_OUTPUT", ROOT / ".cache" / "test-output"))
pytestmark = pytest.mark.skipif(not CHROMIUM, reason="chromium is not installed (make setup installs it: APT_PACKAGES)")

# Runs in the test's copy only, at the load event (:target is set by then, not while the body is parsed).
# `uncheck` (from the query string) lists checkbox ids to turn off first.
PROBE = r"""<script>
window.addEventListener("load", function () {
  var q = new URLSearchParams(location.search);
  (q.get("uncheck") || "").split(",").filter(Boolean).forEach(function (id) {
    document.getElementById(id).checked = false;
  });
  function shown(el) { return el.getClientRects().length > 0; }
  var rows = Array.prototype.slice.call(document.querySelectorAll("section.card[id^=host-] tr[id][data-status]"));
  var out = {rows: {}, hidden: 0, notices: []};
  rows.forEach(function (r) {
    if (!shown(r)) { out.hidden++; return; }
    var key = r.id.replace(/^host-\d+-/, "") + "@" + r.closest("section").id;
    out.rows[key] = [r.dataset.status, r.dataset.severity];
  });
  document.querySelectorAll(".preset").forEach(function (p) { if (shown(p)) out.notices.push(p.id); });
  out.matrix = [];
  document.querySelectorAll("table.matrix tr[data-severity]").forEach(function (r) {
    if (shown(r)) out.matrix.push(r.querySelector("td.id").firstChild.textContent);
  });
  out.host_cards = [];
  document.querySelectorAll("section.card[id^=host-]").forEach(function (c) { if (shown(c)) out.host_cards.push(c.id); });
  out.scroll_y = window.scrollY;
  var pre = document.createElement("pre");
  pre.id = "nsv-probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _inputs():
    """Every status and several severities on three hosts: failures (high, medium, low, critical), a waiver,
    skips (kernel-too-old), passes."""
    bad = sample_proofs()
    bad["uts"]["checks"][0].update(status="fail", reason="hostname leaked to the host")
    bad["pid"]["checks"][1].update(status="fail", reason="host processes visible inside")
    bad["user"]["checks"][1].update(status="fail", reason="a file made inside is owned by host root")
    return {
        "web1": {
            "facts": sample_facts(time=sample_type("time", "not-built"), user=sample_type("user", limit=1)),
            "proofs": bad,
        },
        "old1": {
            "facts": sample_facts(
                time=sample_type("time", "kernel-too-old"), cgroup=sample_type("cgroup", "kernel-too-old")
            ),
            "proofs": sample_proofs(),
        },
        "db1": {"facts": sample_facts(), "proofs": sample_proofs()},
    }


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nsv-browser")
    waiver = report.parse_waivers([{"control": "NS-PID-002", "justification": "known: test host"}])
    built = report.build_report(_inputs(), waivers=waiver, generated="2026-12-02T01:00:00Z")
    rep = report_policy.compose(built, "container-host", None, None, None, "high", False, None)
    html = report.render_html(rep)
    path = tmp / "nsverify-report.html"
    path.write_text(html)
    probed = tmp / "probed.html"
    probed.write_text(html.replace("</body>", PROBE + "</body>"))
    records = {
        "%s@%s" % (e["id"], "host-%d" % i): (e["status"], e["severity"])
        for i, (_, r) in enumerate(rep["hosts"].items())
        for e in r["controls"]
    }
    return {"tmp": tmp, "path": path, "probed": probed, "records": records, "report": rep}


def _chromium(tmp, *args):
    return run_chromium(tmp, *args)


def _laid_out(page, suffix=""):
    dom = _chromium(page["tmp"], "--dump-dom", page["probed"].as_uri() + suffix)
    start = dom.index('<pre id="nsv-probe">') + len('<pre id="nsv-probe">')
    return json.loads(dom[start : dom.index("</pre>", start)].replace("&amp;", "&").replace("&quot;", '"'))


def _expected(page, statuses=None, severities=None):
    return {
        k: list(v)
        for k, v in page["records"].items()
        if (statuses is None or v[0] in statuses) and (severities is None or v[1] in severities)
    }


def test_the_report_has_the_mix_the_filters_need(page):
    """The fixture holds every status and a failure of three severities; else the filter tests prove little."""
    mix = Counter(page["records"].values())
    assert {s for s, _ in mix} == set(html_compliance.STATUSES)
    assert {v for s, v in mix if s == "fail"} >= {"high", "low", "critical"}, mix
    assert set(control_data.SEVERITIES) >= {v for _, v in mix}


def test_unfiltered_every_control_row_is_laid_out(page):
    seen = _laid_out(page)
    assert seen["rows"] == _expected(page) and seen["hidden"] == 0 and seen["notices"] == []


@pytest.mark.parametrize(
    "fragment,statuses,severities",
    [
        ("#status=fail&severity=high", {"fail"}, {"high"}),
        ("#severity=high&status=fail", {"fail"}, {"high"}),
        ("#status=fail", {"fail"}, None),
        ("#severity=critical", None, {"critical"}),
        ("#status=skip", {"skip"}, None),
        ("#status=waived&severity=info", {"waived"}, {"info"}),
    ],
    ids=["fail-high", "either-order", "fail", "critical", "skip", "nothing-left"],
)
def test_a_link_fragment_sets_the_filters_on_load(page, fragment, statuses, severities):
    seen = _laid_out(page, fragment)
    want = _expected(page, statuses, severities)
    assert seen["rows"] == want, sorted(set(seen["rows"]) ^ set(want))
    assert seen["hidden"] == len(page["records"]) - len(want) > 0
    assert seen["notices"] == [fragment[1:]]  # the page says it is filtered, and by what


def test_unchecking_boxes_hides_those_rows(page):
    seen = _laid_out(page, "?uncheck=f-pass,f-low")
    want = _expected(page, {"fail", "waived", "skip"}, set(control_data.SEVERITIES) - {"low"})
    assert seen["rows"] == want and len(want) > 0


def test_a_fragment_and_the_checkboxes_combine(page):
    seen = _laid_out(page, "?uncheck=f-high#status=fail")
    assert seen["rows"] == _expected(page, {"fail"}, set(control_data.SEVERITIES) - {"high"})


def _matrix_rows(page, statuses, severities):
    """Control ids whose matrix row the filter keeps: its severity, and its worst status across hosts."""
    worst = {}
    for key, (status, severity) in page["records"].items():
        cid = key.split("@")[0]
        prev = worst.get(cid, (status, severity))[0]
        worst[cid] = (min(prev, status, key=html_compliance.STATUS_RANK.get), severity)
    return sorted(c for c, (st, sev) in worst.items() if (not statuses or st in statuses) and sev in severities)


@pytest.mark.parametrize(
    "fragment,statuses,severities",
    [("#severity=critical", None, {"critical"}), ("#status=fail&severity=high", {"fail"}, {"high"})],
    ids=["critical", "failing-somewhere-high"],
)
def test_the_fleet_matrix_keeps_the_rows_of_the_filter(page, fragment, statuses, severities):
    want = _matrix_rows(page, statuses, severities)
    assert sorted(_laid_out(page, fragment)["matrix"]) == want and want


def test_a_shared_link_opens_at_the_top_and_folds_hosts_with_nothing_left(page):
    seen = _laid_out(page, "#status=fail&severity=high")
    assert seen["scroll_y"] == 0  # the summary and the filters stay in view
    hosts = sorted({k.split("@")[1] for k in _expected(page, {"fail"}, {"high"})})
    assert seen["host_cards"] == hosts and len(hosts) < len(page["report"]["hosts"])
    assert len(_laid_out(page)["host_cards"]) == len(page["report"]["hosts"])


def test_an_unknown_fragment_filters_nothing(page):
    seen = _laid_out(page, "#status=bogus")
    assert seen["rows"] == _expected(page) and seen["notices"] == []


def test_screenshot_of_a_shared_link_is_saved(page):
    OUTPUT.mkdir(parents=True, exist_ok=True)
    shot = OUTPUT / "nsverify-report-fail-high.png"
    if shot.exists():
        shot.unlink()
    _chromium(
        page["tmp"],
        "--window-size=1400,1800",
        "--screenshot=%s" % shot,
        page["path"].as_uri() + "#status=fail&severity=high",
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (1400, 1800)


def test_the_report_itself_still_has_no_script(page):
    text = page["path"].read_text()
    assert "<script" not in text and "<link" not in text and " src=" not in text
