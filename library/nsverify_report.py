#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: render the nsverify compliance report of a fleet (runs on the controller)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: nsverify_report
short_description: Evaluate nsverify controls for a fleet and write JSON, HTML and Markdown reports
description:
  - Evaluates the control catalogue (C(NS-KRN-*), the isolation proofs C(NS-UTS/PID/NET/MNT/USER/IPC/CGROUP/TIME-*)
    and optionally C(NS-CTR-*)) against the audit facts of M(namespace_facts), the results of
    M(namespace_verify) and optional container checks, per host.
  - Audit verdicts map to statuses as follows. C(supported) is C(pass); C(kernel-too-old) is C(skip) (not
    applicable, the type does not exist in that kernel); C(not-built), C(denied), C(limit-zero) and C(unknown) are
    C(fail). C(NS-KRN-010) fails when a type's headroom (limit minus count) is below O(min_headroom).
  - Waivers turn a C(fail) into C(waived). Each needs a control id and a written justification, optionally host
    patterns and an expiry date (valid through that day). An expired waiver does not apply and is flagged.
  - Writes C(<basename>.json) always, plus the views listed in O(formats), into O(dest). The files are rewritten
    only when the outcome (hosts, control ids, statuses, waivers) differs from the report already there, so a
    second run with the same outcome is not changed; the generation time and the volatile evidence (PIDs, inode
    numbers) do not count. O(force=true) rewrites anyway.
  - "Meant to run once on the controller: C(delegate_to: localhost), C(run_once: true)."
version_added: "1.0.0"
author: nsverify maintainers (!UNKNOWN)
options:
  hosts:
    description:
      - Per inventory host, its inputs as a mapping with optional keys C(facts) (C(ansible_facts.nsverify)),
        C(proofs) (the C(proofs) of M(namespace_verify)) and C(container) (a list of container checks, each
        C(id), C(title), C(status) pass/fail/skip, C(evidence), or a mapping holding that list under C(checks)),
        and C(distribution) (C(id) and C(version_id) of os-release, or Ansible's C(distribution) and
        C(distribution_major_version)) so that each control's C(fix) is the one for that distribution.
      - A host whose facts or proofs are missing gets C(skip) for those controls, with the reason; an empty
        entry is a host whose inputs were not gathered (unreachable).
      - An entry of the wrong shape (a key that is not one of these, facts without C(types), proofs keyed by
        something other than a namespace type, a string where a mapping belongs) fails the task naming the host
        and the key, instead of evaluating to every control skipped.
      - Also C(workloads), the result of M(namespace_inspect) (its C(targets) and C(errors)), for the
        C(NS-WKL-*) controls.
    type: dict
    required: true
  dest:
    description: Directory for the report files; created (mode 0755) when missing.
    type: path
    required: true
  basename:
    description: File name stem of the report files.
    type: str
    default: nsverify-report
  formats:
    description:
      - Views to write next to the JSON (which is always written) - C(html) and C(markdown) for people,
        C(junit) (C(<basename>.junit.xml), one testsuite per host) for CI test dashboards, C(sarif)
        (C(<basename>.sarif), SARIF 2.1.0) for code-scanning dashboards.
    type: list
    elements: str
    choices: [html, markdown, junit, sarif]
    default: [html, markdown]
  profile:
    description:
      - Control profile (module_utils/nsverify/control_data.py PROFILES) - C(baseline) (kernel support and
        limits), C(container-host) (also every isolation proof and the container, limits non-zero),
        C(strict) (everything, policy and workload controls raised). It selects the controls and may raise or
        lower their severities. Default every control at its catalogue severity.
    type: str
    choices: [baseline, container-host, strict]
  fail_on:
    description:
      - After writing, fail the task when a control of this severity or worse failed (waived ones never count),
        naming them. C(none) never fails.
    type: str
    choices: [none, info, low, medium, high, critical]
    default: none
  fail_on_new:
    description:
      - After writing, fail only on new failures against the baseline (with O(fail_on) also of that severity or
        worse). Without any baseline yet nothing is new.
    type: bool
    default: false
  baseline:
    description:
      - A previous JSON report to compare with (drift per host and control - new failure, fixed, still failing,
        unchanged, changed evidence). Default the report already in O(dest), if there is one.
      - A file that is not an nsverify JSON report fails the task, naming the file and the problem.
    type: path
  waivers:
    description:
      - Path to a YAML or JSON waiver file on the controller, a list under C(waivers) (or a bare list) of
        mappings with C(control), C(justification), optional C(hosts) (pattern or list of fnmatch patterns,
        default every host) and optional C(expires) (YYYY-MM-DD).
      - A waiver without justification, with an unknown control id or a malformed date fails the task.
    type: path
  today:
    description: Date (YYYY-MM-DD) against which waiver expiry is judged; default the controller's date.
    type: str
  title:
    description: Report title.
    type: str
    default: nsverify compliance report
  min_headroom:
    description: C(NS-KRN-010) fails for a type whose limit minus current count is below this.
    type: int
    default: 1
  mode:
    description: Permissions of the report files.
    type: raw
    default: "0644"
  force:
    description: Rewrite the files even when the outcome is unchanged (fresh evidence and time stamp).
    type: bool
    default: false
  fail_on_failed:
    description: After writing, fail the task when any control failed (not waived), naming them.
    type: bool
    default: false
  merge:
    description:
      - Fleet merge of separately written per-host results (job slices, C(--limit) runs, runs on different
        days). Each host of O(hosts) that has inputs is written to C(<dest>/hosts/<host>.json) (schema
        C(nsverify-host/1), atomically, with the time C(audited)), and the report is rendered from every host
        file in that directory, the hosts of this run taking their fresh inputs. Waivers, profile and options
        judge every host alike.
      - The host files are refreshed on every run (their C(audited) time is what O(max_age) judges); C(changed)
        follows the fleet report's outcome only.
      - A file in C(<dest>/hosts) that is not an nsverify host file (not JSON, another schema, a host name that
        is not its file name, inputs of the wrong shape) fails the task naming the file and how to fix it.
    type: bool
    default: false
  max_age:
    description:
      - With O(merge), a host whose file was written more than this long ago (C(7d), C(36h), C(90m), seconds)
        is listed as stale - in C(merge.stale), in its host entry (C(stale) with C(audited), C(age) and the
        reason) and in every view - not merged as if it were current. Empty or C(0) for no limit.
    type: str
    default: ""
attributes:
  check_mode:
    support: full
    description: Computes whether the report would change and writes nothing.
  diff_mode:
    support: full
    description: Shows the per-host summary lines before and after.
notes:
  - "Runs where it is executed; use C(delegate_to: localhost) and C(run_once: true) for a fleet report."
  - The JSON schema is C(nsverify-report/2) (schemas/nsverify-report-2.schema.json); each control carries C(id),
    C(title), C(namespace), C(source), C(status), C(reason), C(evidence), C(severity), C(rationale),
    C(evaluated_from), C(remediation), C(fix) and C(references), plus C(waiver), C(waiver_expired) and C(drift)
    when they apply.
"""

EXAMPLES = r"""
- name: Render the fleet report on the controller
  nsverify_report:
    hosts: "{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars)
             | map(attribute='nsverify_report_input', default={}))) }}"
    dest: "{{ playbook_dir }}/../reports"
    waivers: "{{ playbook_dir }}/../waivers.yml"
  delegate_to: localhost
  run_once: true

- name: Gate a CI job on the report
  nsverify_report:
    hosts:
      web1:
        facts: "{{ hostvars.web1.ansible_facts.nsverify }}"
        proofs: "{{ hostvars.web1.nsverify_report_verify.proofs }}"
    dest: /tmp/nsverify-reports
    formats: [html]
    fail_on_failed: true
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
paths:
  description: The files of the report, by format.
  returned: always
  type: dict
  sample: {"json": "/srv/reports/nsverify-report.json", "html": "/srv/reports/nsverify-report.html"}
summary:
  description: Fleet counts of control statuses.
  returned: always
  type: dict
  sample: {"count": 66, "pass": 40, "fail": 1, "skip": 24, "waived": 1}
summary_line:
  description: The fleet summary line.
  returned: always
  type: str
  sample: "Count: 66, Passed: 40, Failed: 1, Skipped: 24, Waived: 1"
merge:
  description:
    - With O(merge), the hosts of this run (C(this_run)), those taken from their files (C(from_files)), the
      stale ones (C(stale)), the max age, the host files written (C(host_files)) and one C(summary_line).
  returned: always
  type: dict
  sample: {"this_run": ["web2"], "from_files": ["web1"], "stale": ["web1"], "max_age": "7d",
           "host_files": {"web2": "/srv/reports/hosts/web2.json"},
           "summary_line": "stale (older than 7d, not current): web1"}
hosts:
  description: Per host, its summary and the ids of its failed, waived and expired-waiver controls.
  returned: always
  type: dict
  sample:
    web1:
      summary: {"count": 33, "pass": 20, "fail": 0, "skip": 12, "waived": 1}
      summary_line: "Count: 33, Passed: 20, Failed: 0, Skipped: 12, Waived: 1"
      kernel: 6.1.0-25-amd64
      failed: []
      waived: ["NS-KRN-008"]
      expired_waivers: []
outcome_digest:
  description: sha256 of the outcome (hosts, control ids, statuses, waivers) that decides C(changed).
  returned: always
  type: str
  sample: 87790e9e45ae2b4c0d5c9f1e6b3a8d7c1f0e2a4b6c8d0e1f2a3b4c5d6e7f8a9b
generated:
  description: UTC time stamp of the report on disk (kept from the earlier run when the outcome is unchanged).
  returned: always
  type: str
  sample: "2026-11-23T18:02:11Z"
gate:
  description: The exit policy's verdict - failed, fail_on, fail_on_new, causes (host, id, severity, title), message.
  returned: always
  type: dict
  sample: {"failed": true, "fail_on": "high", "fail_on_new": false, "message": "failed controls of severity high or worse (1): web1 NS-KRN-010 (high)"}
drift:
  description: Counts per drift state against the baseline, the baseline used and one summary line; empty without
    a baseline.
  returned: always
  type: dict
  sample: {"baseline": "/srv/reports/nsverify-report.json", "counts": {"new-failure": 1, "unchanged": 40},
           "summary_line": "Drift against /srv/reports/nsverify-report.json: new-failure 1, unchanged 40"}
"""

import datetime
import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible.module_utils.nsverify import drift, report, report_policy, validate
from ansible.module_utils.nsverify.report import files, hostfiles, inputs

try:
    import yaml
except ImportError:  # pragma: no cover - ansible-core depends on PyYAML
    yaml = None


def build_module():
    return AnsibleModule(
        argument_spec=dict(
            hosts=dict(type="dict", required=True),
            dest=dict(type="path", required=True),
            basename=dict(type="str", default="nsverify-report"),
            formats=dict(
                type="list",
                elements="str",
                choices=["html", "markdown", "junit", "sarif"],
                default=["html", "markdown"],
            ),
            profile=dict(type="str", choices=["baseline", "container-host", "strict"]),
            fail_on=dict(type="str", choices=["none", "info", "low", "medium", "high", "critical"], default="none"),
            fail_on_new=dict(type="bool", default=False),
            baseline=dict(type="path"),
            waivers=dict(type="path"),
            today=dict(type="str"),
            title=dict(type="str", default="nsverify compliance report"),
            min_headroom=dict(type="int", default=1),
            mode=dict(type="raw", default="0644"),
            force=dict(type="bool", default=False),
            fail_on_failed=dict(type="bool", default=False),
            merge=dict(type="bool", default=False),
            max_age=dict(type="str", default=""),
        ),
        supports_check_mode=True,
    )


def load_waivers(module, path):
    if not path:
        return []
    try:
        with open(path) as fh:
            text = fh.read()
    except OSError as exc:
        module.fail_json(
            msg="cannot read the waiver file %s: %s; fix the path or drop the waivers option"
            % (path, exc.strerror or exc)
        )
    try:
        data = yaml.safe_load(text) if yaml is not None else json.loads(text)
    except ValueError as exc:
        module.fail_json(msg="the waiver file %s is not valid YAML/JSON: %s" % (path, exc))
    except Exception as exc:  # yaml.YAMLError and friends
        module.fail_json(msg="the waiver file %s is not valid YAML/JSON: %s" % (path, exc))
    try:
        return report.parse_waivers(data)
    except report.WaiverError as exc:
        module.fail_json(msg="%s (in %s)" % (exc, path))


def load_baseline(module, explicit, existing_path):
    """(report, name) to compare with: the explicit file (an unusable one fails the task, naming it), else
    the report already in dest (an unusable one is skipped with a warning), else (None, None)."""
    if explicit:
        try:
            return drift.load_baseline(explicit), explicit
        except drift.BaselineError as exc:
            module.fail_json(msg="%s; give a JSON report written by nsverify_report as baseline" % exc)
    if not os.path.exists(existing_path):
        return None, None
    try:
        return drift.load_baseline(existing_path), existing_path
    except drift.BaselineError as exc:
        module.warn("no drift: the previous report is unusable as baseline (%s)" % exc)
        return None, None


def read_existing(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def host_summaries(rep):
    out = {}
    for name, r in rep["hosts"].items():
        out[name] = {
            "summary": r["summary"],
            "summary_line": r["summary_line"],
            "kernel": r["kernel"],
            "failed": [e["id"] for e in r["controls"] if e["status"] == "fail"],
            "waived": [e["id"] for e in r["controls"] if e["status"] == "waived"],
            "expired_waivers": [w["control"] for w in r["waivers"]["expired"]],
            "audited": r.get("audited"),
            "stale": bool(r.get("stale")),
        }
    return out


def summary_text(rep):
    if not rep:
        return ""
    return "".join("%s: %s\n" % (h, r["summary_line"]) for h, r in sorted(rep["hosts"].items()))


def gather_hosts(module, p, now, max_age):
    """(hosts to evaluate, merge summary or None): with merge, this run's hosts over every host file in dest."""
    if not p["merge"]:
        return p["hosts"], None
    try:
        for host in p["hosts"]:
            hostfiles.host_path(hostfiles.hosts_dir(p["dest"]), host)
    except validate.InvalidInput as exc:
        module.fail_json(msg="hosts: %s; merge=true writes one file per host into %s" % (exc, p["dest"]))
    try:
        stored = hostfiles.read_host_files(hostfiles.hosts_dir(p["dest"]))
    except hostfiles.HostFileError as exc:
        module.fail_json(msg=str(exc))
    return hostfiles.merge(p["hosts"], stored, now, max_age)


def compose(module, p, hosts, merged, waivers, today, generated, json_path):
    """Evaluate, enrich for the profile, compare with the baseline and gate: the report to publish."""
    rep = report.build_report(
        hosts,
        waivers,
        today=today,
        generated=generated,
        title=p["title"],
        min_headroom=p["min_headroom"],
        merged=merged,
    )
    baseline, baseline_name = load_baseline(module, p["baseline"], json_path)
    distros = {h: (v or {}).get("distribution") for h, v in hosts.items()}
    try:
        return report_policy.compose(
            rep, p["profile"], distros, baseline, baseline_name, p["fail_on"], p["fail_on_new"], p["baseline"]
        )
    except report_policy.PolicyError as exc:
        module.fail_json(msg=str(exc))


def drift_result(rep):
    d = rep.get("drift")
    if not d:
        return {}
    return {"baseline": d["baseline"], "counts": d["counts"], "summary_line": drift.summary_line(d)}


def check_arguments(module, p):
    """(file mode, today) from the arguments; a bad one fails the task with the fix."""
    try:
        mode = files.parse_mode(p["mode"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    try:
        today = report.parse_date(p["today"]) if p["today"] else datetime.date.today()
    except ValueError as exc:
        module.fail_json(msg="today: %s" % exc)
    try:
        validate.basename(p["basename"])
    except validate.InvalidInput as exc:
        module.fail_json(msg=str(exc))
    if p["min_headroom"] < 0:
        module.fail_json(msg="min_headroom must be 0 or more, got %d" % p["min_headroom"])
    try:
        inputs.check_hosts(p["hosts"])
    except inputs.InputError as exc:
        module.fail_json(
            msg="%s (hosts: each value must be a mapping of the host's report inputs: facts, proofs, container, "
            "workloads, distribution)" % exc
        )
    try:
        max_age = hostfiles.parse_max_age(p["max_age"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    return mode, today, max_age


def render(fmt, rep, basename):
    if fmt == "sarif":  # results point at the JSON report next to it
        return report.render_sarif(rep, "%s.json" % basename)
    return report.RENDERERS[fmt](rep)


def main():
    module = build_module()
    p = module.params
    mode, today, max_age = check_arguments(module, p)
    waivers = load_waivers(module, p["waivers"])

    # decide
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    generated = now.strftime(hostfiles.TIME_FORMAT)
    json_path = os.path.join(p["dest"], "%s.json" % p["basename"])
    hosts, merged = gather_hosts(module, p, now, max_age)
    rep = compose(module, p, hosts, merged, waivers, today, generated, json_path)
    paths = {"json": json_path}
    for fmt in p["formats"]:
        paths[fmt] = os.path.join(p["dest"], "%s.%s" % (p["basename"], report.EXTENSIONS[fmt]))
    existing = read_existing(paths["json"])
    same = (
        existing is not None
        and existing.get("outcome_digest") == rep["outcome_digest"]
        and all(os.path.exists(path) for path in paths.values())
    )
    changed = p["force"] or not same
    if not changed:
        rep["generated"] = existing.get("generated")

    result = dict(
        changed=changed,
        paths=paths,
        summary=rep["summary"],
        summary_line=rep["summary_line"],
        hosts=host_summaries(rep),
        outcome_digest=rep["outcome_digest"],
        generated=rep["generated"],
        gate=rep["gate"],
        drift=drift_result(rep),
        merge=dict(merged or {}, host_files={}, summary_line=hostfiles.stale_line(merged)),
    )
    if module._diff:
        result["diff"] = {
            "before": summary_text(existing if isinstance(existing, dict) and "hosts" in existing else None),
            "after": summary_text(rep),
            "before_header": paths["json"],
            "after_header": paths["json"],
        }

    # act
    if p["merge"] and not module.check_mode:
        try:
            result["merge"]["host_files"] = hostfiles.write_host_files(
                hostfiles.hosts_dir(p["dest"]), p["hosts"], generated, mode
            )
        except OSError as exc:
            module.fail_json(
                msg="cannot write the host files into %s: %s; choose a writable dest"
                % (hostfiles.hosts_dir(p["dest"]), exc.strerror or exc),
                **result,
            )
    if changed and not module.check_mode:
        try:
            if not os.path.isdir(p["dest"]):
                os.makedirs(p["dest"], 0o755)
            files.write_atomic(paths["json"], report.render_json(rep), mode)
            for fmt in p["formats"]:
                files.write_atomic(paths[fmt], render(fmt, rep, p["basename"]), mode)
        except OSError as exc:
            module.fail_json(
                msg="cannot write the report into %s: %s; choose a writable dest" % (p["dest"], exc.strerror or exc),
                **result,
            )

    if rep["gate"]["failed"]:
        module.fail_json(msg="gate: %s (details in %s)" % (rep["gate"]["message"], paths["json"]), **result)
    if p["fail_on_failed"] and rep["summary"]["fail"]:
        failed = ["%s: %s" % (h, ", ".join(s["failed"])) for h, s in sorted(result["hosts"].items()) if s["failed"]]
        module.fail_json(
            msg="failed controls (waive them with a justification or fix the hosts): %s" % "; ".join(failed), **result
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
