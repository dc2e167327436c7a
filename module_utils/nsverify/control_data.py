"""The control catalogue as data: what each control means for an auditor, how bad its failure is,
how to fix it, and which benchmark recommendation it corresponds to.

controls.CONTROLS holds the id, source, namespace and title (what the engine evaluates); this module
adds, per id: rationale, severity (info, low, medium, high, critical), evaluated_from (which module
and which kernel interface decide it), remediation (a "default" text and, where the fix differs,
"debian", "ubuntu" and "rhel7" texts) and references (CIS Docker Benchmark v1.6.0 recommendation
where one corresponds, the man page, the kernel documentation). Plain Python data so that the
engine loads it on any target without PyYAML.

PROFILES select controls (fnmatch patterns on ids), may raise or lower severities, and name the
sysctl policy that the nsverify_remediate role brings a host to.
"""

from __future__ import annotations

from collections import OrderedDict

from ansible.module_utils.nsverify import catalog, controls

SEVERITIES = ("info", "low", "medium", "high", "critical")
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}
DISTROS = ("debian", "ubuntu", "rhel7")
CIS_DOCKER = "CIS Docker Benchmark v1.6.0"
SYSCTL_FILE = "/etc/sysctl.d/60-nsverify.conf"

_MAN = "https://man7.org/linux/man-pages/man%s/%s.%s.html"
_KDOC = "https://docs.kernel.org/"


def _man(page, section="7"):
    return {"kind": "man", "id": "%s(%s)" % (page, section), "url": _MAN % (section, page, section)}


def _kdoc(path, title):
    return {"kind": "kernel-doc", "id": title, "url": _KDOC + path}


def _cis(number, title):
    return {"kind": "cis", "id": "%s %s" % (CIS_DOCKER, number), "title": title}


SYSCTL_USER_DOC = _kdoc("admin-guide/sysctl/user.html", "Documentation/admin-guide/sysctl/user.rst")
CGROUP_V2_DOC = _kdoc("admin-guide/cgroup-v2.html", "Documentation/admin-guide/cgroup-v2.rst")
NNP_DOC = _kdoc("userspace-api/no_new_privs.html", "Documentation/userspace-api/no_new_privs.rst")
SHARED_SUBTREE_DOC = _kdoc("filesystems/sharedsubtree.html", "Documentation/filesystems/sharedsubtree.rst")

CIS_NET = _cis("5.10", "Ensure that the host's network namespace is not shared")
CIS_MEMORY = _cis("5.11", "Ensure that the memory usage for containers is limited")
CIS_PID = _cis("5.16", "Ensure that the host's process namespace is not shared")
CIS_IPC = _cis("5.17", "Ensure that the host's IPC namespace is not shared")
CIS_PROPAGATION = _cis("5.20", "Ensure mount propagation mode is not set to shared")
CIS_UTS = _cis("5.21", "Ensure that the host's UTS namespace is not shared")
CIS_SECCOMP = _cis("5.22", "Ensure the default seccomp profile is not Disabled")
CIS_CAPS = _cis("5.4", "Ensure that Linux kernel capabilities are restricted within containers")
CIS_PRIVILEGED = _cis("5.5", "Ensure that privileged containers are not used")
CIS_NNP = _cis("5.26", "Ensure that the container is restricted from acquiring additional privileges")
CIS_PIDS = _cis("5.29", "Ensure that the PIDs cgroup limit is used")
CIS_USERNS = _cis("5.31", "Ensure that the host's user namespaces are not shared")
CIS_USERNS_DAEMON = _cis("2.9", "Enable user namespace support")

_TYPE_CIS = {"pid": [CIS_PID], "net": [CIS_NET], "ipc": [CIS_IPC], "uts": [CIS_UTS], "user": [CIS_USERNS_DAEMON]}
_KRN_SEVERITY = {
    "mnt": "high",
    "uts": "medium",
    "ipc": "medium",
    "pid": "high",
    "net": "high",
    "user": "medium",
    "cgroup": "medium",
    "time": "low",
}
_WHAT = {
    "mnt": "file-system view",
    "uts": "hostname",
    "ipc": "IPC objects",
    "pid": "process tree",
    "net": "network stack",
    "user": "user and group ids",
    "cgroup": "cgroup view",
    "time": "clocks",
}
_ROLE = "or run the nsverify_remediate role, which persists it in %s" % SYSCTL_FILE

USERNS_REMEDIATION = {
    "debian": "Debian up to 10 keeps unprivileged user namespaces off: sysctl -w kernel.unprivileged_userns_clone=1 "
    "(persist it in /etc/sysctl.d/), or keep it 0 on purpose and waive the control with the reason.",
    "ubuntu": "Ubuntu 23.10 and later (kernel.apparmor_restrict_unprivileged_userns=1) let an unconfined program "
    "create a user namespace without capabilities inside: give the program an AppArmor profile with the "
    "'userns,' permission, or set kernel.apparmor_restrict_unprivileged_userns=0 if the risk is accepted.",
    "rhel7": "RHEL/CentOS 7 ships user namespaces disabled: boot with user_namespace.enable=1 "
    "(grubby --update-kernel=ALL --args=user_namespace.enable=1) and set user.max_user_namespaces to a "
    "non-zero value (it defaults to 0 there), e.g. sysctl -w user.max_user_namespaces=15000.",
}


def _krn(t):
    sysctl = t.limit_sysctl
    first = ".".join(str(n) for n in t.first_kernel)
    config = t.config_option or "no config option: always built"
    remediation = {
        "default": "By verdict: limit-zero: sysctl -w %s=<N > 0>, %s; not-built: boot a kernel built with %s; "
        "kernel-too-old: the type needs Linux %s or later; denied: find the LSM, seccomp or sysctl policy "
        "named in the evidence and allow the creation, or waive the control with the reason."
        % (sysctl, _ROLE, config, first)
    }
    if t.name == "user":
        remediation.update(USERNS_REMEDIATION)
    return {
        "rationale": "Without %s namespaces no container or sandbox on this host can isolate its %s; every "
        "isolation built on it silently shares the host's." % (t.name, _WHAT[t.name]),
        "severity": _KRN_SEVERITY[t.name],
        "evaluated_from": "namespace_facts: unshare(%s) in a forked child, /proc/self/ns/%s, %s, the kernel "
        "release (first usable: %s) and config (%s)" % (t.flag_name, t.proc_entry, sysctl, first, config),
        "remediation": remediation,
        "references": [_man("%s_namespaces" % t.name if t.name != "mnt" else "mount_namespaces"), _man("unshare", "2")]
        + ([SYSCTL_USER_DOC] if t.limit_sysctl else [])
        + _TYPE_CIS.get(t.name, []),
    }


def _entry(severity, rationale, evaluated_from, remediation, references):
    if isinstance(remediation, str):
        remediation = {"default": remediation}
    return {
        "rationale": rationale,
        "severity": severity,
        "evaluated_from": evaluated_from,
        "remediation": remediation,
        "references": list(references),
    }


_PROOF = "namespace_verify (%s proof in a throwaway namespace): %s"
_CTR = "busybox_container_verify: %s"
_KERNEL_BUG = (
    "The kernel or a wrapper breaks %s isolation: check the evidence for what crossed the boundary, update the "
    "kernel, and make sure nothing joins the namespace from outside (nsenter, setns) while it is proven."
)
_CTR_FIX = "Start the container with the option that restores it (%s) and run busybox_container_verify again."

_DATA = {
    "NS-KRN-009": _entry(
        "low",
        "Whether unprivileged users can create user namespaces decides how exposed the kernel is to "
        "unprivileged attackers (most user-namespace exploits start there); an auditor must know it.",
        "namespace_facts: kernel.unprivileged_userns_clone, kernel.apparmor_restrict_unprivileged_userns, "
        "user.max_user_namespaces, /proc/cmdline (user_namespace.enable) and an unprivileged probe",
        dict(
            USERNS_REMEDIATION,
            default="Make the policy readable to the audit (run it as root with /proc/sys mounted); choose the "
            "policy with the distribution's switch below and record it.",
        ),
        [_man("user_namespaces"), SYSCTL_USER_DOC, CIS_USERNS_DAEMON],
    ),
    "NS-KRN-010": _entry(
        "medium",
        "A type whose count has reached user.max_<type>_namespaces makes the next container, sandbox or "
        "browser start fail with ENOSPC; limits also bound what an unprivileged user can create.",
        "namespace_facts: user.max_<type>_namespaces and the namespaces counted in /proc/*/ns",
        "Raise the limit of the named type: sysctl -w user.max_<type>_namespaces=<N>, %s; or remove stale "
        "namespaces (leftover containers, bind-mounted netns)." % _ROLE,
        [SYSCTL_USER_DOC, _man("namespaces")],
    ),
    "NS-UTS-001": _entry(
        "medium",
        "A hostname change inside must not rename the host: services and logs identify the host by it.",
        _PROOF % ("uts", "sethostname inside, uname inside and on the host"),
        _KERNEL_BUG % "UTS",
        [_man("uts_namespaces"), _man("sethostname", "2"), CIS_UTS],
    ),
    "NS-PID-001": _entry(
        "high",
        "A process must not see or signal the host's processes by PID; PID 1 inside with another PID outside "
        "shows the PID namespace is in effect.",
        _PROOF % ("pid", "NSpid in /proc/<pid>/status of the first child"),
        _KERNEL_BUG % "PID",
        [_man("pid_namespaces"), CIS_PID],
    ),
    "NS-PID-002": _entry(
        "high",
        "Seeing the host's processes leaks command lines and environments and invites signals to them.",
        _PROOF % ("pid", "/proc listed from a /proc mounted inside"),
        _KERNEL_BUG % "PID",
        [_man("pid_namespaces"), _man("proc", "5"), CIS_PID],
    ),
    "NS-PID-003": _entry(
        "medium",
        "Orphans must be reaped by the namespace's init, or zombies pile up where the host cannot see them.",
        _PROOF % ("pid", "an orphaned grandchild and its new parent"),
        _KERNEL_BUG % "PID",
        [_man("pid_namespaces")],
    ),
    "NS-PID-004": _entry(
        "medium",
        "When PID 1 inside dies every process inside must die: nothing of a stopped container keeps running.",
        _PROOF % ("pid", "SIGKILL to PID 1 and the survivors counted"),
        _KERNEL_BUG % "PID",
        [_man("pid_namespaces")],
    ),
    "NS-NET-001": _entry(
        "high",
        "A new network namespace must start empty (lo, down) so that a workload reaches only the interfaces "
        "it was given.",
        _PROOF % ("net", "the links listed inside (ip link), expected interfaces declared for joined namespaces"),
        "Remove the unexpected interface from the namespace, or declare it (expected_interfaces).",
        [_man("network_namespaces"), CIS_NET],
    ),
    "NS-NET-002": _entry(
        "high",
        "A port bound inside must not be reachable or visible from the host: network services stay contained.",
        _PROOF % ("net", "a listening socket inside and /proc/net/tcp outside"),
        _KERNEL_BUG % "network",
        [_man("network_namespaces"), CIS_NET],
    ),
    "NS-NET-003": _entry(
        "low",
        "A veth pair is how namespaces get connectivity; when it carries no traffic, networking of containers fails.",
        _PROOF % ("net", "a veth pair between two namespaces and a packet across it"),
        "Check that the veth module is available (CONFIG_VETH) and nothing filters the pair.",
        [_man("veth", "4"), _man("network_namespaces")],
    ),
    "NS-MNT-001": _entry(
        "high",
        "Mounts made inside must not appear on the host: a container must not change the host's file tree.",
        _PROOF % ("mnt", "a tmpfs mounted inside and /proc/self/mountinfo on both sides"),
        "Make the namespace's mounts private (mount --make-rprivate /) before mounting inside.",
        [_man("mount_namespaces"), SHARED_SUBTREE_DOC, CIS_PROPAGATION],
    ),
    "NS-MNT-002": _entry(
        "medium",
        "Private propagation is what container runtimes rely on to keep mount events from crossing.",
        _PROOF % ("mnt", "mount events on both sides of a private mount"),
        _KERNEL_BUG % "mount propagation",
        [_man("mount_namespaces"), SHARED_SUBTREE_DOC, CIS_PROPAGATION],
    ),
    "NS-MNT-003": _entry(
        "low",
        "Shared propagation must cross both ways, or volume mounts into running containers break.",
        _PROOF % ("mnt", "mount events on both sides of a shared mount"),
        _KERNEL_BUG % "mount propagation",
        [_man("mount_namespaces"), SHARED_SUBTREE_DOC],
    ),
    "NS-MNT-004": _entry(
        "medium",
        "Slave mounts must receive from their master and never send back: the host stays unchanged.",
        _PROOF % ("mnt", "mount events on master and slave"),
        _KERNEL_BUG % "mount propagation",
        [_man("mount_namespaces"), SHARED_SUBTREE_DOC],
    ),
    "NS-MNT-005": _entry(
        "low",
        "Unbindable mounts keep bind-mount trees from multiplying; a bind that works undoes that.",
        _PROOF % ("mnt", "a bind mount of an unbindable mount point"),
        _KERNEL_BUG % "mount propagation",
        [_man("mount_namespaces"), SHARED_SUBTREE_DOC],
    ),
    "NS-USER-001": _entry(
        "high",
        "The id maps decide which host ids a namespace may act as; a map other than requested grants other ids.",
        _PROOF % ("user", "/proc/<pid>/uid_map and gid_map read back"),
        "Write the maps as requested (newuidmap/newgidmap with /etc/subuid and /etc/subgid entries).",
        [_man("user_namespaces"), CIS_USERNS],
    ),
    "NS-USER-002": _entry(
        "critical",
        "Root inside must be an unprivileged id outside, or a container root is host root for every file it touches.",
        _PROOF % ("user", "a file created by root inside, stat from the host"),
        "Map root inside to an unprivileged host id (never 0) and enable user namespaces in the runtime "
        "(dockerd --userns-remap).",
        [_man("user_namespaces"), CIS_USERNS, CIS_USERNS_DAEMON],
    ),
    "NS-USER-003": _entry(
        "critical",
        "Capabilities inside a user namespace must act only on resources it owns, never on the host.",
        _PROOF % ("user", "a privileged operation on a host resource tried with full capabilities inside"),
        _KERNEL_BUG % "user namespace",
        [_man("user_namespaces"), _man("capabilities"), CIS_USERNS],
    ),
    "NS-IPC-001": _entry(
        "medium",
        "Shared memory segments visible across the boundary let a workload read or corrupt another's memory.",
        _PROOF % ("ipc", "a System V segment created inside and ipcs outside"),
        _KERNEL_BUG % "IPC",
        [_man("ipc_namespaces"), _man("sysvipc"), CIS_IPC],
    ),
    "NS-IPC-002": _entry(
        "medium",
        "Semaphores visible across the boundary let a workload block another.",
        _PROOF % ("ipc", "a System V semaphore set created inside and ipcs outside"),
        _KERNEL_BUG % "IPC",
        [_man("ipc_namespaces"), _man("sysvipc"), CIS_IPC],
    ),
    "NS-IPC-003": _entry(
        "medium",
        "Message queues visible across the boundary leak and inject messages.",
        _PROOF % ("ipc", "a System V message queue created inside and ipcs outside"),
        _KERNEL_BUG % "IPC",
        [_man("ipc_namespaces"), _man("sysvipc"), CIS_IPC],
    ),
    "NS-IPC-004": _entry(
        "medium",
        "POSIX message queues visible across the boundary leak and inject messages.",
        _PROOF % ("ipc", "an mqueue created inside and the mqueue filesystem outside"),
        _KERNEL_BUG % "IPC",
        [_man("ipc_namespaces"), _man("mq_overview"), CIS_IPC],
    ),
    "NS-CGROUP-001": _entry(
        "low",
        "A cgroup namespace hides the host's cgroup layout (and with it the host's service names) from inside.",
        _PROOF % ("cgroup", "/proc/self/cgroup inside and outside"),
        _KERNEL_BUG % "cgroup",
        [_man("cgroup_namespaces"), CGROUP_V2_DOC],
    ),
    "NS-TIME-001": _entry(
        "low",
        "A monotonic offset must apply inside only: the host's timers and timeouts must not move.",
        _PROOF % ("time", "CLOCK_MONOTONIC inside and outside with an offset written to timens_offsets"),
        _KERNEL_BUG % "time",
        [_man("time_namespaces")],
    ),
    "NS-TIME-002": _entry(
        "low",
        "A boottime offset must apply inside only: the host's uptime stays true.",
        _PROOF % ("time", "CLOCK_BOOTTIME inside and outside with an offset written to timens_offsets"),
        _KERNEL_BUG % "time",
        [_man("time_namespaces")],
    ),
    "NS-CTR-001": _entry(
        "high",
        "A container that shares the host's PID namespace sees and can signal every host process.",
        _CTR % "init's NSpid and ps inside the container",
        _CTR_FIX % "its own PID namespace: do not use --pid=host",
        [_man("pid_namespaces"), CIS_PID],
    ),
    "NS-CTR-002": _entry(
        "medium",
        "A container sharing the host's UTS namespace can rename the host.",
        _CTR % "hostname inside the container and on the host",
        _CTR_FIX % "its own UTS namespace: do not use --uts=host",
        [_man("uts_namespaces"), CIS_UTS],
    ),
    "NS-CTR-003": _entry(
        "high",
        "A container on the host's network stack reaches every host interface and service (D-Bus, ports < 1024).",
        _CTR % "the links listed inside the container",
        _CTR_FIX % "its own network namespace: do not use --net=host",
        [_man("network_namespaces"), CIS_NET],
    ),
    "NS-CTR-004": _entry(
        "critical",
        "A container that sees host mounts can read or change host files outside its root.",
        _CTR % "the root mount (overlay after pivot_root) and the mounts visible inside",
        _CTR_FIX % "its own mount namespace and pivot_root into the overlay",
        [_man("mount_namespaces"), _man("pivot_root", "2"), CIS_PROPAGATION],
    ),
    "NS-CTR-005": _entry(
        "high",
        "A writable /sys lets a container reconfigure the host's devices and kernel.",
        _CTR % "a write attempt under /sys inside the container",
        _CTR_FIX % "/sys mounted read-only",
        [_man("sysfs", "5"), CIS_PRIVILEGED],
    ),
    "NS-CTR-006": _entry(
        "medium",
        "Without a pids limit a fork bomb inside exhausts the host's PIDs.",
        _CTR % "a fork bomb inside, pids.events max and pids.peak against pids.max",
        _CTR_FIX % "a pids limit: busybox_container_pids_max, docker run --pids-limit",
        [CGROUP_V2_DOC, CIS_PIDS],
    ),
    "NS-CTR-007": _entry(
        "medium",
        "Without a memory limit an allocation inside drives the host into its OOM killer.",
        _CTR % "an allocation beyond memory.max inside and memory.events oom_kill",
        _CTR_FIX % "a memory limit: busybox_container_memory, docker run --memory",
        [CGROUP_V2_DOC, CIS_MEMORY],
    ),
    "NS-CTR-008": _entry(
        "low",
        "The container init must reap orphans, or zombies accumulate inside.",
        _CTR % "an orphan inside the container and its new parent",
        _CTR_FIX % "an init that reaps (the container's nsv-init)",
        [_man("pid_namespaces")],
    ),
    "NS-CTR-009": _entry(
        "critical",
        "A chroot-style escape (chroot into a directory, then climb out with ..) must not reach the host root.",
        _CTR % "the classic chroot escape attempted inside and the root reached",
        _CTR_FIX % "pivot_root (not chroot) into the root and CAP_SYS_CHROOT dropped",
        [_man("pivot_root", "2"), _man("chroot", "2"), CIS_CAPS],
    ),
    "NS-CTR-010": _entry(
        "high",
        "Full capabilities or setuid escalation inside turn any bug in the workload into host root.",
        _CTR % "CapBnd, CapEff, CapPrm and NoNewPrivs in /proc/<pid>/status of the workload",
        _CTR_FIX % "a reduced capability set and no_new_privs: docker run --cap-drop=ALL "
        "--security-opt=no-new-privileges",
        [_man("capabilities"), _man("prctl", "2"), NNP_DOC, CIS_CAPS, CIS_NNP, CIS_PRIVILEGED],
    ),
    "NS-CTR-011": _entry(
        "high",
        "Every namespace the container shares with the host is an isolation it does not have.",
        _CTR % "/proc/<pid>/ns/* inodes of the container init against the host's",
        _CTR_FIX % "all namespaces of its own: no --net/--pid/--ipc/--uts/--userns=host",
        [_man("namespaces"), CIS_NET, CIS_PID, CIS_IPC, CIS_UTS, CIS_USERNS],
    ),
}

_WKL = "namespace_inspect (every discovered workload on the host): %s"
_WKL_FIX = "Start the workload with %s, or waive the control for that host with the reason; then report again."
_WKL_NS = {  # type: (control, severity, CIS references, the runtime option that shares it)
    "net": ("NS-WKL-001", "high", [CIS_NET], "--net=host / hostNetwork: true"),
    "pid": ("NS-WKL-002", "high", [CIS_PID], "--pid=host / hostPID: true"),
    "ipc": ("NS-WKL-003", "medium", [CIS_IPC], "--ipc=host / hostIPC: true"),
    "uts": ("NS-WKL-004", "medium", [CIS_UTS], "--uts=host"),
    "mnt": ("NS-WKL-005", "critical", [CIS_PROPAGATION], "a runtime that does not unshare mounts"),
    "cgroup": ("NS-WKL-006", "low", [], "--cgroupns=host"),
}
for _t, (_cid, _sev, _cis, _opt) in _WKL_NS.items():
    _DATA[_cid] = _entry(
        _sev,
        "A workload in the host's %s namespace shares the host's %s: the isolation its runtime promises is not "
        "there for that type." % (_t, _WHAT[_t]),
        _WKL % "/proc/<pid>/ns/%s of each workload against the host's initial namespace (NS_GET_PARENT walk)" % _t,
        _WKL_FIX % ("a %s namespace of its own (do not use %s)" % (_t, _opt)),
        [_man("%s_namespaces" % _t if _t != "mnt" else "mount_namespaces")] + _cis,
    )
_DATA.update(
    {
        "NS-WKL-007": _entry(
            "high",
            "Root in a workload that is root on the host (no user namespace, or uid 0 mapped to uid 0) turns any "
            "escape into host root.",
            _WKL % "the user namespace's own/shared status and /proc/<pid>/uid_map (where uid 0 inside lands)",
            _WKL_FIX % "a user namespace that maps root to an unprivileged id: dockerd --userns-remap=default, "
            "podman --userns=auto, or a rootless runtime",
            [_man("user_namespaces"), CIS_USERNS_DAEMON, CIS_USERNS],
        ),
        "NS-WKL-008": _entry(
            "high",
            "Without a seccomp filter every system call of the kernel is reachable from the workload, including "
            "the rarely used ones most kernel exploits go through.",
            _WKL % "Seccomp in /proc/<pid>/status (2 = filter)",
            _WKL_FIX % "the runtime's default seccomp profile: do not use --security-opt seccomp=unconfined",
            [_man("seccomp", "2"), CIS_SECCOMP],
        ),
        "NS-WKL-009": _entry(
            "medium",
            "Without no_new_privs a setuid or file-capability binary inside raises the workload's privileges.",
            _WKL % "NoNewPrivs in /proc/<pid>/status",
            _WKL_FIX % "--security-opt=no-new-privileges (allowPrivilegeEscalation: false)",
            [_man("prctl", "2"), NNP_DOC, CIS_NNP],
        ),
        "NS-WKL-010": _entry(
            "high",
            "A workload whose bounding set holds every capability can regain all of them: it is privileged.",
            _WKL % "CapBnd and CapEff in /proc/<pid>/status against the kernel's last capability",
            _WKL_FIX % "a reduced capability set (--cap-drop=ALL and --cap-add of only what it needs), not "
            "--privileged",
            [_man("capabilities"), CIS_CAPS, CIS_PRIVILEGED],
        ),
        "NS-WKL-011": _entry(
            "medium",
            "Without a pids limit a fork bomb in one workload exhausts the host's PIDs.",
            _WKL % "pids.max of the workload's own cgroup (v1 or v2)",
            _WKL_FIX % "a pids limit (docker run --pids-limit, podman --pids-limit, systemd TasksMax=)",
            [CGROUP_V2_DOC, CIS_PIDS],
        ),
        "NS-WKL-012": _entry(
            "medium",
            "Without a memory limit one workload drives the whole host into its OOM killer.",
            _WKL % "memory.max (v2) or memory.limit_in_bytes (v1) of the workload's own cgroup",
            _WKL_FIX % "a memory limit (docker run --memory, podman --memory, systemd MemoryMax=)",
            [CGROUP_V2_DOC, CIS_MEMORY],
        ),
    }
)


def _build():
    out = OrderedDict()
    for control in controls.CONTROLS.values():
        if control.source == "audit" and control.id not in _DATA:
            data = _krn(catalog.get(control.namespace))
        else:
            data = _DATA[control.id]
        out[control.id] = dict(
            data, id=control.id, title=control.title, source=control.source, namespace=control.namespace
        )
    return out


CATALOGUE = _build()

_LIMITS_MIN = {"user.max_%s_namespaces" % t: {"min": 1024} for t in catalog.TYPE_NAMES}

PROFILES = OrderedDict(
    [
        (
            "baseline",
            {
                "description": "Kernel support and limits: every namespace type can be created and no limit is 0.",
                "controls": ["NS-KRN-*"],
                "severity": {},
                "sysctl": dict(_LIMITS_MIN),
            },
        ),
        (
            "container-host",
            {
                "description": "A host that runs containers: kernel support, isolation proven for every type, "
                "workloads isolated and limited, user-namespace limits non-zero with headroom.",
                "controls": ["NS-KRN-*", "NS-UTS-*", "NS-PID-*", "NS-NET-*", "NS-MNT-*", "NS-USER-*", "NS-IPC-*"]
                + ["NS-CGROUP-*", "NS-TIME-*", "NS-CTR-*", "NS-WKL-*"],
                "severity": {
                    "NS-KRN-006": "high",
                    "NS-KRN-010": "high",
                    "NS-CTR-006": "high",
                    "NS-CTR-007": "high",
                    "NS-CTR-011": "critical",
                },
                "sysctl": {"user.max_%s_namespaces" % t: {"min": 15000} for t in catalog.TYPE_NAMES},
            },
        ),
        (
            "strict",
            {
                "description": "container-host, plus unprivileged user namespaces off or restricted "
                "(kernel.unprivileged_userns_clone=0, kernel.apparmor_restrict_unprivileged_userns=1 where "
                "the kernel has them) and every workload confined: seccomp, no_new_privs and a user namespace on "
                "every workload (NS-WKL-007..009 critical); the policy control is high.",
                "controls": ["NS-*"],
                "severity": {
                    "NS-KRN-006": "high",
                    "NS-KRN-009": "high",
                    "NS-KRN-010": "high",
                    "NS-CTR-006": "high",
                    "NS-CTR-007": "high",
                    "NS-CTR-010": "critical",
                    "NS-CTR-011": "critical",
                    "NS-NET-003": "medium",
                    "NS-WKL-007": "critical",
                    "NS-WKL-008": "critical",
                    "NS-WKL-009": "critical",
                },
                "sysctl": dict(
                    {"user.max_%s_namespaces" % t: {"min": 15000} for t in catalog.TYPE_NAMES},
                    **{
                        "kernel.unprivileged_userns_clone": {"value": 0},
                        "kernel.apparmor_restrict_unprivileged_userns": {"value": 1},
                    },
                ),
            },
        ),
    ]
)
