#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: busybox_container."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: busybox_container
short_description: Start, stop or remove a BusyBox container built from namespaces, overlayfs and cgroups
description:
  - Starts a named container whose PID 1 runs in new mnt, uts, ipc, net, pid and cgroup namespaces (and a
    time namespace when O(time_offsets) is given), on an overlay of the read-only BusyBox rootfs with a
    per-container upper layer, with C(/proc), C(/sys) (read-only) and a minimal C(/dev) mounted, the root
    switched with pivot_root(2) and the old root detached.
  - PID 1 is a small init that reaps every child (orphans included) and answers SIGTERM by forwarding it to
    every process inside, waiting, then SIGKILL after a grace. The workload runs with a reduced capability
    bounding set and permitted set and with no_new_privs.
  - Optional cgroup limits (memory, cpus, pids) on cgroup v1, v2 and hybrid hosts, in cgroups named
    C(nsv-<name>); an optional veth pair between the host and the container with a private /30.
  - The container outlives the task. Its state is kept in C(/run/nsverify/containers/<name>/state.json);
    the upper layer and the config in C(/var/lib/nsverify/containers/<name>/).
  - Idempotent. A running container with the requested config is left alone; a running container with
    another config under the same name is an error (stop it first).
version_added: "1.0.0"
author: nsverify maintainers (!UNKNOWN)
options:
  name:
    description: Container name; 1 to 32 characters of C(a-z), C(0-9), C(_), C(.), C(-), starting with a letter or
      digit (it names files, cgroups and the veth).
    type: str
    required: true
  state:
    description:
      - V(started) starts the container if it is not running.
      - V(stopped) sends SIGTERM to its init, SIGKILL after O(stop_timeout), and removes its cgroups, veth and
        runtime files; the upper layer is kept.
      - V(absent) is V(stopped) and also removes the upper layer and config.
    type: str
    choices: [started, stopped, absent]
    default: started
  rootfs:
    description:
      - Path of the BusyBox rootfs (the overlay's lower layer), as returned by M(busybox_rootfs).
      - Refused when it resolves to the host's C(/) (a link to it included) or outside O(rootfs_base).
    type: path
  rootfs_base:
    description: The directory the rootfs images live in (the C(base) of M(busybox_rootfs)); O(rootfs) must resolve inside it.
    type: path
    default: /var/lib/nsverify/rootfs
  hostname:
    description: Hostname inside (at most 64 characters, RFC 1123).
    type: str
    default: isolated-box
  memory:
    description: Memory limit, bytes or with a K/M/G suffix; at least 4M (12M where init shares the limited cgroup, on cgroup v2). Omit for no limit.
    type: str
  cpus:
    description: CPU limit in CPUs (0.5 = half a CPU) through CFS quota. Omit for no limit.
    type: float
  pids:
    description: Maximum number of tasks in the container (pids controller); at least 4. Omit for no limit.
    type: int
  veth:
    description: Create a veth pair between the host and the container, addressed from O(network).
    type: bool
    default: false
  veth_host_name:
    description: Host-side veth name (C(nsv) prefix, at most 15 characters); default C(nsv<8 hex of name>h).
    type: str
  veth_container_name:
    description: Container-side veth name (C(nsv) prefix, at most 15 characters); default C(nsv<8 hex>c).
    type: str
  network:
    description:
      - Private IPv4 /30 for the veth pair; the host gets the first address, the container the second.
      - C(auto) picks the first /30 of the pool 10.213.0.0/24 that no other nsverify container records
        (running or stopped) and no host link carries; a container keeps the network it recorded.
      - A given /30 that overlaps a running nsverify container's network or a host link's address is refused
        at start, naming the other owner.
    type: str
    default: auto
  command:
    description: The workload (argv, absolute path inside the container). Default an idle shell loop.
    type: list
    elements: str
  capabilities:
    description: Capabilities kept for the workload and for exec (names with or without C(CAP_)).
      Default Docker's set without MKNOD.
    type: list
    elements: str
  time_offsets:
    description: Seconds added to the monotonic and/or boottime clocks inside; adds a time namespace.
    type: dict
  user_namespace:
    description:
      - Run the workload in a user namespace of its own, entered by init after it built the root, with
        O(uid_map)/O(gid_map). Root inside is then an unprivileged host id (files it writes in the upper
        layer belong to that id) and holds no capability over the container's other namespaces, which stay
        owned by the host's user namespace (no mount, no sethostname, no interface changes from inside).
      - The rootfs is owned by host root and appears as C(nobody) inside, readable but not writable.
    type: bool
    default: false
  uid_map:
    description:
      - "With O(user_namespace), the uid map as a list of C({inside, outside, count}) mappings (the shape every
        nsverify module takes); must map 0 inside. Default C([{inside: 0, outside: 100000, count: 65536}])."
      - The older C([inside, outside, count]) lists are still accepted, with a deprecation warning.
    type: list
    elements: raw
  gid_map:
    description: As O(uid_map) for group ids.
    type: list
    elements: raw
  namespaces:
    description:
      - The namespace types PID 1 gets new ones of, besides the user and time namespaces that
        O(user_namespace) and O(time_offsets) add. mnt, uts, pid and net are required; ipc and cgroup may be
        left out, e.g. on a host where C(user.max_cgroup_namespaces) is 0 or a policy refuses cgroup
        namespaces. A type left out is shared with the host.
      - When the kernel refuses a type at start, the error names it, the errno and the sysctl or policy to
        look at.
    type: list
    elements: str
    choices: [mnt, uts, ipc, pid, net, cgroup]
    default: [mnt, uts, ipc, pid, net, cgroup]
  seccomp:
    description:
      - The seccomp profile of the workload and of every exec. V(default) is modelled on moby's default
        profile (refused with EPERM - keyrings, new user and other namespaces through unshare/clone, mounts,
        bpf, perf_event_open, kernel modules, kexec, open_by_handle_at, setns, reboot, swap, userfaultfd,
        io_uring; clone3 answers ENOSYS so that libc falls back to clone; a foreign architecture or x32 call
        kills the process). A capability in O(capabilities) lifts its rules as in moby (C(SYS_ADMIN) allows
        mounts and namespaces).
      - V(unconfined) runs without a filter. Without a user namespace that leaves open what the profile closes
        (a child user namespace raising the container's own cgroup limits, the host root's keyring).
      - Containers started before this option run unfiltered until restarted; C(NS-CTR-010) shows it.
    type: str
    choices: [default, unconfined]
    default: default
  pod:
    description:
      - Join the namespaces of O(pod_share) of this running nsverify container (the pod's first container, started
        without O(pod)), like the containers of a Kubernetes pod. The member keeps its own mnt namespace, rootfs
        overlay, cgroup, limits (and user and time namespaces when asked for); it gets no veth of its own when it
        shares net, and the pod's hostname when it shares uts (a O(hostname) other than the default and the
        pod's is refused).
      - Refused when the container does not exist or does not run, is this container itself, is itself a member
        of a pod, or has no namespace of its own of a shared type. Check mode lets a pod that does not run yet
        pass, with a warning.
      - Stopping or removing the first container stops its running members first (C(removed.pod_members)
        names them). A member whose pod was restarted since it joined is restarted by its next V(started) run.
    type: str
  pod_share:
    description:
      - With O(pod), the namespace types joined from the pod's first container; any of V(uts), V(ipc), V(net) and
        V(pid) (like Kubernetes' C(shareProcessNamespace)). Default V([uts, ipc, net]).
      - A member sharing pid is not PID 1; its init is the subreaper of its own processes and a stop ends only
        those.
    type: list
    elements: str
  stop_timeout:
    description: Seconds between SIGTERM and SIGKILL when stopping.
    type: int
    default: 10
  checks:
    description:
      - With O(state=started), NS-CTR control IDs to run against the container once it runs, as
        M(busybox_container_verify) runs them, in the same module call; the results come back as RV(checks) and
        RV(check_summary). Default none.
      - One module call instead of two is what a playbook saves (about half a second of Ansible per module);
        the C(busybox_container) role passes the checks the run's tags select.
    type: list
    elements: str
    default: []
  prove_namespaces:
    description:
      - With O(state=started), also run the namespace proofs of M(namespace_verify) (target C(pid)) against the
        container's init, as M(busybox_container_verify) does with the same option; results under
        RV(namespace_proofs). Not in check mode.
    type: bool
    default: false
  proofs_timeout:
    description: Seconds each namespace proof may take.
    type: float
    default: 20
attributes:
  check_mode:
    support: full
    description:
      - Reports whether the container would be started, stopped, recreated or removed, and does nothing.
      - O(checks) run in check mode only when nothing would change (RV(verify_skipped) says why otherwise).
  diff_mode:
    support: full
    description: Shows the container's state and config hash before and after.
notes:
  - Requires root. Without O(user_namespace) the container's root is the host's root with a reduced
    capability set and no_new_privs.
"""

EXAMPLES = r"""
- name: Start a BusyBox container with limits and a veth to the host
  busybox_container:
    name: demo
    rootfs: /var/lib/nsverify/rootfs/busybox-1.35.0
    memory: 64M
    pids: 64
    cpus: 0.5
    veth: true

- name: Start one without a cgroup namespace (a host where user.max_cgroup_namespaces is 0)
  busybox_container:
    name: nocgns
    rootfs: /var/lib/nsverify/rootfs/busybox-1.35.0
    namespaces: [mnt, uts, ipc, pid, net]

- name: A second container in demo's pod (shares its net, ipc and uts namespaces, like a Kubernetes pod)
  busybox_container:
    name: sidecar
    rootfs: /var/lib/nsverify/rootfs/busybox-1.35.0
    pod: demo

- name: A third one that also sees demo's processes (pid shared, like shareProcessNamespace)
  busybox_container:
    name: debugger
    rootfs: /var/lib/nsverify/rootfs/busybox-1.35.0
    pod: demo
    pod_share: [uts, ipc, pid, net]

- name: Make sure it runs, then run every NS-CTR check and the namespace proofs against its init (one module call)
  busybox_container:
    name: demo
    rootfs: /var/lib/nsverify/rootfs/busybox-1.35.0
    checks: [NS-CTR-001, NS-CTR-002, NS-CTR-003, NS-CTR-004, NS-CTR-005, NS-CTR-006, NS-CTR-007, NS-CTR-008,
             NS-CTR-009, NS-CTR-010, NS-CTR-011]
    prove_namespaces: true
  register: demo

- name: Stop it (the upper layer is kept)
  busybox_container:
    name: demo
    state: stopped

- name: Remove it and its files
  busybox_container:
    name: demo
    state: absent
"""

RETURN = r"""
restored_limits:
  description: >-
    Cgroup limits of the running container that were changed from outside since its start and written
    again by this run (file -> {want, now}); the task is then changed. A limit that cannot be restored
    fails the task ("compromised": stop and start the container).
  returned: when a limit was restored
  type: dict
  sample: {/sys/fs/cgroup/pids/nsv-demo/pids.max: {want: "64", now: "100000"}}
container:
  description: The container as it runs now (empty when stopped or absent).
  returned: always
  type: dict
  sample:
    name: demo
    init_pid: 12345
    init_starttime: 987654
    config_hash: 3f0c...
    hostname: isolated-box
    namespaces: {mnt: 4026532301, uts: 4026532302, ipc: 4026532303, pid: 4026532304, net: 4026532306,
                 cgroup: 4026532305}
    host_namespaces: {mnt: 4026531841, uts: 4026531838}
    overlay: {lower: /var/lib/nsverify/rootfs/busybox-1.35.0, upper: /var/lib/nsverify/containers/demo/upper}
    cgroups: {dirs: [/sys/fs/cgroup/memory/nsv-demo], limits: {/sys/fs/cgroup/memory/nsv-demo/memory.limit_in_bytes: "67108864"}}
    veth: {host: nsv1a2b3c4dh, container: nsv1a2b3c4dc, host_address: 10.213.0.1/30, container_address: 10.213.0.2/30}
    pod: {name: web, share: [uts, ipc, net], init_pid: 12001, init_starttime: 987000,
          namespaces: {ipc: 4026532403, net: 4026532406, uts: 4026532402}}
summary:
  description: Hostname, init pid, namespace inodes against the host's, cgroup limits as read back now.
  returned: when the container runs
  type: dict
  sample: {name: demo, init_pid: 12345, hostname: isolated-box, namespaces: {uts: {container: 1, host: 2, isolated: true}},
           seccomp: default}
summary_lines:
  description:
    - The same for people, one fact a line, read from the kernel now (init NSpid, hostname and interfaces
      seen from inside, the veth, the cgroup limits with where they live, a namespace table).
  returned: when the container runs
  type: list
  elements: str
  sample:
    - "container demo: init PID 12345 on the host, 1 inside (NSpid 12345 1)"
    - "hostname inside isolated-box, on the host web01"
    - "interfaces inside: lo 127.0.0.1/8, nsv1a2b3c4dc 10.213.0.2/30"
    - "cgroup limits: memory 64M (v1 memory nsv-demo/payload), cpu 0.5 (cfs 50000/100000, v1 cpu nsv-demo), pids 64 (v1 pids nsv-demo)"
    - "namespaces (container vs host):"
    - "  mnt    4026532177 vs host 4026531832 isolated"
removed:
  description: What stop/absent removed (init pid, cgroups, veth, runtime and data directories).
  returned: when state is stopped or absent and something was running or left
  type: dict
  sample: {init_pid: 12345, cgroups: [/sys/fs/cgroup/pids/nsv-demo], veth: nsv1a2b3c4dh, run_dir: /run/nsverify/containers/demo,
           pod_members: [sidecar]}
checks:
  description:
    - With O(checks), one entry per control run
      (M(busybox_container_verify)'s C(checks)).
  returned: when checks or prove_namespaces were given and the container runs
  type: list
  elements: dict
  sample: [{id: NS-CTR-002, title: "Hostname inside is the container's, the host's is unchanged", namespace: uts,
            source: container, status: pass, evidence: {inside: isolated-box, host: myhost, expected: isolated-box}}]
check_summary:
  description:
    - With O(checks), the control IDs by outcome
      (M(busybox_container_verify)'s C(summary)).
  returned: when checks or prove_namespaces were given and the container runs
  type: dict
  sample: {passed: [NS-CTR-002], failed: [], skipped: []}
namespace_proofs:
  description:
    - With O(prove_namespaces), the proofs against the init
      (M(busybox_container_verify)'s C(namespace_proofs)).
  returned: when prove_namespaces is true, not in check mode
  type: dict
  sample: {msg: "Count: 6, Passed: 6, Failed: 0, Skipped: 0", failed_checks: [], summary: {passed: [mnt, uts], failed: [], skipped: []}}
verify_skipped:
  description: Why the checks did not run (check mode, and the container would change).
  returned: when checks were asked for in check mode and the task would change
  type: str
state:
  description: running, stopped or absent, after the task.
  returned: always
  type: str
  sample: running
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible.module_utils.nsverify import container, rootfs, seccomp, validate
from ansible.module_utils.nsverify.container import prove, rootless


def build_module():
    return AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["started", "stopped", "absent"], default="started"),
            rootfs=dict(type="path"),
            hostname=dict(type="str", default=container.DEFAULT_HOSTNAME),
            memory=dict(type="str"),
            cpus=dict(type="float"),
            pids=dict(type="int"),
            veth=dict(type="bool", default=False),
            veth_host_name=dict(type="str"),
            veth_container_name=dict(type="str"),
            network=dict(type="str", default=container.AUTO_NETWORK),
            command=dict(type="list", elements="str"),
            capabilities=dict(type="list", elements="str"),
            time_offsets=dict(type="dict"),
            user_namespace=dict(type="bool", default=False),
            uid_map=dict(type="list", elements="raw"),
            gid_map=dict(type="list", elements="raw"),
            namespaces=dict(
                type="list", elements="str", choices=list(container.BASE_TYPES), default=list(container.BASE_TYPES)
            ),
            stop_timeout=dict(type="int", default=10),
            rootfs_base=dict(type="path", default=rootfs.DEFAULT_BASE),
            seccomp=dict(type="str", choices=list(seccomp.PROFILES), default=seccomp.DEFAULT_PROFILE),
            pod=dict(type="str"),
            pod_share=dict(type="list", elements="str"),
            checks=dict(type="list", elements="str", default=[]),
            prove_namespaces=dict(type="bool", default=False),
            proofs_timeout=dict(type="float", default=prove.DEFAULT_TIMEOUT),
        ),
        required_if=[("state", "started", ("rootfs",))],
        supports_check_mode=True,
    )


def requested_config(module):
    """The canonical config of a start request (None for stopped/absent); deprecations warned."""
    p = module.params
    if p["state"] != "started":
        validate.container_name(p["name"])
        return None
    warnings = []
    config = container.normalize(
        p["name"],
        p["rootfs"],
        hostname=p["hostname"],
        memory=p["memory"],
        cpus=p["cpus"],
        pids=p["pids"],
        veth=p["veth"],
        veth_host=p["veth_host_name"],
        veth_container=p["veth_container_name"],
        network=p["network"],
        command=p["command"],
        capabilities=p["capabilities"],
        time_offsets=p["time_offsets"],
        require_rootfs=not module.check_mode,
        user_namespace=p["user_namespace"],
        uid_map=p["uid_map"],
        gid_map=p["gid_map"],
        namespaces=p["namespaces"],
        warnings=warnings,
        rootfs_base=p["rootfs_base"],
        seccomp=p["seccomp"],
        pod=p["pod"],
        pod_share=p["pod_share"],
    )
    for msg in warnings:
        module.deprecate(msg, version="2.0.0")
    if module.check_mode and not os.path.isdir(config["rootfs"]):
        module.warn("rootfs %s does not exist yet: a real run needs it built first" % config["rootfs"])
    if module.check_mode and config.get("pod") and not container.status(config["pod"]["name"])["running"]:
        module.warn("pod %s does not run yet: a real run needs it started first" % config["pod"]["name"])
    return config


def _diff(plan, config, exam):
    running = exam["status"]["state"] or {}
    return dict(
        before="state: %s\nconfig_hash: %s\n" % (plan["before"], running.get("config_hash")),
        after="state: %s\nconfig_hash: %s\n" % (plan["after"], container.config_hash(config) if config else None),
    )


def main():
    module = build_module()
    p = module.params
    refused = rootless.denied(p["state"], p["name"])
    if refused:
        module.fail_json(msg=refused)
    verifying = bool(p["checks"]) or p["prove_namespaces"]
    error = prove.request_error(p["checks"], p["proofs_timeout"])
    if not error and verifying and p["state"] != "started":
        error = "checks and prove_namespaces need state=started (the container is %s after this task)" % p["state"]
    if error:
        module.fail_json(msg=error)
    try:
        config = requested_config(module)
        exam = container.examine(p["name"])
        plan = container.decide(p["state"], config, exam)
    except validate.InvalidInput as exc:
        module.fail_json(msg=str(exc))
    except container.ContainerError as exc:
        module.fail_json(msg=str(exc), **exc.evidence)
    result = dict(changed=plan["changed"], container={}, state=plan["before"])
    if module._diff:
        result["diff"] = _diff(plan, config, exam)
    if not module.check_mode:
        try:
            result.update(container.act(plan, p["name"], stop_timeout=p["stop_timeout"]))
            if result.get("restored_limits"):
                module.warn("container %s: %s; written again" % (p["name"], plan["reason"]))
        except container.ContainerError as exc:
            module.fail_json(msg=str(exc), **exc.evidence)
    elif exam["status"]["running"] and p["state"] == "started":
        result.update(container.report(exam["status"]["state"]))
    if verifying:
        _verify(module, result)
    module.exit_json(**result)


def _verify(module, result):
    """The checks and proofs of what this task started (or found running), as busybox_container_verify
    returns them; in check mode only when nothing would change (the container is then the one to verify),
    the proofs never in check mode (the role's choice since they were a task of their own)."""
    p = module.params
    if module.check_mode and result["changed"]:
        result["verify_skipped"] = "check mode: the container would change, so there is nothing to verify yet"
        return
    try:
        st = container.status(p["name"])
        if not st["running"]:
            raise container.ContainerError("container %s is not running: nothing to verify" % p["name"])
        found = prove.verify(
            st["state"], p["checks"], p["prove_namespaces"] and not module.check_mode, p["proofs_timeout"]
        )
        found["check_summary"] = found.pop("summary")  # `summary` is the container's own (summary.describe)
        result.update(found)
    except container.ContainerError as exc:
        module.fail_json(msg=str(exc), **result)


if __name__ == "__main__":
    main()
