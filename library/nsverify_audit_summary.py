#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: write the kernel audit's fleet summary as Markdown (runs on the controller)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: nsverify_audit_summary
short_description: Write the fleet summary of the nsverify kernel audit as Markdown
description:
  - Renders the fleet summary of M(namespace_facts) over every host of a play, with the engine's one Markdown
    renderer (the same room that writes the compliance report of M(nsverify_report)).
  - The summary holds a verdict table (host and kernel against the eight namespace types, in the catalogue's order,
    C(*) marking a contradiction), the types that are not supported and why, the contradictions, the unprivileged
    user-namespace policy (C(NS-KRN-009)) and the headroom (C(NS-KRN-010)), namespaces now against their limits.
  - The file is rewritten only when its text changes (or its mode differs), so a rerun on an unchanged fleet is not
    changed.
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
      - Without it the module only renders the summary and returns RV(lines) (for a task that prints it), writing
        nothing.
    type: path
  mode:
    description: Permissions of the file.
    type: raw
    default: "0644"
attributes:
  check_mode:
    support: full
    description: Renders the summary and says whether the file would change; writes nothing.
  diff_mode:
    support: full
    description: Shows the file's text before and after.
"""

EXAMPLES = r"""
- name: Write the fleet summary on the controller
  nsverify_audit_summary:
    hosts: "{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars)
             | map(attribute='ansible_facts.nsverify', default={}))) }}"
    dest: "{{ playbook_dir }}/../reports/audit/summary.md"
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

from ansible.module_utils.nsverify import report
from ansible.module_utils.nsverify.report import files


def build_module():
    return AnsibleModule(
        argument_spec=dict(
            hosts=dict(type="dict", required=True),
            dest=dict(type="path"),
            mode=dict(type="raw", default="0644"),
        ),
        supports_check_mode=True,
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
    if not p["dest"]:
        module.exit_json(changed=False, lines=text.splitlines())
    before = files.read_text(p["dest"])
    current_mode = os.stat(p["dest"]).st_mode & 0o7777 if before is not None else None
    changed = before != text or current_mode != mode
    result = dict(changed=changed, path=p["dest"], lines=text.splitlines())
    if module._diff:
        result["diff"] = {"before": before or "", "after": text, "before_header": p["dest"], "after_header": p["dest"]}

    # act
    if changed and not module.check_mode:
        try:
            files.write_atomic(p["dest"], text, mode)
        except OSError as exc:
            module.fail_json(
                msg="cannot write %s: %s; create its directory or choose a writable dest"
                % (p["dest"], exc.strerror or exc),
                **result,
            )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
