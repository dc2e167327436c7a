#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: busybox_container_verify."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: busybox_container_verify
short_description: Prove that a running BusyBox container is isolated (controls NS-CTR-001..011)
description:
  - Runs the container checks from the host and from inside (setns into every namespace of the init) and
    reports each control with its evidence. Checks that need a limit the container does not have are skipped.
  - C(NS-CTR-001) ps inside shows PID 1 first and only the container's processes; C(NS-CTR-002) hostname;
    C(NS-CTR-003) only lo and the veth, which reaches the host end; C(NS-CTR-004) root is the overlay, no host
    mount inside, no container mount on the host; C(NS-CTR-005) /sys read-only; C(NS-CTR-006) a fork bomb of
    long-lived children is refused with EAGAIN, counted in C(pids.events), and the count reaches but never
    passes C(pids.max) (its children are killed after); C(NS-CTR-007) an allocation beyond the memory limit is
    OOM-killed inside while init lives;
    C(NS-CTR-008) an orphan is reaped by init; C(NS-CTR-009) a chroot escape (chroot into a subdirectory,
    chdir(".."), chroot(".")) does not reach a host-only marker, while the same attempt from a plain chroot
    does; C(NS-CTR-010) bounding/effective capabilities within the kept set, no CAP_SYS_ADMIN, no_new_privs,
    and the seccomp profile in force (C(Seccomp) 2 in the status of the workload and of an exec for the default
    profile);
    C(NS-CTR-011) every namespace inode differs from the host's.
  - Read-only for the host; the memory and pids checks load the container briefly.
version_added: "1.0.0"
author: nsverify maintainers (!UNKNOWN)
options:
  name:
    description: Name of a running container.
    type: str
    required: true
  checks:
    description:
      - Control IDs to run; omitted, all of them. An empty list runs none (with O(prove_namespaces), only the
        namespace proofs).
    type: list
    elements: str
  prove_namespaces:
    description:
      - Also run the namespace proofs of M(namespace_verify) (target C(pid)) against the container's init, in the
        same module call, for exactly the types the container has its own namespaces of; the uid map (with a
        user namespace) and the one link C(NS-NET-001) accepts besides C(lo) (the container's veth, or its pod's)
        come from the container's record. The results are returned under RV(namespace_proofs).
      - One module call instead of two is what a playbook saves (about half a second of Ansible per module).
    type: bool
    default: false
  proofs_timeout:
    description: Seconds each namespace proof may take (M(namespace_verify)'s C(timeout)).
    type: float
    default: 20
  fail_on_failed:
    description: Fail the task when a check or a namespace proof failed (the results are attached).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: The checks leave nothing behind, so they run in check mode too.
  diff_mode:
    support: none
    description: Nothing on the host changes.
"""

EXAMPLES = r"""
- name: NS-CTR-009 | VERIFY | A chroot-style escape does not reach the host root
  busybox_container_verify:
    name: demo
    checks: [NS-CTR-009]

- name: Run every container check and keep the results
  busybox_container_verify:
    name: demo
    fail_on_failed: false
  register: checks

- name: The checks and the namespace proofs against the container's init, in one module call
  busybox_container_verify:
    name: demo
    prove_namespaces: true
  register: proved
"""

RETURN = r"""
checks:
  description: One entry per control run.
  returned: always
  type: list
  elements: dict
  sample: [{id: NS-CTR-002, title: "Hostname inside is the container's, the host's is unchanged", namespace: uts,
            source: container, status: pass, evidence: {inside: isolated-box, host: myhost, expected: isolated-box}}]
summary:
  description: Control IDs by outcome.
  returned: always
  type: dict
  sample: {passed: [NS-CTR-002], failed: [], skipped: []}
namespace_proofs:
  description:
    - With O(prove_namespaces), what M(namespace_verify) returns for the container's init (target C(pid)).
  returned: when prove_namespaces is true
  type: dict
  contains:
    msg:
      description: The summary line.
      type: str
      sample: "Count: 6, Passed: 6, Failed: 0, Skipped: 0"
    failed_checks:
      description: C(type:control) of every failed proof check.
      type: list
      elements: str
      sample: []
    proofs:
      description:
        - Per type, its status, verdict, reason and checks (as M(namespace_verify)'s
          C(proofs)).
      type: dict
    summary:
      description: Types by outcome.
      type: dict
      sample: {passed: [mnt, uts, ipc, pid, net, cgroup], failed: [], skipped: []}
    table:
      description: One row per type for display.
      type: list
      elements: dict
    target:
      description: The target proved (kind C(pid), the init's PID, the types).
      type: dict
    reference:
      description: Whose namespaces stood for the host.
      type: dict
    privilege:
      description: The engine's effective uid and whether it ran rootless.
      type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible.module_utils.nsverify import container
from ansible.module_utils.nsverify.container import prove, rootless


def build_module():
    return AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            checks=dict(type="list", elements="str"),
            prove_namespaces=dict(type="bool", default=False),
            proofs_timeout=dict(type="float", default=prove.DEFAULT_TIMEOUT),
            fail_on_failed=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )


def main():
    module = build_module()
    p = module.params
    error = prove.request_error(p["checks"], p["proofs_timeout"])
    if error:
        module.fail_json(msg=error)
    try:
        st = rootless.require_running("verify", p["name"])
        # An explicit empty list runs no check (the role passes what the run's tags select); omitted = all.
        result = dict(
            changed=False, **prove.verify(st["state"], p["checks"], p["prove_namespaces"], p["proofs_timeout"])
        )
    except container.ContainerError as exc:
        module.fail_json(msg=str(exc))
    failed = prove.failed(result)
    if failed and p["fail_on_failed"]:
        module.fail_json(msg="container %s failed %s" % (p["name"], ", ".join(failed)), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
