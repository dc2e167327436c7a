"""The HTML report opened in headless Chromium: a fleet with failures of several severities, a waiver,
drift against a baseline and the gate on. The screenshot is saved with the test output
(.cache/test-output/nsverify-report.png, next to pytest's JUnit XML) for a person to look at; the test
checks that Chromium rendered the page from the one file (no script, no external resource) and that
what a reader needs is in the rendered DOM."""

import json
import os
import struct
import sys
from pathlib import Path

import pytest
from conftest import CHROMIUM, run_chromium

from ansible.module_utils.nsverify import report, report_policy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_report_formats import CAPTURED  # noqa: E402
from test_report_samples import sample_facts, sample_proofs, sample_type  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = Path(os.environ.get("NSV_TEST_OUTPUT", ROOT / ".cache" / "test-output"))

pytestmark = pytest.mark.skipif(not CHROMIUM, reason="chromium is not installed (make setup installs it)")


def _inputs():
    bad = sample_proofs()
    bad["uts"]["checks"][0].update(status="fail", reason="hostname leaked to the host")
    bad["pid"]["checks"][1].update(status="fail", reason="host processes visible inside")
    return {
        "captured-vm": {"facts": CAPTURED["facts"], "proofs": CAPTURED["proofs"], "container": CAPTURED["container"]},
        "web1": {
            "facts": sample_facts(time=sample_type("time", "not-built"), user=sample_type("user", limit=1)),
            "proofs": bad,
        },
        "db1": {"facts": sample_facts(), "proofs": sample_proofs()},
    }


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """Three hosts (one captured from a real VM), failures of several severities, a waiver, drift against
    last week's report (where web1 was clean) and the gate at high."""
    tmp = tmp_path_factory.mktemp("nsv-html")
    old_inputs = _inputs()
    old_inputs["web1"] = {"facts": sample_facts(), "proofs": sample_proofs()}
    old = json.loads(report.render_json(report_policy.compose(report.build_report(old_inputs))))
    waiver = report.parse_waivers([{"control": "NS-UTS-001", "justification": "hostname test host"}])
    built = report.build_report(_inputs(), waivers=waiver, generated="2026-11-23T10:00:00Z")
    rep = report_policy.compose(built, "container-host", None, old, "last-week.json", "high", False, "last-week.json")
    path = tmp / "nsverify-report.html"
    path.write_text(report.render_html(rep))
    return tmp, path, rep


def _chromium(tmp, *args):
    return run_chromium(tmp, *args)


def test_screenshot_is_saved_with_the_test_output(page):
    tmp, path, _ = page
    OUTPUT.mkdir(parents=True, exist_ok=True)
    shot = OUTPUT / "nsverify-report.png"
    if shot.exists():
        shot.unlink()
    _chromium(tmp, "--window-size=1400,2600", "--screenshot=%s" % shot, path.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1400, 2600) and len(data) > 50000  # a rendered page, not a blank one


def test_the_rendered_dom_shows_what_a_reader_needs(page):
    tmp, path, rep = page
    dom = _chromium(tmp, "--dump-dom", path.as_uri())
    assert "Gate (fail_on=high)" in dom and "web1 NS-KRN-010 (high)" in dom
    assert 'id="f-fail"' in dom and 'id="f-critical"' in dom  # the filters
    assert 'data-status="fail" data-severity="high"' in dom
    assert "Kernels × namespace types" in dom and "6.18.44-fc-v657" in dom
    assert "Drift since the baseline" in dom and "new-failure" in dom
    assert '<details class="fix" open=""><summary>remediation</summary>' in dom
    assert "Waived: hostname test host" in dom


def test_the_page_is_one_file_without_script_or_fetch(page):
    _, path, _ = page
    text = path.read_text()
    assert "<script" not in text and "<link" not in text and " src=" not in text and "@import" not in text
