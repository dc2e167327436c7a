#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: write the kernel audit's fleet summary as Markdown and each host's JSON (runs on the controller)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: nsverify_audit_summary
short_description: Write the fleet summary of the nsverify kernel audit as Markdown, and each host's JSON
description:
  - Renders the fleet summary of M(namespace_facts) over every host of a play, with the engine's one Markdown
    renderer (the same room that writes the compliance report of M(nsverify_report)).
  - The summary holds a verdict table (host and kernel against the eight namespace types, in the catalogue's order,
    C(*) marking a contradiction), the types that are not supported and why, the contradictions, the unprivileged
    user-namespace policy (C(NS-KRN-009)) and the headroom (C(NS-KRN-010)), namespaces now against their limits.
  - With O(host_dir), also writes each host's facts as C(<host_dir>/<host>.json) (the text of Ansible's
    C(to_nice_json(sort_keys=true)) and a newline), all hosts in this one task instead of one task per host.
  - Every file is rewritten only when its text changes (or its mode differs), atomically (a reader sees the old file
    or the new one), so a rerun on an unchanged fleet is not changed.
  - "Meant to run once on the controller: C(delegate_to: localhost), C(run_once: true)."
version_added: "1.0.0"
author: nsverify maintainers (!UNKNOWN)
options:
  hosts:
    description:
      - Per inventory host, its C(ansible_facts.nsverify), or null or an empty mapping for a host that failed or was
        unreachable (its row then says so).
    type: dict
    required: true
  dest:
    description:
      - Path of the Markdown file; its directory must exist.
      - Without it (and without O(host_dir)) the module only renders the summary and returns RV(lines) (for a task
        that prints it), writing nothing.
    type: path
  host_dir:
    description:
      - Directory for one C(<host>.json) per host of O(hosts) that has facts; created (mode 0755) when missing.
      - A host with null or empty facts (failed, unreachable) keeps the file an earlier run wrote.
      - A host name that cannot be a file name (a C(/), a leading C(.)) fails naming the host.
    type: path
  mode:
    description: Permissions of the files (the summary and the host files).
    type: raw
    default: "0644"
attributes:
  check_mode:
    support: full
    description: Renders the summary and says whether any file would change (RV(hosts_written)); writes nothing.
  diff_mode:
    support: full
    description: Shows each changed file's text before and after (a list, the summary first, when O(host_dir) is
      given).
"""

EXAMPLES = r"""
- name: Write the fleet summary on the controller
  nsverify_audit_summary:
    hosts: "{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars)
             | map(attribute='ansible_facts.nsverify', default={}))) }}"
    dest: "{{ playbook_dir }}/../reports/audit/summary.md"
  delegate_to: localhost
  run_once: true

- name: Write the summary and every host's JSON in one task
  nsverify_audit_summary:
    hosts: "{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars)
             | map(attribute='ansible_facts.nsverify', default={}))) }}"
    dest: /srv/reports/audit/summary.md
    host_dir: /srv/reports/audit
  delegate_to: localhost
  run_once: true

- name: Render it only, to print it
  nsverify_audit_summary:
    hosts: "{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars)
             | map(attribute='ansible_facts.nsverify', default={}))) }}"
  delegate_to: localhost
  run_once: true
  register: nsverify_audit_summary
"""

RETURN = r"""
path:
  description: The Markdown file.
  returned: when O(dest) is given
  type: str
  sample: /srv/reports/audit/summary.md
hosts_written:
  description: The hosts whose C(<host_dir>/<host>.json) was written (in check mode, would be), in order.
  returned: when O(host_dir) is given
  type: list
  elements: str
  sample: [web1, web2]
lines:
  description: The summary, one line per item (for a debug task to print).
  returned: always
  type: list
  elements: str
  sample:
    - "# nsverify namespace audit"
    - ""
    - "| host | kernel | mnt | uts | ipc | pid | net | user | cgroup | time |"
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible.module_utils.nsverify import report, validate
from ansible.module_utils.nsverify.report import audit_files, files


def build_module():
    return AnsibleModule(
        argument_spec=dict(
            hosts=dict(type="dict", required=True),
            dest=dict(type="path"),
            host_dir=dict(type="path"),
            mode=dict(type="raw", default="0644"),
        ),
        supports_check_mode=True,
    )


def summary_change(dest, text, mode):
    """(changed, diff entry) of the summary file at dest."""
    before = files.read_text(dest)
    current_mode = os.stat(dest).st_mode & 0o7777 if before is not None else None
    diff = {"before": before or "", "after": text, "before_header": dest, "after_header": dest}
    return before != text or current_mode != mode, diff


def write_files(module, result, host_changes, summary_changed, text, mode):
    """Host files first (they create host_dir, which may be dest's directory), then the summary."""
    p = module.params
    try:
        if p["host_dir"]:
            os.makedirs(p["host_dir"], mode=0o755, exist_ok=True)
        audit_files.write(host_changes, mode)
        if summary_changed:
            files.write_atomic(p["dest"], text, mode)
    except OSError as exc:
        module.fail_json(
            msg="cannot write %s: %s; create its directory or choose a writable dest and host_dir"
            % (exc.filename or p["dest"] or p["host_dir"], exc.strerror or exc),
            **result,
        )


def main():
    module = build_module()
    p = module.params
    try:
        mode = files.parse_mode(p["mode"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    bad = sorted(h for h, f in p["hosts"].items() if f is not None and not isinstance(f, dict))
    if bad:
        module.fail_json(
            msg="hosts: each value must be a host's ansible_facts.nsverify (a mapping), empty or null; not so for %s"
            % ", ".join(bad)
        )

    # decide
    text = report.render_audit_summary(p["hosts"])
    result = dict(changed=False, lines=text.splitlines())
    diffs, summary_changed = [], False
    if p["dest"]:
        summary_changed, summary_diff = summary_change(p["dest"], text, mode)
        result["path"] = p["dest"]
        diffs.append(summary_diff)
    host_changes = []
    if p["host_dir"]:
        try:
            host_changes = audit_files.plan(p["host_dir"], p["hosts"], mode)
        except validate.InvalidInput as exc:
            module.fail_json(msg="%s; rename the inventory host or leave host_dir out" % exc)
        result["hosts_written"] = [c["host"] for c in host_changes]
        diffs += audit_files.diffs(host_changes)
    result["changed"] = bool(summary_changed or host_changes)
    if module._diff and diffs:
        result["diff"] = diffs if p["host_dir"] else diffs[0]

    # act
    if result["changed"] and not module.check_mode:
        write_files(module, result, host_changes, summary_changed, text, mode)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
