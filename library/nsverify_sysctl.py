#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: nsverify_sysctl."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nsverify_sysctl
short_description: Bring the namespace sysctls to an nsverify profile's policy, persisted in one file
description:
  - Sets C(user.max_<type>_namespaces) (for each type a minimum, or an exact value such as 0 to turn a type off),
    C(kernel.unprivileged_userns_clone) where the kernel has it (Debian) and
    C(kernel.apparmor_restrict_unprivileged_userns) where it exists (Ubuntu), as the profile and O(settings) name
    them; never another sysctl. A sysctl the kernel lacks is returned in RV(absent) and left alone.
  - Applies the values now (C(/proc/sys)) and persists them in one file, O(path), that holds only the settings
    this module changed; the value found before the first change is recorded in O(record) and never overwritten.
  - A second run with the same policy changes nothing. O(state=absent) writes the recorded values back and
    removes the file and the record.
version_added: "1.0.0"
author: nsverify maintainers (!UNKNOWN)
options:
  profile:
    description: Profile whose sysctl policy applies (module_utils/nsverify/control_data.py PROFILES).
    type: str
    choices: [baseline, container-host, strict]
  settings:
    description:
      - "Per sysctl, on top of the profile, an integer (exact value), C({min: N}) or C({value: N}); C(null) drops
        the profile's entry. Only the namespace sysctls listed above are accepted."
    type: dict
    default: {}
  state:
    description: V(present) applies and persists the policy; V(absent) restores the recorded values.
    type: str
    choices: [present, absent]
    default: present
  path:
    description: The one sysctl.d file this module owns.
    type: path
    default: /etc/sysctl.d/60-nsverify.conf
  record:
    description: JSON file recording the values found before the first change (mode 0600).
    type: path
    default: /var/lib/nsverify/remediate-original.json
  sysctl_root:
    description: Where the live sysctls are; another directory only for tests.
    type: path
    default: /proc/sys
attributes:
  check_mode:
    support: full
    description: Reports what would change and writes nothing.
  diff_mode:
    support: full
    description: The file before and after, and the live values before and after.
notes:
  - The user.max_*_namespaces limits are per user namespace; run inside a user namespace they change only it.
"""

EXAMPLES = r"""
- name: Bring the host to the container-host profile
  nsverify_sysctl:
    profile: container-host

- name: Turn time namespaces off, keep the rest of the strict profile
  nsverify_sysctl:
    profile: strict
    settings:
      user.max_time_namespaces: 0

- name: Undo it
  nsverify_sysctl:
    state: absent
"""

RETURN = r"""
settings:
  description: Per managed sysctl the kernel has, its current value, the target and whether it changes.
  returned: always
  type: dict
  sample: {"user.max_time_namespaces": {"current": 96365, "target": 0, "change": true, "spec": {"value": 0}}}
absent:
  description: Sysctls the policy names that this kernel does not have (left alone).
  returned: always
  type: list
  elements: str
  sample: ["kernel.unprivileged_userns_clone"]
written:
  description: Sysctls written now (empty in check mode and on a second run).
  returned: always
  type: list
  elements: str
path:
  description: The sysctl.d file.
  returned: always
  type: str
record:
  description: The recorded original values after this run.
  returned: always
  type: dict
  sample: {"user.max_time_namespaces": 96365}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible.module_utils.nsverify import remediate


def build_module():
    return AnsibleModule(
        argument_spec=dict(
            profile=dict(type="str", choices=["baseline", "container-host", "strict"]),
            settings=dict(type="dict", default={}),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            path=dict(type="path", default=remediate.SYSCTL_FILE),
            record=dict(type="path", default=remediate.RECORD_FILE),
            sysctl_root=dict(type="path", default="/proc/sys"),
        ),
        supports_check_mode=True,
    )


def main():
    module = build_module()
    p = module.params
    try:
        if p["state"] == "present":
            pol = remediate.policy(p["profile"], p["settings"])
            plan = remediate.plan(pol, p["sysctl_root"], p["path"], p["record"], p["profile"])
        else:
            plan = remediate.plan_absent(p["sysctl_root"], p["path"], p["record"])
        written = []
        if plan["changed"] and not module.check_mode:
            written = remediate.apply(plan, p["sysctl_root"])
    except remediate.RemediateError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg="writing %s or %s failed: %s" % (p["path"], p["record"], exc))
    res = dict(
        changed=plan["changed"],
        settings=plan["settings"],
        absent=plan["absent"],
        written=written,
        path=p["path"],
        record=plan["record"]["after"],
    )
    if module._diff and plan["changed"]:
        res["diff"] = remediate.diff(plan)
    module.exit_json(**res)


if __name__ == "__main__":
    main()
