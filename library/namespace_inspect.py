#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: which namespaces do running workloads share with the host, and how are they confined."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: namespace_inspect
short_description: Inspect the namespaces and confinement of running processes and containers
description:
  - For each target process and each of the eight namespace types (mnt uts ipc pid net user cgroup time) says
    C(own) or C(shared), with the target's and the reference's inodes, and with whom the namespace is shared
    (C(host), another target, or a discovered container by name, e.g. a pod peer).
  - "The reference is the host's initial namespaces, found honestly: the user and PID trees are walked to their
    roots with the C(NS_GET_PARENT) ioctl (ioctl_ns(2)), then kthreadd (PID 2, a kernel thread, so in the
    kernel's initial namespaces) is used when its links can be read, else the lowest readable PID whose user
    and PID namespaces are those roots. C(reference) in the result says which and why. When this module runs
    in a nested user namespace the initial namespaces are not knowable: it fails unless C(reference_pid) is
    given. PID 1 is never assumed readable."
  - "Per target also: the C(NSpid) chain, uid/gid maps and whether uid 0 inside is uid 0 on the host, the
    user-namespace parent chain, capability sets by name, C(NoNewPrivs), seccomp mode and filter count, the LSM
    label, the cgroup paths and the memory, pids and cpu limits set there (v1, v2, hybrid), time-namespace
    offsets."
  - Targets are PIDs, a process match (command name, cgroup path substring, systemd unit; at most
    C(max_targets)), and containers discovered from Docker, Podman (root and rootless), crun, runc,
    systemd-nspawn, LXC, Kubernetes (CRI through crictl) and nsverify's own containers. A runtime that is not
    installed is simply absent. With no targets given every discovered container is a target.
  - A target that is gone, exits during inspection, is a kernel thread, or whose C(/proc/PID/ns) cannot be read
    is an entry of C(errors); the other targets are still reported.
  - With C(list_namespaces=true) also lists every namespace on the host like lsns(8), including namespaces kept
    alive only by a bind mount (C(/run/netns/*), C(/run/nsverify/ns/*), any nsfs mount) or an open descriptor.
version_added: "1.1.0"
author: nsverify maintainers (!UNKNOWN)
options:
  pids:
    description: PIDs to inspect.
    type: list
    elements: int
    default: []
  match:
    description:
      - Inspect the processes that match all the given criteria. Kernel threads never match.
    type: dict
    suboptions:
      command:
        description: The command name exactly as in C(/proc/PID/comm) (15 characters at most).
        type: str
      cgroup:
        description: A substring of one of the process's cgroup paths (C(/proc/PID/cgroup)).
        type: str
      unit:
        description: A systemd unit named in the process's cgroup path, e.g. C(ssh.service).
        type: str
  containers:
    description:
      - Discovered containers to inspect, by name, C(runtime:name) or an ID prefix (4 characters or more). A name
        that matches nothing is an entry of C(errors).
      - When no C(pids), C(match) or C(containers) are given, every discovered container is a target.
    type: list
    elements: str
  discover:
    description: Look for containers of the runtimes in C(runtimes).
    type: bool
    default: true
  runtimes:
    description: Runtimes to discover.
    type: list
    elements: str
    choices: [nsverify, docker, podman, kubernetes, lxc, nspawn, crun, runc]
    default: [nsverify, docker, podman, kubernetes, lxc, nspawn, crun, runc]
  docker_sockets:
    description: Docker engine API sockets to ask (the first that answers wins).
    type: list
    elements: path
    default: [/var/run/docker.sock, /run/docker.sock]
  lxc_paths:
    description: LXC container directories (lxcpath) to look in, each read with C(lxc-info -P).
    type: list
    elements: path
    default: [/var/lib/lxc]
  max_targets:
    description: The most targets a process match may select; a larger match fails with its count.
    type: int
    default: 256
  reference_pid:
    description:
      - A process whose namespaces stand for "the host" instead of the initial namespaces found by the walk.
    type: int
  list_namespaces:
    description: Also return every namespace on the host (C(namespaces)), like lsns(8).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing.
notes:
  - Run as root; another user may read only its own processes' namespace links.
  - Capabilities are relative to the target's own user namespace.
seealso:
  - name: ioctl_ns(2)
    description: The nsfs ioctls used to walk the namespace hierarchy.
    link: https://man7.org/linux/man-pages/man2/ioctl_ns.2.html
"""

EXAMPLES = r"""
- name: Inspect every container found on the host
  namespace_inspect:
  register: nsverify_inspect_result

- name: Inspect two processes and every sshd
  namespace_inspect:
    pids: [1234, 5678]
    match:
      command: sshd
    discover: false

- name: Everything in a systemd unit, compared with a chosen process
  namespace_inspect:
    match:
      unit: nginx.service
    reference_pid: 4321

- name: List every namespace on the host, including those held by bind mounts only
  namespace_inspect:
    discover: false
    list_namespaces: true
"""

RETURN = r"""
reference:
  description: The reference process, why it was chosen, and the roots of the user and PID trees.
  returned: always
  type: dict
  sample: {"pid": 2, "command": "kthreadd", "basis": "kthreadd", "why": "kthreadd (PID 2) is a kernel thread ...",
           "inodes": {"net": 4026531833}, "initial_user": true, "initial_pid": true,
           "roots": {"user": 4026531837, "pid": 4026531836}, "pid1_readable": false}
targets:
  description:
    - One entry per inspected target. C(namespaces) per type holds C(status) (own, shared, unknown), C(inode),
      C(reference_inode) and C(shared_with) (C(host) and/or the names of other targets and containers), C(pod_peers)
      (those of them in the same pod of the same runtime, a podman pod or an nsverify container's C(pod)) and
      C(relation) in words (C(shared with pod peer nsverify:a), C(shared with the host), C(own)).
    - For an nsverify container the target is its workload (the oldest child of its init, under the seccomp
      profile, the kept capabilities and the cgroup limits), with C(init_pid) naming the init (nsv-init).
  returned: always
  type: list
  elements: dict
  sample:
    - name: podman:web
      runtime: podman
      pid: 4242
      command: sleep
      nspid: [4242, 1]
      namespaces: {"net": {"status": "own", "inode": 4026532181, "reference_inode": 4026531833,
                   "shared_with": ["podman:sidecar"], "pod_peers": ["podman:sidecar"],
                   "relation": "shared with pod peer podman:sidecar"}}
      user_namespace: {"uid_map": [[0, 0, 4294967295]], "root_is_host_root": true, "parent_chain": [4026531837]}
      capabilities: {"effective": ["chown"], "full_bounding": false}
      security: {"no_new_privs": false, "seccomp": {"mode": "filter", "filters": 1},
                 "lsm": {"label": null, "reason": "..."}}
      cgroup: {"layout": "hybrid", "limits": {"memory": {"value": 67108864, "version": 1}}}
      time: {"offsets": {"monotonic": {"seconds": 0, "nanoseconds": 0}}, "zero": true}
      notes: ["own time namespace, offsets are zero"]
errors:
  description: Targets that could not be inspected, with C(kind) (gone, exited, kernel-thread, unreadable, not-found).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "pid:99999", "pid": 99999, "kind": "gone", "error": "PID 99999: no such process"}]
discovery:
  description: The containers found (runtime, name, id, pid, source) and per present runtime its count and any error.
  returned: always
  type: dict
  sample: {"containers": [{"runtime": "podman", "name": "web", "id": "0123456789ab", "pid": 4242,
                           "source": "podman ps", "pod": "nsv-pod"}], "runtimes": {"podman": {"count": 1}}}
table:
  description: One row per target for people (workload, runtime, process (its PID), per type own/shared, notes).
  returned: always
  type: list
  elements: dict
  sample: [{"workload": "podman:web", "runtime": "podman", "process": 4242, "mnt": "own", "net": "own (podman:db)",
            "notes": []}]
namespaces:
  description:
    - With C(list_namespaces), every namespace (type, inode, nprocs, pid, command, user, owner_user_namespace,
      parent, held_by, only_by_mount_or_fd, mounts, fds) and the count of unreadable processes.
  returned: when list_namespaces
  type: dict
  sample: {"processes_unreadable": 1, "namespaces": [{"type": "net", "inode": 4026532300, "nprocs": 0,
           "held_by": ["mount:/run/netns/blue"], "only_by_mount_or_fd": true}]}
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible.module_utils.nsverify import discovery, inspect, nslist, userns, workload


def build_module():
    return AnsibleModule(
        argument_spec=dict(
            pids=dict(type="list", elements="int", default=[]),
            match=dict(
                type="dict", options=dict(command=dict(type="str"), cgroup=dict(type="str"), unit=dict(type="str"))
            ),
            containers=dict(type="list", elements="str"),
            discover=dict(type="bool", default=True),
            runtimes=dict(
                type="list", elements="str", choices=list(discovery.RUNTIMES), default=list(discovery.RUNTIMES)
            ),
            docker_sockets=dict(type="list", elements="path", default=list(discovery.DOCKER_SOCKETS)),
            lxc_paths=dict(type="list", elements="path", default=[discovery.LXC_PATH]),
            max_targets=dict(type="int", default=256),
            reference_pid=dict(type="int"),
            list_namespaces=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )


def _targets(module, found):
    """Target specs from pids, match and containers; (specs, errors)."""
    p = module.params
    by_pid = {c["pid"]: c for c in found}
    specs, errors = [], []
    pids = list(p["pids"])
    match = {k: v for k, v in (p["match"] or {}).items() if v is not None}
    if p["match"] is not None and not match:
        module.fail_json(msg="match: give at least one of command, cgroup, unit")
    if match:
        try:
            pids += nslist.match(limit=p["max_targets"], exclude=(os.getpid(),), **match)
        except nslist.TooMany as exc:
            module.fail_json(msg="match %s: %s" % (match, exc))
    chosen, errors = discovery.select(found, p["containers"] or [])
    if not pids and p["containers"] is None:
        chosen = list(found)
    for c in chosen:
        specs.append(dict(c, name=discovery.label(c)))
    seen = {s["pid"] for s in specs}
    for pid in pids:
        if pid not in seen:
            seen.add(pid)
            c = by_pid.get(pid)
            specs.append(
                dict(c, name=discovery.label(c)) if c else {"name": "pid:%d" % pid, "pid": pid, "runtime": None}
            )
    return specs, errors


def main():
    module = build_module()
    p = module.params
    if p["max_targets"] < 1:
        module.fail_json(msg="max_targets must be at least 1, got %d" % p["max_targets"])
    try:
        reference = userns.find_reference(p["reference_pid"])
    except userns.NoReference as exc:
        module.fail_json(msg="no reference for the host's namespaces: %s" % exc)
    reference["pid1_readable"] = all(v is not None for v in inspect.read_ns_inodes(1).values())
    found = None
    if p["discover"]:
        found = discovery.discover(p["runtimes"], docker_sockets=p["docker_sockets"], lxc_paths=p["lxc_paths"])
    containers = found["containers"] if found else []
    specs, errors = _targets(module, containers)
    others = [dict(c, name=discovery.label(c)) for c in containers]
    targets, target_errors = workload.inspect_targets(specs, reference, others=others)
    result = dict(
        changed=False,
        reference=reference,
        targets=targets,
        errors=errors + target_errors,
        discovery=found or {"containers": [], "runtimes": {}},
        table=workload.table(targets),
    )
    if p["list_namespaces"]:
        result["namespaces"] = nslist.list_namespaces()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
