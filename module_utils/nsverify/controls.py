"""The compliance control catalogue: stable IDs that tie tasks, tags, tests and reports together.

An ID names one checkable property. The same ID appears in the task name that
implements it ("NS-PID-001 | VERIFY | ..."), in the tag, in the test id and in
every report. Statuses: pass, fail, skip, waived.
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple

Control = namedtuple("Control", ["id", "source", "namespace", "title"])

STATUSES = ("pass", "fail", "skip", "waived")

_CONTROLS = (
    # The kernel audit (namespace_facts): one per type, plus policy and headroom.
    Control("NS-KRN-001", "audit", "mnt", "Kernel can create mount namespaces"),
    Control("NS-KRN-002", "audit", "uts", "Kernel can create UTS namespaces"),
    Control("NS-KRN-003", "audit", "ipc", "Kernel can create IPC namespaces"),
    Control("NS-KRN-004", "audit", "pid", "Kernel can create PID namespaces"),
    Control("NS-KRN-005", "audit", "net", "Kernel can create network namespaces"),
    Control("NS-KRN-006", "audit", "user", "Kernel can create user namespaces"),
    Control("NS-KRN-007", "audit", "cgroup", "Kernel can create cgroup namespaces"),
    Control("NS-KRN-008", "audit", "time", "Kernel can create time namespaces"),
    Control("NS-KRN-009", "audit", "user", "Unprivileged user-namespace policy is known and reported"),
    Control("NS-KRN-010", "audit", None, "Namespace counts are below their user.max_*_namespaces limits"),
    # Isolation proofs (namespace_verify).
    Control("NS-UTS-001", "proof", "uts", "Hostname set inside is seen inside and not on the host"),
    Control("NS-PID-001", "proof", "pid", "First process is PID 1 inside and has another PID outside (NSpid)"),
    Control("NS-PID-002", "proof", "pid", "Inside sees only its own processes"),
    Control("NS-PID-003", "proof", "pid", "An orphan inside is reaped by the inside PID 1"),
    Control("NS-PID-004", "proof", "pid", "Killing PID 1 ends every process inside"),
    Control(
        "NS-NET-001", "proof", "net", "Only lo exists inside (down when new), besides the interfaces declared for it"
    ),
    Control("NS-NET-002", "proof", "net", "A port bound inside is invisible outside"),
    Control("NS-NET-003", "proof", "net", "A veth pair carries traffic between two namespaces we made"),
    Control("NS-MNT-001", "proof", "mnt", "A mount made inside is invisible outside"),
    Control("NS-MNT-002", "proof", "mnt", "Private propagation: mounts do not cross in either direction"),
    Control("NS-MNT-003", "proof", "mnt", "Shared propagation: mounts cross in both directions"),
    Control("NS-MNT-004", "proof", "mnt", "Slave propagation: mounts cross from master to slave only"),
    Control("NS-MNT-005", "proof", "mnt", "Unbindable: a bind mount of the mount point is refused"),
    Control("NS-USER-001", "proof", "user", "uid_map and gid_map are as requested"),
    Control(
        "NS-USER-002", "proof", "user", "Root inside is the unprivileged id outside; its files are owned by that id"
    ),
    Control("NS-USER-003", "proof", "user", "Capabilities inside do not reach the host"),
    Control("NS-IPC-001", "proof", "ipc", "System V shared memory is invisible across the boundary"),
    Control("NS-IPC-002", "proof", "ipc", "System V semaphores are invisible across the boundary"),
    Control("NS-IPC-003", "proof", "ipc", "System V message queues are invisible across the boundary"),
    Control("NS-IPC-004", "proof", "ipc", "POSIX message queues are invisible across the boundary"),
    Control("NS-CGROUP-001", "proof", "cgroup", "The own cgroup reads as / inside while the host sees the real path"),
    Control("NS-TIME-001", "proof", "time", "The monotonic offset applies inside and not outside"),
    Control("NS-TIME-002", "proof", "time", "The boottime offset applies inside and not outside"),
    # The BusyBox container.
    Control(
        "NS-CTR-001", "container", "pid", "Container init is PID 1 and ps inside shows only the container's processes"
    ),
    Control("NS-CTR-002", "container", "uts", "Hostname inside is the container's, the host's is unchanged"),
    Control("NS-CTR-003", "container", "net", "Only lo (and the container's veth) exist inside"),
    Control(
        "NS-CTR-004", "container", "mnt", "Root is the overlay after pivot_root; host mounts are not visible inside"
    ),
    Control("NS-CTR-005", "container", "mnt", "/sys is read-only inside"),
    Control("NS-CTR-006", "container", None, "The pids limit stops a fork bomb inside"),
    Control("NS-CTR-007", "container", None, "The memory limit kills an allocation inside, not on the host"),
    Control("NS-CTR-008", "container", "pid", "An orphan inside is reaped by the container init"),
    Control("NS-CTR-009", "container", "mnt", "A chroot-style escape from inside does not reach the host root"),
    Control("NS-CTR-010", "container", None, "The workload runs with reduced capabilities and no_new_privs"),
    Control("NS-CTR-011", "container", None, "Every namespace of the container differs from the host's"),
    # Every discovered workload (namespace_inspect): one record per control and host, each workload named in it.
    Control("NS-WKL-001", "workload", "net", "Workloads do not share the host's network namespace"),
    Control("NS-WKL-002", "workload", "pid", "Workloads do not share the host's PID namespace"),
    Control("NS-WKL-003", "workload", "ipc", "Workloads do not share the host's IPC namespace"),
    Control("NS-WKL-004", "workload", "uts", "Workloads do not share the host's UTS namespace"),
    Control("NS-WKL-005", "workload", "mnt", "Workloads do not share the host's mount namespace"),
    Control("NS-WKL-006", "workload", "cgroup", "Workloads do not share the host's cgroup namespace"),
    Control("NS-WKL-007", "workload", "user", "Workloads run in a user namespace whose root is not the host's root"),
    Control("NS-WKL-008", "workload", None, "Workloads run under a seccomp filter"),
    Control("NS-WKL-009", "workload", None, "Workloads run with no_new_privs"),
    Control("NS-WKL-010", "workload", None, "Workloads run with a reduced capability bounding set"),
    Control("NS-WKL-011", "workload", None, "Workloads have a pids limit in their cgroup"),
    Control("NS-WKL-012", "workload", None, "Workloads have a memory limit in their cgroup"),
)

CONTROLS = OrderedDict((c.id, c) for c in _CONTROLS)


def get(control_id):
    try:
        return CONTROLS[control_id]
    except KeyError:
        raise ValueError("unknown control id %r" % control_id)


def for_source(source):
    return [c for c in _CONTROLS if c.source == source]


def for_namespace(name, source=None):
    return [c for c in _CONTROLS if c.namespace == name and (source is None or c.source == source)]


def workload_namespace_controls():
    """{type: control} of the NS-WKL controls that judge one namespace type's sharing."""
    return {c.namespace: c for c in _CONTROLS if c.source == "workload" and c.namespace not in (None, "user")}


def audit_control(type_name):
    """The NS-KRN-00N control of a namespace type."""
    for c in _CONTROLS:
        if c.source == "audit" and c.namespace == type_name and c.id != "NS-KRN-009":
            return c
    raise ValueError("no audit control for %r" % type_name)


def record(control_id, status, evidence=None, reason=None, **extra):
    """The one control record every source emits (audit, proofs, container checks) and the
    report indexes by ID: {id, title, namespace, source, status, evidence[, reason]}.

    status is one of pass, fail, skip (waived is the report's word, after waivers). An ID
    that the catalogue does not know raises ValueError: a record is never made up.
    """
    return _build(get(control_id), status, evidence, reason, extra)


def uncatalogued_record(control, status, evidence=None, reason=None, **extra):
    """The same record for a check the catalogue does not know (a prover newer than this
    catalogue): `control` is a Control naming its id, source, namespace and title as the check
    gave them. The report keeps such a check instead of dropping its evidence."""
    return _build(control, status, evidence, reason, extra)


def _build(control, status, evidence, reason, extra):
    if status not in STATUSES:
        raise ValueError("control status %r must be one of %s" % (status, ", ".join(STATUSES)))
    rec = {
        "id": control.id,
        "title": control.title,
        "namespace": control.namespace,
        "source": control.source,
        "status": status,
        "evidence": evidence if evidence is not None else {},
    }
    if reason:
        rec["reason"] = reason
    rec.update(extra)
    return rec
