#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: prove namespace isolation on a host, type by type, with evidence."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: namespace_verify
short_description: Prove that Linux namespaces isolate, with a behavioural test per type and evidence
description:
  - Runs the nsverify isolation proofs for the namespace types in O(types) and returns, per type, the checks
    (each carrying its control id, e.g. C(NS-PID-003)), their status and the evidence (what was done and
    what each side saw).
  - "uts: a hostname set inside is seen inside and not on the host. pid: the first process is PID 1 inside
    with another PID outside (NSpid); the inside sees only its own processes; an orphan is reaped by the
    inside PID 1; killing PID 1 ends every process inside. net: only C(lo), down; a port bound inside is
    invisible outside; a veth pair carries traffic between two namespaces the proof makes. mnt: a mount
    made inside is invisible outside; private, shared, slave and unbindable propagation behave as
    documented. user: the maps are as requested; root inside is an unprivileged id outside and owns its
    files there as that id; capabilities inside do not reach the host. ipc: System V shared memory,
    semaphores, message queues and POSIX message queues are invisible across the boundary. cgroup: the
    own cgroup reads as C(/) inside while the host sees the real path. time: monotonic and boottime
    offsets apply inside and not outside."
  - The work inside runs in forked children; this module's own process never changes namespace. Everything
    a proof creates (C(nsv-*) hostnames, mounts, veths, cgroups, IPC objects, files under C(/tmp/nsv-*)) is
    removed before it returns, so the module reports C(changed=false) and leaves nothing behind.
  - Without root the proofs run inside a user namespace that maps root to the caller; a type the kernel does
    not allow that way is C(skipped) with its verdict and the reason. Types the kernel lacks are C(skipped)
    with the audit verdict (C(kernel-too-old), C(not-built), C(denied), C(limit-zero), C(unknown)).
  - A proof that would write the hostname of this host's own UTS namespace (a target that shares it) does not
    write it and fails on the shared inode instead.
version_added: "1.0.0"
author: nsverify maintainers (!UNKNOWN)
options:
  types:
    description: Namespace types to prove.
    type: list
    elements: str
    choices: [mnt, uts, ipc, pid, net, user, cgroup, time]
    default: [mnt, uts, ipc, pid, net, user, cgroup, time]
  target:
    description:
      - C(fresh) makes throwaway namespaces. C(named) joins the files of a namespace made by the
        M(namespace) module under C(/run/nsverify/ns/<name>/). C(pid) joins the namespaces of a running
        process (for example a container's init). C(paths) joins the namespace files in O(paths).
      - For joined targets NS-PID-003/004 are skipped (the target's PID 1 is not the proof's to reap with or
        to kill) and a type without a file in the target is skipped.
    type: str
    choices: [fresh, named, pid, paths]
    default: fresh
  name:
    description: Name of the named namespace (one path component, no C(/) or C(..)); required with C(target=named).
    type: str
  pid:
    description: Process whose namespaces are proven; required with C(target=pid).
    type: int
  paths:
    description: Mapping of type to namespace file (C(/proc/<pid>/ns/<type>) or a bind mount of one); required
      with C(target=paths).
    type: dict
  uid_map:
    description:
      - For the user proof with a fresh target, the uid map to request, as a list of C({inside, outside, count})
        mappings, the same shape as the M(namespace) module's O(uid_map).
      - The older list form C([[inside, outside, count]]) is still accepted, with a deprecation warning.
      - "Default C([{inside: 0, outside: 100000, count: 65536}]) as root and C([{inside: 0, outside: <euid>,
        count: 1}]) without root. With a joined target the namespace's map is compared with it when given."
      - Refused when ranges overlap inside or outside, a count is below 1, an id passes 4294967294, or there
        are more than 340 lines (5 before kernel 4.15).
    type: list
    elements: raw
  gid_map:
    description: As O(uid_map), for group ids.
    type: list
    elements: raw
  expected_interfaces:
    description:
      - For the net proof (NS-NET-001) of a joined target (C(named), C(pid), C(paths)), the network interfaces
        that may exist besides C(lo), for example a container's veth. The check passes when the links inside
        are exactly C(lo) and these; any other link, or a missing one, fails it with the list as evidence.
      - A fresh namespace must have only C(lo), down; this option does not apply there.
    type: list
    elements: str
    default: []
  time_offsets:
    description:
      - Offsets in seconds for the time proof's fresh namespace, keys C(monotonic) and C(boottime).
      - Each must keep its clock between 0 and the kernel's bound (time_namespaces(7)).
    type: dict
    default: {monotonic: 259200, boottime: 604800}
  fail_on_failed:
    description: Fail the task when any proof failed (the full results are attached). With C(false) the results
      come back normally, for example to check that a shared namespace is caught.
    type: bool
    default: true
  timeout:
    description: Seconds each probe child may take before it is killed and the check fails.
    type: float
    default: 20
attributes:
  check_mode:
    support: full
    description: The proofs leave nothing behind, so they run in check mode too.
  diff_mode:
    support: none
    description: Nothing on the host changes.
notes:
  - Needs Linux. Runs as root, or as another user through user namespaces where the kernel allows them.
seealso:
  - module: namespace_facts
"""

EXAMPLES = r"""
- name: Prove all eight namespace types in fresh namespaces
  namespace_verify:

- name: Prove the namespaces of a running container
  namespace_verify:
    target: pid
    pid: "{{ container_init_pid }}"
    types: [pid, net, mnt, uts, ipc]

- name: Prove a container's namespaces, its veth being the one link allowed besides lo
  namespace_verify:
    target: pid
    pid: "{{ container_init_pid }}"
    types: [net]
    expected_interfaces: [nsv1a2b3c4dc]

- name: Prove user and time namespaces with the maps and offsets given
  namespace_verify:
    types: [user, time]
    uid_map: [{inside: 0, outside: 400000, count: 65536}]
    gid_map: [{inside: 0, outside: 400000, count: 65536}]
    time_offsets: {monotonic: 86400, boottime: 172800}

- name: Prove a named namespace made by the namespace module
  namespace_verify:
    target: named
    name: web
    types: [net, uts]

- name: Make sure a namespace shared with the host is caught
  namespace_verify:
    target: paths
    paths: {ipc: /proc/self/ns/ipc}
    types: [ipc]
    fail_on_failed: false
  register: shared_ipc
"""

RETURN = r"""
changed:
  description: Always false; the proofs leave nothing behind.
  returned: always
  type: bool
  sample: false
msg:
  description: One summary line.
  returned: always
  type: str
  sample: "Count: 8, Passed: 8, Failed: 0, Skipped: 0"
proofs:
  description:
    - Per type, the outcome of its proof.
    - Named C(proofs), not C(results), because Ansible reserves a module's top-level C(results) for loop
      results (it renames it to C(ansible_module_results) and warns).
  returned: always
  type: dict
  contains:
    status:
      description: passed, failed or skipped.
      type: str
      sample: passed
    verdict:
      description: The audit verdict; C(supported) when the proof ran, else why it could not.
      type: str
      sample: supported
    reason:
      description: Why the type has its status.
      type: str
      sample: all checks passed
    duration_s:
      description: Seconds the proof took.
      type: float
      sample: 0.035
    sharing:
      description:
        - Joined targets only. C(status) C(own) or C(shared), C(with) (C(host), or C(engine) when the engine is
          not in the host's namespaces), C(inode) and C(reference_inode). A shared type always fails with
          reason "shares the host's <type> namespace (inode N)".
      type: dict
      sample: {status: own, inode: 4026532301, reference_inode: 4026531837}
    findings:
      description:
        - Findings that are not an isolation failure of the namespace itself, each with C(id), C(severity),
          C(status) and C(reason); e.g. C(root-mapped-to-host-root) (severity high) for an own user namespace
          whose uid 0 is uid 0 on the host.
      type: list
      elements: dict
    checks:
      description: One record per control, each with C(id), C(title), C(status) (pass/fail/skip), C(evidence),
        C(tests) (C(target), or C(kernel) for checks on namespaces the proof makes itself, e.g. NS-MNT-002..005
        and NS-NET-003) and, when not passed, C(reason).
      type: list
      elements: dict
      sample:
        - id: NS-UTS-001
          title: Hostname set inside is seen inside and not on the host
          status: pass
          evidence: {set_inside: nsv-1f2e3d4c, inside_saw: nsv-1f2e3d4c, host_saw: web01}
  sample:
    uts:
      status: passed
      verdict: supported
      reason: all checks passed
      checks: []
summary:
  description: Types by status.
  returned: always
  type: dict
  sample: {passed: [mnt, uts, ipc, pid, net, user, cgroup, time], failed: [], skipped: []}
table:
  description: One row per type for people, as printed by playbooks/verify.yml.
  returned: always
  type: list
  elements: dict
  sample:
    - {type: pid, status: passed, passed: 4, total: 4, evidence: "NSpid 5312->1; 4 visible inside"}
failed_checks:
  description: C(type:control) of every failed check.
  returned: always
  type: list
  elements: str
  sample: ["ipc:NS-IPC-001"]
target:
  description: What was proven (kind, label, the namespace files joined).
  returned: always
  type: dict
  sample: {kind: fresh, label: fresh, paths: {}, sandboxed: false}
reference:
  description: Joined targets only (null for fresh) - whose namespaces stand for the host (C(basis), C(pid),
    C(inodes), C(why)), found as namespace_inspect finds them.
  returned: always
  type: dict
  sample: {basis: kthreadd, pid: 2, inodes: {net: 4026531840}, why: kthreadd is a kernel thread}
privilege:
  description: The effective uid and whether the proofs ran without root (through a user namespace).
  returned: always
  type: dict
  sample: {euid: 0, rootless: false}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible.module_utils.nsverify import catalog, proofs, validate
from ansible.module_utils.nsverify.proofs import base


def build_module():
    return AnsibleModule(
        argument_spec=dict(
            types=dict(type="list", elements="str", choices=list(catalog.TYPE_NAMES), default=list(catalog.TYPE_NAMES)),
            target=dict(type="str", choices=list(base.TARGET_KINDS), default="fresh"),
            name=dict(type="str"),
            pid=dict(type="int"),
            paths=dict(type="dict"),
            uid_map=dict(type="list", elements="raw"),
            gid_map=dict(type="list", elements="raw"),
            expected_interfaces=dict(type="list", elements="str", default=[]),
            time_offsets=dict(type="dict", default={"monotonic": 259200, "boottime": 604800}),
            fail_on_failed=dict(type="bool", default=True),
            timeout=dict(type="float", default=20),
        ),
        required_if=[("target", "named", ["name"]), ("target", "pid", ["pid"]), ("target", "paths", ["paths"])],
        supports_check_mode=True,
    )


def check_id_map(value, option, warnings=None):
    """The map in the one shape of every module (validate.id_map: {inside, outside, count}, the old
    [inside, outside, count] lists noted in `warnings`), as the kernel's lines for the proofs; None stays None."""
    if value is None:
        return None
    return [list(line) for line in validate.id_map_lines(validate.id_map(value, option, warnings=warnings))]


def check_interfaces(value):
    """Interface names as the kernel allows them (1-15 bytes, no '/', ':' or whitespace), or ValueError."""
    out = []
    for name in value or []:
        if (
            not isinstance(name, str)
            or not 0 < len(name.encode()) <= 15
            or any(c in name for c in "/: \t\n")
            or name in (".", "..")
        ):
            raise ValueError(
                "expected_interfaces: %r is not an interface name (1-15 characters, no '/', ':' "
                "or whitespace)" % (name,)
            )
        out.append(name)
    return out


def check_offsets(value):
    """{monotonic, boottime: seconds} within the kernel's bounds (validate.time_offsets); {} when none."""
    return validate.time_offsets(value) or {}


PF_KTHREAD = 0x00200000  # include/linux/sched.h: the flags field of /proc/<pid>/stat


def kernel_thread(pid):
    """True when `pid` is a kernel thread (no namespaces of its own to prove: it runs in the initial ones)."""
    try:
        with open("/proc/%d/stat" % pid) as fh:
            text = fh.read()
        return bool(int(text[text.rindex(")") + 2 :].split()[6]) & PF_KTHREAD)
    except (OSError, ValueError, IndexError):
        return False


def main():
    module = build_module()
    p = module.params
    deprecations = []
    if p["target"] == "pid" and p["pid"] is not None and kernel_thread(p["pid"]):
        module.fail_json(
            msg="pid %d is a kernel thread: it has the host's initial namespaces and nothing to prove; "
            "give the pid of a process in the namespaces to prove (e.g. a container's init)" % p["pid"]
        )
    try:
        target = base.make_target(p["target"], name=p["name"], pid=p["pid"], paths=p["paths"], types=p["types"])
        options = {
            "uid_map": check_id_map(p["uid_map"], "uid_map", deprecations),
            "gid_map": check_id_map(p["gid_map"], "gid_map", deprecations),
            "time_offsets": check_offsets(p["time_offsets"]),
            "expected_interfaces": check_interfaces(p["expected_interfaces"]),
        }
        if p["timeout"] <= 0:
            raise ValueError("timeout must be a positive number of seconds")
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    for message in deprecations:
        module.deprecate(message, version="2.0.0")

    # Read-only: the proofs undo all they do, so they run in check mode as well.
    result = dict(changed=False, **proofs.result(proofs.run(p["types"], target, options, p["timeout"])))
    if p["fail_on_failed"] and result["summary"]["failed"]:
        result["msg"] = "isolation proof(s) failed: %s (%s)" % (", ".join(result["failed_checks"]), result["msg"])
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
