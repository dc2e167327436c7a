#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: audit which Linux namespace types this host can create, with evidence."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: namespace_facts
short_description: Audit Linux namespace support (mnt uts ipc pid net user cgroup time) with evidence
description:
  - For every requested namespace type returns a verdict, one of C(supported), C(kernel-too-old), C(not-built),
    C(limit-zero), C(denied), C(unknown), with the reason and the evidence it rests on, as
    C(ansible_facts.nsverify).
  - "Evidence per type: the kernel release against the type's first kernel (the version gate), the presence of
    C(/proc/self/ns/<entry>), the kernel config line (from C(/proc/config.gz) or C(/boot/config-<release>)), the
    C(user.max_<type>_namespaces) limit, and a live creation attempt (C(unshare(2)) in a forked child; the errno is
    kept). The module's own process never changes namespace."
  - The live attempt decides. C(ENOSPC) gives C(limit-zero), C(EPERM) gives C(denied), C(EINVAL) (or a missing
    C(/proc) entry, or an unset config option) gives C(not-built), a release below the first kernel gives
    C(kernel-too-old). Static evidence that disagrees with the live attempt is reported in C(contradiction).
  - A caller without C(CAP_SYS_ADMIN) that gets C(EPERM) is retried inside a fresh user namespace, as an
    unprivileged user would do (C(via_user_namespace=true) in the evidence). The user type is only C(supported)
    when a capability could be used inside the new user namespace (a new UTS namespace and C(sethostname())),
    because Ubuntu's C(kernel.apparmor_restrict_unprivileged_userns) creates user namespaces without capabilities.
  - Also reports the unprivileged user-namespace policy (sysctls, boot options, a live attempt as uid 65534 when
    run as root), the cgroup layout (v1, v2, hybrid) and its mount points, and the headroom of each type (distinct
    namespaces now against the limit; a lower bound when some processes are unreadable).
version_added: "1.0.0"
author: nsverify maintainers (!UNKNOWN)
options:
  types:
    description:
      - Namespace types to audit. Unknown names fail the task with the list of valid names.
    type: list
    elements: str
    default: [mnt, uts, ipc, pid, net, user, cgroup, time]
  probe:
    description:
      - Try to create each namespace for real (in a forked child). With C(false) only static checks are made and a
        verdict that static evidence cannot settle is C(unknown) with a reason saying it was not exercised.
    type: bool
    default: true
  release:
    description:
      - Audit an installed kernel that is not running (a pre-upgrade check), from C(/boot/config-<release>) and
        the version gates only. Nothing of the running kernel (C(/proc) entries, limits, live attempts) is used as
        its evidence, so a verdict that the config cannot settle is C(unknown).
      - When equal to the running release (C(uname -r)) the normal live audit runs.
      - A malformed release fails the task.
    type: str
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to diff.
  facts:
    support: full
    description: Returns C(ansible_facts.nsverify).
notes:
  - Run it as root for complete headroom counts; as another user the counts are lower bounds and namespaces are
    probed the way that user would get them (through a user namespace).
  - Namespace limits are per user namespace; run inside one (C(unshare -Ur)) the module reports that namespace's
    limits.
seealso:
  - name: namespaces(7)
    description: Overview of Linux namespaces.
    link: https://man7.org/linux/man-pages/man7/namespaces.7.html
"""

EXAMPLES = r"""
- name: NS-KRN-001..010 | AUDIT | Audit namespace support on this host
  namespace_facts:

- name: Audit only the time and cgroup namespaces, without creating anything
  namespace_facts:
    types: [time, cgroup]
    probe: false

- name: Before rebooting into a new kernel, check what its config says
  namespace_facts:
    release: 6.1.0-25-amd64

- name: Fail when time namespaces are not supported
  ansible.builtin.assert:
    that: ansible_facts.nsverify.types.time.verdict == 'supported'
    fail_msg: "{{ ansible_facts.nsverify.types.time.reason }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: complex
  contains:
    nsverify:
      description: The audit.
      returned: always
      type: complex
      contains:
        kernel:
          description: Release string, parsed version and machine of the audited kernel.
          type: dict
          returned: always
          sample: {"release": "6.1.0-25-amd64", "version": [6, 1, 0], "machine": "x86_64"}
        config:
          description: Where the kernel config was read (null when none was readable).
          type: dict
          returned: always
          sample: {"source": "/proc/config.gz"}
        privilege:
          description: Who ran the audit.
          type: dict
          returned: always
          sample: {"euid": 0, "user": "root", "initial_user_ns": true, "uid_map": [[0, 0, 4294967295]],
                   "cap_sys_admin": true}
        mode:
          description: C(live) (probed), C(static) (probe=false) or C(offline) (release of a kernel not running).
          type: str
          returned: always
          sample: live
        types:
          description:
            - Per type its C(verdict), C(reason), C(control_id) (NS-KRN-001..008), C(evidence) (release,
              version_gate, proc_entry with the caller's namespace inode, config, limit, probe with errno,
              new_namespace and via_user_namespace, policy when denied),
              C(contradiction) (null or what disagreed with the live probe), C(count) and C(limit).
          type: dict
          returned: always
          sample:
            time:
              verdict: supported
              reason: a new time namespace was created just now
              control_id: NS-KRN-008
              contradiction: null
              count: 1
              limit: 96365
              evidence:
                release: 6.18.44-fc-v657
                version_gate: {"first_kernel": "5.6.0", "release_at_least": true}
                proc_entry: {"path": "/proc/self/ns/time", "present": true, "inode": 4026531834,
                             "expected_since": "5.6.0"}
                config: {"option": "CONFIG_TIME_NS", "line": "CONFIG_TIME_NS=y", "source": "/proc/config.gz"}
                limit: {"sysctl": "user.max_time_namespaces", "path": "/proc/sys/user/max_time_namespaces",
                        "value": 96365, "exists_since": "5.7.0"}
                probe: {"attempted": true, "ok": true, "errno": null, "errname": null, "stage": null,
                        "new_namespace": true, "via_user_namespace": false}
                setns_supported: true
        userns_policy:
          description:
            - NS-KRN-009. C(kernel.unprivileged_userns_clone), C(kernel.apparmor_restrict_unprivileged_userns)
              (null where the kernel has no such sysctl), C(user.max_user_namespaces), the RHEL 7 boot options
              found in C(/proc/cmdline), the audit's own seccomp mode and filter count (C(seccomp)), whether an
              unprivileged user can create a user namespace and use a capability in it (with the probe's evidence),
              and notes.
          type: dict
          returned: always
          sample: {"unprivileged_userns_clone": null, "apparmor_restrict_unprivileged_userns": null,
                   "max_user_namespaces": 96365, "cmdline": {}, "seccomp": {"mode": 0, "filters": 0},
                   "unprivileged_can_create": true,
                   "unprivileged_can_use_capabilities": true, "notes": []}
        cgroup:
          description: Cgroup layout (v1, v2, hybrid, none) and the cgroup mount points with their v1 controllers.
          type: dict
          returned: always
          sample: {"layout": "hybrid", "mounts": [{"mount_point": "/sys/fs/cgroup/unified", "fstype": "cgroup2",
                                                   "version": 2}]}
        headroom:
          description:
            - NS-KRN-010. Distinct namespaces per type now (process links and nsfs bind mounts) against the limit;
              C(lower_bound) is true when some processes could not be read. Null in offline mode.
          type: dict
          returned: always
          sample: {"control_id": "NS-KRN-010", "lower_bound": true, "processes_unreadable": 1, "nsfs_mounts": 0,
                   "types": {"net": {"count": 3, "limit": 96365, "headroom": 96362}}}
        summary:
          description: For each verdict the list of types that got it.
          type: dict
          returned: always
          sample: {"supported": ["mnt", "uts"], "kernel-too-old": ["time"], "not-built": [], "limit-zero": [],
                   "denied": [], "unknown": []}
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible.module_utils.nsverify import audit, catalog, kernel


def build_module():
    return AnsibleModule(
        argument_spec=dict(
            types=dict(type="list", elements="str", default=list(catalog.TYPE_NAMES)),
            probe=dict(type="bool", default=True),
            release=dict(type="str"),
        ),
        supports_check_mode=True,
    )


def main():
    module = build_module()
    params = module.params
    try:
        types = catalog.validate_names(params["types"])
    except ValueError as exc:
        module.fail_json(msg="types: %s" % exc)
    if not types:
        module.fail_json(msg="types: give at least one of %s" % ", ".join(catalog.TYPE_NAMES))

    running = os.uname().release
    release = params["release"]
    offline = False
    if release is not None:
        try:
            offline = kernel.parse_release(release).raw != running
        except ValueError as exc:
            module.fail_json(msg="release: %s" % exc)
    try:
        facts = audit.audit(
            types=types, release=release if offline else running, probe=params["probe"], offline=offline
        )
    except ValueError as exc:  # e.g. a running kernel whose `uname -r` cannot be parsed
        module.fail_json(msg="cannot audit this kernel: %s" % exc, release=running)

    # Read-only: the namespaces made by the probe lived and died in forked children.
    module.exit_json(changed=False, ansible_facts={"nsverify": facts})


if __name__ == "__main__":
    main()
